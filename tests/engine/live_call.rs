//! Live calls end to end: the project's Twilio caller places a signed call into a real engine
//! (managed PostgreSQL, real sockets on loopback), which bridges it to the project's OpenAI
//! Realtime peer. What was said lands in PostgreSQL, in order, and the call is recorded.

use std::time::Duration;

use switchboard_sim::harness::LocalEngine;
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallerConfig, Pace, Step, TwilioCaller};

const TOKEN: &str = "twilio-live-token";

/// An engine on 127.0.0.1:0 whose AI endpoint is `peer`.
async fn engine(peer: &RealtimePeer, extra: &[(&str, &str)]) -> LocalEngine {
    LocalEngine::start(&peer.url(), TOKEN, extra).await.unwrap()
}

/// Waits until the call's `call_ended` message is stored, then returns (content, sender type,
/// message type) of every message in conversation order.
async fn messages_after_end(
    client: &tokio_postgres::Client,
    call_sid: &str,
) -> Vec<(String, String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let rows = client
            .query(
                r#"SELECT m.content, m.sender->>'type', m.message_type FROM messages m
                   JOIN calls c ON c.conversation_id = m.conversation_id
                   WHERE c.call_sid = $1 ORDER BY m."timestamp", m.id"#,
                &[&call_sid],
            )
            .await
            .unwrap();
        let messages: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        if messages
            .iter()
            .any(|(content, _, _)| content == "call_ended")
        {
            return messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call never ended: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_lands_in_postgres_in_order_and_is_recorded() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 200 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");

    assert_eq!(report.twiml_status, 200);
    assert!(report.call_id.is_some());
    assert!(
        (1400..=1600).contains(&report.agent_audio_ms),
        "the agent's 1.5 s reply reached the caller: {} ms",
        report.agent_audio_ms
    );
    assert_eq!(report.marks_echoed, report.marks_received);
    assert!(report.marks_received > 0);

    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let kinds: Vec<(&str, &str)> = messages
        .iter()
        .map(|(content, sender, kind)| {
            (
                kind.as_str(),
                if kind == "system" {
                    content.as_str()
                } else {
                    sender.as_str()
                },
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("system", "call_started"),
            ("system", "call_answered"),
            ("transcript", "customer"),
            ("transcript", "ai"),
            ("system", "call_ended")
        ],
        "{messages:#?}"
    );
    assert!(
        messages[2].0.starts_with("Caller utterance 1"),
        "{}",
        messages[2].0
    );
    assert_eq!(messages[3].0, "Agent reply 1 to utterance 1");

    let call = client
        .query_one(
            "SELECT c.status, c.duration_seconds IS NOT NULL, v.status
             FROM calls c JOIN conversations v ON v.id = c.conversation_id WHERE c.call_sid = $1",
            &[&call_sid],
        )
        .await
        .unwrap();
    assert_eq!(call.get::<_, String>(0), "completed");
    assert!(call.get::<_, bool>(1));
    assert_eq!(call.get::<_, String>(2), "completed");
    let (path, channels, rate, duration_ms) = recording(&client, &call_sid).await;
    assert_eq!((channels, rate), (2, 16000));
    let expected_ms = report.caller_audio_ms as i64;
    assert!(
        (duration_ms - expected_ms).abs() <= 40,
        "WAV {duration_ms} ms vs call {expected_ms} ms"
    );
    let mut wav = hound::WavReader::open(&path).unwrap();
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let energy = |channel: usize, from_ms: usize, to_ms: usize| -> f64 {
        let frames =
            &samples[(from_ms * 16 * 2).min(samples.len())..(to_ms * 16 * 2).min(samples.len())];
        let values: Vec<f64> = frames
            .iter()
            .skip(channel)
            .step_by(2)
            .map(|&s| s as f64)
            .collect();
        (values.iter().map(|v| v * v).sum::<f64>() / values.len().max(1) as f64).sqrt()
    };
    assert!(energy(0, 100, 1100) > 1000.0, "caller speaks on the left");
    assert!(
        energy(1, 100, 1100) < 50.0,
        "agent silent on the right while the caller speaks"
    );
    assert!(energy(1, 2000, 3000) > 1000.0, "agent's reply on the right");

    // The peer saw the configured session in the g711 format.
    let log = &peer.connections()[0];
    let update = log.last_session_update().expect("session.update sent");
    assert!(
        update
            .instructions
            .as_deref()
            .unwrap_or_default()
            .contains("phone agent")
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_clears_twilio_and_truncates_at_the_audio_played() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    // The agent's 1.5 s reply starts ~300 ms after the caller stops; the caller talks over it.
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 900 },
            Step::Speak { ms: 800, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");

    assert_eq!(report.clears_received, 1, "{:#?}", report.timeline);
    // What the caller had played of the first reply when the clear arrived.
    let clear_at = report
        .first(|e| matches!(e, switchboard_sim::twilio_caller::Event::Clear { .. }))
        .unwrap();
    let received_before: u64 = report
        .all(|e| matches!(e, switchboard_sim::twilio_caller::Event::AgentMedia { .. }))
        .iter()
        .filter(|(at, _)| *at <= clear_at)
        .map(|(_, e)| match e {
            switchboard_sim::twilio_caller::Event::AgentMedia { bytes, .. } => *bytes as u64,
            _ => 0,
        })
        .sum();
    let dropped = report
        .all(|e| matches!(e, switchboard_sim::twilio_caller::Event::Clear { .. }))
        .iter()
        .map(|(_, e)| match e {
            switchboard_sim::twilio_caller::Event::Clear { dropped_bytes, .. } => *dropped_bytes,
            _ => 0,
        })
        .sum::<u64>();
    let played_ms = (received_before - dropped) / 8;

    let log = peer
        .wait_for(Duration::from_secs(5), |logs| {
            logs.iter().any(|l| !l.truncates.is_empty())
        })
        .await
        .expect("a truncate reached the peer");
    let truncate = log
        .iter()
        .find_map(|l| l.truncates.first().cloned())
        .unwrap();
    assert!(truncate.valid, "{truncate:?}");
    assert!(
        truncate.audio_end_ms.abs_diff(played_ms) <= 20,
        "truncate at {} ms, caller had played {played_ms} ms",
        truncate.audio_end_ms
    );
    // The first reply was cut; the second one (to the interruption) was heard in full.
    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let barge = client
        .query_one(
            "SELECT m.metadata FROM messages m JOIN calls c ON c.conversation_id = m.conversation_id
             WHERE c.call_sid = $1 AND m.content = 'barge_in'",
            &[&call_sid],
        )
        .await
        .unwrap();
    let barge: serde_json::Value = barge.get(0);
    assert_eq!(barge["audio_end_ms"], truncate.audio_end_ms);
    assert!(
        messages
            .iter()
            .filter(|(_, s, k)| k == "transcript" && s == "customer")
            .count()
            >= 2
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// The call's recording row (path, channels, sample rate, duration), once the call has stored it.
async fn recording(client: &tokio_postgres::Client, call_sid: &str) -> (String, i16, i32, i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(row) = client
            .query_opt(
                "SELECT r.path, r.channels, r.sample_rate, r.duration_ms FROM recordings r
                 JOIN calls c ON c.id = r.call_id WHERE c.call_sid = $1",
                &[&call_sid],
            )
            .await
            .unwrap()
        {
            return (row.get(0), row.get(1), row.get(2), row.get(3));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recording row for {call_sid}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the agent's first reply in the call is stored.
async fn first_reply_stored(client: &tokio_postgres::Client, call_sid: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let replies: i64 = client
            .query_one(
                "SELECT count(*) FROM messages m JOIN calls c ON c.conversation_id = m.conversation_id
                 WHERE c.call_sid = $1 AND m.sender->>'type' = 'ai'",
                &[&call_sid],
            )
            .await
            .unwrap()
            .get(0);
        if replies >= 1 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never replied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The system message `kind` of a call, with its metadata.
async fn system_message(
    client: &tokio_postgres::Client,
    call_sid: &str,
    kind: &str,
) -> Option<serde_json::Value> {
    client
        .query_opt(
            "SELECT m.metadata FROM messages m JOIN calls c ON c.conversation_id = m.conversation_id
             WHERE c.call_sid = $1 AND m.message_type = 'system' AND m.content = $2",
            &[&call_sid, &kind],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_socket_dropped_mid_response_is_restarted_with_the_conversation_replayed() {
    use switchboard_sim::realtime_peer::Failure;
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    peer.control().inject(Failure::CloseMidResponse);
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 1500 },
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");
    assert!(!report.engine_hung_up, "the call went on");
    // The caller hung up: the engine answered its close before dropping the connection.
    assert_eq!(report.socket_error, None, "the closing handshake completed");
    assert_eq!(report.close_code, Some(1000));

    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let reconnected = system_message(&client, &call_sid, "ai_reconnected")
        .await
        .expect("ai_reconnected");
    assert!(
        reconnected["gap_ms"].as_u64().unwrap() < 2000,
        "{reconnected}"
    );
    assert!(!reconnected["cause"].as_str().unwrap().is_empty());
    let logs = peer.connections();
    assert_eq!(logs.len(), 2, "one reconnect");
    let replayed = logs[1].created_messages();
    assert!(
        replayed
            .iter()
            .any(|(role, text)| role == "user" && text.starts_with("Caller utterance 1")),
        "replay seen by the new session: {replayed:?}"
    );
    // The second utterance was answered on the new session.
    assert!(
        messages
            .iter()
            .any(|(content, sender, _)| sender == "ai" && content.starts_with("Agent reply"))
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_replaced() {
    use switchboard_sim::realtime_peer::Failure;
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    peer.control().inject(Failure::SessionExpiredOnSpeech);
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 800, hz: 1000 },
            Step::Silence { ms: 1000 },
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    TwilioCaller::place(caller).await.expect("call placed");
    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let reconnected = system_message(&client, &call_sid, "ai_reconnected")
        .await
        .expect("ai_reconnected");
    assert!(
        reconnected["cause"]
            .as_str()
            .unwrap()
            .contains("session_expired"),
        "{reconnected}"
    );
    assert!(
        messages
            .iter()
            .any(|(content, sender, _)| sender == "ai" && content.starts_with("Agent reply"))
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_reconnection_gives_up_the_call_ends_cleanly() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(
        &peer,
        &[
            ("SWITCHBOARD_AI_RECONNECT_BASE_MS", "50"),
            ("SWITCHBOARD_AI_RECONNECT_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 600, hz: 1000 },
            // Long enough for the engine to give up even on a loaded machine; the engine's hang-up
            // ends the call before it.
            Step::Silence { ms: 15000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let placing = tokio::spawn(TwilioCaller::place(caller));
    // Let the call connect to the AI, then take the AI service away.
    peer.wait_for(Duration::from_secs(5), |logs| !logs.is_empty())
        .await
        .unwrap();
    peer.shutdown().await;
    let report = placing.await.unwrap().expect("call placed");
    assert!(report.engine_hung_up, "the engine closed the stream");
    assert_eq!(report.socket_error, None, "the closing handshake completed");
    assert_eq!(report.close_code, Some(1000), "a normal close");

    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let kinds: Vec<&str> = messages
        .iter()
        .filter(|(_, _, k)| k == "system")
        .map(|(c, _, _)| c.as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"call_ended"));
    assert!(kinds.contains(&"ai_unavailable"), "{kinds:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_counted_and_neither_this_call_nor_another_is_disturbed() {
    use std::sync::atomic::Ordering;
    use switchboard::twilio::media::REJECTED_FRAMES;
    use switchboard_sim::twilio_caller::{Event, MediaSession, Twiml};

    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    // A well-behaved call alongside.
    let other = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let other_sid = other.call_sid.clone();
    let other = tokio::spawn(TwilioCaller::place(other));

    let config = CallerConfig::new(running.url.clone(), TOKEN).pace(Pace::RealTime);
    let call_sid = config.call_sid.clone();
    let twiml = TwilioCaller::post_webhook(&config).await.unwrap();
    let mut session = MediaSession::connect(&config, &twiml).await.unwrap();
    session.send_connected().await.unwrap();
    session.send_media(&[0xff; 160]).await.unwrap(); // before start
    session.send_start().await.unwrap();
    let sid = session.stream_sid().to_owned();
    let junk = [
        "this is not json".to_owned(),
        r#"{"event":"teleport","streamSid":"MZ"}"#.to_owned(),
        format!(
            r#"{{"event":"media","sequenceNumber":"x","streamSid":"{sid}","media":{{"track":"inbound","chunk":"1","timestamp":"1","payload":"/w=="}}}}"#
        ),
        format!(
            r#"{{"event":"media","sequenceNumber":"9","streamSid":"{sid}","media":{{"track":"inbound","chunk":"1","timestamp":"1","payload":"@@not base64@@"}}}}"#
        ),
        format!(
            r#"{{"event":"mark","sequenceNumber":"9","streamSid":"{sid}","mark":{{"name":"{}"}}}}"#,
            "y".repeat(70 * 1024)
        ),
    ];
    for frame in &junk {
        session.send_text(frame).await.unwrap();
    }
    session.send_binary(vec![1, 2, 3]).await.unwrap();
    // The call still works: the caller speaks and is answered.
    for step in [
        Step::Speak { ms: 1200, hz: 1000 },
        Step::Silence { ms: 600 },
        Step::WaitForAgent { max_ms: 5000 },
    ] {
        session.run(&step).await.unwrap();
    }
    session.hang_up().await.unwrap();
    let report = session.finish().await.unwrap();
    assert!(
        report.agent_audio_ms >= 1400,
        "answered after the junk: {} ms",
        report.agent_audio_ms
    );

    // A start naming no call of ours: the stream is closed, nothing else happens.
    let bogus = Twiml {
        parameters: vec![("call_id".into(), uuid::Uuid::now_v7().to_string())],
        ..twiml.clone()
    };
    let stranger = CallerConfig::new(running.url.clone(), TOKEN);
    let mut lost = MediaSession::open(&stranger, &bogus).await.unwrap();
    let (_, closed) = lost
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::EngineClosed { .. })
        })
        .await
        .expect("the engine closed the unknown stream");
    assert!(matches!(closed, Event::EngineClosed { .. }));
    let lost = lost.finish().await.unwrap();
    assert_eq!(lost.socket_error, None, "the closing handshake completed");
    assert_eq!(lost.close_code, Some(1000), "a normal close");

    let client = running.client().await.unwrap();
    messages_after_end(&client, &call_sid).await;
    let other_report = other.await.unwrap().unwrap();
    assert!(other_report.agent_audio_ms >= 1400);
    let other_messages = messages_after_end(&client, &other_sid).await;
    assert_eq!(
        other_messages
            .iter()
            .filter(|(_, _, k)| k == "transcript")
            .count(),
        2
    );
    // Before start (1), junk (5), binary (1), unknown call (1).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while REJECTED_FRAMES.load(Ordering::Relaxed) < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rejections counted: {}",
            REJECTED_FRAMES.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_keep_their_own_messages_and_recordings() {
    const CALLS: usize = 50;
    // Replies come in one burst: this test is about calls keeping apart, and a reply paced in
    // real time would let a scheduling stall of the shared CI machine (50 calls next to other
    // tests on 2 cores) pass for the end of the agent's turn.
    let peer = RealtimePeer::start(PeerConfig {
        reply_ms: 600,
        pace: switchboard_sim::realtime_peer::Pace::Burst,
        ..PeerConfig::default()
    })
    .unwrap();
    let running = engine(&peer, &[("SWITCHBOARD_DATABASE_POOL_SIZE", "24")]).await;
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let config = CallerConfig::new(running.url.clone(), TOKEN)
            .from(format!("+1415555{i:04}"))
            .script([
                Step::Speak {
                    ms: 600 + 100 * (i as u32 % 10),
                    hz: 1000,
                },
                Step::Silence { ms: 500 },
                Step::WaitForAgent { max_ms: 8000 },
                Step::HangUp,
            ])
            .pace(Pace::RealTime);
        let sid = config.call_sid.clone();
        calls.push((sid, i, tokio::spawn(TwilioCaller::place(config))));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let client = running.client().await.unwrap();
    for (sid, i, task) in calls {
        let report = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert!(
            report.agent_audio_ms >= 500,
            "call {i} answered: {}",
            report.agent_audio_ms
        );
        let messages = messages_after_end(&client, &sid).await;
        let transcripts: Vec<&(String, String, String)> = messages
            .iter()
            .filter(|(_, _, k)| k == "transcript")
            .collect();
        assert_eq!(transcripts.len(), 2, "call {i}: {messages:?}");
        // The caller's utterance length is this call's own (600 + 100·(i mod 10) ms, ±40 ms).
        let said = &transcripts[0].0;
        let ms: u32 = said
            .split('(')
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{said}"));
        assert!(
            ms.abs_diff(600 + 100 * (i as u32 % 10)) <= 40,
            "call {i} heard its own caller: {said}"
        );
        let from: String = client
            .query_one("SELECT from_number FROM calls WHERE call_sid = $1", &[&sid])
            .await
            .unwrap()
            .get(0);
        assert_eq!(from, format!("+1415555{i:04}"));
        let (path, _, _, _) = recording(&client, &sid).await;
        assert!(path.ends_with(&format!("{sid}.wav")), "{path}");
    }
    assert_eq!(peer.connections().len(), CALLS, "one AI session per call");
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcm16_sessions_are_resampled_both_ways() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[("SWITCHBOARD_AI_AUDIO_FORMAT", "pcm16")]).await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");
    // 1.5 s of 24 kHz PCM became 1.5 s of 8 kHz µ-law for the caller (± one 20 ms chunk of
    // resampler delay).
    assert!(
        report.agent_audio_ms.abs_diff(1500) <= 20,
        "{} ms",
        report.agent_audio_ms
    );
    let log = &peer.connections()[0];
    assert_eq!(
        log.last_session_update().unwrap().input_format,
        Some(switchboard_actors::realtime::AudioFormat::Pcm16)
    );
    // The peer heard 24 kHz audio of the caller's length.
    assert!(
        log.audio_ms.abs_diff(report.caller_audio_ms) <= 60,
        "peer heard {} ms of {}",
        log.audio_ms,
        report.caller_audio_ms
    );
    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    assert!(
        messages[2].0.starts_with("Caller utterance 1 (12"),
        "the VAD heard the whole utterance: {}",
        messages[2].0
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_ends_the_call_after_its_goodbye_has_played() {
    let peer = RealtimePeer::start(PeerConfig {
        end_call_on_utterance: Some(1),
        ..PeerConfig::default()
    })
    .unwrap();
    let running = engine(&peer, &[]).await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1000, hz: 1000 },
            Step::Silence { ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");
    assert!(report.engine_hung_up, "the engine closed the stream");
    assert_eq!(report.socket_error, None, "the closing handshake completed");
    assert_eq!(report.close_code, Some(1000), "a normal close");
    assert!(report.agent_audio_ms > 0, "the goodbye was heard");
    assert_eq!(
        report.agent_audio_unplayed_bytes, 0,
        "and played out before the hangup"
    );
    let client = running.client().await.unwrap();
    messages_after_end(&client, &call_sid).await;
    let event = client
        .query_one(
            "SELECT e.details FROM events e JOIN calls c ON c.conversation_id = e.conversation_id
             WHERE c.call_sid = $1 AND e.event_type = 'function_called'",
            &[&call_sid],
        )
        .await
        .unwrap();
    let details: serde_json::Value = event.get(0);
    assert_eq!(details["name"], "end_call");
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_actor_that_panics_is_restarted_and_the_call_goes_on() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 1000 },
            Step::Speak { ms: 1000, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let placing = tokio::spawn(TwilioCaller::place(caller));
    // Once the first reply is stored, the call's actor panics (as a bug would make it).
    let client = running.client().await.unwrap();
    first_reply_stored(&client, &call_sid).await;
    assert!(
        running.calls().inject_panic(&call_sid).await,
        "call found in the registry"
    );
    let report = placing.await.unwrap().expect("call placed");
    assert!(!report.engine_hung_up, "the call went on");
    assert_eq!(running.calls().restarts(), 1);

    let messages = messages_after_end(&client, &call_sid).await;
    let replies = messages
        .iter()
        .filter(|(_, s, k)| k == "transcript" && s == "ai")
        .count();
    assert_eq!(
        replies, 2,
        "answered before and after the restart: {messages:#?}"
    );
    let reconnected = system_message(&client, &call_sid, "ai_reconnected")
        .await
        .expect("ai_reconnected");
    assert_eq!(reconnected["cause"], "call actor restarted");
    assert_eq!(
        reconnected["replayed_items"], 2,
        "the new AI session got the conversation so far"
    );
    recording(&client, &call_sid).await;
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// An engine that stops ends its live calls itself: the caller is hung up with a normal close,
/// and `call_ended` (reason `engine_shutdown`), the final status and the recording are all
/// written before the registry and the persistence path stop. A call that arrives afterwards is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_shutdown_ends_live_calls_cleanly_and_refuses_new_ones() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 20_000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let placing = tokio::spawn(TwilioCaller::place(caller));
    let client = running.client().await.unwrap();
    // Once the agent's first reply is stored, the engine stops.
    first_reply_stored(&client, &call_sid).await;

    let still_running = running.calls().end_all(Duration::from_secs(10)).await;
    assert_eq!(still_running, 0, "every call actor stopped");
    // By then its rows and recording are written: no waiting for them here.
    let ended = system_message(&client, &call_sid, "call_ended")
        .await
        .expect("call_ended written before the actors stopped");
    assert_eq!(ended["reason"], "engine_shutdown");
    let row = client
        .query_one(
            "SELECT c.status, c.ended_at IS NOT NULL, v.status, \
             (SELECT count(*) FROM recordings r WHERE r.call_id = c.id) \
             FROM calls c JOIN conversations v ON v.id = c.conversation_id WHERE c.call_sid = $1",
            &[&call_sid],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "completed");
    assert_eq!(row.get::<_, i64>(3), 1, "the recording row is stored");
    let (path, _, _, duration_ms) = recording(&client, &call_sid).await;
    let wav = hound::WavReader::open(&path).expect("a finished WAV");
    let header_ms = i64::from(wav.duration()) * 1000 / i64::from(wav.spec().sample_rate);
    assert!(
        (header_ms - duration_ms).abs() <= 1,
        "its header names the audio it holds: {header_ms} vs {duration_ms} ms"
    );
    assert!(duration_ms >= 1800, "{duration_ms} ms");

    let report = tokio::time::timeout(Duration::from_secs(10), placing)
        .await
        .expect("the caller was hung up, not left to its 20 s of silence")
        .unwrap()
        .expect("call placed");
    assert!(report.engine_hung_up, "the engine closed the stream");
    assert_eq!(report.close_code, Some(1000), "a normal close");
    assert!(report.agent_audio_ms > 0);

    // A call arriving now gets its stream closed without a call actor.
    let late = CallerConfig::new(running.url.clone(), TOKEN)
        .script([Step::Speak { ms: 2000, hz: 1000 }, Step::HangUp])
        .pace(Pace::RealTime);
    let late_sid = late.call_sid.clone();
    let report = tokio::time::timeout(Duration::from_secs(10), TwilioCaller::place(late))
        .await
        .expect("the late call was closed at once")
        .expect("webhook answered");
    assert!(report.engine_hung_up, "its stream was closed");
    assert!(
        system_message(&client, &late_sid, "call_started")
            .await
            .is_none()
    );
    assert_eq!(running.calls().live_calls(), 0);
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// A call of an organization with its own Twilio account and OpenAI key: the webhook and the media
/// socket are checked with the organization's token (sealed in the database), the call is the
/// organization's, and its AI session uses the organization's key. Signed with the configured
/// token instead, the same account's webhook is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizations_call_runs_on_its_own_twilio_token_and_openai_key() {
    use base64::Engine as _;
    use switchboard::auth::seal::Sealer;
    let peer = RealtimePeer::start(PeerConfig {
        require_api_key: Some("sk-org-acme".into()),
        ..PeerConfig::default()
    })
    .unwrap();
    let key = [7u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    let running = engine(&peer, &[("SWITCHBOARD_AUTH_ENCRYPTION_KEY", &encoded)]).await;
    let client = running.client().await.unwrap();
    let org = uuid::Uuid::now_v7();
    let account = format!("AC{}", "ac".repeat(16));
    client
        .execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, 'Acme', 'acme')",
            &[&org],
        )
        .await
        .unwrap();
    let sealer = Sealer::new(&key);
    client
        .execute(
            "INSERT INTO org_credentials (org_id, twilio_account_sid, twilio_auth_token, openai_api_key)
             VALUES ($1, $2, $3, $4)",
            &[
                &org,
                &account,
                &sealer.seal(org, "twilio_auth_token", "acme-twilio-token").unwrap(),
                &sealer.seal(org, "openai_api_key", "sk-org-acme").unwrap(),
            ],
        )
        .await
        .unwrap();
    let script = [
        Step::Speak { ms: 800, hz: 1000 },
        Step::Silence { ms: 600 },
        Step::WaitForAgent { max_ms: 8000 },
        Step::HangUp,
    ];
    let caller = CallerConfig::new(running.url.clone(), "acme-twilio-token")
        .account_sid(account.clone())
        .script(script.clone())
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller).await.expect("call placed");
    assert!(
        report.agent_audio_ms > 0,
        "the AI answered with the organization's key"
    );
    let owner: uuid::Uuid = client
        .query_one("SELECT org_id FROM calls WHERE call_sid = $1", &[&call_sid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, org);
    peer.wait_for(Duration::from_secs(5), |logs| {
        logs.iter()
            .any(|l| l.api_key.as_deref() == Some("sk-org-acme"))
    })
    .await
    .expect("the realtime peer saw the organization's key");

    let forged = CallerConfig::new(running.url.clone(), TOKEN)
        .account_sid(account)
        .script(script)
        .pace(Pace::RealTime);
    match TwilioCaller::place(forged).await {
        Err(switchboard_sim::twilio_caller::CallerError::Webhook { status, .. }) => {
            assert_eq!(status, 403)
        }
        other => panic!("a webhook signed with another token was not refused: {other:?}"),
    }
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// Twilio signs every request of an account with one token. A call from an account no organization
/// claims is the default organization's and is signed with the configured token — its webhook and
/// its media socket alike — even when the default organization keeps a Twilio token of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclaimed_accounts_call_streams_with_the_configured_token_on_both_checks() {
    use base64::Engine as _;
    use switchboard::auth::seal::Sealer;
    use switchboard_actors::persistence::DEFAULT_ORG;
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let key = [9u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    let running = engine(&peer, &[("SWITCHBOARD_AUTH_ENCRYPTION_KEY", &encoded)]).await;
    let client = running.client().await.unwrap();
    client
        .execute(
            "INSERT INTO org_credentials (org_id, twilio_auth_token) VALUES ($1, $2)",
            &[
                &DEFAULT_ORG,
                &Sealer::new(&key)
                    .seal(DEFAULT_ORG, "twilio_auth_token", "default-org-own-token")
                    .unwrap(),
            ],
        )
        .await
        .unwrap();
    let caller = CallerConfig::new(running.url.clone(), TOKEN)
        .account_sid(format!("AC{}", "5".repeat(32)))
        .script([
            Step::Speak { ms: 800, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 8000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let call_sid = caller.call_sid.clone();
    let report = TwilioCaller::place(caller)
        .await
        .expect("webhook and media socket accepted the configured token");
    assert!(
        report.agent_audio_ms > 0,
        "the call streamed and was answered"
    );
    assert!(!report.engine_hung_up, "the caller hung up, not the engine");
    let messages = messages_after_end(&client, &call_sid).await;
    assert!(messages.iter().any(|(c, _, _)| c == "call_started"));
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// A second signed socket that sends `start` for a call already streaming (a replay, or anyone
/// holding the signed URL) is closed; the call stays with its first stream, and there is one
/// `call_started`, one `call_ended` and one recording. A `start` whose CallSid is not a call SID
/// is refused the same way, and a DTMF frame carrying no keypad key is counted, not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_for_a_live_call_is_refused_and_the_call_goes_on() {
    use switchboard_sim::twilio_caller::{Event, MediaSession};
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    let config = CallerConfig::new(running.url.clone(), TOKEN).pace(Pace::RealTime);
    let call_sid = config.call_sid.clone();
    let twiml = TwilioCaller::post_webhook(&config).await.unwrap();
    let mut first = MediaSession::open(&config, &twiml).await.unwrap();
    first.run(&Step::Speak { ms: 400, hz: 1000 }).await.unwrap();

    let mut second = MediaSession::open(&config, &twiml).await.unwrap();
    second
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::EngineClosed { .. })
        })
        .await
        .expect("the engine closed the second stream");
    let second = second.finish().await.unwrap();
    assert_eq!(second.close_code, Some(1000));

    // A path-like CallSid on a signed socket: refused before any file or row is made of it.
    let hostile = CallerConfig::new(running.url.clone(), TOKEN).call_sid("../../x".to_owned());
    let mut hostile = MediaSession::open(&hostile, &twiml).await.unwrap();
    hostile
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, Event::EngineClosed { .. })
        })
        .await
        .expect("the engine closed the stream of a malformed CallSid");

    first.send_dtmf('\0').await.unwrap();
    first.send_dtmf('7').await.unwrap();
    for step in [
        Step::Speak { ms: 800, hz: 1000 },
        Step::Silence { ms: 600 },
        Step::WaitForAgent { max_ms: 8000 },
    ] {
        first.run(&step).await.unwrap();
    }
    assert!(first.is_open(), "the first stream was not taken over");
    first.hang_up().await.unwrap();
    let report = first.finish().await.unwrap();
    assert!(
        report.agent_audio_ms > 0,
        "the call went on with its first stream"
    );

    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    let count = |kind: &str| messages.iter().filter(|(c, _, _)| c == kind).count();
    assert_eq!(count("call_started"), 1, "{messages:?}");
    assert_eq!(count("call_ended"), 1, "{messages:?}");
    assert_eq!(count("dtmf"), 1, "the keypad key only: {messages:?}");
    let dtmf = system_message(&client, &call_sid, "dtmf").await.unwrap();
    assert_eq!(dtmf["digit"], "7");
    assert_eq!(recordings_once_written(&client, &call_sid).await, 1);
    let status: String = client
        .query_one("SELECT status FROM calls WHERE call_sid = $1", &[&call_sid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "completed");
    // Nothing was written outside the recordings directory.
    let data = running.data_dir();
    assert!(!data.join("x.wav").exists());
    assert!(!data.parent().unwrap().join("x.wav").exists());
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// A stream that goes silent (no frame, no `stop`, no close: Twilio streams can stall that way)
/// is hung up by the engine after `twilio.stream_idle_s`: `call_ended` with reason `stream_idle`,
/// the call completed and its recording written, so no call stays "live" for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_goes_silent_is_hung_up_as_stream_idle() {
    use switchboard_sim::twilio_caller::{Event, MediaSession};
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[("SWITCHBOARD_TWILIO_STREAM_IDLE_S", "1")]).await;
    let config = CallerConfig::new(running.url.clone(), TOKEN).pace(Pace::RealTime);
    let call_sid = config.call_sid.clone();
    let twiml = TwilioCaller::post_webhook(&config).await.unwrap();
    let mut session = MediaSession::open(&config, &twiml).await.unwrap();
    session
        .run(&Step::Speak { ms: 400, hz: 1000 })
        .await
        .unwrap();
    // Then nothing at all.
    let silent_from = std::time::Instant::now();
    session
        .wait_for(Duration::from_secs(10), |e| {
            matches!(e, Event::EngineClosed { .. })
        })
        .await
        .expect("the engine hung up the silent stream");
    assert!(silent_from.elapsed() >= Duration::from_millis(900));
    let report = session.finish().await.unwrap();
    assert_eq!(report.close_code, Some(1000));

    let client = running.client().await.unwrap();
    let messages = messages_after_end(&client, &call_sid).await;
    assert_eq!(
        messages
            .iter()
            .filter(|(c, _, _)| c == "call_ended")
            .count(),
        1
    );
    let ended = system_message(&client, &call_sid, "call_ended")
        .await
        .unwrap();
    assert_eq!(ended["reason"], "stream_idle");
    let status: String = client
        .query_one("SELECT status FROM calls WHERE call_sid = $1", &[&call_sid])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "completed");
    assert_eq!(recordings_once_written(&client, &call_sid).await, 1);
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}

/// The call's recording rows, once there is one (or after 10 s without).
async fn recordings_once_written(client: &tokio_postgres::Client, call_sid: &str) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM recordings r JOIN calls c ON c.id = r.call_id WHERE c.call_sid = $1",
                &[&call_sid],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
