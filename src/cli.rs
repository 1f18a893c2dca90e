//! The `switchboard` command line: `serve`, `migrate`, `config`, `analyze`, `demo`, `loadtest`,
//! and the account commands `org create`, `user create`, `apikey create`.
//!
//! Exit codes: 0 on success, 2 on bad configuration or usage, 1 on any other failure.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{Database, Engine, Running, shutdown_signal};
use crate::auth::Role;
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
    /// Queue the post-call analysis of every conversation that ended since a date and was never
    /// analysed (or whose analysis failed); a running engine's workers take the jobs.
    Analyze {
        /// A day (YYYY-MM-DD, UTC) or an instant (RFC 3339).
        #[arg(long, value_parser = parse_since)]
        since: chrono::DateTime<chrono::Utc>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Run the engine on the built-in defaults with simulated calls and a simulated AI: runs
    /// `switchboard-sim demo` (built beside this binary; `switchboard demo --help` for its options).
    Demo(SimArgs),
    /// Organizations: `org create NAME`.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Users: `user create --org ORG --email E --role R` (the password from standard input, or
    /// generated and printed once).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys: `apikey create --org ORG --role R --name N` (the key is printed once).
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Load test (calls against an engine and against a trivial relay): runs `switchboard-sim
    /// loadtest` (built beside this binary; `switchboard loadtest --help` for its options).
    Loadtest(SimArgs),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Creates an organization and prints its id and slug.
    Create {
        /// Its display name.
        name: String,
        /// Its short name (a-z, 0-9, -); derived from the name when not given.
        #[arg(long)]
        slug: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates a user. The password is read from standard input when it is not a terminal
    /// (`echo "$PASSWORD" | switchboard user create …`); otherwise one is generated and printed once.
    Create {
        /// The organization's slug or id.
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// admin, supervisor or agent.
        #[arg(long)]
        role: Role,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Creates an API key and prints it once (it is stored only as a hash).
    Create {
        /// The organization's slug or id.
        #[arg(long)]
        org: String,
        /// admin, supervisor or agent.
        #[arg(long)]
        role: Role,
        /// What the key is for.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// The arguments of a command that `switchboard-sim` runs, passed on as they are.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct SimArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
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
        Command::Demo(args) => return run_sim("demo", args),
        Command::Loadtest(args) => return run_sim("loadtest", args),
        Command::Serve(args) | Command::Migrate(args) | Command::Config(args) => {
            load(args.config.as_deref(), &env)
        }
        Command::Org {
            command: OrgCommand::Create { config, .. },
        }
        | Command::User {
            command: UserCommand::Create { config, .. },
        }
        | Command::Apikey {
            command: ApikeyCommand::Create { config, .. },
        }
        | Command::Analyze { config, .. } => load(config.config.as_deref(), &env),
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
    if matches!(cli.command, Command::Serve(_) | Command::Migrate(_)) {
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
            Command::Analyze { since, .. } => analyze(config, since).await,
            command @ (Command::Org { .. } | Command::User { .. } | Command::Apikey { .. }) => {
                accounts(config, command).await
            }
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

/// Runs `switchboard-sim COMMAND ARGS…` (the simulators live in their own binary, beside this
/// one, so that the engine carries no test tooling) in place of this process.
fn run_sim(command: &str, args: &SimArgs) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let sim = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("switchboard-sim"),
        Err(err) => {
            eprintln!("switchboard: cannot find this executable: {err}");
            return ExitCode::FAILURE;
        }
    };
    if !sim.is_file() {
        eprintln!(
            "switchboard: `{command}` runs {}, which is not built: `cargo build --release \
             --workspace` builds it beside this binary",
            sim.display()
        );
        return ExitCode::FAILURE;
    }
    let err = std::process::Command::new(&sim)
        .arg(command)
        .args(&args.args)
        .exec();
    eprintln!("switchboard: cannot run {}: {err}", sim.display());
    ExitCode::FAILURE
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

/// Applies pending migrations: on the configured database, the managed cluster (started for the
/// command), or the cluster of an engine running on the same data directory.
async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config, Running::Share).await?;
    match database.applied_migrations.as_slice() {
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
    database.close().await?;
    Ok(())
}

/// `analyze --since`: queues the backfill on the engine's database.
async fn analyze(config: Config, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let database = Database::open(&config, Running::Share).await?;
    let queued = database.store.backfill_analysis(since).await;
    database.close().await?;
    let queued = queued?;
    println!(
        "queued {queued} conversation{} ended since {} for analysis",
        if queued == 1 { "" } else { "s" },
        since.to_rfc3339()
    );
    Ok(())
}

/// A day (midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 instant"))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Catch SIGINT/SIGTERM from the start: one that arrives while the engine starts stops it
    // cleanly once it is up.
    let shutdown = shutdown_signal();
    // Bind first: a taken port fails before any database work.
    let listener = Engine::bind(&config).await?;
    let local = listener.local_addr()?;
    let engine = Engine::start(config).await?;
    let database = match engine.cluster() {
        Some(cluster) => format!("managed PostgreSQL in {}", cluster.dir().display()),
        None => format!("PostgreSQL at {}", engine.config().database.url.redacted()),
    };
    tracing::info!(%local, %database, node = %engine.node().id, clustered = engine.node().bus.is_some(), "switchboard is up");
    // SIGTERM (or a drain over the API) drains first: no new calls, live ones may finish.
    let shutdown = engine.draining_shutdown(shutdown);
    engine.serve(listener, shutdown).await;
    tracing::info!("HTTP server stopped; stopping the engine");
    engine.stop().await?;
    Ok(())
}

/// `org create`, `user create`, `apikey create`: on the engine's database (the managed cluster is
/// started for the command, or, while an engine runs on the same data directory, that engine's
/// cluster is used).
async fn accounts(config: Config, command: Command) -> anyhow::Result<()> {
    let database = Database::open(&config, Running::Share).await?;
    let outcome = account_command(&database.store, command).await;
    database.close().await?;
    outcome
}

async fn account_command(store: &crate::store::Store, command: Command) -> anyhow::Result<()> {
    let find_org = |key: String| async move {
        store
            .find_organization(&key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no organization `{key}` (give its slug or id)"))
    };
    match command {
        Command::Org {
            command: OrgCommand::Create { name, slug, .. },
        } => {
            let slug = slug.unwrap_or_else(|| slugify(&name));
            let org = store
                .create_organization(name.trim(), &slug)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("organization {} {}", org.id, org.slug);
        }
        Command::User {
            command:
                UserCommand::Create {
                    org,
                    email,
                    role,
                    name,
                    ..
                },
        } => {
            let org = find_org(org).await?;
            let created =
                crate::accounts::create_user(store, org.id, &email, &name, role, read_password()?)
                    .await?;
            let user = &created.user;
            store
                .record_security_event(
                    org.id,
                    "user_created",
                    "cli",
                    serde_json::json!({ "user": user.id, "role": user.role }),
                )
                .await?;
            println!("user {} {} {}", user.id, user.email, user.role);
            if let Some(generated) = &created.password {
                println!("password {generated}");
            }
        }
        Command::Apikey {
            command: ApikeyCommand::Create {
                org, role, name, ..
            },
        } => {
            let org = find_org(org).await?;
            let created = crate::accounts::issue_api_key(store, org.id, &name, role).await?;
            store
                .record_security_event(
                    org.id,
                    "api_key_created",
                    "cli",
                    serde_json::json!({ "api_key": created.api_key.id, "role": role }),
                )
                .await?;
            println!(
                "api_key {} {} {}",
                created.api_key.id, created.api_key.name, created.api_key.role
            );
            println!("key {}", created.key);
        }
        _ => unreachable!("only account commands come here"),
    }
    Ok(())
}

/// The first line of standard input when it is not a terminal (`None` when it is, or is empty).
fn read_password() -> anyhow::Result<Option<String>> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok((!line.is_empty()).then_some(line))
}

/// A slug from a display name: lower case, runs of other characters as one `-`, at most 63.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(63).collect();
    if slug.is_empty() {
        "org".to_owned()
    } else {
        slug
    }
}
