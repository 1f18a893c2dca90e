//! End-to-end tests of the peer through a real websocket client.

mod client;

use std::time::Duration;

use serde_json::Value;
use switchboard_actors::audio::tone;
use switchboard_actors::realtime::{
    AudioFormat, ConversationItem, Dialect, input_audio_commit, item_create_assistant_text,
    item_create_function_call, item_create_function_output, item_create_user_text, response_cancel,
    response_create, truncate,
};
use tokio::time::Instant;

use self::client::{
    Client, Got, STEP, connect, decode_audio, find, position, refused_status, session_config,
    try_connect, try_connect_to, types,
};
use super::{
    EndReason, Failure, Pace, PeerConfig, RealtimePeer, ResponseKind, ResponseOutcome, TruncateLog,
};

fn burst(dialect: Dialect) -> PeerConfig {
    PeerConfig {
        pace: Pace::Burst,
        ..PeerConfig::for_dialect(dialect)
    }
}

fn start(config: PeerConfig) -> RealtimePeer {
    RealtimePeer::start(config).expect("peer starts")
}

fn delta_type(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ga => "response.output_audio.delta",
        Dialect::Beta => "response.audio.delta",
    }
}

fn transcript_done_type(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ga => "response.output_audio_transcript.done",
        Dialect::Beta => "response.audio_transcript.done",
    }
}

/// Connects and configures; asserts `session.created` comes first, then `session.updated`.
async fn session(peer: &RealtimePeer, dialect: Dialect, format: AudioFormat) -> Client {
    let mut client = connect(peer, dialect).await;
    let events = client.configure(&session_config(dialect, format)).await;
    assert_eq!(types(&events), ["session.created", "session.updated"]);
    client
}

/// Deltas of type `kind` in `events`, as base64 strings.
fn deltas<'a>(events: &'a [Value], kind: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|event| event["type"] == kind)
        .map(|event| event["delta"].as_str().expect("delta"))
        .collect()
}

/// One utterance (1.2 s of 1 kHz, 600 ms of silence) and its complete reply.
async fn utterance_and_reply(peer: &RealtimePeer, dialect: Dialect, format: AudioFormat) {
    let mut client = session(peer, dialect, format).await;
    client.send_audio(1000.0, 1200).await;
    client.send_audio(0.0, 600).await;
    let events = client.until("response.done").await;
    let order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        delta_type(dialect),
        transcript_done_type(dialect),
        "response.done",
    ];
    let positions: Vec<usize> = order.iter().map(|kind| position(&events, kind)).collect();
    assert!(positions.is_sorted(), "{:?}", types(&events));
    assert_eq!(
        find(&events, "input_audio_buffer.speech_started")["audio_start_ms"],
        0
    );
    assert_eq!(
        find(&events, "input_audio_buffer.speech_stopped")["audio_end_ms"],
        1200
    );
    let transcription = find(
        &events,
        "conversation.item.input_audio_transcription.completed",
    );
    assert_eq!(transcription["transcript"], "Caller utterance 1 (1200 ms)");
    assert_eq!(
        transcription["item_id"],
        find(&events, "input_audio_buffer.committed")["item_id"]
    );
    let audio = decode_audio(format, &deltas(&events, delta_type(dialect)));
    let rate = format.sample_rate();
    assert_eq!(audio.len(), rate as usize * 1500 / 1000, "1500 ms of reply");
    assert!((tone::dominant_frequency(&audio, rate) - 440.0).abs() < 2.0);
    let transcript: String = deltas(
        &events,
        &transcript_done_type(dialect).replace(".done", ".delta"),
    )
    .concat();
    assert_eq!(transcript, "Agent reply 1 to utterance 1");
    assert_eq!(
        find(&events, transcript_done_type(dialect))["transcript"],
        "Agent reply 1 to utterance 1"
    );
    let done = find(&events, "response.done");
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(
        done["response"]["id"],
        find(&events, "response.created")["response"]["id"]
    );
    client.close().await;

    let logs = peer
        .wait_for(STEP, |logs| logs.iter().all(|log| !log.is_open()))
        .await
        .expect("connection ends");
    let log = &logs[0];
    assert_eq!(
        log.model.as_deref(),
        Some(session_config(dialect, format).model.as_str())
    );
    assert_eq!(log.dialect, Some(dialect));
    assert_eq!(log.beta_header, dialect == Dialect::Beta);
    assert_eq!(log.api_key.as_deref(), Some("sk-test"));
    let update = log.last_session_update().expect("session.update");
    assert_eq!(update.input_format, Some(format));
    assert_eq!(update.output_format, Some(format));
    assert_eq!(
        update.instructions.as_deref(),
        Some("You are a test agent.")
    );
    assert_eq!(update.tool_names, ["end_call"]);
    assert_eq!(log.audio_appends, 90);
    assert_eq!(
        log.audio_bytes,
        u64::from(rate) * 18 / 10 * if format == AudioFormat::Pcm16 { 2 } else { 1 }
    );
    assert_eq!(log.audio_ms, 1800);
    assert_eq!(log.utterances.len(), 1);
    assert_eq!(
        (log.utterances[0].start_ms, log.utterances[0].end_ms),
        (0, 1200)
    );
    assert_eq!((log.responses_started(), log.responses_completed()), (1, 1));
    assert_eq!(log.responses[0].audio_ms_sent, 1500);
    assert_eq!(log.responses[0].deltas_sent, 15);
    assert!(log.errors_sent.is_empty());
    assert_eq!(
        log.ended,
        Some(EndReason::ClientClosed { code: Some(1000) })
    );
}

#[tokio::test]
async fn ga_utterance_gets_a_reply() {
    let peer = start(burst(Dialect::Ga));
    utterance_and_reply(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    peer.shutdown().await;
}

#[tokio::test]
async fn beta_utterance_gets_a_reply() {
    let peer = start(burst(Dialect::Beta));
    utterance_and_reply(&peer, Dialect::Beta, AudioFormat::G711Ulaw).await;
    peer.shutdown().await;
}

#[tokio::test]
async fn pcm16_session_gets_a_pcm16_reply() {
    let peer = start(burst(Dialect::Ga));
    utterance_and_reply(&peer, Dialect::Ga, AudioFormat::Pcm16).await;
    peer.shutdown().await;
}

#[tokio::test]
async fn barge_in_cancels_the_reply_and_truncate_is_checked() {
    let peer = start(PeerConfig {
        reply_ms: 5000,
        ..PeerConfig::default()
    });
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    client.send_audio(1000.0, 1200).await;
    client.send_audio(0.0, 400).await;
    let kind = delta_type(Dialect::Ga);
    let mut events = client.until(kind).await;
    let item_id = find(&events, kind)["item_id"]
        .as_str()
        .expect("item")
        .to_owned();
    events.extend(client.until(kind).await);
    events.extend(client.until(kind).await);
    // Three deltas in: the caller talks over the agent.
    client.send_audio(1000.0, 300).await;
    let mut rest = client.until("response.done").await;
    let done = rest.last().expect("response.done");
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    assert!(
        position(&rest, "input_audio_buffer.speech_started") < rest.len() - 1,
        "speech_started comes before response.done"
    );
    events.append(&mut rest);
    let received = decode_audio(AudioFormat::G711Ulaw, &deltas(&events, kind));
    let heard_ms = received.len() as u64 / 8;
    assert!((300..5000).contains(&heard_ms), "{heard_ms} ms");
    // No more deltas for the cancelled item.
    let after = client.collect_for(Duration::from_millis(400)).await;
    assert!(
        after.iter().all(|e| e["type"] != kind),
        "deltas after cancel: {:?}",
        types(&after)
    );
    client.send(truncate(&item_id, heard_ms)).await;
    let truncated = client.event().await;
    assert_eq!(truncated["type"], "conversation.item.truncated");
    assert_eq!(truncated["audio_end_ms"], heard_ms);
    client.send(truncate(&item_id, 10_000)).await;
    let error = client.event().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    let log = &peer.connections()[0];
    assert_eq!(
        log.responses[0].outcome,
        ResponseOutcome::Cancelled {
            reason: "turn_detected".into()
        }
    );
    assert!(log.responses[0].audio_ms_sent >= heard_ms);
    assert_eq!(
        log.truncates,
        [
            TruncateLog {
                item_id: item_id.clone(),
                content_index: 0,
                audio_end_ms: heard_ms,
                valid: true
            },
            TruncateLog {
                item_id,
                content_index: 0,
                audio_end_ms: 10_000,
                valid: false
            },
        ]
    );
    assert_eq!(log.errors_sent.len(), 1);
    peer.shutdown().await;
}

#[tokio::test]
async fn response_cancel_and_manual_turns() {
    let peer = start(PeerConfig {
        reply_ms: 5000,
        ..PeerConfig::for_dialect(Dialect::Beta)
    });
    let mut client = connect(&peer, Dialect::Beta).await;
    assert_eq!(client.event().await["type"], "session.created");
    // Turn detection off: audio is only committed on request, and no response starts alone.
    client
        .send(
            r#"{"type":"session.update","session":{"turn_detection":null,"input_audio_format":"g711_ulaw"}}"#
                .to_owned(),
        )
        .await;
    assert_eq!(client.event().await["type"], "session.updated");
    client.format = AudioFormat::G711Ulaw;
    client.send_audio(1000.0, 500).await;
    assert!(
        client
            .collect_for(Duration::from_millis(200))
            .await
            .is_empty()
    );
    client.send(input_audio_commit()).await;
    let events = client
        .until("conversation.item.input_audio_transcription.completed")
        .await;
    assert_eq!(
        types(&events),
        [
            "input_audio_buffer.committed",
            "conversation.item.created",
            "conversation.item.input_audio_transcription.completed"
        ]
    );
    assert_eq!(events[2]["transcript"], "Caller utterance 1 (500 ms)");
    client.send(input_audio_commit()).await;
    assert_eq!(
        client.event().await["error"]["code"],
        "input_audio_buffer_commit_empty"
    );
    // A paced reply, cancelled by the client.
    client.send(response_create()).await;
    client.until("response.audio.delta").await;
    client.send(response_create()).await;
    let events = client.until("error").await;
    assert_eq!(
        events.last().expect("error")["error"]["code"],
        "conversation_already_has_active_response"
    );
    client.send(response_cancel(None)).await;
    let done = client.until("response.done").await.pop().expect("done");
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "client_cancelled"
    );
    client.send(response_cancel(None)).await;
    let events = client.until("error").await;
    assert_eq!(
        events.last().expect("error")["error"]["code"],
        "response_cancel_not_active"
    );
    let log = &peer.connections()[0];
    assert_eq!(log.cancels.len(), 2);
    assert!(log.cancels[0].cancelled.is_some() && log.cancels[1].cancelled.is_none());
    assert_eq!(log.responses_cancelled(), 1);
    assert_eq!(log.dialect, Some(Dialect::Beta));
    peer.shutdown().await;
}

#[tokio::test]
async fn close_mid_response_drops_the_socket_after_one_delta() {
    let peer = start(burst(Dialect::Ga));
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    peer.control().inject(Failure::CloseMidResponse);
    assert_eq!(peer.control().pending(), [Failure::CloseMidResponse]);
    client.send_audio(1000.0, 600).await;
    client.send_audio(0.0, 400).await;
    let mut events = Vec::new();
    let end = loop {
        match client.recv().await {
            Got::Event(event) => events.push(event),
            other => break other,
        }
    };
    assert!(matches!(end, Got::Gone(_)), "no close frame: {end:?}");
    assert_eq!(deltas(&events, delta_type(Dialect::Ga)).len(), 1);
    assert!(events.iter().all(|e| e["type"] != "response.done"));
    let logs = peer
        .wait_for(STEP, |logs| logs[0].ended.is_some())
        .await
        .expect("ended");
    assert_eq!(logs[0].ended, Some(EndReason::PeerDropped));
    assert_eq!(logs[0].failures, [Failure::CloseMidResponse]);
    assert_eq!(logs[0].responses[0].outcome, ResponseOutcome::Aborted);
    assert!(peer.control().pending().is_empty());
    peer.shutdown().await;
}

/// Expects the `session_expired` error, then a 1001 close.
async fn expect_expiry(client: &mut Client) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        match client.recv().await {
            Got::Event(event) if event["type"] == "error" => {
                let text = event.to_string();
                let parsed =
                    switchboard_actors::realtime::parse_server_event(&text).expect("parse");
                assert!(parsed.is_session_expired(), "{text}");
                assert_eq!(
                    event["error"]["message"],
                    "Your session hit the maximum duration of 60 minutes."
                );
                events.push(event);
            }
            Got::Event(event) => events.push(event),
            Got::Close(code) => {
                assert_eq!(code, Some(1001));
                assert_eq!(events.last().map(|e| &e["type"]), Some(&"error".into()));
                return events;
            }
            Got::Gone(why) => panic!("gone without close frame: {why}"),
        }
    }
}

#[tokio::test]
async fn session_expired_at_once_and_on_speech() {
    let peer = start(burst(Dialect::Beta));
    let mut first = session(&peer, Dialect::Beta, AudioFormat::G711Ulaw).await;
    peer.control().inject(Failure::SessionExpired);
    expect_expiry(&mut first).await;

    let mut second = session(&peer, Dialect::Beta, AudioFormat::G711Ulaw).await;
    peer.control()
        .inject_for(1, Failure::SessionExpiredOnSpeech);
    second.send_audio(0.0, 200).await;
    second.send_audio(1000.0, 400).await;
    let events = expect_expiry(&mut second).await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "input_audio_buffer.speech_started")
    );
    // Injected with no connection open: the next session expires right after it starts.
    peer.control().inject(Failure::SessionExpired);
    let mut third = connect(&peer, Dialect::Beta).await;
    let events = expect_expiry(&mut third).await;
    assert_eq!(types(&events), ["session.created", "error"]);
    let logs = peer
        .wait_for(STEP, |logs| logs.iter().all(|log| !log.is_open()))
        .await
        .expect("all ended");
    assert!(
        peer.wait_for(Duration::from_millis(50), |logs| logs.len() > 3)
            .await
            .is_none()
    );
    let expired = EndReason::PeerClosed {
        code: 1001,
        reason: "session expired".into(),
    };
    assert_eq!(logs[0].ended.as_ref(), Some(&expired));
    assert_eq!(logs[0].failures, [Failure::SessionExpired]);
    assert_eq!(logs[1].ended.as_ref(), Some(&expired));
    assert_eq!(logs[1].failures, [Failure::SessionExpiredOnSpeech]);
    assert_eq!(
        logs[1].errors_sent[0].code.as_deref(),
        Some("session_expired")
    );
    assert!(logs[1].utterances.is_empty());
    assert_eq!(logs[2].failures, [Failure::SessionExpired]);
    peer.shutdown().await;
}

#[tokio::test]
async fn stall_delays_every_answer() {
    let peer = start(burst(Dialect::Ga));
    let config = session_config(Dialect::Ga, AudioFormat::G711Ulaw);
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    let stall = Duration::from_millis(400);
    let began = Instant::now();
    peer.control().inject(Failure::Stall(stall));
    client.send(config.session_update(Dialect::Ga)).await;
    assert_eq!(client.event().await["type"], "session.updated");
    let waited = began.elapsed();
    assert!(waited >= stall - Duration::from_millis(20), "{waited:?}");
    assert!(waited < stall + Duration::from_secs(2), "{waited:?}");
    // Afterwards it answers at once again.
    let began = Instant::now();
    client.send(config.session_update(Dialect::Ga)).await;
    assert_eq!(client.event().await["type"], "session.updated");
    assert!(began.elapsed() < stall, "{:?}", began.elapsed());
    assert_eq!(peer.connections()[0].failures, [Failure::Stall(stall)]);
    peer.shutdown().await;
}

#[tokio::test]
async fn reject_next_connect_gives_503_once() {
    let peer = start(burst(Dialect::Ga));
    peer.control().inject(Failure::RejectNextConnect);
    assert_eq!(
        refused_status(try_connect(&peer, Dialect::Ga, Some("sk-test")).await),
        503
    );
    let mut client = connect(&peer, Dialect::Ga).await;
    assert_eq!(client.event().await["type"], "session.created");
    let logs = peer.connections();
    assert_eq!(logs[0].ended, Some(EndReason::Rejected { status: 503 }));
    assert_eq!(logs[0].failures, [Failure::RejectNextConnect]);
    assert!(logs[1].is_open());
    peer.shutdown().await;
}

#[tokio::test]
async fn end_call_function_then_goodbye() {
    let peer = start(PeerConfig {
        end_call_on_utterance: Some(1),
        ..burst(Dialect::Ga)
    });
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    client.send_audio(1000.0, 800).await;
    client.send_audio(0.0, 400).await;
    let events = client.until("response.done").await;
    assert!(deltas(&events, delta_type(Dialect::Ga)).is_empty());
    let added = find(&events, "response.output_item.added");
    assert_eq!(added["item"]["type"], "function_call");
    assert_eq!(added["item"]["name"], "end_call");
    let call = find(&events, "response.function_call_arguments.done");
    assert_eq!(call["name"], "end_call");
    let call_id = call["call_id"].as_str().expect("call_id").to_owned();
    let arguments: Value =
        serde_json::from_str(call["arguments"].as_str().expect("arguments")).expect("JSON");
    assert_eq!(arguments["reason"], "caller said goodbye");
    assert_eq!(
        find(&events, "response.done")["response"]["status"],
        "completed"
    );
    // The engine answers the call and asks for the goodbye.
    client
        .send(item_create_function_output("call_unknown", "{}"))
        .await;
    assert_eq!(client.until("error").await.len(), 1);
    client
        .send(item_create_function_output(&call_id, r#"{"ok":true}"#))
        .await;
    client.send(response_create()).await;
    let events = client.until("response.done").await;
    assert_eq!(
        find(&events, "conversation.item.added")["item"]["call_id"],
        call_id.as_str()
    );
    assert_eq!(
        find(&events, transcript_done_type(Dialect::Ga))["transcript"],
        "Goodbye from the agent."
    );
    let audio = decode_audio(
        AudioFormat::G711Ulaw,
        &deltas(&events, delta_type(Dialect::Ga)),
    );
    assert_eq!(audio.len(), 600 * 8);
    let log = &peer.connections()[0];
    assert!(matches!(
        &log.responses[0].kind,
        ResponseKind::FunctionCall { name, call_id: id, .. } if name == "end_call" && *id == call_id
    ));
    assert_eq!(log.responses[1].kind, ResponseKind::Audio);
    assert_eq!(log.responses_completed(), 2);
    let accepted: Vec<bool> = log.items_created.iter().map(|i| i.accepted).collect();
    assert_eq!(accepted, [false, true]);
    assert!(matches!(
        &log.items_created[1].item,
        ConversationItem::FunctionCallOutput { call_id: id, output } if *id == call_id && output == r#"{"ok":true}"#
    ));
    peer.shutdown().await;
}

#[tokio::test]
async fn replayed_items_are_logged_in_order() {
    let peer = start(burst(Dialect::Beta));
    let mut client = session(&peer, Dialect::Beta, AudioFormat::G711Ulaw).await;
    let replay = [
        item_create_user_text("Hello?"),
        item_create_assistant_text(Dialect::Beta, "Hi, how can I help?"),
        item_create_function_call("call_old", "lookup", r#"{"q":"hours"}"#),
        item_create_function_output("call_old", r#"{"open":"9-5"}"#),
        item_create_user_text("Are you there?"),
    ];
    for event in replay {
        client.send(event).await;
    }
    let mut created = Vec::new();
    for _ in 0..5 {
        let event = client.event().await;
        assert_eq!(event["type"], "conversation.item.created");
        created.push(event);
    }
    assert_eq!(created[1]["item"]["content"][0]["type"], "text");
    assert_eq!(created[1]["previous_item_id"], created[0]["item"]["id"]);
    client.send(response_create()).await;
    let events = client.until("response.done").await;
    assert_eq!(
        find(&events, transcript_done_type(Dialect::Beta))["transcript"],
        "Agent reply 1 to utterance 0"
    );
    let log = &peer.connections()[0];
    assert_eq!(
        log.created_messages(),
        [
            ("user".to_owned(), "Hello?".to_owned()),
            ("assistant".to_owned(), "Hi, how can I help?".to_owned()),
            ("user".to_owned(), "Are you there?".to_owned()),
        ]
    );
    assert!(
        matches!(&log.items_created[2].item, ConversationItem::FunctionCall { name, .. } if name == "lookup")
    );
    assert!(
        matches!(&log.items_created[3].item, ConversationItem::FunctionCallOutput { call_id, .. } if call_id == "call_old")
    );
    assert!(log.items_created.iter().all(|item| item.accepted));
    peer.shutdown().await;
}

/// One utterance of `tone_ms`; returns (transcript, response id, reply transcript).
async fn converse(
    peer: &RealtimePeer,
    format: AudioFormat,
    tone_ms: u32,
) -> (String, String, String) {
    let mut client = session(peer, Dialect::Ga, format).await;
    client.send_audio(1000.0, tone_ms).await;
    client.send_audio(0.0, 500).await;
    let events = client.until("response.done").await;
    let heard = find(
        &events,
        "conversation.item.input_audio_transcription.completed",
    )["transcript"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let response = find(&events, "response.created")["response"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let reply = find(&events, transcript_done_type(Dialect::Ga))["transcript"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    client.close().await;
    (heard, response, reply)
}

#[tokio::test]
async fn concurrent_connections_do_not_share_state() {
    let peer = start(burst(Dialect::Ga));
    let (a, b) = tokio::join!(
        converse(&peer, AudioFormat::G711Ulaw, 1200),
        converse(&peer, AudioFormat::Pcm16, 600),
    );
    assert_eq!(a.0, "Caller utterance 1 (1200 ms)");
    assert_eq!(b.0, "Caller utterance 1 (600 ms)");
    assert_eq!(a.2, "Agent reply 1 to utterance 1");
    assert_eq!(b.2, "Agent reply 1 to utterance 1");
    assert_ne!(a.1, b.1);
    let logs = peer
        .wait_for(STEP, |logs| {
            logs.len() == 2 && logs.iter().all(|l| !l.is_open())
        })
        .await
        .expect("both end");
    let mut durations: Vec<u64> = logs
        .iter()
        .map(|log| {
            assert_eq!(log.utterances.len(), 1);
            assert_eq!(log.responses_completed(), 1);
            log.utterances[0].end_ms - log.utterances[0].start_ms
        })
        .collect();
    durations.sort();
    assert_eq!(durations, [600, 1200]);
    peer.shutdown().await;
}

#[tokio::test]
async fn api_key_and_path_are_enforced() {
    let peer = start(PeerConfig {
        require_api_key: Some("sk-right".into()),
        ..burst(Dialect::Ga)
    });
    assert_eq!(
        refused_status(try_connect(&peer, Dialect::Ga, Some("sk-wrong")).await),
        401
    );
    assert_eq!(
        refused_status(try_connect(&peer, Dialect::Ga, None).await),
        401
    );
    let wrong_path = peer.url().replace("/v1/realtime", "/v1/other") + "?model=gpt-realtime";
    assert_eq!(
        refused_status(try_connect_to(&wrong_path, Dialect::Ga, Some("sk-right")).await),
        404
    );
    let mut client = try_connect(&peer, Dialect::Ga, Some("sk-right"))
        .await
        .expect("right key");
    assert_eq!(client.event().await["type"], "session.created");
    let statuses: Vec<Option<EndReason>> = peer
        .connections()
        .into_iter()
        .map(|log| log.ended)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(EndReason::Rejected { status: 401 }),
            Some(EndReason::Rejected { status: 401 }),
            Some(EndReason::Rejected { status: 404 }),
            None
        ]
    );
    peer.shutdown().await;
}

#[tokio::test]
async fn bad_client_frames_get_errors_and_the_session_survives() {
    let peer = start(burst(Dialect::Ga));
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    client.send("{not json".to_owned()).await;
    client
        .send(r#"{"type":"input_audio_buffer.append"}"#.to_owned())
        .await;
    client
        .send(r#"{"type":"input_audio_buffer.append","audio":"!!!"}"#.to_owned())
        .await;
    client.send(r#"{"type":"no.such.event"}"#.to_owned()).await;
    client.send(r#"[1,2,3]"#.to_owned()).await;
    client.send_binary(vec![1, 2, 3]).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let event = client.event().await;
        assert_eq!(event["type"], "error");
        assert_eq!(event["error"]["type"], "invalid_request_error");
        codes.push(
            event["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(codes[1], "missing_required_parameter");
    let events = client
        .configure(&session_config(Dialect::Ga, AudioFormat::G711Ulaw))
        .await;
    assert_eq!(types(&events), ["session.updated"]);
    let log = &peer.connections()[0];
    assert_eq!(log.errors_sent.len(), 6);
    assert!(log.is_open());
    peer.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001() {
    let peer = start(burst(Dialect::Ga));
    let url = peer.url();
    let mut client = session(&peer, Dialect::Ga, AudioFormat::G711Ulaw).await;
    tokio::time::timeout(STEP, peer.shutdown())
        .await
        .expect("shutdown is bounded");
    assert!(matches!(client.recv().await, Got::Close(Some(1001))));
    assert!(
        try_connect_to(&url, Dialect::Ga, Some("sk-test"))
            .await
            .is_err()
    );
}
