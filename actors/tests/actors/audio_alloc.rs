//! Proves the per-frame paths do not allocate once warm, with a counting
//! global allocator. Counting is per thread, so the test harness's own
//! threads (and parallel tests) cannot disturb the numbers.

use crate::common;

use common::allocations_during;
use switchboard_actors::audio::tone::sine;
use switchboard_actors::audio::{CallRecorder, Resampler, g711};

#[test]
fn counter_sees_allocations() {
    let n = allocations_during(|| {
        let v = std::hint::black_box(vec![1u8; 64]);
        drop(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn twilio_to_openai_ulaw_decode_and_upsample() {
    let pcm = sine(1000.0, 8000, 8000, 10_000.0);
    let mut ulaw = Vec::new();
    g711::encode_ulaw_into_vec(&pcm, &mut ulaw);
    let mut frame = [0i16; 160];
    let mut up = Resampler::new(8000, 24_000).expect("rate");
    let mut sink = 0i64;
    for packet in ulaw.chunks(160).take(5) {
        g711::decode_ulaw(packet, &mut frame);
        sink += i64::from(up.push(&frame)[0]);
    }
    let n = allocations_during(|| {
        for _ in 0..4 {
            for packet in ulaw.chunks(160) {
                g711::decode_ulaw(packet, &mut frame);
                let out = up.push(&frame);
                assert_eq!(out.len(), 480);
                sink += i64::from(out[0]);
            }
        }
    });
    std::hint::black_box(sink);
    assert_eq!(n, 0, "allocations in 200 decode+push frames");
}

#[test]
fn openai_to_twilio_downsample_and_ulaw_encode() {
    let pcm24 = sine(1000.0, 24_000, 24_000, 10_000.0);
    let mut down = Resampler::new(24_000, 8000).expect("rate");
    let mut packet = [0u8; 160];
    let mut packet_vec: Vec<u8> = Vec::with_capacity(160);
    for chunk in pcm24.chunks(480).take(5) {
        g711::encode_ulaw(down.push(chunk), &mut packet);
    }
    let n = allocations_during(|| {
        for _ in 0..4 {
            for chunk in pcm24.chunks(480) {
                let out = down.push(chunk);
                assert_eq!(g711::encode_ulaw(out, &mut packet), 160);
                g711::encode_ulaw_into_vec(out, &mut packet_vec);
            }
        }
    });
    std::hint::black_box((&packet, &packet_vec));
    assert_eq!(n, 0, "allocations in 200 push+encode frames");
}

#[test]
fn odd_sized_pushes_stay_allocation_free() {
    // OpenAI deltas are not 20 ms aligned; staging must not allocate either.
    let pcm24 = sine(700.0, 24_000, 24_000, 10_000.0);
    let mut down = Resampler::new(24_000, 8000).expect("rate");
    let _ = down.push(&pcm24[..4800]);
    let n = allocations_during(|| {
        for chunk in pcm24.chunks(1234) {
            std::hint::black_box(down.push(chunk));
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn recorder_writes_stay_allocation_free() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("alloc-recorder.wav");
    let caller = sine(1000.0, 8000, 8000, 10_000.0);
    let agent = sine(2000.0, 8000, 8000, 10_000.0);
    let mut rec = CallRecorder::create(&path, 16_000).expect("create");
    let mut t = 0u64;
    let write_second = |rec: &mut CallRecorder, t: &mut u64| {
        for (c, a) in caller.chunks(160).zip(agent.chunks(160)) {
            rec.write_caller(*t, c);
            rec.write_agent(*t, a);
            *t += 20;
        }
    };
    write_second(&mut rec, &mut t);
    let n = allocations_during(|| {
        for _ in 0..3 {
            write_second(&mut rec, &mut t);
        }
    });
    assert_eq!(n, 0, "allocations in 150 recorder frame pairs");
    let info = rec.finalize().expect("finalize");
    assert_eq!(info.duration_ms, 4000);
}
