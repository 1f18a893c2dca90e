//! Proves the supervisor audio paths do not allocate once warm, with the counting global
//! allocator of `common` (per thread): `MonitorEncoder::encode` in every format, and
//! `SupervisorInput::push` + `pop_frame` + `mix_into_ulaw` for every input codec and rate,
//! including bursts past the queue bound and rejected packets.
//!
//! Only Rust's allocator is counted; a `malloc` inside libopus would not show here. libopus
//! allocates its encoder/decoder state once, at creation (`opus_encoder_create` /
//! `opus_decoder_create`, i.e. in `new`), and works on the stack per frame: checked once
//! against the system libopus 1.3.1 with `malloc`/`calloc`/`realloc` interposed in a C
//! program, 0 calls over 200 frames of encode and decode at 8 and 48 kHz, mono and stereo,
//! corrupt packets included (4 at creation).

use crate::common;

use common::allocations_during;
use switchboard_actors::audio::tone::sine;
use switchboard_actors::audio::{
    MonitorCodec, MonitorEncoder, MonitorFormat, MonitorLayout, OpusEncoder, SupervisorCodec,
    SupervisorInput, mix_into, mix_into_ulaw,
};

#[test]
fn counter_sees_allocations() {
    assert_eq!(
        allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))),
        1
    );
}

#[test]
fn monitor_encode_is_allocation_free_once_warm() {
    let caller = sine(440.0, 8_000, 8_000, 8_000.0);
    let agent = sine(1000.0, 8_000, 8_000, 8_000.0);
    let formats = [
        (MonitorCodec::Opus, 48_000, MonitorLayout::Mix),
        (MonitorCodec::Opus, 16_000, MonitorLayout::Stereo),
        (MonitorCodec::Pcm16, 8_000, MonitorLayout::Mix),
        (MonitorCodec::Pcm16, 16_000, MonitorLayout::Stereo),
        (MonitorCodec::Pcm16, 48_000, MonitorLayout::Mix),
        (MonitorCodec::Pcm16, 48_000, MonitorLayout::Stereo),
    ];
    for (codec, rate_hz, layout) in formats {
        let format = MonitorFormat {
            codec,
            rate_hz,
            layout,
        };
        let mut enc = MonitorEncoder::new(format).expect("encoder");
        let mut sink = 0usize;
        for (c, a) in caller.chunks(160).zip(agent.chunks(160)).take(5) {
            sink += enc.encode(c, a).expect("encode").len();
        }
        let n = allocations_during(|| {
            for _ in 0..4 {
                for (c, a) in caller.chunks(160).zip(agent.chunks(160)) {
                    sink += enc.encode(c, a).expect("encode").len();
                }
                // A missing side and a rejected oversized frame do not allocate either.
                sink += enc.encode(&caller[..160], &[]).expect("encode").len();
                assert!(enc.encode(&caller[..161], &[]).is_err());
            }
        });
        std::hint::black_box(sink);
        assert_eq!(n, 0, "allocations in 200 frames of {format:?}");
    }
}

/// One second of a 1 kHz tone as the supervisor would send it, in 20 ms packets.
fn packets(codec: SupervisorCodec, rate_hz: u32) -> Vec<Vec<u8>> {
    let x = sine(1000.0, rate_hz, rate_hz as usize, 8_000.0);
    let frame = rate_hz as usize / 50;
    match codec {
        SupervisorCodec::Opus => {
            let mut enc = OpusEncoder::new(rate_hz, 1).expect("encoder");
            x.chunks_exact(frame)
                .map(|f| enc.encode(f).expect("encode").to_vec())
                .collect()
        }
        SupervisorCodec::Pcm16 => x
            .chunks(frame)
            .map(|f| f.iter().flat_map(|s| s.to_le_bytes()).collect())
            .collect(),
    }
}

#[test]
fn supervisor_input_is_allocation_free_once_warm() {
    let inputs = [
        (SupervisorCodec::Opus, 48_000),
        (SupervisorCodec::Opus, 16_000),
        (SupervisorCodec::Pcm16, 8_000),
        (SupervisorCodec::Pcm16, 16_000),
        (SupervisorCodec::Pcm16, 24_000),
        (SupervisorCodec::Pcm16, 48_000),
    ];
    for (codec, rate_hz) in inputs {
        let packets = packets(codec, rate_hz);
        let burst = match codec {
            SupervisorCodec::Opus => Vec::new(),
            SupervisorCodec::Pcm16 => packets.concat(),
        };
        let garbage: &[u8] = match codec {
            SupervisorCodec::Opus => &[0x03, 0x00],
            SupervisorCodec::Pcm16 => &[1, 2, 3],
        };
        let mut input = SupervisorInput::new(codec, rate_hz).expect("input");
        let mut frame = [0i16; 160];
        let mut ulaw = [0xFFu8; 160];
        let mut agent = [0i16; 160];
        for packet in packets.iter().take(5) {
            input.push(packet).expect("push");
            while input.pop_frame(&mut frame) {
                mix_into_ulaw(&mut ulaw, &frame);
            }
        }
        let n = allocations_during(|| {
            for _ in 0..4 {
                for packet in &packets {
                    input.push(packet).expect("push");
                    while input.pop_frame(&mut frame) {
                        mix_into_ulaw(&mut ulaw, &frame);
                        mix_into(&mut agent, &frame);
                    }
                }
                // A burst past the bound (every packet, no pops in between) and a bad packet.
                for packet in &packets {
                    input.push(packet).expect("push");
                }
                if !burst.is_empty() {
                    input.push(&burst).expect("push");
                }
                assert!(input.push(garbage).is_err());
                while input.pop_frame(&mut frame) {}
            }
        });
        std::hint::black_box((&ulaw, &agent));
        assert!(
            input.dropped_ms() > 0,
            "{codec:?} {rate_hz}: no burst overflow"
        );
        assert_eq!(n, 0, "allocations in {codec:?} at {rate_hz} Hz");
    }
}
