//! What the real call pipeline allocates per 20 ms frame, once warm: only the text frames that
//! leave it for a socket's writer (one `input_audio_buffer.append` per caller frame; one Twilio
//! `media` and one `mark` per agent delta). Parsing, codecs, the core's decisions and a mark's
//! echo allocate nothing.

use crate::common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::allocations_during;
use switchboard_actors::call::{CallConfig, CallMetrics, CallPipeline, RealtimeProtocol};
use switchboard_actors::domain::AudioFormat;
use switchboard_actors::realtime::{self, Dialect, ServerEncoder, SessionConfig};
use switchboard_actors::twilio::{self, Start};
use uuid::Uuid;

const STREAM: &str = "MZ18ad3ab5a668481ce02b83e7395059f0";

/// A live call: stream started, AI session up.
fn live(pcm16: bool) -> (CallPipeline, Instant) {
    let t0 = Instant::now();
    let (format, wire) = if pcm16 {
        (AudioFormat::Pcm16, realtime::AudioFormat::Pcm16)
    } else {
        (AudioFormat::G711Ulaw, realtime::AudioFormat::G711Ulaw)
    };
    let ids = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let config = CallConfig {
        audio_format: format,
        ..CallConfig::new(ids.0, ids.1, ids.2, "+14155550100", t0, chrono::Utc::now())
    };
    let protocol = Box::new(RealtimeProtocol {
        dialect: Dialect::Ga,
        session: SessionConfig {
            audio_format: wire,
            ..SessionConfig::for_dialect(Dialect::Ga)
        },
    });
    let mut pipeline =
        CallPipeline::new(config, protocol, Arc::new(CallMetrics::default())).expect("a pipeline");
    let mut text = String::new();
    twilio::encode_start(
        &Start::inbound_mulaw(
            STREAM,
            "AC00000000000000000000000000000001",
            "CA00000000000000000000000000000001",
        ),
        &mut text,
    );
    pipeline.on_twilio(t0, &text);
    pipeline.on_ai_up(t0);
    while pipeline.poll_transmit().is_some() {}
    (pipeline, t0)
}

/// Allocations per call of `step(i)` over 1,000 warm calls.
fn per_frame(mut step: impl FnMut(u64)) -> f64 {
    for i in 0..200 {
        step(i);
    }
    let n = 1000;
    allocations_during(|| {
        for i in 200..200 + n {
            step(i);
        }
    }) as f64
        / n as f64
}

#[test]
fn a_caller_frame_allocates_only_the_append_that_leaves() {
    for pcm16 in [false, true] {
        let (mut pipeline, t0) = live(pcm16);
        let mut frames = Vec::new();
        for i in 0..1200u64 {
            let mut text = String::new();
            twilio::encode_inbound_media(STREAM, i + 2, i + 1, i * 20, &[0x7A; 160], &mut text);
            frames.push(text);
        }
        let allocations = per_frame(|i| {
            pipeline.on_twilio(t0 + Duration::from_millis(i * 20), &frames[i as usize]);
            let mut sent = 0;
            while let Some(transmit) = pipeline.poll_transmit() {
                black_box(transmit);
                sent += 1;
            }
            assert_eq!(sent, 1, "one append per frame");
        });
        assert_eq!(allocations, 1.0, "pcm16: {pcm16}");
    }
}

#[test]
fn an_agent_delta_allocates_only_its_media_and_mark_and_the_echo_nothing() {
    for pcm16 in [false, true] {
        let (mut pipeline, t0) = live(pcm16);
        let mut encoder = ServerEncoder::new(Dialect::Ga);
        let bytes = if pcm16 { 960 } else { 160 };
        let delta = encoder.audio_delta("resp_1", "item_1", &STANDARD.encode(vec![0x55; bytes]));
        let mut echo = String::with_capacity(256);
        let mut name = String::with_capacity(32);
        let delta_allocations = per_frame(|i| {
            pipeline.on_ai(t0 + Duration::from_millis(i * 20), &delta);
            let mut sent = 0;
            while let Some(transmit) = pipeline.poll_transmit() {
                black_box(transmit);
                sent += 1;
            }
            assert_eq!(sent, 2, "media and mark");
            // Twilio's echo of the mark, once played.
            use std::fmt::Write as _;
            name.clear();
            let _ = write!(name, "{}", i + 1);
            twilio::encode_mark_echo(STREAM, i + 2, &name, &mut echo);
            let echo_allocations = allocations_during(|| pipeline.on_twilio(t0, &echo));
            assert_eq!(echo_allocations, 0, "a mark's echo, pcm16: {pcm16}");
        });
        assert_eq!(delta_allocations, 2.0, "pcm16: {pcm16}");
        let counters = pipeline.counters();
        assert_eq!((counters.deltas_dropped, counters.marks_unknown), (0, 0));
    }
}
