//! Proof that the audio hot path does not allocate once warm: a counting global allocator
//! (per thread, so concurrently running tests do not disturb the count) around
//! `encode_audio_append` into a reused buffer and `parse_server_event` of audio deltas.

use crate::common;

use std::borrow::Cow;
use std::hint::black_box;

use common::allocations_during;
use switchboard_actors::realtime::{
    ClientEvent, Dialect, ServerEncoder, ServerEvent, encode_audio_append, parse_client_event,
    parse_server_event,
};

/// Deterministic base64-alphabet text of `len` characters (a 20 ms µ-law frame is 160
/// bytes, i.e. 216 base64 characters; OpenAI deltas are usually several KB).
fn fake_base64(len: usize, seed: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text: String = (0..len)
        .map(|i| char::from(ALPHABET[(i * 7 + seed * 13) % ALPHABET.len()]))
        .collect();
    if len >= 2 {
        text.replace_range(len - 2.., "==");
    }
    text
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations_during(|| drop(black_box(vec![1u8; 64]))) >= 1);
}

#[test]
fn audio_append_is_allocation_free_once_warm() {
    let frames: Vec<String> = (0..50).map(|seed| fake_base64(216, seed)).collect();
    let mut out = String::new();
    encode_audio_append(&frames[0], &mut out); // warm-up: the buffer grows once
    let allocations = allocations_during(|| {
        for _ in 0..20 {
            for frame in &frames {
                encode_audio_append(frame, &mut out);
                black_box(out.as_str());
            }
        }
    });
    assert_eq!(allocations, 0);
    assert!(out.starts_with(r#"{"type":"input_audio_buffer.append","audio":""#));

    // Shorter frames fit in the warmed buffer too.
    let short = fake_base64(40, 3);
    assert_eq!(
        allocations_during(|| encode_audio_append(&short, &mut out)),
        0
    );
}

#[test]
fn audio_delta_parsing_is_allocation_free() {
    for dialect in Dialect::ALL {
        let mut encoder = ServerEncoder::new(dialect);
        let frames: Vec<String> = (0..50)
            .map(|seed| {
                let payload = fake_base64(4096 + seed, seed);
                encoder.audio_delta(
                    "resp_CCXHwN7pNBvOUuQmAJcaf",
                    "item_CCXHwCq0vFOkXEWaKXbLd",
                    &payload,
                )
            })
            .collect();
        assert!(matches!(
            parse_server_event(&frames[0]),
            Ok(ServerEvent::AudioDelta { .. })
        ));
        let allocations = allocations_during(|| {
            for _ in 0..10 {
                for frame in &frames {
                    match parse_server_event(frame) {
                        Ok(ServerEvent::AudioDelta {
                            delta_b64: Cow::Borrowed(b64),
                            item_id,
                            ..
                        }) => {
                            black_box((b64, item_id));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        });
        assert_eq!(allocations, 0, "{dialect:?}");
    }
}

#[test]
fn realistic_frame_with_extra_fields_is_allocation_free() {
    let frame = format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_CCXHxcMy9IqX1Ncp0ilWH",
        "response_id":"resp_CCXHwN7pNBvOUuQmAJcaf","item_id":"item_CCXHwCq0vFOkXEWaKXbLd",
        "output_index":0,"content_index":0,"delta":"{}","obfuscation":"x7Yq"}}"#,
        fake_base64(8192, 1)
    );
    let allocations = allocations_during(|| {
        let event = parse_server_event(&frame);
        assert!(matches!(
            event,
            Ok(ServerEvent::AudioDelta {
                delta_b64: Cow::Borrowed(_),
                ..
            })
        ));
        black_box(event).ok();
    });
    assert_eq!(allocations, 0);
}

#[test]
fn client_audio_append_parsing_is_allocation_free() {
    let mut out = String::new();
    encode_audio_append(&fake_base64(216, 9), &mut out);
    let allocations = allocations_during(|| {
        let event = parse_client_event(&out);
        assert!(matches!(
            event,
            Ok(ClientEvent::AudioAppend {
                audio_b64: Cow::Borrowed(_)
            })
        ));
        black_box(event).ok();
    });
    assert_eq!(allocations, 0);
}

#[test]
fn escaped_payload_falls_back_to_an_owned_copy() {
    // Not the hot path: an escaped payload (here `\/`) must be copied, and the counter sees it.
    let frame =
        r#"{"type":"response.audio.delta","response_id":"r","item_id":"i","delta":"AB\/CD=="}"#;
    let allocations = allocations_during(|| {
        let event = parse_server_event(frame);
        assert!(matches!(
            &event,
            Ok(ServerEvent::AudioDelta { delta_b64: Cow::Owned(b64), .. }) if b64 == "AB/CD=="
        ));
        black_box(event).ok();
    });
    assert!(allocations >= 1);
}
