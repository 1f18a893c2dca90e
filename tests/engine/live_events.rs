//! The live event stream and the metrics, end to end: a real engine (managed PostgreSQL, real
//! sockets on loopback) takes calls from the project's Twilio caller, bridged to the project's
//! realtime peer; dashboards follow them on `GET /api/v1/events` and Prometheus scrapes
//! `GET /metrics`.

use switchboard_sim::harness::sse;

use std::time::Duration;

use serde_json::{Value, json};
use sse::{Item, SseClient};
use switchboard::events::{EventKind, NewLiveEvent};
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_sim::harness::LocalEngine;
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallReport, CallerConfig, Pace, Step, TwilioCaller};
use url::Url;

const TOKEN: &str = "twilio-events-token";
const EVENTS: &str = "/api/v1/events";

/// An engine on 127.0.0.1:0 whose AI endpoint is `peer`; the event stream's client carries a
/// supervisor's API key.
async fn engine(peer: &RealtimePeer, extra: &[(&str, &str)]) -> LocalEngine {
    let engine = LocalEngine::start(&peer.url(), TOKEN, extra).await.unwrap();
    let key = switchboard::accounts::issue_api_key(
        engine.store(),
        DEFAULT_ORG,
        "live event tests",
        switchboard::auth::Role::Supervisor,
    )
    .await
    .unwrap()
    .key;
    let _ = sse::BEARER.set(key);
    engine
}

/// A scrape of the engine's `GET /metrics`.
async fn metrics(engine: &LocalEngine) -> Metrics {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = http.get(engine.endpoint("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    Metrics::parse(&response.text().await.unwrap())
}

/// A call that speaks once, hears the agent's reply and hangs up.
fn caller(url: &Url) -> CallerConfig {
    CallerConfig::new(url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 200 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime)
}

/// The call went as a call should: the agent's 1.5 s reply was heard, every mark echoed.
fn assert_normal_call(report: &CallReport) {
    assert_eq!(report.twiml_status, 200);
    assert!(
        (1400..=1600).contains(&report.agent_audio_ms),
        "the agent's reply reached the caller: {} ms",
        report.agent_audio_ms
    );
    assert!(report.marks_received > 0);
    assert_eq!(report.marks_echoed, report.marks_received);
}

/// A scrape, parsed: every sample line is `name{labels} value`.
struct Metrics {
    samples: Vec<(String, String, f64)>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            assert!(
                name.starts_with("switchboard_"),
                "every family is prefixed: {line}"
            );
            samples.push((name.to_owned(), labels.to_owned(), value));
        }
        Metrics { samples }
    }

    /// The value of the one sample `name` whose labels contain every one of `labels`.
    fn get(&self, name: &str, labels: &[&str]) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|want| l.contains(want)))
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0]
    }
}

/// (kind, and for messages the system event or the sender type) of each event.
fn shape(events: &[Item]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let data = &e.data()["data"];
            let detail = match e.kind() {
                "message.created" if data["message_type"] == "system" => {
                    data["metadata"]["system_event_type"].as_str().unwrap()
                }
                "message.created" => data["sender"]["type"].as_str().unwrap(),
                "call.updated" => data["status"].as_str().unwrap(),
                _ => "",
            };
            (e.kind().to_owned(), detail.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_follows_a_call_live_and_resumes_after_its_last_event_id() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[("SWITCHBOARD_HTTP_SSE_KEEPALIVE_S", "1")]).await;
    let before = metrics(&running).await;
    assert_eq!(before.get("switchboard_media_frames_in_total", &[]), 0.0);

    let mut live = SseClient::open(&running.url, EVENTS, &[]).await;
    // Idle: a keep-alive comment comes (every second here).
    assert_eq!(
        live.next_within(Duration::from_secs(10)).await,
        Some(Item::Comment("keep-alive".into()))
    );

    let config = caller(&running.url);
    let call_sid = config.call_sid.clone();
    let report = TwilioCaller::place(config).await.expect("call placed");
    assert_normal_call(&report);
    let call_id = report.call_id.clone().unwrap();

    let events = live
        .events_until(|e| e.kind() == "call.updated" && e.data()["data"]["status"] == "completed")
        .await;
    assert_eq!(
        shape(&events),
        [
            ("call.created", ""),
            ("message.created", "call_started"),
            ("call.started", ""),
            ("call.updated", "in-progress"),
            ("message.created", "call_answered"),
            ("call.answered", ""),
            ("message.created", "customer"),
            ("message.created", "ai"),
            ("message.created", "call_ended"),
            ("call.ended", ""),
            ("call.updated", "completed"),
        ]
        .map(|(k, d)| (k.to_owned(), d.to_owned())),
        "{events:#?}"
    );
    // Ids from 1, one apart; each event names its call and conversation, in the SSE fields and
    // in its data.
    let ids: Vec<u64> = events.iter().map(|e| e.id().unwrap()).collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
    let created = events[0].data();
    assert_eq!(created["kind"], "call.created");
    assert_eq!(created["data"]["call_sid"], call_sid.as_str());
    let conversation_id = created["conversation_id"].clone();
    assert_eq!(created["data"]["conversation_id"], conversation_id);
    for event in &events {
        let data = event.data();
        assert_eq!(data["id"], event.id().unwrap(), "{event:?}");
        assert_eq!(data["kind"], event.kind());
        assert_eq!(data["org_id"], json!(DEFAULT_ORG));
        assert_eq!(data["call_id"], call_id.as_str(), "{event:?}");
        assert_eq!(data["conversation_id"], conversation_id, "{event:?}");
    }
    assert!(
        events[6].data()["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Caller utterance 1")
    );
    assert_eq!(
        events[7].data()["data"]["content"],
        "Agent reply 1 to utterance 1"
    );
    // What was streamed is what was stored.
    let stored: Vec<Value> = running
        .client()
        .await
        .unwrap()
        .query(
            r#"SELECT id::text FROM messages WHERE conversation_id = $1::text::uuid ORDER BY "timestamp", id"#,
            &[&conversation_id.as_str().unwrap()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| json!(r.get::<_, String>(0)))
        .collect();
    let streamed: Vec<Value> = events
        .iter()
        .filter(|e| e.kind() == "message.created")
        .map(|e| e.data()["data"]["id"].clone())
        .collect();
    assert_eq!(streamed, stored);

    // Resume after `call.answered`: exactly what followed, then nothing but keep-alives.
    let middle = events[5].id().unwrap();
    let last = events.last().unwrap().id().unwrap();
    let after_middle: Vec<Item> = events[6..].to_vec();
    let by_header = ("Last-Event-ID", middle.to_string());
    let by_query = format!("{EVENTS}?last_event_id={middle}");
    for (path, headers) in [
        (EVENTS, vec![(by_header.0, by_header.1.as_str())]),
        (by_query.as_str(), vec![]),
        // The header wins over the query (EventSource keeps its URL and sets the header).
        (
            &*format!("{EVENTS}?last_event_id=1"),
            vec![(by_header.0, by_header.1.as_str())],
        ),
    ] {
        let mut resumed = SseClient::open(&running.url, path, &headers).await;
        let replayed = resumed.events_until(|e| e.id() == Some(last)).await;
        assert_eq!(replayed, after_middle, "{path} {headers:?}");
        assert!(
            matches!(
                resumed.next_within(Duration::from_secs(10)).await,
                Some(Item::Comment(_))
            ),
            "nothing after the last event"
        );
    }
    // From 0: everything, with no gap reported.
    let mut from_start = SseClient::open(&running.url, EVENTS, &[("Last-Event-ID", "0")]).await;
    assert_eq!(
        from_start.events_until(|e| e.id() == Some(last)).await,
        events
    );
    // An id this engine never issued (from before a restart): said so, then all it has.
    let mut unknown = SseClient::open(&running.url, EVENTS, &[("Last-Event-ID", "999999")]).await;
    let first = unknown.next_within(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.kind(), "stream.gap");
    assert_eq!(first.id(), None, "a notice does not move the resume point");
    assert_eq!(
        *first.data(),
        json!({ "after": 999999, "resumed_at": 1, "reason": "unknown_id" })
    );
    assert_eq!(unknown.events_until(|e| e.id() == Some(last)).await, events);

    // Ids that are not ids: 400 with the JSON error body.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for request in [
        http.get(running.endpoint(EVENTS))
            .header("Last-Event-ID", "abc"),
        http.get(running.endpoint(EVENTS))
            .header("Last-Event-ID", "-1"),
        http.get(running.endpoint(&format!("{EVENTS}?last_event_id=1.5"))),
    ] {
        let bearer = format!("Bearer {}", sse::BEARER.get().unwrap());
        let response = request
            .header("authorization", bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not an event id"),
            "{body}"
        );
    }

    // The metrics saw the call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let scrape = metrics(&running).await;
        if scrape.get("switchboard_live_calls", &[]) == 0.0 {
            break scrape;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call's actor never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        after.get("switchboard_media_frames_in_total", &[]),
        report.media_frames_sent as f64
    );
    assert_eq!(
        after.get("switchboard_media_frames_out_total", &[]),
        report.media_frames_received as f64
    );
    assert_eq!(after.get("switchboard_calls_started_total", &[]), 1.0);
    assert_eq!(after.get("switchboard_calls_ended_total", &[]), 1.0);
    assert_eq!(after.get("switchboard_ai_reconnects_total", &[]), 0.0);
    assert_eq!(
        after.get("switchboard_media_frames_rejected_total", &[]),
        0.0
    );
    assert_eq!(
        after.get("switchboard_events_published_total", &[]),
        last as f64
    );
    assert!(after.get("switchboard_persistence_rows_written_total", &[]) >= 7.0);
    assert_eq!(after.get("switchboard_persistence_pending_rows", &[]), 0.0);
    assert_eq!(
        after.get("switchboard_persistence_write_latency_seconds_count", &[]),
        after.get("switchboard_persistence_batches_written_total", &[])
    );
    assert_eq!(
        after.get(
            "switchboard_persistence_write_latency_seconds_bucket",
            &["le=\"+Inf\""]
        ),
        after.get("switchboard_persistence_batches_written_total", &[])
    );
    // HTTP latency by route class and status class: the voice webhook, the media socket's
    // upgrade, the event streams, the refused ids and the scrapes so far.
    let count = |route: &str, status: &str| {
        after.get(
            "switchboard_http_request_duration_seconds_count",
            &[
                &format!("route=\"{route}\""),
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(count("twilio", "2xx"), 1.0);
    assert_eq!(count("twilio_media", "1xx"), 1.0);
    assert_eq!(count("events", "2xx"), 6.0);
    assert_eq!(count("events", "4xx"), 3.0);
    assert!(count("metrics", "2xx") >= 1.0);
    assert!(
        !after
            .samples
            .iter()
            .any(|(_, labels, _)| labels.contains(&call_id)),
        "no id in any label"
    );
    // The open streams are counted (one live, five resumed) until they go.
    assert!(after.get("switchboard_sse_clients", &[]) >= 1.0);
    assert_eq!(after.get("switchboard_sse_clients_cut_off_total", &[]), 0.0);

    // A voice webhook Twilio repeats publishes `call.created` once.
    let repeated = CallerConfig::new(running.url.clone(), TOKEN);
    let published = running.events().last_id();
    let first = TwilioCaller::post_webhook(&repeated).await.unwrap();
    let again = TwilioCaller::post_webhook(&repeated).await.unwrap();
    assert_eq!(first.parameters, again.parameters, "the same call");
    assert_eq!(running.events().last_id(), published + 1);
    let created = live.events_until(|e| e.kind() == "call.created").await;
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(created[0].id(), Some(published + 1));
    assert_eq!(
        created[0].data()["data"]["call_sid"],
        repeated.call_sid.as_str()
    );
    assert_eq!(
        created[0].data()["call_id"].as_str(),
        first
            .parameters
            .iter()
            .find(|(k, _)| k == "call_id")
            .map(|(_, v)| v.as_str())
    );

    // Shutting down ends the open streams (rather than waiting on them).
    running.shutdown().await.unwrap();
    while let Some(item) = live.next_within(Duration::from_secs(10)).await {
        assert!(
            matches!(item, Item::Comment(_)),
            "only keep-alives: {item:?}"
        );
    }
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_off_and_never_slows_a_call() {
    let peer = RealtimePeer::start(PeerConfig::default()).unwrap();
    let running = engine(&peer, &[("SWITCHBOARD_HTTP_SSE_REPLAY_EVENTS", "256")]).await;
    // Asks for the stream and reads nothing, not even the response head.
    let mut slow = SseClient::send(&running.url, EVENTS, &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while running.events().subscribers() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A flood of events (far more than socket buffers hold) while a call goes on.
    const FLOOD: u64 = 20_000;
    let bus = running.events().clone();
    let flood = tokio::spawn(async move {
        let padding = "x".repeat(1000);
        for n in 0..FLOOD {
            bus.publish(NewLiveEvent::new(
                EventKind::MessageUpdated,
                DEFAULT_ORG,
                json!({ "n": n, "padding": padding }),
            ));
            if n % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let config = caller(&running.url);
    let call_sid = config.call_sid.clone();
    let report = TwilioCaller::place(config).await.expect("call placed");
    flood.await.unwrap();
    assert_normal_call(&report);
    // Its messages were all stored, in order.
    let client = running.client().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stored = loop {
        let rows = client
            .query(
                r#"SELECT m.content, m.message_type FROM messages m
                   JOIN calls c ON c.conversation_id = m.conversation_id
                   WHERE c.call_sid = $1 ORDER BY m."timestamp", m.id"#,
                &[&call_sid],
            )
            .await
            .unwrap();
        let stored: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        if stored.iter().any(|(content, _)| content == "call_ended") {
            break stored;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stored:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let kinds: Vec<&str> = stored.iter().map(|(_, kind)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["system", "system", "transcript", "transcript", "system"]
    );
    let published = running.events().last_id();
    assert!(published > FLOOD, "the call's events were published too");

    // Now it reads: what its buffers held, in order with no gap, then the cut-off, then the end.
    slow.read_head().await;
    let mut received = Vec::new();
    let cut_off = loop {
        match slow.next_within(Duration::from_secs(60)).await {
            Some(Item::Comment(_)) => {}
            Some(item) if item.kind() == "stream.cut_off" => break item,
            Some(item) => received.push(item.id().expect("an event id")),
            None => panic!(
                "the stream ended without a cut-off after {} events",
                received.len()
            ),
        }
    };
    assert_eq!(slow.next_within(Duration::from_secs(10)).await, None);
    assert!(!received.is_empty());
    let first = received[0];
    assert_eq!(
        received,
        (first..first + received.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert!((received.len() as u64) < published);
    assert_eq!(cut_off.id(), None);
    assert_eq!(cut_off.data()["reason"], "slow_client");
    assert!(cut_off.data()["missed"].as_u64().unwrap() > 0);

    let metrics = metrics(&running).await;
    assert_eq!(
        metrics.get("switchboard_sse_clients_cut_off_total", &[]),
        1.0
    );
    assert_eq!(
        metrics.get("switchboard_media_frames_in_total", &[]),
        report.media_frames_sent as f64
    );
    running.shutdown().await.unwrap();
    peer.shutdown().await;
}
