use chrono::Utc;

use super::*;
use crate::domain::{CallStatus, ConversationStatus, MessageDirection, MessageType, SenderType};
use crate::persistence::NewMessage;

fn config(now: Instant) -> CallConfig {
    CallConfig {
        agent_name: "Agent".into(),
        reconnect: ReconnectPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(400),
            max_attempts: 3,
            max_session: Duration::from_secs(60),
        },
        stream_idle: Duration::from_secs(3600),
        version_base: 1_000,
        ..CallConfig::new(
            crate::persistence::DEFAULT_ORG,
            Uuid::now_v7(),
            Uuid::now_v7(),
            "+14155550100",
            now,
            Utc::now(),
        )
    }
}

fn drain(core: &mut CallCore) -> Vec<CallEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

/// The `content` (kind) of the system messages among `events`.
fn system_kinds(events: &[CallEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Persist(PersistItem::Message(m))
                if m.message_type == MessageType::System =>
            {
                Some(m.content.clone())
            }
            _ => None,
        })
        .collect()
}

fn system_details(events: &[CallEvent], kind: &str) -> serde_json::Value {
    events
        .iter()
        .find_map(|e| match e {
            CallEvent::Persist(PersistItem::Message(m)) if m.content == kind => {
                Some(m.metadata.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {kind} message in {events:#?}"))
}

/// A call started, with its AI session connected and the start-up events drained.
fn live(now: Instant) -> CallCore {
    let mut core = CallCore::new(config(now));
    assert!(core.on_start(now, "MZ1"));
    core.on_ai_connected(now);
    drain(&mut core);
    core
}

/// Streams caller frames from `from_ms` to `to_ms` (exclusive), 20 ms apart.
fn stream(core: &mut CallCore, from_ms: u64, to_ms: u64) {
    for ts in (from_ms..to_ms).step_by(20) {
        let arrived = core.config().started + Duration::from_millis(ts);
        core.on_media(arrived, ts, 20);
    }
}

#[test]
fn media_before_start_is_rejected_and_start_asks_for_the_ai() {
    let t0 = Instant::now();
    let mut core = CallCore::new(config(t0));
    assert_eq!(core.on_media(t0, 0, 20), MediaAction::Reject);
    assert_eq!(core.counters().media_rejected, 1);
    assert!(core.on_start(t0, "MZ1"));
    let events = drain(&mut core);
    assert_eq!(system_kinds(&events), ["call_started"]);
    core.on_ai_connected(t0);
    assert_eq!(
        system_kinds(&drain(&mut core)),
        ["call_answered"],
        "the agent is on the line"
    );
    assert!(events.iter().any(|e| matches!(e, CallEvent::Persist(PersistItem::CallUpdate(u))
        if u.status == Some(CallStatus::InProgress) && u.stream_sid.as_deref() == Some("MZ1") && u.version == 1_001)));
    assert_eq!(events.last(), Some(&CallEvent::ConnectAi));
    assert!(!core.on_start(t0, "MZ2"), "a second start is ignored");
    assert_eq!(core.stream_sid(), Some("MZ1"));
}

#[test]
fn caller_audio_reaches_the_ai_only_while_its_session_is_up() {
    let t0 = Instant::now();
    let mut core = CallCore::new(config(t0));
    core.on_start(t0, "MZ1");
    // The first session is connecting: held, to be sent once it is configured.
    assert_eq!(
        core.on_media(t0, 0, 20),
        MediaAction::Hold { caller_at_ms: 0 }
    );
    core.on_ai_connected(t0);
    assert_eq!(
        drain(&mut core)
            .iter()
            .filter(|e| **e == CallEvent::Ai(AiCommand::SessionUpdate))
            .count(),
        1
    );
    assert_eq!(
        core.on_media(t0, 20, 20),
        MediaAction::Forward { caller_at_ms: 20 }
    );
    assert_eq!(
        core.counters().caller_ms_dropped_ai_down,
        0,
        "held, not dropped"
    );
    // After a failure, audio is recorded but not sent to the AI (stale audio would garble the turn).
    core.on_ai_lost(t0, "socket closed");
    assert_eq!(
        core.on_media(t0, 40, 20),
        MediaAction::RecordOnly { caller_at_ms: 40 }
    );
    assert_eq!(core.counters().caller_ms_dropped_ai_down, 20);
    assert_eq!(core.counters().media_frames, 3);
}

/// Five 100 ms deltas of one item, each followed by a mark; returns the mark names.
fn five_deltas(core: &mut CallCore, item: &str) -> Vec<String> {
    core.on_response_created();
    (0..5)
        .map(|_| {
            assert!(matches!(
                core.on_audio_delta(item, 100),
                DeltaAction::Forward { .. }
            ));
            core.mark_name().to_owned()
        })
        .collect()
}

#[test]
fn barge_in_truncates_at_the_audio_played_since_the_last_echoed_mark() {
    let t0 = Instant::now();
    let mut core = live(t0);
    stream(&mut core, 0, 1020); // clock at 1000
    let marks = five_deltas(&mut core, "item_A");
    assert_eq!(marks, ["1", "2", "3", "4", "5"]);
    stream(&mut core, 1020, 1220); // clock 1200: 200 ms played
    core.on_mark(&marks[0]);
    core.on_mark(&marks[1]);
    stream(&mut core, 1220, 1260); // clock 1240: 240 ms played
    core.on_speech_started(t0, "item_U", 1230);
    let events = drain(&mut core);
    assert_eq!(
        events[..3],
        [
            CallEvent::Ai(AiCommand::Truncate {
                item_id: "item_A".into(),
                audio_end_ms: 240
            }),
            CallEvent::ClearTwilio,
            CallEvent::Ai(AiCommand::CancelResponse),
        ]
    );
    let details = system_details(&events, "barge_in");
    assert_eq!(details["audio_end_ms"], 240);
    assert_eq!(details["sent_ms"], 500);
    // Late deltas of the interrupted item are dropped; the cleared marks come back unknown.
    assert_eq!(core.on_audio_delta("item_A", 100), DeltaAction::Drop);
    for name in &marks[2..] {
        core.on_mark(name);
    }
    let c = core.counters();
    assert_eq!(
        (
            c.barge_ins,
            c.deltas_dropped,
            c.marks_echoed,
            c.marks_unknown
        ),
        (1, 1, 2, 3)
    );
    // A new item plays from now on the call clock.
    assert_eq!(
        core.on_audio_delta("item_B", 100),
        DeltaAction::Forward { play_at_ms: 1240 }
    );
}

#[test]
fn barge_in_before_any_echo_counts_from_the_start_of_playback_and_never_exceeds_what_was_sent() {
    let t0 = Instant::now();
    let mut core = live(t0);
    stream(&mut core, 0, 520); // clock 500
    five_deltas(&mut core, "item_A");
    stream(&mut core, 520, 600); // clock 580: 80 ms played
    core.on_speech_started(t0, "u1", 570);
    assert_eq!(
        drain(&mut core)[0],
        CallEvent::Ai(AiCommand::Truncate {
            item_id: "item_A".into(),
            audio_end_ms: 80
        })
    );

    let mut core = live(t0);
    stream(&mut core, 0, 520);
    five_deltas(&mut core, "item_A");
    stream(&mut core, 520, 2000); // far past the 500 ms sent, marks not echoed yet
    core.on_speech_started(t0, "u1", 1990);
    assert_eq!(
        drain(&mut core)[0],
        CallEvent::Ai(AiCommand::Truncate {
            item_id: "item_A".into(),
            audio_end_ms: 500
        })
    );
}

#[test]
fn no_barge_in_when_the_agent_audio_has_all_played() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let marks = five_deltas(&mut core, "item_A");
    core.on_response_done(None);
    for name in &marks {
        core.on_mark(name);
    }
    core.on_speech_started(t0, "u1", 0);
    let events = drain(&mut core);
    assert!(!events.iter().any(|e| matches!(
        e,
        CallEvent::ClearTwilio | CallEvent::Ai(AiCommand::Truncate { .. })
    )));
    assert_eq!(core.counters().barge_ins, 0);
}

#[test]
fn agent_audio_is_placed_where_twilio_will_play_it() {
    let t0 = Instant::now();
    let mut core = live(t0);
    stream(&mut core, 0, 1020);
    assert_eq!(
        core.on_audio_delta("a", 100),
        DeltaAction::Forward { play_at_ms: 1000 }
    );
    assert_eq!(
        core.on_audio_delta("a", 100),
        DeltaAction::Forward { play_at_ms: 1100 }
    );
    stream(&mut core, 1020, 1520); // the queue ran dry at 1200
    assert_eq!(
        core.on_audio_delta("b", 100),
        DeltaAction::Forward { play_at_ms: 1500 }
    );
}

#[test]
fn transcripts_become_messages_with_their_audio_spans() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_speech_started(t0, "in_1", 1200);
    core.on_speech_stopped("in_1", 3400);
    core.on_input_transcript(
        t0 + Duration::from_secs(4),
        "in_1",
        "I need to move my appointment",
        Some("en"),
    );
    stream(&mut core, 0, 4020);
    let marks = five_deltas(&mut core, "out_1");
    core.on_output_transcript(
        t0 + Duration::from_secs(5),
        "out_1",
        "Sure, which day works?",
    );
    // The agent's message is written once its audio has played.
    for mark in &marks {
        core.on_mark(mark);
    }
    let rows: Vec<NewMessage> = drain(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Persist(PersistItem::Message(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 2);
    let (caller, agent) = (&rows[0], &rows[1]);
    assert_eq!(caller.message_type, MessageType::Transcript);
    assert_eq!(caller.sender.sender_type, SenderType::Customer);
    assert_eq!(caller.sender.identifier, "+14155550100");
    assert_eq!(caller.metadata["audio_start_time"], 1.2);
    assert_eq!(caller.metadata["audio_end_time"], 3.4);
    assert_eq!(caller.metadata["language"], "en");
    assert_eq!(agent.sender.sender_type, SenderType::Ai);
    assert_eq!(agent.direction, MessageDirection::Outbound);
    assert_eq!(agent.metadata["audio_start_time"], 4.0);
    assert_eq!(agent.metadata["audio_end_time"], 4.5);
    assert!(
        agent.timestamp > caller.timestamp,
        "ordered by the time they were said"
    );
}

#[test]
fn a_lost_ai_session_reconnects_at_once_then_replays_the_conversation() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_input_transcript(t0, "in_1", "Hello?", None);
    core.on_output_transcript(t0, "out_1", "Hi, how can I help?");
    drain(&mut core);

    let lost_at = t0 + Duration::from_secs(10);
    core.on_ai_lost(lost_at, "socket closed mid-response");
    assert!(!core.ai_ready());
    assert_eq!(
        core.on_media(lost_at, 10_000, 20),
        MediaAction::RecordOnly {
            caller_at_ms: 10_000
        }
    );
    assert_eq!(
        core.poll_timeout(),
        Some(lost_at),
        "first retry without delay"
    );
    core.handle_timeout(lost_at);
    assert_eq!(drain(&mut core), [CallEvent::ConnectAi]);
    let back = lost_at + Duration::from_millis(350);
    core.on_ai_connected(back);
    let events = drain(&mut core);
    assert_eq!(
        events[..3],
        [
            CallEvent::Ai(AiCommand::SessionUpdate),
            CallEvent::Ai(AiCommand::ReplayUser("Hello?".into())),
            CallEvent::Ai(AiCommand::ReplayAssistant("Hi, how can I help?".into())),
        ]
    );
    let details = system_details(&events, "ai_reconnected");
    assert_eq!(details["cause"], "socket closed mid-response");
    assert_eq!(details["gap_ms"], 350);
    assert_eq!(details["replayed_items"], 2);
    assert_eq!(core.counters().ai_reconnects, 1);
    assert!(core.ai_ready());
}

#[test]
fn reconnects_back_off_and_the_call_ends_cleanly_when_they_run_out() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let mut now = t0;
    let mut delays = Vec::new();
    core.on_ai_lost(now, "session_expired");
    for _ in 0..3 {
        let at = core.poll_timeout().unwrap();
        delays.push(at - now);
        now = at;
        core.handle_timeout(now);
        assert_eq!(drain(&mut core), [CallEvent::ConnectAi]);
        core.on_ai_lost(now, "connection refused");
    }
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 200, 400]);
    let events = drain(&mut core);
    assert_eq!(system_kinds(&events), ["ai_unavailable", "call_ended"]);
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Hangup { reason } if reason.contains("connection refused"))
    ));
    assert_eq!(events.last(), Some(&CallEvent::Ended));
    assert!(core.is_ended());
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn sessions_are_rotated_before_the_provider_limit() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_input_transcript(t0, "in_1", "Hello?", None);
    drain(&mut core);
    let limit = t0 + Duration::from_secs(60);
    assert_eq!(core.poll_timeout(), Some(limit));
    core.handle_timeout(limit);
    assert_eq!(
        drain(&mut core),
        [CallEvent::RotateAi, CallEvent::ConnectAi]
    );
    core.on_ai_connected(limit + Duration::from_millis(80));
    let events = drain(&mut core);
    assert!(events.contains(&CallEvent::Ai(AiCommand::ReplayUser("Hello?".into()))));
    assert_eq!(
        system_details(&events, "ai_reconnected")["cause"],
        "rotation"
    );
}

#[test]
fn end_call_hangs_up_after_the_goodbye_has_played() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_function_call(
        t0,
        "call_1",
        "end_call",
        r#"{"reason":"caller said goodbye"}"#,
    );
    let events = drain(&mut core);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CallEvent::Persist(PersistItem::Event(ev))
        if ev.event_type == EventType::FunctionCalled && ev.details["name"] == "end_call"))
    );
    assert!(events.iter().any(|e| matches!(e, CallEvent::Ai(AiCommand::FunctionOutput { call_id, .. }) if call_id == "call_1")));
    assert_eq!(
        events.last(),
        Some(&CallEvent::Ai(AiCommand::CreateResponse))
    );
    // The response that carried the function call ends: the goodbye has not started yet.
    core.on_response_done(None);
    assert!(drain(&mut core).is_empty());
    // The goodbye streams; no hangup until it is done and played.
    let marks = five_deltas(&mut core, "bye");
    core.on_response_done(None);
    assert!(drain(&mut core).is_empty());
    for name in &marks {
        core.on_mark(name);
    }
    assert_eq!(
        drain(&mut core),
        [CallEvent::Hangup {
            reason: "caller said goodbye".into()
        }]
    );
}

#[test]
fn stop_completes_the_call_and_later_frames_are_refused() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_dtmf(t0, '7');
    core.on_stop(t0 + Duration::from_secs(95), "stop");
    let events = drain(&mut core);
    assert_eq!(system_kinds(&events), ["dtmf", "call_ended"]);
    assert_eq!(system_details(&events, "dtmf")["digit"], "7");
    assert_eq!(system_details(&events, "call_ended")["duration_ms"], 95_000);
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Persist(PersistItem::CallUpdate(u))
        if u.status == Some(CallStatus::Completed) && u.duration_seconds == Some(95))
    ));
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Persist(PersistItem::ConversationUpdate(u))
        if u.status == Some(ConversationStatus::Completed))
    ));
    assert_eq!(events.last(), Some(&CallEvent::Ended));
    assert_eq!(core.on_media(t0, 96_000, 20), MediaAction::Reject);
    assert_eq!(core.on_audio_delta("late", 100), DeltaAction::Drop);
    core.on_stop(t0 + Duration::from_secs(96), "socket closed");
    assert!(drain(&mut core).is_empty(), "ends once");
}

#[test]
fn an_engine_shutdown_hangs_up_and_ends_the_call_once() {
    let t0 = Instant::now();
    let mut core = live(t0);
    core.on_shutdown(t0 + Duration::from_secs(30));
    let events = drain(&mut core);
    assert!(
        matches!(&events[0], CallEvent::Hangup { reason } if reason.contains("shutting down")),
        "{events:?}"
    );
    assert_eq!(system_kinds(&events), ["call_ended"]);
    let ended = system_details(&events, "call_ended");
    assert_eq!(
        (ended["reason"].as_str(), ended["duration_ms"].as_u64()),
        (Some("engine_shutdown"), Some(30_000))
    );
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Persist(PersistItem::CallUpdate(u))
        if u.status == Some(CallStatus::Completed) && u.duration_seconds == Some(30))
    ));
    assert_eq!(events.last(), Some(&CallEvent::Ended));
    // The socket closing afterwards, or a second shutdown, changes nothing.
    core.on_stop(t0 + Duration::from_secs(31), "stream closed");
    core.on_shutdown(t0 + Duration::from_secs(31));
    assert!(drain(&mut core).is_empty(), "ends once");
}

#[test]
fn updates_carry_increasing_versions() {
    let t0 = Instant::now();
    let mut core = CallCore::new(config(t0));
    core.on_start(t0, "MZ1");
    core.on_stop(t0, "stop");
    let versions: Vec<i64> = drain(&mut core)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Persist(PersistItem::CallUpdate(u)) => Some(u.version),
            CallEvent::Persist(PersistItem::ConversationUpdate(u)) => Some(u.version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, [1_001, 1_002, 1_003]);
}

fn supervisor() -> Supervisor {
    Supervisor {
        id: "user:1".into(),
        name: "sam@example.com".into(),
    }
}

/// The `supervisor_action` events among `events`: (action, details).
fn supervisor_actions(events: &[CallEvent]) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Persist(PersistItem::Event(ev))
                if ev.event_type == EventType::SupervisorAction =>
            {
                Some(ev.details.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_whisper_is_a_system_item_for_the_ai_a_note_and_an_action_and_survives_a_reconnect() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let by = supervisor();
    assert_eq!(
        core.on_supervisor(t0, &by, SupervisorCommand::Whisper("  ".into())),
        Err(SuperviseError::EmptyWhisper)
    );
    core.on_supervisor(
        t0,
        &by,
        SupervisorCommand::Whisper("Offer the refund.".into()),
    )
    .unwrap();
    let events = drain(&mut core);
    let guidance = events.iter().find_map(|e| match e {
        CallEvent::Ai(AiCommand::SystemText(text)) => Some(text.clone()),
        _ => None,
    });
    assert!(guidance.is_some_and(|t| t.ends_with("Offer the refund.")));
    assert!(events.iter().any(|e| matches!(e,
        CallEvent::Persist(PersistItem::Message(m))
            if m.message_type == MessageType::Note && m.sender.sender_type == SenderType::Supervisor
                && m.content == "Offer the refund.")));
    let actions = supervisor_actions(&events);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["action"], "whisper");
    assert_eq!(actions[0]["supervisor"]["name"], "sam@example.com");
    assert_eq!(system_kinds(&events), ["supervisor_action"]);
    // A new AI session hears the whisper again with the conversation.
    core.on_ai_lost(t0, "socket closed");
    drain(&mut core);
    core.handle_timeout(t0);
    core.on_ai_connected(t0);
    let replayed = drain(&mut core);
    assert!(replayed.iter().any(|e| matches!(e,
        CallEvent::Ai(AiCommand::SystemText(t)) if t.ends_with("Offer the refund."))));
}

#[test]
fn barging_in_cuts_the_agent_audio_in_flight_and_unbarge_needs_a_barge() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let by = supervisor();
    assert_eq!(
        core.on_supervisor(t0, &by, SupervisorCommand::Unbarge),
        Err(SuperviseError::NotBarged)
    );
    stream(&mut core, 0, 1000);
    core.on_response_created();
    five_deltas(&mut core, "item_a");
    drain(&mut core);
    core.on_supervisor(t0, &by, SupervisorCommand::Barge)
        .unwrap();
    assert_eq!(core.supervision_mode(), SupervisionMode::Barged);
    let events = drain(&mut core);
    assert!(events.contains(&CallEvent::ClearTwilio));
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Ai(AiCommand::Truncate { item_id, .. }) if item_id == "item_a")
    ));
    // Its late deltas are dropped; the AI's next item goes on (the actor mixes it).
    assert_eq!(core.on_audio_delta("item_a", 100), DeltaAction::Drop);
    assert!(matches!(
        core.on_audio_delta("item_b", 100),
        DeltaAction::Forward { .. }
    ));
    core.on_supervisor(t0, &by, SupervisorCommand::Unbarge)
        .unwrap();
    assert_eq!(core.supervision_mode(), SupervisionMode::Ai);
    let actions: Vec<_> = supervisor_actions(&drain(&mut core));
    assert_eq!(actions[0]["action"], "unbarge");
}

#[test]
fn a_takeover_silences_the_ai_and_release_replays_what_the_caller_said() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let by = supervisor();
    core.on_response_created();
    core.on_supervisor(t0, &by, SupervisorCommand::Takeover)
        .unwrap();
    let events = drain(&mut core);
    assert!(events.contains(&CallEvent::Ai(AiCommand::CancelResponse)));
    assert!(events.contains(&CallEvent::Ai(AiCommand::SessionUpdate)));
    assert_eq!(
        core.on_supervisor(t0, &by, SupervisorCommand::Barge),
        Err(SuperviseError::TakenOver)
    );
    // The AI neither speaks nor starts responses; the caller is still transcribed.
    assert_eq!(core.on_audio_delta("item_x", 100), DeltaAction::Drop);
    core.on_response_created();
    assert_eq!(drain(&mut core), [CallEvent::Ai(AiCommand::CancelResponse)]);
    core.on_input_transcript(t0, "item_u", "I need to change my address", None);
    drain(&mut core);
    core.on_supervisor(t0, &by, SupervisorCommand::Release)
        .unwrap();
    let events = drain(&mut core);
    let ai: Vec<&AiCommand> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Ai(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(ai.len(), 3, "{ai:?}");
    assert_eq!(ai[0], &AiCommand::SessionUpdate);
    assert!(matches!(ai[1], AiCommand::SystemText(t) if t.contains("I need to change my address")));
    assert_eq!(ai[2], &AiCommand::CreateResponse);
    assert_eq!(supervisor_actions(&events)[0]["replayed_utterances"], 1);
    assert_eq!(
        core.on_supervisor(t0, &by, SupervisorCommand::Release),
        Err(SuperviseError::NotTakenOver)
    );
}

#[test]
fn a_supervisor_hang_up_ends_the_call_and_later_commands_are_refused() {
    let t0 = Instant::now();
    let mut core = live(t0);
    let by = supervisor();
    core.on_supervisor(t0, &by, SupervisorCommand::Hangup)
        .unwrap();
    let events = drain(&mut core);
    assert!(events.iter().any(|e| matches!(e, CallEvent::Hangup { .. })));
    assert_eq!(system_kinds(&events), ["supervisor_action", "call_ended"]);
    assert_eq!(
        system_details(&events, "call_ended")["reason"],
        "supervisor_hangup"
    );
    assert_eq!(
        core.on_supervisor(t0, &by, SupervisorCommand::Whisper("hello".into())),
        Err(SuperviseError::Ended)
    );
}

/// A live stream that stops sending frames (no `stop`, no close) is hung up once it has been
/// silent for `stream_idle`; frames meanwhile push the deadline on, and checking it costs a timer
/// per `stream_idle`, not one per frame.
#[test]
fn a_stalled_stream_is_hung_up_and_ended_as_stream_idle() {
    let t0 = Instant::now();
    let mut cfg = config(t0);
    cfg.stream_idle = Duration::from_secs(15);
    let mut core = CallCore::new(cfg);
    core.on_start(t0, "MZ1");
    core.on_ai_connected(t0);
    drain(&mut core);
    let first_check = t0 + Duration::from_secs(15);
    assert_eq!(core.poll_timeout(), Some(first_check));
    // Frames until 10 s: the first check finds the stream alive and looks again 15 s after the
    // last frame.
    stream(&mut core, 0, 10_020);
    assert_eq!(
        core.poll_timeout(),
        Some(first_check),
        "a frame sets no timer"
    );
    core.handle_timeout(first_check);
    assert!(drain(&mut core).is_empty());
    let last_frame = t0 + Duration::from_secs(10);
    let second_check = last_frame + Duration::from_secs(15);
    // (The session rotation at 60 s is later.)
    assert_eq!(core.poll_timeout(), Some(second_check));
    core.handle_timeout(second_check - Duration::from_millis(1));
    assert!(drain(&mut core).is_empty(), "not before its time");
    core.handle_timeout(second_check);
    let events = drain(&mut core);
    assert!(events.iter().any(
        |e| matches!(e, CallEvent::Hangup { reason } if reason == "no media frame for 15000 ms")
    ));
    assert_eq!(system_kinds(&events), ["call_ended"]);
    assert_eq!(
        system_details(&events, "call_ended")["reason"],
        "stream_idle"
    );
    assert_eq!(events.last(), Some(&CallEvent::Ended));
    assert!(core.is_ended());
    assert_eq!(core.poll_timeout(), None);
}

/// The ids of the rows among `events`, in order.
fn row_ids(events: &[CallEvent]) -> Vec<Uuid> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Persist(PersistItem::Message(m)) => Some(m.id),
            CallEvent::Persist(PersistItem::Event(ev)) => Some(ev.id),
            _ => None,
        })
        .collect()
}

/// A call with a bit of everything (a barge-in, transcripts, a whisper, a function call, a lost
/// AI session), played at fixed instants from `t0` with sequential ids; all it said.
fn scripted_call(config: CallConfig) -> Vec<CallEvent> {
    let t0 = config.started;
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut core = CallCore::new(config).with_ids(IdSource::Sequential(1));
    core.on_start(t0, "MZ1");
    core.on_ai_connected(at(50));
    stream(&mut core, 0, 1000);
    core.on_response_created();
    let marks = five_deltas(&mut core, "out_1");
    core.on_output_transcript(at(1000), "out_1", "Hello, how can I help?");
    core.on_mark(&marks[0]);
    stream(&mut core, 1000, 1200);
    core.on_speech_started(at(1200), "in_1", 1150);
    core.on_speech_stopped("in_1", 2400);
    core.on_input_transcript(at(2500), "in_1", "Hi, I moved.", Some("en"));
    core.on_supervisor(
        at(2600),
        &supervisor(),
        SupervisorCommand::Whisper("Offer the refund.".into()),
    )
    .unwrap();
    core.on_function_call(at(2700), "fc_1", "lookup", "{}");
    core.on_ai_lost(at(3000), "socket closed");
    core.handle_timeout(at(3000));
    core.on_ai_connected(at(3100));
    core.on_dtmf(at(3200), '5');
    core.on_stop(at(4000), "stop");
    drain(&mut core)
}

#[test]
fn the_same_inputs_at_the_same_instants_give_the_same_rows_ids_included() {
    let config = config(Instant::now());
    let first = scripted_call(config.clone());
    let second = scripted_call(config);
    assert_eq!(first, second);
    let ids = row_ids(&first);
    assert!(ids.len() > 10, "{first:#?}");
    let sequential: Vec<Uuid> = (1..=ids.len() as u128).map(Uuid::from_u128).collect();
    assert_eq!(ids, sequential);
}

#[test]
fn rows_get_uuid_v7_ids_by_default() {
    let t0 = Instant::now();
    let mut core = CallCore::new(config(t0));
    core.on_start(t0, "MZ1");
    core.on_stop(t0, "stop");
    let ids = row_ids(&drain(&mut core));
    assert_eq!(ids.len(), 2, "call_started, call_ended");
    assert!(ids.iter().all(|id| id.get_version_num() == 7));
    assert_ne!(ids[0], ids[1]);
}
