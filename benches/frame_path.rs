//! Criterion micro-benches of the per-frame path, one 20 ms frame per iteration, through the
//! call's real [`CallPipeline`] (what the call actor runs; a live call with its AI session up and
//! its recording on), the transmits drained as the actor drains them:
//!
//! - `twilio_media_to_ai_append/g711`: a Twilio `media` frame in, `input_audio_buffer.append`
//!   out around the *same* base64 (pass-through), the caller's audio to the recorder;
//! - `twilio_media_to_ai_append/pcm16`: the same, resampled 8 → 24 kHz and base64-encoded again;
//! - `ai_delta_to_twilio_media_mark/g711`: a `response.output_audio.delta` in, Twilio `media`
//!   (same base64) and `mark` out, the agent's audio to the recorder, then Twilio's echo of the
//!   mark in;
//! - `ai_delta_to_twilio_media_mark/pcm16`: the same from 24 kHz PCM, resampled to 8 kHz µ-law;
//! - `ulaw_pcm16_24k`: µ-law → PCM → 24 kHz and back, the codec alone;
//! - `recorder_write`: one caller and one agent frame into the dual-channel WAV recorder.
//!
//! Besides Criterion's time per iteration it prints ns/frame and heap allocations per frame,
//! counted by a tiny counting allocator (this thread only) over 10,000 warm frames. What a frame
//! must allocate is what leaves the pipeline: the text frame handed to a socket's writer.
//!
//! `cargo bench --bench frame_path` (add `-- --quick` for a short run).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_actors::audio::{CallRecorder, Resampler, g711, tone};
use switchboard_actors::call::recording::RecorderThread;
use switchboard_actors::call::{CallConfig, CallMetrics, CallPipeline, RealtimeProtocol, Transmit};
use switchboard_actors::domain::AudioFormat;
use switchboard_actors::realtime::{self, Dialect, ServerEncoder, SessionConfig};
use switchboard_actors::twilio::{self, Start};
use uuid::Uuid;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to `System` for the actual work; only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STREAM_SID: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";

/// Runs `frame` 1,000 times to warm up, then 10,000 times counting allocations and time.
fn measure(name: &str, mut frame: impl FnMut(u64)) {
    for i in 0..1000 {
        frame(i);
    }
    let before = ALLOCATIONS.with(Cell::get);
    let began = Instant::now();
    const N: u64 = 10_000;
    for i in 0..N {
        frame(i);
    }
    let ns = began.elapsed().as_nanos() as f64 / N as f64;
    let allocs = (ALLOCATIONS.with(Cell::get) - before) as f64 / N as f64;
    println!("{name:<42} {ns:>9.0} ns/frame {allocs:>6.2} allocations/frame");
}

/// 20 ms frames of a 440 Hz tone in µ-law, as Twilio sends them.
fn caller_frames() -> Vec<String> {
    let pcm = tone::sine(440.0, 8000, 8000, 8000.0);
    let mut mulaw = Vec::new();
    g711::encode_ulaw_into_vec(&pcm, &mut mulaw);
    mulaw
        .chunks(160)
        .enumerate()
        .map(|(i, chunk)| {
            let mut text = String::new();
            let i = i as u64;
            twilio::encode_inbound_media(STREAM_SID, i + 2, i + 1, i * 20, chunk, &mut text);
            text
        })
        .collect()
}

/// 20 ms `response.output_audio.delta` events in `format` (µ-law or 24 kHz PCM16).
fn ai_deltas(pcm16: bool) -> Vec<String> {
    let mut enc = ServerEncoder::new(Dialect::Ga);
    let rate = if pcm16 { 24_000 } else { 8000 };
    let pcm = tone::sine(440.0, rate, rate as usize, 8000.0);
    let mut bytes = Vec::new();
    if pcm16 {
        bytes.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
    } else {
        g711::encode_ulaw_into_vec(&pcm, &mut bytes);
    }
    let chunk = if pcm16 { 960 } else { 160 };
    bytes
        .chunks(chunk)
        .map(|c| enc.audio_delta("resp_1", "item_1", &STANDARD.encode(c)))
        .collect()
}

/// A live call's pipeline (stream started, AI session up, recording on), as the call actor
/// holds it.
fn live_pipeline(pcm16: bool, recording: &std::path::Path) -> CallPipeline {
    let t0 = Instant::now();
    let ids = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let config = CallConfig {
        audio_format: if pcm16 {
            AudioFormat::Pcm16
        } else {
            AudioFormat::G711Ulaw
        },
        ..CallConfig::new(ids.0, ids.1, ids.2, "+14155550100", t0, chrono::Utc::now())
    };
    let session = SessionConfig {
        audio_format: if pcm16 {
            realtime::AudioFormat::Pcm16
        } else {
            realtime::AudioFormat::G711Ulaw
        },
        ..SessionConfig::for_dialect(Dialect::Ga)
    };
    let protocol = Box::new(RealtimeProtocol {
        dialect: Dialect::Ga,
        session,
    });
    let mut pipeline =
        CallPipeline::new(config, protocol, Arc::new(CallMetrics::default())).expect("pipeline");
    let start = Start::inbound_mulaw(
        STREAM_SID,
        "AC00000000000000000000000000000001",
        "CA00000000000000000000000000000001",
    );
    let mut text = String::new();
    twilio::encode_start(&start, &mut text);
    pipeline.on_twilio(t0, &text);
    pipeline.on_ai_up(t0);
    let recorder = RecorderThread::start(recording.to_path_buf(), 16_000).expect("recorder");
    pipeline.set_recorder(Box::new(recorder));
    while pipeline.poll_transmit().is_some() {}
    pipeline
}

/// Hands what the pipeline sent to nobody (as the actor hands it to the writers); the bytes.
fn drain(pipeline: &mut CallPipeline) -> usize {
    let mut bytes = 0;
    while let Some(transmit) = pipeline.poll_transmit() {
        if let Transmit::Twilio(text) | Transmit::Ai(text) = &transmit {
            bytes += text.len();
        }
        black_box(transmit);
    }
    bytes
}

fn benches(c: &mut Criterion) {
    println!("per-frame path, one 20 ms frame per iteration (10,000 warm frames, this thread):");
    let frames = caller_frames();
    let dir = std::env::temp_dir().join(format!("frame-path-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, pcm16) in [("g711", false), ("pcm16", true)] {
        let mut pipeline = live_pipeline(pcm16, &dir.join(format!("caller-{name}.wav")));
        let t0 = Instant::now();
        let mut step = |i: u64| {
            let now = t0 + Duration::from_millis(i * 20);
            pipeline.on_twilio(now, &frames[i as usize % frames.len()]);
            black_box(drain(&mut pipeline));
        };
        measure(&format!("twilio_media_to_ai_append/{name}"), &mut step);
        c.bench_function(&format!("twilio_media_to_ai_append/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                step(i)
            })
        });
        let counters = pipeline.counters();
        assert!(
            counters.media_frames > 10_000 && counters.media_rejected == 0,
            "every frame went through the call: {counters:?}"
        );
    }
    for (name, pcm16) in [("g711", false), ("pcm16", true)] {
        let deltas = ai_deltas(pcm16);
        let mut pipeline = live_pipeline(pcm16, &dir.join(format!("agent-{name}.wav")));
        let t0 = Instant::now();
        let mut echo = String::with_capacity(256);
        let mut mark = String::with_capacity(32);
        let mut seq = 0u64;
        let mut step = |i: u64| {
            let now = t0 + Duration::from_millis(i * 20);
            pipeline.on_ai(now, &deltas[i as usize % deltas.len()]);
            black_box(drain(&mut pipeline));
            // Twilio echoes the delta's mark (named by its sequence) once it has played.
            seq += 1;
            mark.clear();
            let _ = write!(mark, "{seq}");
            twilio::encode_mark_echo(STREAM_SID, seq + 1, &mark, &mut echo);
            pipeline.on_twilio(now, &echo);
        };
        measure(&format!("ai_delta_to_twilio_media_mark/{name}"), &mut step);
        c.bench_function(&format!("ai_delta_to_twilio_media_mark/{name}"), |b| {
            let mut i = 20_000u64;
            b.iter(|| {
                i += 1;
                step(i)
            })
        });
        let counters = pipeline.counters();
        assert!(
            counters.deltas_forwarded > 10_000
                && counters.deltas_dropped == 0
                && counters.marks_unknown == 0,
            "every delta went to the caller and every mark came back: {counters:?}"
        );
    }
    {
        let pcm = tone::sine(440.0, 8000, 160, 8000.0);
        let mut mulaw = Vec::new();
        g711::encode_ulaw_into_vec(&pcm, &mut mulaw);
        let (mut up, mut down) = (
            Resampler::new(8000, 24_000).expect("supported"),
            Resampler::new(24_000, 8000).expect("supported"),
        );
        let (mut pcm8k, mut back, mut out) = (Vec::new(), Vec::new(), Vec::new());
        let mut step = |_: u64| {
            g711::decode_ulaw_into_vec(&mulaw, &mut pcm8k);
            let wide = up.push(&pcm8k);
            back.clear();
            back.extend_from_slice(down.push(wide));
            g711::encode_ulaw_into_vec(&back, &mut out);
            black_box(out.len());
        };
        measure("ulaw_pcm16_24k (µ-law→8k→24k→8k→µ-law)", &mut step);
        c.bench_function("ulaw_pcm16_24k", |b| b.iter(|| step(0)));
    }
    {
        let mut recorder = CallRecorder::create(dir.join("bench.wav"), 16_000).expect("wav");
        let pcm = tone::sine(440.0, 8000, 160, 8000.0);
        let mut at = 0u64;
        let mut step = |_: u64| {
            recorder.write_caller(at, &pcm);
            recorder.write_agent(at, &pcm);
            at += 20;
        };
        measure("recorder_write (caller + agent, 16 kHz WAV)", &mut step);
        c.bench_function("recorder_write", |b| b.iter(|| step(0)));
        drop(recorder);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(frame_path, benches);
criterion_main!(frame_path);
