//! The load test's smoke run, as CI runs it: 20 concurrent calls against a real engine (a child
//! process on a managed PostgreSQL in a temp dir, real loopback sockets, the project's Twilio
//! caller and realtime peer), with short turns so that a few seconds hold every kind of event.
//! It checks correctness only — nothing lost, duplicated or reordered either way, no failed
//! call, every message persisted, barge-ins honoured — never timings.

use std::path::PathBuf;

use switchboard_sim::loadtest::call::Shape;
use switchboard_sim::loadtest::{LoadConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_lose_no_frame_and_persist_every_message() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let mut config = LoadConfig::new(exe, 20, 5);
    config.ramp_per_s = 40.0;
    config.floor = false;
    config.shape = Shape {
        speak_ms: (600, 900),
        reply_ms: (800, 1200),
        pause_ms: (200, 400),
        barge_in_per_mille: 400,
    };
    let report = run(&config).await.expect("the load run completes");
    let engine = report.engine.as_ref().expect("the engine phase ran");
    println!("{}", report.table());

    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(
        (engine.calls, engine.failed_calls),
        (20, 0),
        "{:?}",
        engine.failures
    );
    assert!(
        engine.turns >= 20,
        "every call had a turn: {}",
        engine.turns
    );
    let (up, down) = (engine.caller_to_ai, engine.ai_to_caller);
    assert!(up.stamped && down.stamped);
    assert!(up.sent >= 20 * 250, "5 s of audio per call: {up:?}");
    assert_eq!(
        (up.received, up.lost, up.duplicated, up.reordered),
        (up.sent, 0, 0, 0)
    );
    assert!(down.received > 0 && down.errors() == 0, "{down:?}");
    assert_eq!(
        engine.caller_to_ai_latency.samples + engine.held_frames,
        up.received
    );
    assert_eq!(engine.marks_echoed, engine.marks_sent);
    assert!(engine.barge_ins_attempted > 0);
    assert!(
        engine.barge_ins_honoured > 0 && engine.barge_ins_honoured <= engine.barge_ins_cancelled
    );
    let expected = engine.messages_expected.expect("counted");
    assert!(expected >= 20 * 5, "{expected}");
    assert_eq!(engine.messages_persisted, Some(expected));
}
