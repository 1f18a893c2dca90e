//! Supervisor audio bench: the cost of one 20 ms frame on the two supervisor paths, driving
//! the same stages the call runs.
//!
//! * `monitor/*`: [`MonitorEncoder::encode`] of one caller frame and one agent frame (8 kHz,
//!   440 Hz and 1 kHz tones) into Opus 48 kHz mix, Opus 16 kHz stereo and PCM16 16 kHz mix.
//! * `barge/*`: one supervisor packet (Opus 48 kHz, or PCM16 48 kHz for comparison) through
//!   [`SupervisorInput::push`], then [`SupervisorInput::pop_frame`] and [`mix_into_ulaw`] into
//!   the caller's µ-law frame.
//!
//! One iteration is one 20 ms frame, so the time criterion prints is the time per frame; a
//! frame's budget is 20 ms per call, so 20 ms divided by it is the calls one core could serve
//! on that path alone. `cargo bench --bench supervisor_audio` (a few seconds per case).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_actors::audio::tone::sine;
use switchboard_actors::audio::{
    MonitorCodec, MonitorEncoder, MonitorFormat, MonitorLayout, OpusEncoder, SupervisorCodec,
    SupervisorInput, mix_into_ulaw,
};

/// One second of 20 ms frames at 8 kHz.
fn call_frames(hz: f64) -> Vec<Vec<i16>> {
    sine(hz, 8_000, 8_000, 8_000.0)
        .chunks(160)
        .map(<[i16]>::to_vec)
        .collect()
}

fn monitor(c: &mut Criterion) {
    let caller = call_frames(440.0);
    let agent = call_frames(1000.0);
    let mut group = c.benchmark_group("monitor");
    for (name, codec, rate_hz, layout) in [
        (
            "opus_48k_mix",
            MonitorCodec::Opus,
            48_000,
            MonitorLayout::Mix,
        ),
        (
            "opus_16k_stereo",
            MonitorCodec::Opus,
            16_000,
            MonitorLayout::Stereo,
        ),
        (
            "pcm16_16k_mix",
            MonitorCodec::Pcm16,
            16_000,
            MonitorLayout::Mix,
        ),
    ] {
        let format = MonitorFormat {
            codec,
            rate_hz,
            layout,
        };
        let mut enc = MonitorEncoder::new(format).expect("monitor format");
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let k = i % caller.len();
                i += 1;
                let out = enc.encode(&caller[k], &agent[k]).expect("encode");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// One second of a 1 kHz tone as the supervisor sends it, in 20 ms packets.
fn supervisor_packets(codec: SupervisorCodec) -> Vec<Vec<u8>> {
    let x = sine(1000.0, 48_000, 48_000, 8_000.0);
    match codec {
        SupervisorCodec::Opus => {
            let mut enc = OpusEncoder::new(48_000, 1).expect("encoder");
            x.chunks_exact(960)
                .map(|f| enc.encode(f).expect("encode").to_vec())
                .collect()
        }
        SupervisorCodec::Pcm16 => x
            .chunks(960)
            .map(|f| f.iter().flat_map(|s| s.to_le_bytes()).collect())
            .collect(),
    }
}

fn barge(c: &mut Criterion) {
    let mut group = c.benchmark_group("barge");
    for (name, codec) in [
        ("opus_48k_to_ulaw", SupervisorCodec::Opus),
        ("pcm16_48k_to_ulaw", SupervisorCodec::Pcm16),
    ] {
        let packets = supervisor_packets(codec);
        let mut input = SupervisorInput::new(codec, 48_000).expect("input");
        let mut frame = [0i16; 160];
        // The agent's audio the supervisor is mixed into.
        let agent = [0x5Au8; 160];
        let mut ulaw = agent;
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let packet = &packets[i % packets.len()];
                i += 1;
                input.push(packet).expect("push");
                ulaw = agent;
                if input.pop_frame(&mut frame) {
                    mix_into_ulaw(&mut ulaw, &frame);
                }
                black_box(&ulaw);
            })
        });
        assert_eq!(input.dropped_ms(), 0, "{name}: the queue overflowed");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = monitor, barge
}
criterion_main!(benches);
