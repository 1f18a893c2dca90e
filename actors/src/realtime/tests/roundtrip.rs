//! Round trips: server encoders into `parse_server_event`, client encoders into
//! `parse_client_event`, with arbitrary Unicode text.

use std::borrow::Cow;

use proptest::prelude::*;
use serde_json::json;

use crate::realtime::{
    ApiError, AudioFormat, ClientEvent, ConversationItem, Dialect, ItemInfo, RateLimit,
    ResponseStatus, ServerEncoder, ServerEvent, SessionConfig, SessionInfo, Tool, VadConfig,
    encode_audio_append, input_audio_clear, input_audio_commit, item_create_assistant_text,
    item_create_function_call, item_create_function_output, item_create_system_text,
    item_create_user_text, parse_client_event, parse_server_event, response_cancel,
    response_create, server_event_dialect, truncate,
};

fn parse(text: &str) -> ServerEvent<'_> {
    parse_server_event(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

fn event_type(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
    value["type"].as_str().expect("type").to_owned()
}

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

#[test]
fn every_server_encoder_round_trips() {
    for dialect in Dialect::ALL {
        let mut enc = ServerEncoder::new(dialect);
        assert_eq!(enc.dialect(), dialect);
        let item = json!({"id": "item_1", "type": "function_call", "status": "completed",
                          "call_id": "call_1", "name": "transfer", "arguments": "{}"});
        let info = ItemInfo {
            id: b("item_1"),
            item_type: b("function_call"),
            role: None,
            status: Some(b("completed")),
            call_id: Some(b("call_1")),
            name: Some(b("transfer")),
        };
        let cases: Vec<(String, ServerEvent<'static>)> = vec![
            (
                enc.session_created("sess_1", "gpt-x"),
                ServerEvent::SessionCreated(SessionInfo {
                    id: Some(b("sess_1")),
                    model: Some(b("gpt-x")),
                    dialect: Some(dialect),
                }),
            ),
            (
                enc.error("server_error", None, "boom"),
                ServerEvent::Error(ApiError {
                    error_type: b("server_error"),
                    code: None,
                    message: b("boom"),
                    param: None,
                    event_id: None,
                }),
            ),
            (
                enc.item_created(Some("item_0"), &item),
                ServerEvent::ItemCreated {
                    previous_item_id: Some(b("item_0")),
                    item: info.clone(),
                },
            ),
            (
                enc.item_added(None, &item),
                ServerEvent::ItemAdded {
                    previous_item_id: None,
                    item: info.clone(),
                },
            ),
            (
                enc.item_done(None, &item),
                ServerEvent::ItemDone {
                    previous_item_id: None,
                    item: info.clone(),
                },
            ),
            (
                enc.item_deleted("item_1"),
                ServerEvent::ItemDeleted {
                    item_id: b("item_1"),
                },
            ),
            (
                enc.item_truncated("item_1", 0, 640),
                ServerEvent::ItemTruncated {
                    item_id: b("item_1"),
                    content_index: 0,
                    audio_end_ms: 640,
                },
            ),
            (
                enc.speech_started(100, "item_2"),
                ServerEvent::SpeechStarted {
                    audio_start_ms: 100,
                    item_id: b("item_2"),
                },
            ),
            (
                enc.speech_stopped(900, "item_2"),
                ServerEvent::SpeechStopped {
                    audio_end_ms: 900,
                    item_id: b("item_2"),
                },
            ),
            (
                enc.committed("item_2", None),
                ServerEvent::AudioCommitted {
                    item_id: b("item_2"),
                    previous_item_id: None,
                },
            ),
            (enc.cleared(), ServerEvent::AudioCleared),
            (
                enc.timeout_triggered("item_3", 10, 20),
                ServerEvent::InputTimeout {
                    item_id: b("item_3"),
                    audio_start_ms: 10,
                    audio_end_ms: 20,
                },
            ),
            (
                enc.dtmf("5", 1_700_000_000),
                ServerEvent::Dtmf {
                    digit: b("5"),
                    received_at: 1_700_000_000,
                },
            ),
            (
                enc.input_transcription_delta("item_2", 0, "Hel"),
                ServerEvent::InputTranscriptionDelta {
                    item_id: b("item_2"),
                    content_index: 0,
                    delta: b("Hel"),
                },
            ),
            (
                enc.input_transcription_completed("item_2", 0, "Hello"),
                ServerEvent::InputTranscriptionCompleted {
                    item_id: b("item_2"),
                    content_index: 0,
                    transcript: b("Hello"),
                },
            ),
            (
                enc.input_transcription_failed("item_2", 0, Some("audio_unintelligible"), "no"),
                ServerEvent::InputTranscriptionFailed {
                    item_id: b("item_2"),
                    content_index: 0,
                    code: Some(b("audio_unintelligible")),
                    message: b("no"),
                },
            ),
            (
                enc.response_created("resp_1"),
                ServerEvent::ResponseCreated {
                    response_id: b("resp_1"),
                },
            ),
            (
                enc.output_item_added("resp_1", 0, &item),
                ServerEvent::OutputItemAdded {
                    response_id: b("resp_1"),
                    output_index: 0,
                    item: info.clone(),
                },
            ),
            (
                enc.output_item_done("resp_1", 0, &item),
                ServerEvent::OutputItemDone {
                    response_id: b("resp_1"),
                    output_index: 0,
                    item: info,
                },
            ),
            (
                enc.audio_delta("resp_1", "item_4", "UklGRg=="),
                ServerEvent::AudioDelta {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                    delta_b64: b("UklGRg=="),
                },
            ),
            (
                enc.audio_done("resp_1", "item_4"),
                ServerEvent::AudioDone {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                },
            ),
            (
                enc.transcript_delta("resp_1", "item_4", "Hi"),
                ServerEvent::TranscriptDelta {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                    delta: b("Hi"),
                },
            ),
            (
                enc.transcript_done("resp_1", "item_4", "Hi there"),
                ServerEvent::TranscriptDone {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                    transcript: b("Hi there"),
                },
            ),
            (
                enc.text_delta("resp_1", "item_4", "Hi"),
                ServerEvent::TextDelta {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                    delta: b("Hi"),
                },
            ),
            (
                enc.text_done("resp_1", "item_4", "Hi there"),
                ServerEvent::TextDone {
                    response_id: b("resp_1"),
                    item_id: b("item_4"),
                    text: b("Hi there"),
                },
            ),
            (
                enc.function_call_arguments_delta("resp_1", "item_1", "call_1", "{\"a\""),
                ServerEvent::FunctionCallArgumentsDelta {
                    response_id: b("resp_1"),
                    item_id: b("item_1"),
                    call_id: b("call_1"),
                    delta: b("{\"a\""),
                },
            ),
            (
                enc.function_call_arguments_done("resp_1", "item_1", "call_1", "transfer", "{}"),
                ServerEvent::FunctionCallDone {
                    response_id: b("resp_1"),
                    item_id: b("item_1"),
                    call_id: b("call_1"),
                    name: Some(b("transfer")),
                    arguments: b("{}"),
                },
            ),
            (
                enc.response_done("resp_1", ResponseStatus::Cancelled, Some("turn_detected")),
                ServerEvent::ResponseDone {
                    response_id: b("resp_1"),
                    status: ResponseStatus::Cancelled,
                    reason: Some(b("turn_detected")),
                    error_code: None,
                    usage: None,
                },
            ),
            (
                enc.response_done("resp_2", ResponseStatus::Completed, None),
                ServerEvent::ResponseDone {
                    response_id: b("resp_2"),
                    status: ResponseStatus::Completed,
                    reason: None,
                    error_code: None,
                    usage: None,
                },
            ),
            (
                enc.rate_limits_updated(&[RateLimit {
                    name: b("tokens"),
                    limit: 100,
                    remaining: 50,
                    reset_seconds: 1.5,
                }]),
                ServerEvent::RateLimits(vec![RateLimit {
                    name: b("tokens"),
                    limit: 100,
                    remaining: 50,
                    reset_seconds: 1.5,
                }]),
            ),
        ];
        let mut ids = std::collections::HashSet::new();
        for (text, expected) in &cases {
            assert_eq!(&parse(text), expected, "{dialect:?}: {text}");
            assert!(text.starts_with(r#"{"type":""#), "{text}");
            let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
            assert!(
                ids.insert(value["event_id"].to_string()),
                "unique event ids"
            );
            let kind = event_type(text);
            if let Some(event_dialect) = server_event_dialect(&kind) {
                // Every renamed event uses the encoder's dialect; GA-only ones are emitted as-is.
                let ga_only = ["conversation.item.added", "conversation.item.done"]
                    .contains(&kind.as_str())
                    || kind.starts_with("input_audio_buffer.");
                assert!(event_dialect == dialect || ga_only, "{dialect:?}: {kind}");
            }
        }
    }
}

#[test]
fn renamed_events_follow_the_dialect() {
    let mut ga = ServerEncoder::new(Dialect::Ga);
    let mut beta = ServerEncoder::new(Dialect::Beta);
    let pairs = [
        (
            ga.audio_delta("r", "i", "AA=="),
            beta.audio_delta("r", "i", "AA=="),
        ),
        (ga.audio_done("r", "i"), beta.audio_done("r", "i")),
        (
            ga.transcript_delta("r", "i", "x"),
            beta.transcript_delta("r", "i", "x"),
        ),
        (
            ga.transcript_done("r", "i", "x"),
            beta.transcript_done("r", "i", "x"),
        ),
        (ga.text_delta("r", "i", "x"), beta.text_delta("r", "i", "x")),
        (ga.text_done("r", "i", "x"), beta.text_done("r", "i", "x")),
    ];
    for (ga_text, beta_text) in &pairs {
        assert_eq!(
            server_event_dialect(&event_type(ga_text)),
            Some(Dialect::Ga)
        );
        assert_eq!(
            server_event_dialect(&event_type(beta_text)),
            Some(Dialect::Beta)
        );
        assert_eq!(parse(ga_text), parse(beta_text));
    }
}

#[test]
fn session_expired_encoder() {
    let text = ServerEncoder::new(Dialect::Ga).session_expired(30);
    let event = parse(&text);
    assert!(event.is_session_expired() && event.is_fatal());
    let ServerEvent::Error(error) = event else {
        panic!("not an error")
    };
    assert_eq!(error.error_type, "invalid_request_error");
    assert_eq!(
        error.message,
        "Your session hit the maximum duration of 30 minutes."
    );
}

#[test]
fn fake_server_echoes_session_update() {
    for dialect in Dialect::ALL {
        let update = SessionConfig::for_dialect(dialect).session_update(dialect);
        let Ok(ClientEvent::SessionUpdate(summary)) = parse_client_event(&update) else {
            panic!("not a session.update")
        };
        let echoed = ServerEncoder::new(dialect).session_updated("sess_9", &summary.raw);
        let ServerEvent::SessionUpdated(info) = parse(&echoed) else {
            panic!("not session.updated")
        };
        assert_eq!(info.id.as_deref(), Some("sess_9"));
        assert_eq!(info.dialect, Some(dialect));
    }
}

#[test]
fn simple_client_encoders_round_trip() {
    assert_eq!(
        parse_client_event(&input_audio_commit()),
        Ok(ClientEvent::AudioCommit)
    );
    assert_eq!(
        parse_client_event(&input_audio_clear()),
        Ok(ClientEvent::AudioClear)
    );
    assert_eq!(
        parse_client_event(&response_create()),
        Ok(ClientEvent::ResponseCreate { response: None })
    );
    assert_eq!(
        parse_client_event(&response_cancel(None)),
        Ok(ClientEvent::ResponseCancel { response_id: None })
    );
    assert_eq!(
        parse_client_event(&truncate("item_1", 777)),
        Ok(ClientEvent::Truncate {
            item_id: b("item_1"),
            content_index: 0,
            audio_end_ms: 777,
        })
    );
}

fn message(role: &str, part_type: &str, text: &str) -> ConversationItem {
    ConversationItem::Message {
        role: role.to_owned(),
        content: vec![crate::realtime::ContentPart {
            part_type: part_type.to_owned(),
            text: Some(text.to_owned()),
        }],
    }
}

fn created_item(text: &str) -> ConversationItem {
    match parse_client_event(text) {
        Ok(ClientEvent::ItemCreate {
            previous_item_id: None,
            item,
        }) => item,
        other => panic!("not an item create: {other:?}"),
    }
}

proptest! {
    #[test]
    fn text_items_round_trip(text in any::<String>(), id in "[a-zA-Z0-9_\\-\"\\\\ ]{1,24}") {
        prop_assert_eq!(created_item(&item_create_user_text(&text)), message("user", "input_text", &text));
        prop_assert_eq!(created_item(&item_create_system_text(&text)), message("system", "input_text", &text));
        prop_assert_eq!(
            created_item(&item_create_assistant_text(Dialect::Ga, &text)),
            message("assistant", "output_text", &text)
        );
        prop_assert_eq!(
            created_item(&item_create_assistant_text(Dialect::Beta, &text)),
            message("assistant", "text", &text)
        );
        prop_assert_eq!(
            created_item(&item_create_function_output(&id, &text)),
            ConversationItem::FunctionCallOutput { call_id: id.clone(), output: text.clone() }
        );
        prop_assert_eq!(
            created_item(&item_create_function_call(&id, &text, "{}")),
            ConversationItem::FunctionCall { call_id: id.clone(), name: text.clone(), arguments: "{}".to_owned() }
        );
        let cancel = response_cancel(Some(&id));
        let ok = matches!(
            parse_client_event(&cancel),
            Ok(ClientEvent::ResponseCancel { response_id: Some(r) }) if r == id
        );
        prop_assert!(ok, "response.cancel: {}", cancel);
    }

    #[test]
    fn audio_append_round_trips(audio in any::<String>()) {
        let mut out = String::new();
        encode_audio_append(&audio, &mut out);
        let ok = matches!(
            parse_client_event(&out),
            Ok(ClientEvent::AudioAppend { audio_b64 }) if audio_b64 == audio
        );
        prop_assert!(ok, "{}", out);
    }

    #[test]
    fn server_text_events_round_trip(
        text in any::<String>(),
        id in "[a-zA-Z0-9_]{1,16}",
        ms in any::<u64>(),
        ga in any::<bool>(),
    ) {
        let dialect = if ga { Dialect::Ga } else { Dialect::Beta };
        let mut enc = ServerEncoder::new(dialect);
        let frame = enc.transcript_done(&id, &id, &text);
        let ok = matches!(
            parse_server_event(&frame),
            Ok(ServerEvent::TranscriptDone { transcript, item_id, .. }) if transcript == text && item_id == id
        );
        prop_assert!(ok, "{}", frame);
        let frame = enc.input_transcription_completed(&id, 0, &text);
        let ok = matches!(
            parse_server_event(&frame),
            Ok(ServerEvent::InputTranscriptionCompleted { transcript, .. }) if transcript == text
        );
        prop_assert!(ok, "{}", frame);
        let frame = enc.text_done(&id, &id, &text);
        let ok = matches!(
            parse_server_event(&frame),
            Ok(ServerEvent::TextDone { text: t, .. }) if t == text
        );
        prop_assert!(ok, "{}", frame);
        let frame = enc.error("invalid_request_error", Some(&text), &text);
        let ok = matches!(
            parse_server_event(&frame),
            Ok(ServerEvent::Error(e)) if e.message == text && e.code.as_deref() == Some(text.as_str())
        );
        prop_assert!(ok, "{}", frame);
        let frame = enc.function_call_arguments_done(&id, &id, &id, &text, &text);
        let ok = matches!(
            parse_server_event(&frame),
            Ok(ServerEvent::FunctionCallDone { name: Some(n), arguments, .. }) if n == text && arguments == text
        );
        prop_assert!(ok, "{}", frame);
        let frame = enc.speech_started(ms, &id);
        prop_assert_eq!(
            parse_server_event(&frame),
            Ok(ServerEvent::SpeechStarted { audio_start_ms: ms, item_id: Cow::Borrowed(id.as_str()) })
        );
    }

    #[test]
    fn session_config_round_trips(
        instructions in any::<String>(),
        voice in any::<String>(),
        language in proptest::option::of("[a-z]{2}"),
        tool_names in proptest::collection::vec(any::<String>(), 0..4),
        pcm in any::<bool>(),
        ga in any::<bool>(),
        silence in 100u32..2000,
        threshold_pct in 0u32..=100,
    ) {
        let dialect = if ga { Dialect::Ga } else { Dialect::Beta };
        let audio_format = if pcm { AudioFormat::Pcm16 } else { AudioFormat::G711Ulaw };
        let config = SessionConfig {
            instructions: instructions.clone(),
            voice: voice.clone(),
            language: language.clone(),
            audio_format,
            // Two-decimal thresholds, as configured in practice (serde_json's default float parser
            // is not bit-exact for arbitrary f64s).
            vad: VadConfig {
                silence_duration_ms: silence,
                threshold: f64::from(threshold_pct) / 100.0,
                ..VadConfig::default()
            },
            tools: tool_names
                .iter()
                .map(|name| Tool::new(name.clone(), "d", json!({"type": "object"})))
                .collect(),
            ..SessionConfig::for_dialect(dialect)
        };
        let text = config.session_update(dialect);
        let Ok(ClientEvent::SessionUpdate(update)) = parse_client_event(&text) else {
            return Err(TestCaseError::fail(format!("not a session.update: {text}")));
        };
        prop_assert_eq!(update.dialect, Some(dialect));
        prop_assert_eq!(update.instructions.as_ref(), Some(&instructions));
        prop_assert_eq!(update.voice.as_ref(), Some(&voice));
        prop_assert_eq!(update.language, language);
        prop_assert_eq!(update.input_format, Some(audio_format));
        prop_assert_eq!(update.output_format, Some(audio_format));
        prop_assert_eq!(update.transcription_model.as_deref(), Some("gpt-4o-mini-transcribe"));
        prop_assert_eq!(update.vad.as_ref(), Some(&config.vad));
        prop_assert_eq!(update.tool_names, tool_names);
        prop_assert_eq!(update.model, ga.then(|| config.model.clone()));
        prop_assert_eq!(update.temperature, (!ga).then_some(config.temperature));
    }

    #[test]
    fn parsers_never_panic(text in any::<String>()) {
        let _ = parse_server_event(&text);
        let _ = parse_client_event(&text);
    }

    #[test]
    fn parsers_never_panic_on_json_like_input(
        kind in prop::sample::select(vec![
            "error", "session.created", "response.done", "response.audio.delta",
            "response.output_audio.delta", "conversation.item.created", "rate_limits.updated",
            "input_audio_buffer.append", "session.update", "conversation.item.create",
        ]),
        body in "[{}\\[\\]\":,a-z0-9_ ]{0,40}",
    ) {
        let text = format!(r#"{{"type":"{kind}",{body}"#);
        let _ = parse_server_event(&text);
        let _ = parse_client_event(&text);
    }
}
