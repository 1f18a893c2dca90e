//! Proof that the media hot path allocates nothing once buffers are warm.
//!
//! A counting global allocator records every `alloc`/`realloc`/`dealloc` made
//! by the *current thread* while counting is switched on, so the test
//! harness's other threads cannot disturb the count.

use crate::common;

use common::allocator_calls_during;
use switchboard_actors::twilio::{
    Inbound, Outbound, encode_inbound_media, encode_mark, encode_media, parse_inbound,
    parse_outbound,
};

#[test]
fn counter_sees_allocations() {
    let n = allocator_calls_during(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 2, "one alloc and one dealloc");
}

#[test]
fn media_hot_path_allocates_nothing_once_warm() {
    // 1000 realistic 20 ms frames (160 bytes mu-law), built before counting.
    let frames: Vec<(Vec<u8>, String)> = (0..1000u64)
        .map(|i| {
            let mulaw: Vec<u8> = (0..160)
                .map(|j| (i as u8).wrapping_mul(31) ^ j as u8)
                .collect();
            let mut frame = String::new();
            encode_inbound_media(
                "MZ18ad3ab5a668481ce02b83e7395059f0",
                i + 2,
                i + 1,
                i * 20,
                &mulaw,
                &mut frame,
            );
            (mulaw, frame)
        })
        .collect();
    let (mut pcm, mut out, mut sim) = (Vec::new(), String::new(), String::new());
    // Warm-up: one pass grows every buffer to its steady-state size.
    let mut run = |mulaw: &[u8], frame: &str| {
        let Ok(Inbound::Media(m)) = parse_inbound(frame) else {
            panic!("not media")
        };
        m.decode_payload(&mut pcm).expect("valid base64");
        assert_eq!(pcm, mulaw);
        encode_media(&m.stream_sid, &pcm, &mut out);
        // Simulator side: its own encoder and the outbound parser.
        encode_inbound_media(
            &m.stream_sid,
            m.sequence_number,
            m.chunk,
            m.timestamp_ms,
            &pcm,
            &mut sim,
        );
        assert_eq!(sim, frame);
        let Ok(Outbound::Media { payload_b64, .. }) = parse_outbound(&out) else {
            panic!("not media")
        };
        assert_eq!(payload_b64.len(), 216);
        encode_mark(&m.stream_sid, "turn-1", &mut sim);
        assert!(matches!(parse_outbound(&sim), Ok(Outbound::Mark { .. })));
    };
    run(&frames[0].0, &frames[0].1);
    let n = allocator_calls_during(|| {
        for (mulaw, frame) in &frames {
            run(mulaw, frame);
        }
    });
    assert_eq!(
        n, 0,
        "allocator calls on the warm hot path over 1000 frames"
    );
}
