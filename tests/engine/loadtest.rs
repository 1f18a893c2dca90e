//! The load test's smoke runs, as CI runs them: 20 concurrent calls of the held shape against a
//! real engine (a child process on a managed PostgreSQL in a temp dir, real loopback sockets, the
//! project's Twilio caller and realtime peer), with short turns so that a few seconds hold every
//! kind of event; and a few calls of the independent shape, replaced as they end. They check
//! correctness only — nothing lost, duplicated or reordered either way, no failed call, every
//! message persisted, barge-ins honoured — never timings.

use std::path::PathBuf;

use switchboard_sim::loadtest::call::Shape;
use switchboard_sim::loadtest::independent::Independent;
use switchboard_sim::loadtest::{LoadConfig, LoadShape, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_lose_no_frame_and_persist_every_message() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let mut config = LoadConfig::new(exe, 20, 5);
    config.ramp_per_s = 40.0;
    config.floor = false;
    config.shape = LoadShape::Held(Shape {
        speak_ms: (600, 900),
        reply_ms: (800, 1200),
        pause_ms: (200, 400),
        barge_in_per_mille: 400,
    });
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

/// The independent shape, small: 4 call slots whose calls (4–4.5 s, one turn) are replaced as
/// they end for 6 s, agent audio in 100 ms deltas 5× faster than real time, set-up and end
/// inside the measured window. Correctness only, as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_calls_come_and_go_without_losing_a_frame() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_switchboard"));
    let mut config = LoadConfig::new(exe, 4, 6);
    config.ramp_per_s = 40.0;
    config.floor = false;
    config.shape = LoadShape::Independent(Independent {
        call_ms: (4000, 4500),
        turns: (1, 1),
        speak_ms: (300, 500),
        reply_ms: (300, 600),
        ..Independent::default()
    });
    let report = run(&config).await.expect("the load run completes");
    let engine = report.engine.as_ref().expect("the engine phase ran");
    println!("{}", report.table());

    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(engine.shape, "independent");
    assert_eq!(engine.failed_calls, 0, "{:?}", engine.failures);
    assert!(
        engine.calls > 4,
        "a call that ended was replaced: {} calls placed",
        engine.calls
    );
    assert_eq!(engine.turns, engine.calls, "one turn per call");
    let (up, down) = (engine.caller_to_ai, engine.ai_to_caller);
    assert!(up.stamped && down.stamped);
    assert!(
        up.sent >= engine.calls * 200,
        "4 s of audio per call: {up:?}"
    );
    assert_eq!(
        (up.received, up.lost, up.duplicated, up.reordered),
        (up.sent, 0, 0, 0)
    );
    assert!(down.received > 0 && down.errors() == 0, "{down:?}");
    assert_eq!(engine.marks_echoed, engine.marks_sent);
    // Every call is served whole inside the window, and its CPU is counted against it.
    assert!(
        engine.call_seconds >= engine.calls as f64 * 4.0
            && engine.call_seconds < engine.window_s * 4.0,
        "{} call-s in {} s",
        engine.call_seconds,
        engine.window_s
    );
    assert!(engine.cpu_ms_per_call_s.is_some());
    let expected = engine.messages_expected.expect("counted");
    assert!(expected >= engine.calls * 5, "{expected}");
    assert_eq!(engine.messages_persisted, Some(expected));
}
