//! Live calls end to end: the project's Twilio caller places a signed call into a real engine
//! (managed PostgreSQL, real sockets on loopback), which bridges it to the project's OpenAI
//! Realtime peer. What was said lands in PostgreSQL, in order, and the call is recorded.

use std::collections::HashMap;
use std::time::Duration;

use switchboard::app::Engine;
use switchboard::config::Config;
use switchboard::sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard::sim::twilio_caller::{CallerConfig, Pace, Step, TwilioCaller};
use url::Url;

const TOKEN: &str = "twilio-live-token";

struct Running {
    engine_url: Url,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Engine>,
    pg: tokio_postgres::Config,
    _dir: tempfile::TempDir,
}

/// An engine on 127.0.0.1:0 whose AI endpoint is `peer`.
async fn engine(peer: &RealtimePeer, extra: &[(&str, String)]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let base: HashMap<String, String> = [
        ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "SWITCHBOARD_STORAGE_DATA_DIR",
            dir.path().display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let listener = Engine::bind(&Config::from_sources(None, &base).unwrap())
        .await
        .unwrap();
    let engine_url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let mut env = base;
    env.insert("SWITCHBOARD_HTTP_PUBLIC_URL".into(), engine_url.to_string());
    env.insert("SWITCHBOARD_AI_REALTIME_URL".into(), peer.url());
    env.insert("SWITCHBOARD_AI_API_KEY".into(), "sk-test".into());
    env.insert("SWITCHBOARD_TWILIO_AUTH_TOKEN".into(), TOKEN.into());
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    let engine = Engine::start(Config::from_sources(None, &env).unwrap())
        .await
        .unwrap();
    let pg = engine.cluster().unwrap().pg_config();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        engine
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        engine
    });
    Running {
        engine_url,
        stop,
        server,
        pg,
        _dir: dir,
    }
}

impl Running {
    async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = self.pg.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        let engine = self.server.await.unwrap();
        engine.stop().await.unwrap();
    }
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
    let caller = CallerConfig::new(running.engine_url.clone(), TOKEN)
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

    let client = running.client().await;
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
            ("transcript", "customer"),
            ("transcript", "ai"),
            ("system", "call_ended")
        ],
        "{messages:#?}"
    );
    assert!(
        messages[1].0.starts_with("Caller utterance 1"),
        "{}",
        messages[1].0
    );
    assert_eq!(messages[2].0, "Agent reply 1 to utterance 1");

    let call = client
        .query_one(
            "SELECT c.status, c.duration_seconds IS NOT NULL, v.status, r.path, r.channels, r.sample_rate, r.duration_ms
             FROM calls c JOIN conversations v ON v.id = c.conversation_id
             JOIN recordings r ON r.call_id = c.id WHERE c.call_sid = $1",
            &[&call_sid],
        )
        .await
        .unwrap();
    assert_eq!(call.get::<_, String>(0), "completed");
    assert!(call.get::<_, bool>(1));
    assert_eq!(call.get::<_, String>(2), "completed");
    let (path, channels, rate, duration_ms): (String, i16, i32, i64) =
        (call.get(3), call.get(4), call.get(5), call.get(6));
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
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_clears_twilio_and_truncates_at_the_audio_played() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    // The agent's 1.5 s reply starts ~300 ms after the caller stops; the caller talks over it.
    let caller = CallerConfig::new(running.engine_url.clone(), TOKEN)
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
        .first(|e| matches!(e, switchboard::sim::twilio_caller::Event::Clear { .. }))
        .unwrap();
    let received_before: u64 = report
        .all(|e| matches!(e, switchboard::sim::twilio_caller::Event::AgentMedia { .. }))
        .iter()
        .filter(|(at, _)| *at <= clear_at)
        .map(|(_, e)| match e {
            switchboard::sim::twilio_caller::Event::AgentMedia { bytes, .. } => *bytes as u64,
            _ => 0,
        })
        .sum();
    let dropped = report
        .all(|e| matches!(e, switchboard::sim::twilio_caller::Event::Clear { .. }))
        .iter()
        .map(|(_, e)| match e {
            switchboard::sim::twilio_caller::Event::Clear { dropped_bytes, .. } => *dropped_bytes,
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
    let client = running.client().await;
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
    running.shutdown().await;
    peer.shutdown().await;
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
    use switchboard::sim::realtime_peer::Failure;
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    peer.control().inject(Failure::CloseMidResponse);
    let caller = CallerConfig::new(running.engine_url.clone(), TOKEN)
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

    let client = running.client().await;
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
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_replaced() {
    use switchboard::sim::realtime_peer::Failure;
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[]).await;
    peer.control().inject(Failure::SessionExpiredOnSpeech);
    let caller = CallerConfig::new(running.engine_url.clone(), TOKEN)
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
    let client = running.client().await;
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
    running.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_reconnection_gives_up_the_call_ends_cleanly() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(
        &peer,
        &[
            ("SWITCHBOARD_AI_RECONNECT_BASE_MS", "50".into()),
            ("SWITCHBOARD_AI_RECONNECT_MAX_ATTEMPTS", "2".into()),
        ],
    )
    .await;
    let caller = CallerConfig::new(running.engine_url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 600, hz: 1000 },
            Step::Silence { ms: 4000 },
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

    let client = running.client().await;
    let messages = messages_after_end(&client, &call_sid).await;
    let kinds: Vec<&str> = messages
        .iter()
        .filter(|(_, _, k)| k == "system")
        .map(|(c, _, _)| c.as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"call_ended"));
    assert!(kinds.contains(&"ai_unavailable"), "{kinds:?}");
    running.shutdown().await;
}
