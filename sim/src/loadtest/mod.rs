//! `switchboard-sim loadtest` (also `switchboard loadtest`): concurrent simulated calls against
//! the engine, and the same calls through a trivial relay (the floor), measured in one run.
//!
//! A phase: start the process under test as a child of this one (the engine with `serve` on a
//! managed PostgreSQL in a temp dir, or the floor relay) with the project's realtime peer (in
//! this process) as its AI; note its idle memory; place the calls (the project's Twilio caller,
//! real time, realistic turns: [`call`]) and read the child's CPU time and resident memory
//! (`/proc/PID/stat`, `/proc/PID/status`) as the shape says ([`LoadShape`], [`schedule`]); let
//! every call hang up; collect what the callers and the peer saw; count the messages the engine
//! stored (over its REST API); stop the child.
//!
//! Two shapes. `held`, the project's own: every call ramped up, held together and measured over
//! the hold, read as engine CPU ÷ floor CPU. `independent`, an outside measurement's
//! ([`independent`]): short calls coming and going at independent 20 ms phases with fast agent
//! deltas, measured set-up and end included, read as CPU ms per call-second served.
//!
//! Timing: every caller frame carries a stamp (stream = call number, sequence, send time, see
//! [`crate::stamp`]) that the peer reads; every peer delta carries one the caller reads. With
//! µ-law pass-through (`g711_ulaw`, and the floor) that gives latency and per-frame order both
//! ways. With `pcm16` the engine resamples, stamps do not survive, and frames are counted.

pub mod call;
pub mod floor;
pub mod independent;
pub mod process;
pub mod report;
mod schedule;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::Serialize;
use switchboard_actors::domain::AudioFormat;
use tokio::time::Instant;
use url::Url;

use crate::realtime_peer::{Pace, PeerConfig, RealtimePeer, ResponseOutcome};
use call::{Live, Shape};
use independent::Independent;
use process::{UnderTest, Usage};
use report::{LoadReport, Percentiles, PhaseReport};

/// Bytes of 24 kHz PCM16 per 20 ms frame (what one caller frame becomes with `pcm16`).
const PCM16_FRAME_BYTES: u64 = 960;

/// How the calls of a run are shaped, placed and measured (`--shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadShape {
    /// `held`, the load test's own: `calls` calls ramped up one every 1/`ramp_per_s` s, held
    /// together for `duration_s` and measured over that hold (set-up and end outside it);
    /// turns of [`Shape`], agent audio in 20 ms deltas at real time. Its figure is the engine's
    /// CPU as a multiple of the floor's.
    Held(Shape),
    /// `independent`, an outside measurement's: callers at independent 20 ms phases, 14–35 s
    /// calls of 3–8 turns replaced as they end (about `calls` up for `duration_s`), agent audio
    /// in 100 ms deltas 5× faster than real time, measured from the first call placed to the last
    /// ended (set-up and end included). Its figure is CPU ms per call-second served.
    Independent(Independent),
}

impl Default for LoadShape {
    fn default() -> Self {
        LoadShape::Held(Shape::default())
    }
}

impl LoadShape {
    /// The names `--shape` takes.
    pub const NAMES: [&str; 2] = ["held", "independent"];

    /// The shape named `name`, with its default parameters.
    pub fn named(name: &str) -> anyhow::Result<LoadShape> {
        match name {
            "held" => Ok(LoadShape::Held(Shape::default())),
            "independent" => Ok(LoadShape::Independent(Independent::default())),
            other => bail!(
                "--shape {other:?}: expected one of {}",
                LoadShape::NAMES.join(", ")
            ),
        }
    }

    /// Its `--shape` name.
    pub fn name(&self) -> &'static str {
        match self {
            LoadShape::Held(_) => "held",
            LoadShape::Independent(_) => "independent",
        }
    }
}

/// How a load run goes.
#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    /// Concurrent calls.
    pub calls: u32,
    /// Calls started per second while ramping up.
    pub ramp_per_s: f64,
    /// Seconds every call is held together (held shape), or during which ended calls are
    /// replaced (independent shape).
    pub duration_s: u64,
    /// The engine's `ai.audio_format`.
    pub audio_format: AudioFormat,
    /// Record calls (`recording.enabled`).
    pub recording: bool,
    /// An engine already running (its `ai.realtime_url` must point at `peer_listen`); `None`
    /// starts one as a child process.
    pub target: Option<Url>,
    /// The other nodes of the `target`'s cluster: the calls go to the targets in turn (the calls
    /// each node carried are reported).
    pub more_targets: Vec<Url>,
    /// Pids of the target engines, to read their CPU and memory (summed).
    pub target_pids: Vec<u32>,
    /// Twilio auth token of the `target` engine.
    pub auth_token: String,
    /// API key (admin or agent of the organization the calls land in) with which the stored
    /// messages are counted over REST; required with `target`, created for a child engine.
    pub api_key: Option<String>,
    /// Where the realtime peer listens (`127.0.0.1:0`: anywhere).
    pub peer_listen: SocketAddr,
    /// Run the engine phase.
    pub engine: bool,
    /// Run the floor phase.
    pub floor: bool,
    /// The `switchboard` executable: the engine under test (and `apikey create` before it).
    pub engine_exe: PathBuf,
    /// The `switchboard-sim` executable: the floor relay (`switchboard-sim floor-relay`).
    pub relay_exe: PathBuf,
    /// Where temp dirs go (the engine's database and recordings).
    pub work_dir: PathBuf,
    /// Seed of the conversations.
    pub seed: u64,
    /// Shape of the conversations and of the measurement.
    pub shape: LoadShape,
    /// Print progress to stderr.
    pub progress: bool,
    /// The child engine runs in cluster mode: a `nats-server` is started for it, and it publishes
    /// its live events through JetStream and serves its calls' commands on NATS (the cost of
    /// cluster mode per call, against the same run without).
    pub nats: bool,
}

impl LoadConfig {
    /// `calls` calls for `duration_s` s against a child engine, with the floor, `engine_exe` being
    /// the `switchboard` executable (the relay is taken to be `switchboard-sim` beside it).
    pub fn new(engine_exe: PathBuf, calls: u32, duration_s: u64) -> LoadConfig {
        LoadConfig {
            calls,
            ramp_per_s: 50.0,
            duration_s,
            audio_format: AudioFormat::G711Ulaw,
            recording: true,
            target: None,
            more_targets: Vec::new(),
            target_pids: Vec::new(),
            auth_token: format!("load-{}", uuid::Uuid::new_v4().simple()),
            api_key: None,
            peer_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            engine: true,
            floor: true,
            relay_exe: engine_exe.with_file_name("switchboard-sim"),
            engine_exe,
            work_dir: std::env::temp_dir(),
            seed: 6,
            shape: LoadShape::default(),
            progress: false,
            nats: false,
        }
    }
}

/// Runs the phases and returns their figures (check [`LoadReport::problems`]).
pub async fn run(config: &LoadConfig) -> anyhow::Result<LoadReport> {
    if config.calls == 0 || config.calls > u32::from(u16::MAX) {
        bail!("--calls must be between 1 and {}", u16::MAX);
    }
    if !(config.ramp_per_s > 0.0 && config.ramp_per_s.is_finite()) {
        bail!("--ramp-per-s must be positive");
    }
    if config.duration_s == 0 {
        bail!("--duration-s must be at least 1");
    }
    if let LoadShape::Independent(shape) = &config.shape {
        shape
            .check()
            .map_err(|why| anyhow::anyhow!("independent shape: {why}"))?;
        let most = schedule::most_independent_calls(config.calls, config.duration_s, shape);
        if most > schedule::MAX_INDEPENDENT_CALLS {
            bail!(
                "--shape independent with --calls {} for {} s may place {most} calls, more than \
                 the {} the frame stamps can tell apart: fewer calls or a shorter --duration-s",
                config.calls,
                config.duration_s,
                schedule::MAX_INDEPENDENT_CALLS
            );
        }
    }
    if config.engine && config.target.is_some() && config.api_key.is_none() {
        bail!(
            "--target needs --api-key: a key of the organization the calls land in, to count \
             the stored messages over REST"
        );
    }
    for (wanted, exe, what) in [
        (
            config.engine && config.target.is_none(),
            &config.engine_exe,
            "engine",
        ),
        (config.floor, &config.relay_exe, "floor relay"),
    ] {
        if wanted && !exe.is_file() {
            bail!(
                "no {what} at {}: `cargo build --release --workspace` builds the engine and \
                 `switchboard-sim` side by side",
                exe.display()
            );
        }
    }
    let mut report = LoadReport {
        settings: serde_json::to_value(config)?,
        ..LoadReport::default()
    };
    if config.engine {
        report.engine = Some(engine_phase(config).await?);
    }
    if config.floor {
        report.floor = Some(floor_phase(config).await?);
    }
    report.finish();
    Ok(report)
}

/// The peer every phase talks to: VAD ending an utterance after 500 ms of silence, stamps on;
/// replies as long as the shape says, in 20 ms deltas paced in real time (held) or in the
/// shape's deltas (100 ms) its speed-up (5×) faster than real time (independent).
fn peer_config(shape: &LoadShape) -> PeerConfig {
    let (reply_ms, delta_ms, pace) = match shape {
        LoadShape::Held(shape) => (shape.reply_ms, 20, Pace::RealTime),
        LoadShape::Independent(shape) => {
            (shape.reply_ms, shape.delta_ms, Pace::Faster(shape.speedup))
        }
    };
    PeerConfig {
        silence_ms_to_stop: call::VAD_SILENCE_MS as u32,
        reply_ms: reply_ms.0 as u32,
        reply_ms_spread: (reply_ms.1 - reply_ms.0) as u32,
        delta_ms,
        pace,
        stamps: true,
        ..PeerConfig::default()
    }
}

async fn engine_phase(config: &LoadConfig) -> anyhow::Result<PhaseReport> {
    let peer = RealtimePeer::start_on(peer_config(&config.shape), config.peer_listen)?;
    if let Some(target) = &config.target {
        let token = config.auth_token.clone();
        let measured = Measured::External(config.target_pids.clone());
        let api_key = config.api_key.as_deref().unwrap_or_default();
        let targets: Vec<Url> = std::iter::once(target.clone())
            .chain(config.more_targets.iter().cloned())
            .collect();
        let phase = run_phase(config, "engine", &peer, &targets, &token, api_key, measured).await;
        peer.shutdown().await;
        return phase;
    }
    let dir = TempDir::new(&config.work_dir, "switchboard-load")?;
    let port = process::free_port()?;
    let url = Url::parse(&format!("http://127.0.0.1:{port}"))?;
    let format = match config.audio_format {
        AudioFormat::G711Ulaw => "g711_ulaw",
        AudioFormat::Pcm16 => "pcm16",
    };
    let env: Vec<(String, String)> = [
        ("SWITCHBOARD_HTTP_LISTEN", format!("127.0.0.1:{port}")),
        ("SWITCHBOARD_HTTP_PUBLIC_URL", url.to_string()),
        (
            "SWITCHBOARD_STORAGE_DATA_DIR",
            dir.path.join("data").display().to_string(),
        ),
        ("SWITCHBOARD_AI_REALTIME_URL", peer.url()),
        ("SWITCHBOARD_AI_API_KEY", "sk-load".to_owned()),
        ("SWITCHBOARD_AI_AUDIO_FORMAT", format.to_owned()),
        (
            "SWITCHBOARD_RECORDING_ENABLED",
            config.recording.to_string(),
        ),
        ("SWITCHBOARD_TWILIO_AUTH_TOKEN", config.auth_token.clone()),
        // The load test measures the live-call path; post-call analysis (a REST model per ended
        // call) is measured by its own tests.
        ("SWITCHBOARD_ANALYSIS_ENABLED", "false".to_owned()),
        // The read-back asks for every call's count at once (8 at a time, again every 0.5 s
        // until all is stored): the API's per-key limit (50/s, burst 200) answered 429 for the
        // rest past ~200 calls and the run failed.
        ("SWITCHBOARD_AUTH_RATE_LIMIT_PER_S", "100000".to_owned()),
        ("SWITCHBOARD_AUTH_RATE_LIMIT_BURST", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let nats = match config.nats {
        true => Some(crate::harness::NatsServer::start_in(&dir.path)?),
        false => None,
    };
    let mut env = env;
    if let Some(nats) = &nats {
        env.extend(nats.settings().into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    let api_key = process::create_api_key(&config.engine_exe, &dir.path, &env).await?;
    let mut child = UnderTest::spawn(
        &config.engine_exe,
        &["serve"],
        &dir.path,
        "engine",
        &env,
        false,
    )?;
    let phase = async {
        wait_ready(&mut child, &url).await?;
        let token = config.auth_token.clone();
        run_phase(
            config,
            "engine",
            &peer,
            std::slice::from_ref(&url),
            &token,
            &api_key,
            Measured::Child(&mut child),
        )
        .await
    }
    .await;
    let clean = child.stop(Duration::from_secs(90)).await;
    peer.shutdown().await;
    // The engine's log outlives its temp dir when something went wrong.
    let keep_log = |dir: &TempDir| {
        let name = format!("switchboard-load-engine-{}.log", std::process::id());
        let kept = config.work_dir.join(name);
        let _ = std::fs::copy(dir.path.join("engine.log"), &kept);
        kept.display().to_string()
    };
    let mut phase = match phase {
        Ok(phase) => phase,
        Err(err) => return Err(err.context(format!("engine log: {}", keep_log(&dir)))),
    };
    if !matches!(clean, Ok(true)) {
        let log = keep_log(&dir);
        phase
            .failures
            .push(format!("the engine did not stop cleanly (see {log})"));
    } else if !phase.problems().is_empty() {
        let log = keep_log(&dir);
        phase.failures.push(format!("engine log kept: {log}"));
    }
    drop(dir);
    Ok(phase)
}

async fn floor_phase(config: &LoadConfig) -> anyhow::Result<PhaseReport> {
    let peer = RealtimePeer::start_on(peer_config(&config.shape), config.peer_listen)?;
    let dir = TempDir::new(&config.work_dir, "switchboard-floor")?;
    let realtime = peer.url();
    let args = ["floor-relay", "--realtime-url", realtime.as_str()];
    let mut child = UnderTest::spawn(&config.relay_exe, &args, &dir.path, "floor", &[], true)?;
    let phase = async {
        let line = child.first_line(Duration::from_secs(30)).await?;
        let addr = line
            .strip_prefix("listening on ")
            .with_context(|| format!("floor relay said {line:?}"))?;
        let url = Url::parse(&format!("http://{addr}"))?;
        run_phase(
            config,
            "floor",
            &peer,
            std::slice::from_ref(&url),
            "",
            "",
            Measured::Child(&mut child),
        )
        .await
    }
    .await;
    let _ = child.stop(Duration::from_secs(10)).await;
    peer.shutdown().await;
    phase
}

/// Whose CPU and memory the phase reads.
enum Measured<'a> {
    Child(&'a mut UnderTest),
    External(Vec<u32>),
}

impl Measured<'_> {
    fn usage(&mut self) -> Option<Usage> {
        match self {
            Measured::Child(child) => child.usage().ok(),
            // Several processes (a cluster's nodes): their CPU and memory summed.
            Measured::External(pids) if pids.is_empty() => None,
            Measured::External(pids) => pids
                .iter()
                .map(|pid| process::usage(*pid).ok())
                .collect::<Option<Vec<Usage>>>()
                .map(|all| Usage {
                    cpu_s: all.iter().map(|u| u.cpu_s).sum(),
                    rss_kib: all.iter().map(|u| u.rss_kib).sum(),
                }),
        }
    }

    fn check(&mut self) -> anyhow::Result<()> {
        match self {
            Measured::Child(child) => child.check_running(),
            Measured::External(_) => Ok(()),
        }
    }
}

async fn wait_ready(child: &mut UnderTest, url: &Url) -> anyhow::Result<()> {
    let client = http_client()?;
    let ready = url.join("ready")?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        child.check_running()?;
        if let Ok(response) = client.get(ready.clone()).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the engine was not ready within 180 s (see {})",
                child.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn run_phase(
    config: &LoadConfig,
    name: &str,
    peer: &RealtimePeer,
    targets: &[Url],
    token: &str,
    api_key: &str,
    mut measured: Measured<'_>,
) -> anyhow::Result<PhaseReport> {
    let target = &targets[0];
    let probe = peer.probe();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = measured.usage();

    let live = Arc::new(Live::default());
    let progress = config.progress.then(|| {
        tokio::spawn(progress(
            name.to_owned(),
            config.calls,
            Arc::clone(&live),
            probe.clone(),
        ))
    });
    let placing = schedule::Placing {
        targets: targets.to_vec(),
        token: token.to_owned(),
    };
    let driven = match config.shape {
        LoadShape::Held(shape) => {
            schedule::held(config, &placing, shape, &live, &mut measured).await
        }
        LoadShape::Independent(shape) => {
            schedule::independent(config, &placing, shape, &live, &mut measured, peer).await
        }
    };
    let (results, window) = match driven {
        Ok(driven) => driven,
        Err(err) => {
            if let Some(task) = progress {
                task.abort();
            }
            return Err(err);
        }
    };
    // Every AI session ends once its call has: then the peer's figures are complete.
    let closed = peer
        .wait_for(Duration::from_secs(60), |logs| {
            logs.iter().all(|log| log.ended.is_some())
        })
        .await;
    if let Some(task) = progress {
        task.abort();
    }
    let logs = match closed {
        Some(logs) => logs,
        None => peer.connections(),
    };

    let mut phase = PhaseReport {
        name: name.to_owned(),
        shape: config.shape.name().to_owned(),
        audio_format: match (name, config.audio_format) {
            ("floor", _) | (_, AudioFormat::G711Ulaw) => "g711_ulaw".into(),
            (_, AudioFormat::Pcm16) => "pcm16".into(),
        },
        calls: results.len() as u64,
        ..PhaseReport::default()
    };
    window.fill(&mut phase, idle);
    if let LoadShape::Held(_) = config.shape {
        phase.hold_s = phase.window_s;
    }

    let totals = probe.totals();
    let stamped_in = name == "floor" || config.audio_format == AudioFormat::G711Ulaw;
    let mut in_latency = Vec::new();
    let mut out_latency = Vec::new();
    let mut expected = 0u64;
    for (i, result) in results.iter().enumerate() {
        phase.turns += result.turns;
        phase.barge_ins_attempted += result.barge_ins;
        if let Some(failure) = &result.failure {
            phase.failed_calls += 1;
            if phase.failures.len() < 10 {
                phase.failures.push(format!("call {i}: {failure}"));
            }
        }
        let Some(report) = &result.report else {
            continue;
        };
        expected += 3 + report.clears_received;
        phase.caller_to_ai.sent += report.media_frames_sent;
        if stamped_in {
            let stream = totals.streams.get(&(i as u16)).cloned().unwrap_or_default();
            let distinct = stream.check.frames - stream.check.duplicates;
            phase.caller_to_ai.received += stream.check.frames;
            phase.caller_to_ai.lost += report.media_frames_sent.saturating_sub(distinct);
            phase.caller_to_ai.duplicated += stream.check.duplicates;
            phase.caller_to_ai.reordered += stream.check.reordered;
            phase.held_frames += stream.held;
            in_latency.extend_from_slice(&stream.latency_us);
        }
        if result.unclean_close.is_some() {
            phase.unclean_closes += 1;
        }
        let agent = &report.agent_stamps;
        phase.ai_to_caller.received += report.media_frames_received;
        if stamped_in {
            let stream = totals.streams.get(&(i as u16));
            let sent = stream.map_or(&[][..], |s| &s.replies_sent[..]);
            phase.ai_to_caller.sent += sent.iter().map(|&n| u64::from(n)).sum::<u64>();
            phase.ai_to_caller.lost += agent.gaps + agent.unstamped;
            phase.ai_to_caller.duplicated += agent.duplicates;
            phase.ai_to_caller.reordered += agent.reordered;
            // Each reply must arrive whole unless a `clear` (barge-in) cut it.
            for (index, &deltas) in sent.iter().enumerate() {
                let stream = index as u16 + 1;
                match agent.replies.iter().find(|r| r.stream == stream) {
                    Some(reply) if reply.cleared => phase.replies_cut += 1,
                    Some(reply) => {
                        phase.ai_to_caller.lost +=
                            u64::from(deltas.saturating_sub(1).saturating_sub(reply.last))
                    }
                    None => phase.ai_to_caller.lost += u64::from(deltas),
                }
            }
            out_latency.extend_from_slice(&agent.latency_us);
        }
        phase.marks_sent += report.marks_received;
        phase.marks_echoed += report.marks_echoed;
        phase.marks_unechoed += report.marks_unechoed;
        phase.barge_ins_honoured += report.clears_received;
    }
    phase.caller_to_ai.stamped = stamped_in;
    phase.ai_to_caller.stamped = stamped_in;
    if !stamped_in {
        phase.ai_to_caller.sent = probe.deltas();
        // Counted: every caller frame becomes 960 bytes of 24 kHz PCM.
        let bytes: u64 = logs.iter().map(|log| log.audio_bytes).sum();
        let received = bytes / PCM16_FRAME_BYTES;
        phase.caller_to_ai.received = received;
        phase.caller_to_ai.lost = phase.caller_to_ai.sent.saturating_sub(received);
        phase.caller_to_ai.duplicated = received.saturating_sub(phase.caller_to_ai.sent);
    }
    phase.caller_to_ai_latency = Percentiles::from_us(&mut in_latency);
    phase.ai_to_caller_latency = Percentiles::from_us(&mut out_latency);
    for log in &logs {
        expected += log.utterances.len() as u64 + log.responses_completed() as u64;
        phase.barge_ins_cancelled += log
            .responses
            .iter()
            .filter(|r| matches!(&r.outcome, ResponseOutcome::Cancelled { reason } if reason == "turn_detected"))
            .count() as u64;
    }
    if totals.mixed_connections > 0 {
        phase.caller_to_ai.reordered += totals.mixed_connections;
        phase.failures.push(format!(
            "{} AI session(s) carried audio of more than one call",
            totals.mixed_connections
        ));
    }
    if name == "engine" {
        let call_ids: Vec<String> = results
            .iter()
            .filter_map(|r| r.report.as_ref()?.call_id.clone())
            .collect();
        phase.messages_expected = Some(expected);
        phase.messages_persisted = Some(persisted(target, api_key, &call_ids, expected).await?);
        if targets.len() > 1 {
            phase.calls_per_node = calls_per_node(target, api_key, &call_ids).await?;
        }
    }
    Ok(phase)
}

/// How many of `call_ids` each node carried (the call detail's `node`).
async fn calls_per_node(
    target: &Url,
    api_key: &str,
    call_ids: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let client = http_client()?;
    let nodes = futures_util::stream::iter(call_ids.iter().map(|id| {
        let client = client.clone();
        let url = target.join(&format!("api/v1/calls/{id}"));
        async move {
            let detail: serde_json::Value = client
                .get(url?)
                .bearer_auth(api_key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok(detail["node"].as_str().unwrap_or("(none)").to_owned())
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    let mut counts = std::collections::BTreeMap::new();
    for node in nodes {
        *counts.entry(node?).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Messages stored for `call_ids`, read over the REST API until they reach `expected` or stop
/// changing for 10 s. A request that fails counts as "not yet" (the engine may be busy); if
/// they keep failing for 10 s, the last error is returned.
async fn persisted(
    target: &Url,
    api_key: &str,
    call_ids: &[String],
    expected: u64,
) -> anyhow::Result<u64> {
    let client = http_client()?;
    let mut last = (None::<u64>, Instant::now());
    loop {
        let counts = futures_util::stream::iter(call_ids.iter().map(|id| {
            let client = client.clone();
            let url = target.join(&format!("api/v1/calls/{id}/messages?limit=1"));
            async move {
                let text = client
                    .get(url?)
                    .bearer_auth(api_key)
                    .send()
                    .await?
                    .error_for_status()?
                    .text()
                    .await?;
                let page: serde_json::Value = serde_json::from_str(&text)?;
                anyhow::Ok(page["total"].as_u64().unwrap_or(0))
            }
        }))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
        let total: anyhow::Result<u64> = counts.into_iter().sum();
        let stalled = last.1.elapsed() > Duration::from_secs(10);
        match total {
            Ok(total) if total >= expected || (Some(total) == last.0 && stalled) => {
                return Ok(total);
            }
            Ok(total) if Some(total) != last.0 => last = (Some(total), Instant::now()),
            Ok(_) => {}
            Err(err) if stalled => return Err(err.context("counting the stored messages")),
            Err(err) => tracing::warn!(%err, "counting the stored messages; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn progress(
    name: String,
    calls: u32,
    live: Arc<Live>,
    probe: Arc<crate::realtime_peer::PeerProbe>,
) {
    let began = Instant::now();
    let mut last = (
        live.frames.load(Ordering::Relaxed),
        probe.appends(),
        probe.deltas(),
    );
    let period = Duration::from_secs(5);
    loop {
        tokio::time::sleep(period).await;
        let now = (
            live.frames.load(Ordering::Relaxed),
            probe.appends(),
            probe.deltas(),
        );
        let rate = |a: u64, b: u64| (a - b) as f64 / period.as_secs_f64();
        let up = live.up.load(Ordering::Relaxed) - live.done.load(Ordering::Relaxed);
        eprintln!(
            "[{name} {:>4}s] calls up {up}/{calls}, done {}, failed {} | caller frames/s {:.0} | at AI appends/s {:.0} | AI deltas/s {:.0}",
            began.elapsed().as_secs(),
            live.done.load(Ordering::Relaxed),
            live.failed.load(Ordering::Relaxed),
            rate(now.0, last.0),
            rate(now.1, last.1),
            rate(now.2, last.2),
        );
        last = now;
    }
}

/// A directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(parent: &std::path::Path, prefix: &str) -> anyhow::Result<TempDir> {
        let path = parent.join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
