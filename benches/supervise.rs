//! Supervisor latency bench, end to end on loopback with the real engine (managed PostgreSQL in a
//! temp dir), the project's Twilio caller and realtime peer, and a supervisor on the real
//! websocket. `cargo bench --bench supervise` prints p50/p99/max in ms and the sample counts of:
//!
//! 1. **Monitor**: a caller frame sent to the engine → the same audio arriving at a supervisor
//!    listening (`codec=pcm16&rate=8000&channels=stereo`, caller on the left). The caller sends
//!    silence every 20 ms and, every 200 ms, one frame of a loud 1 kHz tone; the supervisor
//!    timestamps every binary message and the first loud one (left channel) after each burst
//!    closes the sample. This includes the caller→engine socket hop and the engine's 20 ms
//!    framing: an upper bound of the engine's own part.
//! 2. **Barge**: a supervisor packet sent while barged in → that audio arriving at the caller as
//!    Twilio `media`. The supervisor sends one 20 ms packet every 20 ms (silence, and every
//!    200 ms a 2 kHz tone); the caller finds the first loud engine frame after each burst. Run
//!    with PCM16 8 kHz input and with Opus 48 kHz input (decode cost is on the path). The engine
//!    paces barge audio on the caller's frames, so the caller keeps sending one every 20 ms;
//!    the supervisor's clock runs 1.15 % slow ([`SWEEP`]) so the bursts meet every phase of the
//!    caller's frames (the wait for the next one is part of the latency, 0–20 ms).
//!
//! Sender and receiver run in one process: both instants come from the same monotonic clock.
//! The AI (realtime peer) never answers (huge VAD threshold), so its audio does not interfere.
//!
//! Knobs: `BENCH_BURSTS` (bursts per measurement, 100 = 20 s each).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::accounts::issue_api_key;
use switchboard::auth::Role;
use switchboard_actors::audio::{OpusEncoder, g711, tone};
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_sim::harness::LocalEngine;
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallerConfig, Event, MediaSession, Pace, TwilioCaller};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

const TOKEN: &str = "twilio-bench-token";
const FRAME: Duration = Duration::from_millis(20);
/// One burst every this many 20 ms frames (200 ms).
const BURST_EVERY: u64 = 10;
/// -6 dBFS peak.
const AMPLITUDE: f64 = 16_384.0;
/// RMS above which a 20 ms frame counts as the burst (the tone's is ~11,600; silence is 0).
const LOUD_RMS: f64 = 2_000.0;
/// The supervisor's packets slip by this much per burst against the caller's frames (a clock
/// 1.15 % slow), so that the bursts meet every phase of the caller's 20 ms frames: the engine
/// sends barge audio on the caller's next frame, and a fixed phase would measure one wait only.
const SWEEP: Duration = Duration::from_micros(2_300);
const MONITOR_TARGET_MS: f64 = 40.0;
const BARGE_TARGET_MS: f64 = 60.0;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and test discovery: nothing to list.
    }
    let bursts: u64 = std::env::var("BENCH_BURSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(bench(bursts))
}

/// Instants shared between tasks.
type Stamps = Arc<Mutex<Vec<Instant>>>;

fn stamps() -> Stamps {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(stamps: &Stamps) -> Vec<Instant> {
    std::mem::take(&mut *stamps.lock().unwrap())
}

/// What the caller task and the rest share.
struct Shared {
    /// The caller sends a tone burst every 200 ms (else silence only).
    tones: AtomicBool,
    stop: AtomicBool,
    /// When the caller sent each burst.
    caller_bursts: Stamps,
    /// When the caller received a loud engine frame.
    caller_loud: Stamps,
}

async fn bench(bursts: u64) -> anyhow::Result<()> {
    let peer = RealtimePeer::start(PeerConfig {
        vad_threshold: 1e9,
        ..PeerConfig::default()
    })?;
    let running = engine(&peer).await?;
    let shared = Arc::new(Shared {
        tones: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        caller_bursts: stamps(),
        caller_loud: stamps(),
    });

    let config = CallerConfig::new(running.url.clone(), TOKEN).pace(Pace::RealTime);
    let sid = config.call_sid.clone();
    let twiml = TwilioCaller::post_webhook(&config).await?;
    let mut session = MediaSession::connect(&config, &twiml).await?;
    session.send_connected().await?;
    session.send_start().await?;
    let caller = tokio::spawn(caller(session, shared.clone()));
    running.wait_live(&sid).await?;
    let window = FRAME * BURST_EVERY as u32;
    let run_for = window * bursts as u32;

    println!(
        "supervise bench: {bursts} bursts per measurement, one per {} ms, loopback, one call",
        window.as_millis()
    );
    let mut results = Vec::new();

    // 1. Monitor.
    let mut sup = Supervisor::open(
        &running,
        &sid,
        "codec=pcm16&rate=8000&channels=stereo&input_codec=pcm16&input_rate=8000",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    take(&sup.loud);
    shared.tones.store(true, Ordering::SeqCst);
    tokio::time::sleep(run_for).await;
    shared.tones.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = take(&shared.caller_bursts);
    let heard = take(&sup.loud);
    results.push((
        "monitor (caller frame → supervisor, PCM16 8k stereo)",
        MONITOR_TARGET_MS,
        pair(&sent, &heard, window),
    ));

    // 2. Barge, PCM16 8 kHz input, on the same socket.
    sup.barge().await?;
    let sent = sup.speak(Input::Pcm16, bursts).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let heard = take(&shared.caller_loud);
    results.push((
        "barge (supervisor packet → caller, PCM16 8k input)",
        BARGE_TARGET_MS,
        pair(&sent, &heard, window),
    ));
    sup.action("unbarge").await?;
    sup.close().await;

    // 3. Barge, Opus 48 kHz input.
    let mut sup = Supervisor::open(
        &running,
        &sid,
        "codec=pcm16&rate=8000&channels=stereo&input_codec=opus&input_rate=48000",
    )
    .await?;
    sup.barge().await?;
    take(&shared.caller_loud);
    let sent = sup.speak(Input::Opus48k, bursts).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let heard = take(&shared.caller_loud);
    results.push((
        "barge (supervisor packet → caller, Opus 48k input)",
        BARGE_TARGET_MS,
        pair(&sent, &heard, window),
    ));
    sup.action("unbarge").await?;
    sup.close().await;

    shared.stop.store(true, Ordering::SeqCst);
    let frames_sent = caller.await??;

    println!();
    println!(
        "{:<56} {:>8} {:>8} {:>8} {:>9}  target (p99)",
        "path", "p50 ms", "p99 ms", "max ms", "samples"
    );
    for (name, target, stats) in &results {
        println!("{}", stats.row(name, *target));
    }
    println!();
    println!(
        "notes: monitor latency includes the caller→engine socket hop and the engine's 20 ms \
         framing (an upper bound of the engine's own part); barge latency includes the \
         supervisor→engine hop, decoding, the wait for the caller's next frame (the engine paces \
         barge audio on them; the supervisor's clock slips {:.1} ms per burst so all phases are \
         met) and the engine→caller hop. Caller frames sent: {frames_sent}.",
        SWEEP.as_secs_f64() * 1000.0
    );
    running.shutdown().await?;
    peer.shutdown().await;
    Ok(())
}

/// The caller: one frame every 20 ms (silence, or a tone burst every 200 ms while `tones`),
/// reading the engine's frames in between; notes when it sent each burst and when a loud engine
/// frame arrived. Returns the frames sent.
async fn caller(mut session: MediaSession, shared: Arc<Shared>) -> anyhow::Result<u64> {
    let silence = [0xFFu8; 160];
    let mut burst = [0u8; 160];
    g711::encode_ulaw(&tone::sine(1000.0, 8000, 160, AMPLITUDE), &mut burst);
    let mut tick = tokio::time::interval(FRAME);
    let mut n: u64 = 0;
    let mut consumed = 0usize;
    let mut pcm = [0i16; 160];
    while !shared.stop.load(Ordering::SeqCst) {
        let due = tick.tick().await + FRAME;
        let tones = shared.tones.load(Ordering::SeqCst);
        if tones && n.is_multiple_of(BURST_EVERY) {
            let at = Instant::now();
            session.send_media(&burst).await?;
            shared.caller_bursts.lock().unwrap().push(at);
        } else {
            session.send_media(&silence).await?;
        }
        n += 1;
        // Read the engine's frames until the next frame is due.
        loop {
            let left = due.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let Some((_, event)) = session.next_event(left).await? else {
                break;
            };
            if !matches!(event, Event::AgentMedia { .. }) {
                continue;
            }
            let at = Instant::now();
            let audio = &session.report().agent_audio;
            let mut loud = false;
            while audio.len() - consumed >= 160 {
                g711::decode_ulaw(&audio[consumed..consumed + 160], &mut pcm);
                consumed += 160;
                loud |= tone::rms(&pcm) > LOUD_RMS;
            }
            if loud {
                shared.caller_loud.lock().unwrap().push(at);
            }
        }
    }
    session.hang_up().await?;
    Ok(n)
}

#[derive(Clone, Copy)]
enum Input {
    Pcm16,
    Opus48k,
}

/// A supervisor on the socket: a reader task timestamps binary messages (and notes loud ones on
/// the left channel, the caller's) and passes text on.
struct Supervisor {
    sink: SplitSink<Socket, Message>,
    texts: mpsc::UnboundedReceiver<Value>,
    loud: Stamps,
    reader: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    async fn open(running: &Running, sid: &str, query: &str) -> anyhow::Result<Supervisor> {
        let socket = running.supervise(sid, query).await?;
        let (sink, stream) = socket.split();
        let (tx, mut texts) = mpsc::unbounded_channel();
        let loud = stamps();
        let reader = tokio::spawn(read(stream, tx, loud.clone()));
        let ready = tokio::time::timeout(Duration::from_secs(10), texts.recv())
            .await
            .context("no ready message")?
            .context("socket closed before ready")?;
        if ready["type"] != "ready" {
            bail!("first message is not ready: {ready}");
        }
        Ok(Supervisor {
            sink,
            texts,
            loud,
            reader,
        })
    }

    /// Sends an action, waits for its ack.
    async fn action(&mut self, action: &str) -> anyhow::Result<()> {
        let text = json!({ "action": action }).to_string();
        self.sink.send(Message::text(text)).await?;
        loop {
            let reply = tokio::time::timeout(Duration::from_secs(10), self.texts.recv())
                .await
                .with_context(|| format!("no answer to {action}"))?
                .context("socket closed")?;
            match reply["type"].as_str() {
                Some("ack") => return Ok(()),
                Some("error") => bail!("{action} refused: {reply}"),
                _ => {}
            }
        }
    }

    async fn barge(&mut self) -> anyhow::Result<()> {
        self.action("barge").await
    }

    /// One packet every 20 ms for `bursts` × 200 ms: silence, and a 2 kHz tone every 200 ms.
    /// Returns when each tone packet was sent.
    async fn speak(&mut self, input: Input, bursts: u64) -> anyhow::Result<Vec<Instant>> {
        let (rate, samples) = match input {
            Input::Pcm16 => (8000, 160),
            Input::Opus48k => (48_000, 960),
        };
        let silence = vec![0i16; samples];
        let burst = tone::sine(2000.0, rate, samples, AMPLITUDE);
        let mut encoder = match input {
            Input::Pcm16 => None,
            Input::Opus48k => Some(OpusEncoder::new(48_000, 1)?),
        };
        let mut sent = Vec::with_capacity(bursts as usize);
        let start = tokio::time::Instant::now();
        for n in 0..bursts * BURST_EVERY {
            // The first burst after a few silent packets.
            let loud = n % BURST_EVERY == BURST_EVERY / 2;
            let pcm = if loud { &burst } else { &silence };
            let packet = match encoder.as_mut() {
                None => pcm.iter().flat_map(|s| s.to_le_bytes()).collect(),
                Some(encoder) => encoder.encode(pcm)?.to_vec(),
            };
            // Every 20 ms, slipping by `SWEEP` per burst against the caller's clock.
            let slip = SWEEP * (n / BURST_EVERY) as u32;
            tokio::time::sleep_until(start + FRAME * n as u32 + slip).await;
            let at = Instant::now();
            self.sink.send(Message::binary(packet)).await?;
            if loud {
                sent.push(at);
            }
        }
        Ok(sent)
    }

    async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await;
        self.reader.abort();
    }
}

async fn read(mut stream: SplitStream<Socket>, texts: mpsc::UnboundedSender<Value>, loud: Stamps) {
    let mut left = Vec::with_capacity(160);
    while let Some(Ok(message)) = stream.next().await {
        let at = Instant::now();
        match message {
            Message::Binary(bytes) => {
                // PCM16 little-endian, interleaved L (caller), R (agent).
                left.clear();
                left.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|f| i16::from_le_bytes([f[0], f[1]])),
                );
                if tone::rms(&left) > LOUD_RMS {
                    loud.lock().unwrap().push(at);
                }
            }
            Message::Text(text) => {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    let _ = texts.send(value);
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
}

/// Latencies of one measurement, in ms.
struct Stats {
    latencies: Vec<f64>,
    sent: usize,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies[rank.clamp(1, n) - 1]
    }

    fn row(&self, name: &str, target: f64) -> String {
        if self.latencies.is_empty() {
            return format!("{name:<56} no samples ({} bursts sent) ✘", self.sent);
        }
        let p99 = self.percentile(99.0);
        let ok = if p99 <= target { "✔" } else { "✘" };
        format!(
            "{name:<56} {:>8.1} {:>8.1} {:>8.1} {:>4}/{:<4}  ≤ {target:.0} ms {ok}",
            self.percentile(50.0),
            p99,
            self.latencies.last().unwrap(),
            self.latencies.len(),
            self.sent,
        )
    }
}

/// Each burst sent with the first loud arrival after it, within the burst's window.
fn pair(sent: &[Instant], heard: &[Instant], window: Duration) -> Stats {
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|&s| {
            heard
                .iter()
                .find(|&&h| h >= s)
                .map(|&h| h - s)
                .filter(|&d| d < window)
                .map(|d| d.as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Stats {
        latencies,
        sent: sent.len(),
    }
}

/// The engine under test, with a supervisor API key.
struct Running {
    engine: LocalEngine,
    url: Url,
    keys: HashMap<&'static str, String>,
}

async fn engine(peer: &RealtimePeer) -> anyhow::Result<Running> {
    let engine = LocalEngine::start(&peer.url(), TOKEN, &[]).await?;
    let key = issue_api_key(engine.store(), DEFAULT_ORG, "bench", Role::Supervisor)
        .await
        .map_err(|e| anyhow::anyhow!("API key: {e}"))?
        .key;
    Ok(Running {
        url: engine.url.clone(),
        engine,
        keys: HashMap::from([("supervisor", key)]),
    })
}

impl Running {
    async fn shutdown(self) -> anyhow::Result<()> {
        self.engine.shutdown().await
    }

    async fn wait_live(&self, sid: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!(
            "{}/api/v1/calls/live",
            self.url.as_str().trim_end_matches('/')
        );
        for _ in 0..400 {
            let live: Value = client
                .get(&url)
                .bearer_auth(&self.keys["supervisor"])
                .send()
                .await?
                .json()
                .await?;
            if live["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|c| c["call_sid"] == sid))
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("call {sid} never went live")
    }

    async fn supervise(&self, sid: &str, query: &str) -> anyhow::Result<Socket> {
        let ws = self.url.as_str().replacen("http", "ws", 1);
        let url = format!(
            "{}/api/v1/calls/{sid}/supervise?{query}",
            ws.trim_end_matches('/')
        );
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.keys["supervisor"]).parse()?,
        );
        let (socket, _) = tokio_tungstenite::connect_async_with_config(
            request, None, true, // TCP_NODELAY: 20 ms packets, as the caller's socket
        )
        .await?;
        Ok(socket)
    }
}
