//! The `switchboard` command line: `serve`, `migrate`, `config`, `demo`.
//!
//! Exit codes: 0 on success, 2 on bad configuration or usage, 1 on any other failure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{Engine, shutdown_signal};
use crate::config::Config;
use crate::telemetry;

/// Switchboard: a real-time telephony engine bridging Twilio calls to AI voice agents.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine: database (managed unless database.url is set), migrations, HTTP server.
    /// Stops cleanly on SIGINT/SIGTERM.
    Serve(ConfigArgs),
    /// Apply pending database migrations and exit.
    Migrate(ConfigArgs),
    /// Print the effective configuration (defaults < file < environment), secrets redacted.
    Config(ConfigArgs),
    /// Run the engine on the built-in defaults (plus environment overrides), with a managed
    /// PostgreSQL under ./data and the built-in realtime peer as the AI; place simulated Twilio
    /// calls through the real path, print what they left, and keep serving until Ctrl-C.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated calls to place once the engine is up (0: none).
    #[arg(long, default_value_t = 3)]
    pub calls: usize,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file; without it, ./config.toml is read when present.
    #[arg(long, short, value_name = "PATH", env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2, --help and --version exit 0
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = match &cli.command {
        Command::Demo(_) => Config::from_sources(None, &env).map_err(|e| e.to_string()),
        Command::Serve(args) | Command::Migrate(args) | Command::Config(args) => {
            load(args.config.as_deref(), &env)
        }
    };
    let config = match config {
        Ok(config) => config,
        Err(message) => {
            eprintln!("switchboard: {message}");
            return ExitCode::from(2);
        }
    };

    if let Command::Config(_) = cli.command {
        print!("{}", config.to_redacted_toml());
        return ExitCode::SUCCESS;
    }

    telemetry::init(&config.log);
    // The demo supplies its own Twilio token and AI endpoint.
    if !matches!(cli.command, Command::Demo(_)) {
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("switchboard: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Migrate(_) => migrate(config).await,
            Command::Demo(args) => crate::demo::run(config, args.calls).await,
            _ => serve(config).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("switchboard: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the file (given, or ./config.toml when present) and builds the configuration.
fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, String> {
    let default = Path::new("config.toml");
    let path = path.or_else(|| default.is_file().then_some(default));
    let text =
        match path {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the configuration file {}: {e}", path.display())
            })?),
            None => None,
        };
    Config::from_sources(text.as_deref(), env).map_err(|e| match path {
        Some(path) => format!("{e}\n(configuration file: {})", path.display()),
        None => e.to_string(),
    })
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let engine = Engine::start(config).await?;
    match engine.applied_migrations() {
        [] => println!(
            "schema is current (version {})",
            crate::store::Store::expected_schema_version()
        ),
        applied => {
            for name in applied {
                println!("applied {name}");
            }
        }
    }
    engine.stop().await?;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Bind first: a taken port fails before any database work.
    let listener = Engine::bind(&config).await?;
    let local = listener.local_addr()?;
    let engine = Engine::start(config).await?;
    let database = match engine.cluster() {
        Some(cluster) => format!("managed PostgreSQL in {}", cluster.dir().display()),
        None => format!("PostgreSQL at {}", engine.config().database.url.redacted()),
    };
    tracing::info!(%local, %database, "switchboard is up");
    engine.serve(listener, shutdown_signal()).await;
    tracing::info!("HTTP server stopped; stopping the engine");
    engine.stop().await?;
    Ok(())
}
