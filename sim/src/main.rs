//! The `switchboard-sim` binary: `demo` (the engine with simulated Twilio calls and a simulated
//! AI), `loadtest` (concurrent calls against an engine and against the floor relay) and
//! `floor-relay` (the load test's floor). The engine's `switchboard demo` and `switchboard
//! loadtest` run this binary.
//!
//! Exit codes: 0 on success, 2 on bad usage, 1 on any other failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use switchboard::config::Config;
use switchboard::telemetry;
use switchboard_actors::domain::AudioFormat;
use switchboard_sim::loadtest::{LoadConfig, LoadShape};

/// Switchboard's simulators: a demo, a load test, and the load test's floor relay.
#[derive(Debug, Parser)]
#[command(name = "switchboard-sim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine on the built-in defaults (plus environment overrides), with a managed
    /// PostgreSQL under ./data and the built-in realtime peer as the AI; place simulated Twilio
    /// calls through the real path, print what they left, and keep serving until Ctrl-C.
    Demo(DemoArgs),
    /// Load test: place concurrent simulated calls (real-time audio both ways, realistic turns,
    /// barge-ins) against an engine (by default `switchboard` started as a child process on a
    /// managed PostgreSQL in a temp dir) and against a trivial relay (the floor), and report CPU
    /// per call-second, relay latency, memory per call, frame loss and persisted messages. Exits
    /// 1 if any frame was lost, any call failed or any message is missing.
    ///
    /// Two shapes (--shape). held (the default): --calls calls ramped up and held together for
    /// --duration-s, measured over the hold; read the engine's CPU as a multiple of the floor's.
    /// independent (an outside measurement's shape): callers at independent 20 ms phases, 14–35 s
    /// calls of 3–8 turns, agent audio in 100 ms deltas 5× faster than real time, each call
    /// replaced by a new one as it ends for --duration-s (about --calls up), measured from the
    /// first call placed to the last ended; read CPU ms per call-second served, set-up and end
    /// included.
    Loadtest(Box<LoadArgs>),
    /// The load test's floor: a trivial Twilio ⇄ realtime relay (prints `listening on ADDR`).
    #[command(hide = true)]
    FloorRelay(FloorArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Simulated calls to place once the engine is up (0: none).
    #[arg(long, default_value_t = 3)]
    calls: usize,
    /// Simulated calls kept live until Ctrl-C (each about 2.5 minutes, then another in its place),
    /// to watch on the dashboard, listen to and barge in on (0: none).
    #[arg(long, default_value_t = 2)]
    live: usize,
    /// Engines to run as one cluster (1 to 4): with more than one, a local nats-server is started
    /// too, the nodes share the managed PostgreSQL and listen on consecutive ports from
    /// http.listen.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4))]
    nodes: u16,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Concurrent calls.
    #[arg(long, default_value_t = 1000)]
    calls: u32,
    /// Calls started per second while ramping up.
    #[arg(long, default_value_t = 50.0)]
    ramp_per_s: f64,
    /// Seconds all calls are held together (held), or during which each call that ends is
    /// replaced by a new one (independent).
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// The load's shape: held (all calls up together, measured over the hold: engine CPU ÷
    /// floor CPU) or independent (14–35 s calls coming and going at independent phases, fast
    /// 100 ms agent deltas: CPU ms per call-second, set-up and end included).
    #[arg(long, default_value = "held", value_parser = LoadShape::NAMES)]
    shape: String,
    /// The engine's AI audio format: g711_ulaw or pcm16.
    #[arg(long, default_value = "g711_ulaw")]
    audio_format: String,
    /// Turn call recording off.
    #[arg(long)]
    no_recording: bool,
    /// A running engine to load (its ai.realtime_url must be ws://PEER_LISTEN/v1/realtime);
    /// default: start one as a child process. Repeat it for the nodes of a cluster: the calls
    /// go to them in turn, and the calls each node carried are reported.
    #[arg(long, value_name = "URL")]
    target: Vec<url::Url>,
    /// Pid of the --target engine (repeat it for each node's process), to read CPU time and
    /// memory (summed).
    #[arg(long, value_name = "PID")]
    target_pid: Vec<u32>,
    /// Twilio auth token of the --target engine.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", default_value = "")]
    auth_token: String,
    /// API key of the --target engine (of the organization the calls land in), to count the
    /// stored messages over REST. A child engine gets one made for the run.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Where the built-in realtime peer listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    peer_listen: std::net::SocketAddr,
    /// Run the child engine in cluster mode: start a nats-server for it (live events through
    /// JetStream, commands on NATS), to measure what cluster mode costs per call.
    #[arg(long, conflicts_with = "target")]
    nats: bool,
    /// Skip the floor phase.
    #[arg(long, conflicts_with = "floor_only")]
    no_floor: bool,
    /// Run only the floor phase.
    #[arg(long)]
    floor_only: bool,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Directory for the engine's temp data (database, recordings); removed afterwards.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Seed of the simulated conversations.
    #[arg(long, default_value_t = 6)]
    seed: u64,
    /// The `switchboard` executable to start as the engine under test; default: the one beside
    /// this executable.
    #[arg(long, value_name = "PATH")]
    engine: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct FloorArgs {
    /// The realtime endpoint to relay to, e.g. ws://127.0.0.1:PORT/v1/realtime.
    #[arg(long)]
    realtime_url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2, --help and --version exit 0
    let env: HashMap<String, String> = match &cli.command {
        Command::Demo(_) => std::env::vars().collect(),
        // The load test and its relay configure what they start themselves; they log warnings.
        Command::Loadtest(_) | Command::FloorRelay(_) => {
            HashMap::from([("SWITCHBOARD_LOG_LEVEL".to_owned(), "warn".to_owned())])
        }
    };
    let config = match Config::from_sources(None, &env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("switchboard-sim: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("switchboard-sim: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => {
                switchboard_sim::demo::run(config, args.calls, args.live, usize::from(args.nodes))
                    .await
            }
            Command::Loadtest(args) => loadtest(*args).await,
            Command::FloorRelay(args) => {
                switchboard_sim::loadtest::floor::main(args.realtime_url).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("switchboard-sim: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn loadtest(args: LoadArgs) -> anyhow::Result<()> {
    let here = std::env::current_exe()?;
    let engine = args
        .engine
        .unwrap_or_else(|| here.with_file_name("switchboard"));
    if !args.floor_only && args.target.is_empty() && !engine.is_file() {
        anyhow::bail!(
            "no engine at {}: build it beside this one (`cargo build --release --workspace`) or \
             give --engine PATH",
            engine.display()
        );
    }
    let mut config = LoadConfig::new(engine, args.calls, args.duration_s);
    config.relay_exe = here;
    config.audio_format = match args.audio_format.as_str() {
        "g711_ulaw" => AudioFormat::G711Ulaw,
        "pcm16" => AudioFormat::Pcm16,
        other => anyhow::bail!("--audio-format {other:?}: expected g711_ulaw or pcm16"),
    };
    config.shape = LoadShape::named(&args.shape)?;
    config.ramp_per_s = args.ramp_per_s;
    config.recording = !args.no_recording;
    let mut targets = args.target.into_iter();
    config.target = targets.next();
    config.more_targets = targets.collect();
    config.target_pids = args.target_pid;
    if config.target.is_some() {
        config.auth_token = args.auth_token;
        config.api_key = args.api_key;
    }
    config.peer_listen = args.peer_listen;
    config.engine = !args.floor_only;
    config.floor = !args.no_floor;
    if let Some(dir) = args.work_dir {
        config.work_dir = dir;
    }
    config.seed = args.seed;
    config.nats = args.nats;
    config.progress = true;
    let report = switchboard_sim::loadtest::run(&config).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("figures written to {}", path.display());
    }
    if report.problems.is_empty() {
        println!(
            "PASS: no frame lost, duplicated or reordered; no call failed; every message persisted"
        );
        Ok(())
    } else {
        for problem in &report.problems {
            println!("FAIL: {problem}");
        }
        anyhow::bail!("{} problem(s)", report.problems.len())
    }
}
