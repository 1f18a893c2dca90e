//! The call load bench: `switchboard-sim loadtest` from `cargo bench`, engine and floor in one run.
//!
//! `cargo bench --bench calls` places 1,000 concurrent simulated calls for 60 s against an engine
//! started as a child process (release build, managed PostgreSQL in a temp dir, recording on),
//! then the same calls through the trivial floor relay, and prints the table (CPU per
//! call-second, calls per core, relay latency p50/p99/p999, RSS per call, frames lost,
//! messages persisted vs expected) with the targets beside it.
//! The floor relay is `switchboard-sim`, run from beside the engine: `cargo build --release
//! --workspace` first (or `BENCH_FLOOR=0`).
//!
//! Knobs: `BENCH_CALLS` (1000), `BENCH_SECONDS` (60), `BENCH_RAMP` (calls/s, 50),
//! `BENCH_FORMAT` (`g711_ulaw` | `pcm16`), `BENCH_FLOOR` (`0` skips the floor),
//! `BENCH_JSON` (write the figures there), `BENCH_DIR` (temp data directory).

use std::path::PathBuf;

use switchboard::actors::domain::AudioFormat;
use switchboard_sim::loadtest::{LoadConfig, run};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and test discovery: nothing to list.
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let mut config = LoadConfig::new(exe, env("BENCH_CALLS", 1000), env("BENCH_SECONDS", 60));
    config.ramp_per_s = env("BENCH_RAMP", 50.0);
    let format: String = env("BENCH_FORMAT", "g711_ulaw".to_owned());
    config.audio_format = if format == "pcm16" {
        AudioFormat::Pcm16
    } else {
        AudioFormat::G711Ulaw
    };
    config.floor = env("BENCH_FLOOR", 1) != 0;
    if let Ok(dir) = std::env::var("BENCH_DIR") {
        config.work_dir = dir.into();
    }
    config.progress = true;
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(&config))?;
    print!("{}", report.table());
    let cpu_target = if format == "pcm16" { 3.0 } else { 1.0 };
    println!(
        "targets: CPU ≤ {cpu_target} ms per call-second ({format}), engine-added p99 ≤ 2 ms over \
         the floor, RSS ≤ 256 KiB per call, 0 frames lost, every message persisted"
    );
    if let Ok(path) = std::env::var("BENCH_JSON") {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        println!("figures written to {path}");
    }
    for problem in &report.problems {
        println!("FAIL: {problem}");
    }
    Ok(())
}
