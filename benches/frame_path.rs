//! Criterion micro-benches of the per-frame path, one 20 ms frame per iteration, with the steps the
//! call actor takes (`actors/src/call/actor.rs`, `on_twilio` and `on_delta`), on the same codecs:
//!
//! - `twilio_media_to_ai_append/g711`: parse a Twilio `media` frame, decode its payload (the
//!   recorder needs PCM), µ-law → PCM, encode `input_audio_buffer.append` around the *same*
//!   base64 (pass-through);
//! - `twilio_media_to_ai_append/pcm16`: the same, resampled 8 → 24 kHz and base64-encoded again;
//! - `ai_delta_to_twilio_media_mark/g711`: parse `response.output_audio.delta`, decode the audio
//!   (for the recorder), encode Twilio `media` (same base64) and `mark`;
//! - `ai_delta_to_twilio_media_mark/pcm16`: the same from 24 kHz PCM, resampled to 8 kHz µ-law;
//! - `ulaw_pcm16_24k`: µ-law → PCM → 24 kHz and back, the codec alone;
//! - `recorder_write`: one caller and one agent frame into the dual-channel WAV recorder.
//!
//! Besides Criterion's time per iteration it prints ns/frame and heap allocations per frame,
//! counted by a tiny counting allocator (this thread only) over 10,000 warm frames.
//!
//! `cargo bench --bench frame_path` (add `-- --quick` for a short run).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_actors::audio::{CallRecorder, Resampler, g711, tone};
use switchboard_actors::realtime::{self, Dialect, ServerEncoder, ServerEvent, parse_server_event};
use switchboard_actors::twilio::{self, Inbound};

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

/// The caller → AI step of the call actor.
struct CallerPath {
    mulaw: Vec<u8>,
    pcm8k: Vec<i16>,
    pcm_bytes: Vec<u8>,
    b64: String,
    frame: String,
    up: Option<Resampler>,
}

impl CallerPath {
    fn new(pcm16: bool) -> Self {
        CallerPath {
            mulaw: Vec::with_capacity(1024),
            pcm8k: Vec::with_capacity(1024),
            pcm_bytes: Vec::with_capacity(4096),
            b64: String::with_capacity(8192),
            frame: String::with_capacity(8192),
            up: pcm16.then(|| Resampler::new(8000, 24_000).expect("supported")),
        }
    }

    fn frame(&mut self, text: &str) -> usize {
        let Ok(Inbound::Media(media)) = twilio::parse_inbound(text) else {
            panic!("not media")
        };
        media.decode_payload(&mut self.mulaw).expect("valid");
        g711::decode_ulaw_into_vec(&self.mulaw, &mut self.pcm8k);
        if let Some(up) = &mut self.up {
            let pcm24k = up.push(&self.pcm8k);
            self.pcm_bytes.clear();
            self.pcm_bytes
                .extend(pcm24k.iter().flat_map(|s| s.to_le_bytes()));
            self.b64.clear();
            STANDARD.encode_string(&self.pcm_bytes, &mut self.b64);
            realtime::encode_audio_append(&self.b64, &mut self.frame);
        } else {
            realtime::encode_audio_append(media.payload_b64, &mut self.frame);
        }
        self.frame.len()
    }
}

/// The AI → caller step of the call actor.
struct AgentPath {
    mulaw: Vec<u8>,
    pcm24k: Vec<i16>,
    pcm8k: Vec<i16>,
    frame: String,
    mark: String,
    mark_name: String,
    down: Option<Resampler>,
}

impl AgentPath {
    fn new(pcm16: bool) -> Self {
        AgentPath {
            mulaw: Vec::with_capacity(4096),
            pcm24k: Vec::with_capacity(4096),
            pcm8k: Vec::with_capacity(1024),
            frame: String::with_capacity(8192),
            mark: String::with_capacity(128),
            mark_name: String::with_capacity(32),
            down: pcm16.then(|| Resampler::new(24_000, 8000).expect("supported")),
        }
    }

    fn frame(&mut self, text: &str, seq: u64) -> usize {
        let Ok(ServerEvent::AudioDelta { delta_b64, .. }) = parse_server_event(text) else {
            panic!("not a delta")
        };
        self.mulaw.clear();
        STANDARD
            .decode_vec(delta_b64.as_bytes(), &mut self.mulaw)
            .expect("valid");
        if let Some(down) = &mut self.down {
            self.pcm24k.clear();
            self.pcm24k.extend(
                self.mulaw
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
            self.pcm8k.clear();
            self.pcm8k.extend_from_slice(down.push(&self.pcm24k));
            g711::encode_ulaw_into_vec(&self.pcm8k, &mut self.mulaw);
            twilio::encode_media(STREAM_SID, &self.mulaw, &mut self.frame);
        } else {
            twilio::encode_media_base64(STREAM_SID, &delta_b64, &mut self.frame);
            g711::decode_ulaw_into_vec(&self.mulaw, &mut self.pcm8k);
        }
        use std::fmt::Write as _;
        self.mark_name.clear();
        let _ = write!(self.mark_name, "{seq}");
        twilio::encode_mark(STREAM_SID, &self.mark_name, &mut self.mark);
        self.frame.len() + self.mark.len()
    }
}

fn benches(c: &mut Criterion) {
    println!("per-frame path, one 20 ms frame per iteration (10,000 warm frames, this thread):");
    let frames = caller_frames();
    for (name, pcm16) in [("g711", false), ("pcm16", true)] {
        let mut path = CallerPath::new(pcm16);
        let mut step = |i: u64| {
            black_box(path.frame(&frames[i as usize % frames.len()]));
        };
        measure(&format!("twilio_media_to_ai_append/{name}"), &mut step);
        c.bench_function(&format!("twilio_media_to_ai_append/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                step(i)
            })
        });
    }
    for (name, pcm16) in [("g711", false), ("pcm16", true)] {
        let deltas = ai_deltas(pcm16);
        let mut path = AgentPath::new(pcm16);
        let mut step = |i: u64| {
            black_box(path.frame(&deltas[i as usize % deltas.len()], i));
        };
        measure(&format!("ai_delta_to_twilio_media_mark/{name}"), &mut step);
        c.bench_function(&format!("ai_delta_to_twilio_media_mark/{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                step(i)
            })
        });
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
        let dir = std::env::temp_dir().join(format!("frame-path-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}

criterion_group!(frame_path, benches);
criterion_main!(frame_path);
