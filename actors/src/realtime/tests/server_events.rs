//! Decoding realistic server frames, in both dialects' names.

use std::borrow::Cow;

use crate::realtime::{
    ApiError, Dialect, ItemInfo, RateLimit, RealtimeError, ResponseStatus, ServerEvent,
    SessionInfo, TokenUsage, parse_server_event, server_event_dialect,
};

fn parse(text: &str) -> ServerEvent<'_> {
    parse_server_event(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

#[test]
fn session_created_ga_and_beta() {
    let ga = r#"{"type":"session.created","event_id":"event_C1","session":{"type":"realtime",
        "object":"realtime.session","id":"sess_C1","model":"gpt-realtime-2025-08-28",
        "output_modalities":["audio"],"instructions":"x","tools":[],"tool_choice":"auto",
        "max_output_tokens":"inf","tracing":null,"prompt":null,"expires_at":0,
        "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,
        "noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5}},
        "output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},
        "include":null}}"#;
    assert_eq!(
        parse(ga),
        ServerEvent::SessionCreated(SessionInfo {
            id: Some(b("sess_C1")),
            model: Some(b("gpt-realtime-2025-08-28")),
            dialect: Some(Dialect::Ga),
        })
    );
    let beta = r#"{"event_id":"event_1234","type":"session.updated","session":{
        "id":"sess_001","object":"realtime.session","model":"gpt-4o-realtime-preview",
        "modalities":["text","audio"],"instructions":"New instructions","voice":"sage",
        "input_audio_format":"pcm16","output_audio_format":"pcm16",
        "input_audio_transcription":{"model":"whisper-1"},"turn_detection":null,
        "tools":[],"tool_choice":"none","temperature":0.7,
        "max_response_output_tokens":200,"speed":1.1,"tracing":"auto"}}"#;
    assert_eq!(
        parse(beta),
        ServerEvent::SessionUpdated(SessionInfo {
            id: Some(b("sess_001")),
            model: Some(b("gpt-4o-realtime-preview")),
            dialect: Some(Dialect::Beta),
        })
    );
    let bare = r#"{"type":"session.updated","session":{"instructions":"x"}}"#;
    assert!(matches!(
        parse(bare),
        ServerEvent::SessionUpdated(SessionInfo {
            dialect: None,
            id: None,
            ..
        })
    ));
}

#[test]
fn input_buffer_events() {
    assert_eq!(
        parse(
            r#"{"event_id":"event_1516","type":"input_audio_buffer.speech_started",
            "audio_start_ms":1000,"item_id":"msg_003"}"#
        ),
        ServerEvent::SpeechStarted {
            audio_start_ms: 1000,
            item_id: b("msg_003"),
        }
    );
    assert_eq!(
        parse(
            r#"{"event_id":"event_1718","type":"input_audio_buffer.speech_stopped",
            "audio_end_ms":2000,"item_id":"msg_003"}"#
        ),
        ServerEvent::SpeechStopped {
            audio_end_ms: 2000,
            item_id: b("msg_003"),
        }
    );
    assert_eq!(
        parse(
            r#"{"event_id":"event_1121","type":"input_audio_buffer.committed",
            "previous_item_id":"msg_001","item_id":"msg_002"}"#
        ),
        ServerEvent::AudioCommitted {
            item_id: b("msg_002"),
            previous_item_id: Some(b("msg_001")),
        }
    );
    assert_eq!(
        parse(r#"{"type":"input_audio_buffer.committed","previous_item_id":null,"item_id":"m"}"#),
        ServerEvent::AudioCommitted {
            item_id: b("m"),
            previous_item_id: None,
        }
    );
    assert_eq!(
        parse(r#"{"event_id":"event_1314","type":"input_audio_buffer.cleared"}"#),
        ServerEvent::AudioCleared
    );
    assert_eq!(
        parse(
            r#"{"type":"input_audio_buffer.timeout_triggered","event_id":"event_9",
            "audio_start_ms":13216,"audio_end_ms":19232,"item_id":"item_CEKK"}"#
        ),
        ServerEvent::InputTimeout {
            item_id: b("item_CEKK"),
            audio_start_ms: 13216,
            audio_end_ms: 19232,
        }
    );
    assert_eq!(
        parse(
            r##"{"type":"input_audio_buffer.dtmf_event_received","event":"#",
            "received_at":1759172312}"##
        ),
        ServerEvent::Dtmf {
            digit: b("#"),
            received_at: 1_759_172_312,
        }
    );
}

#[test]
fn input_transcription_events() {
    assert_eq!(
        parse(
            r#"{"type":"conversation.item.input_audio_transcription.delta",
            "event_id":"event_001","item_id":"item_001","content_index":0,"delta":"Hel",
            "logprobs":[{"token":"Hel","logprob":-0.1,"bytes":[72,101,108]}]}"#
        ),
        ServerEvent::InputTranscriptionDelta {
            item_id: b("item_001"),
            content_index: 0,
            delta: b("Hel"),
        }
    );
    assert_eq!(
        parse(
            r#"{"event_id":"event_2122",
            "type":"conversation.item.input_audio_transcription.completed",
            "item_id":"msg_003","content_index":0,"transcript":"Hello, how are you?",
            "usage":{"type":"tokens","total_tokens":22,"input_tokens":13,
            "input_token_details":{"text_tokens":0,"audio_tokens":13},"output_tokens":9}}"#
        ),
        ServerEvent::InputTranscriptionCompleted {
            item_id: b("msg_003"),
            content_index: 0,
            transcript: b("Hello, how are you?"),
        }
    );
    assert_eq!(
        parse(
            r#"{"event_id":"event_2324",
            "type":"conversation.item.input_audio_transcription.failed",
            "item_id":"msg_003","content_index":0,"error":{"type":"transcription_error",
            "code":"audio_unintelligible","message":"The audio could not be transcribed.",
            "param":null}}"#
        ),
        ServerEvent::InputTranscriptionFailed {
            item_id: b("msg_003"),
            content_index: 0,
            code: Some(b("audio_unintelligible")),
            message: b("The audio could not be transcribed."),
        }
    );
}

#[test]
fn conversation_item_events() {
    let item = ItemInfo {
        id: b("msg_003"),
        item_type: b("message"),
        role: Some(b("user")),
        status: Some(b("completed")),
        call_id: None,
        name: None,
    };
    let body = r#""previous_item_id":"msg_002","item":{"id":"msg_003","object":"realtime.item",
        "type":"message","status":"completed","role":"user",
        "content":[{"type":"input_audio","transcript":null}]}}"#;
    assert_eq!(
        parse(&format!(r#"{{"type":"conversation.item.created",{body}"#)),
        ServerEvent::ItemCreated {
            previous_item_id: Some(b("msg_002")),
            item: item.clone(),
        }
    );
    assert_eq!(
        parse(&format!(r#"{{"type":"conversation.item.added",{body}"#)),
        ServerEvent::ItemAdded {
            previous_item_id: Some(b("msg_002")),
            item: item.clone(),
        }
    );
    assert_eq!(
        parse(&format!(r#"{{"type":"conversation.item.done",{body}"#)),
        ServerEvent::ItemDone {
            previous_item_id: Some(b("msg_002")),
            item,
        }
    );
    assert_eq!(
        parse(r#"{"event_id":"e","type":"conversation.item.deleted","item_id":"msg_005"}"#),
        ServerEvent::ItemDeleted {
            item_id: b("msg_005"),
        }
    );
    assert_eq!(
        parse(
            r#"{"event_id":"event_2526","type":"conversation.item.truncated",
            "item_id":"msg_004","content_index":0,"audio_end_ms":1500}"#
        ),
        ServerEvent::ItemTruncated {
            item_id: b("msg_004"),
            content_index: 0,
            audio_end_ms: 1500,
        }
    );
}

#[test]
fn response_lifecycle_events() {
    assert_eq!(
        parse(
            r#"{"type":"response.created","event_id":"event_C9G8","response":{
            "object":"realtime.response","id":"resp_C9G8","status":"in_progress",
            "status_details":null,"output":[],"conversation_id":"conv_C9G8",
            "output_modalities":["audio"],"max_output_tokens":"inf",
            "audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},
            "usage":null,"metadata":null}}"#
        ),
        ServerEvent::ResponseCreated {
            response_id: b("resp_C9G8"),
        }
    );
    let call_item = ItemInfo {
        id: b("item_fc"),
        item_type: b("function_call"),
        role: None,
        status: Some(b("in_progress")),
        call_id: Some(b("call_1")),
        name: Some(b("transfer_call")),
    };
    assert_eq!(
        parse(
            r#"{"type":"response.output_item.added","event_id":"e","response_id":"resp_1",
            "output_index":1,"item":{"id":"item_fc","type":"function_call",
            "status":"in_progress","name":"transfer_call","call_id":"call_1","arguments":""}}"#
        ),
        ServerEvent::OutputItemAdded {
            response_id: b("resp_1"),
            output_index: 1,
            item: call_item.clone(),
        }
    );
    assert_eq!(
        parse(
            r#"{"type":"response.output_item.done","response_id":"resp_1","output_index":1,
            "item":{"id":"item_fc","type":"function_call","status":"in_progress",
            "name":"transfer_call","call_id":"call_1","arguments":"{}"}}"#
        ),
        ServerEvent::OutputItemDone {
            response_id: b("resp_1"),
            output_index: 1,
            item: call_item,
        }
    );
}

#[test]
fn audio_events_under_both_names() {
    for kind in ["response.output_audio.delta", "response.audio.delta"] {
        let text = format!(
            r#"{{"type":"{kind}","event_id":"event_4950","response_id":"resp_001",
            "item_id":"msg_008","output_index":0,"content_index":0,"delta":"Base64+/EncodedAudio=="}}"#
        );
        let event = parse(&text);
        assert_eq!(
            event,
            ServerEvent::AudioDelta {
                response_id: b("resp_001"),
                item_id: b("msg_008"),
                delta_b64: b("Base64+/EncodedAudio=="),
            }
        );
        let ServerEvent::AudioDelta { delta_b64, .. } = event else {
            unreachable!()
        };
        assert!(matches!(delta_b64, Cow::Borrowed(_)), "hot path borrows");
    }
    for kind in ["response.output_audio.done", "response.audio.done"] {
        let text = format!(
            r#"{{"event_id":"event_5152","type":"{kind}","response_id":"resp_001",
            "item_id":"msg_008","output_index":0,"content_index":0}}"#
        );
        assert_eq!(
            parse(&text),
            ServerEvent::AudioDone {
                response_id: b("resp_001"),
                item_id: b("msg_008"),
            }
        );
    }
}

#[test]
fn escaped_audio_delta_is_decoded_owned() {
    // Some JSON writers escape `/` as `\/`; the payload must still come out right.
    let text = r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i",
        "delta":"AB\/CD+\u0045=="}"#;
    let ServerEvent::AudioDelta { delta_b64, .. } = parse(text) else {
        panic!("not an audio delta")
    };
    assert_eq!(delta_b64, "AB/CD+E==");
    assert!(matches!(delta_b64, Cow::Owned(_)));
}

#[test]
fn transcript_and_text_events_under_both_names() {
    for kind in [
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    ] {
        let text = format!(
            r#"{{"event_id":"e","type":"{kind}","response_id":"resp_001","item_id":"msg_008",
            "output_index":0,"content_index":0,"delta":"Hello, \"caller\" "}}"#
        );
        assert_eq!(
            parse(&text),
            ServerEvent::TranscriptDelta {
                response_id: b("resp_001"),
                item_id: b("msg_008"),
                delta: Cow::Owned("Hello, \"caller\" ".to_owned()),
            }
        );
    }
    for kind in [
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
    ] {
        let text = format!(
            r#"{{"event_id":"e","type":"{kind}","response_id":"resp_001","item_id":"msg_008",
            "output_index":0,"content_index":0,"transcript":"Hello, how can I help? Café ☕"}}"#
        );
        assert_eq!(
            parse(&text),
            ServerEvent::TranscriptDone {
                response_id: b("resp_001"),
                item_id: b("msg_008"),
                transcript: b("Hello, how can I help? Café ☕"),
            }
        );
    }
    for kind in ["response.output_text.delta", "response.text.delta"] {
        let text = format!(
            r#"{{"type":"{kind}","response_id":"r","item_id":"i","output_index":0,
            "content_index":0,"delta":"Sure"}}"#
        );
        assert_eq!(
            parse(&text),
            ServerEvent::TextDelta {
                response_id: b("r"),
                item_id: b("i"),
                delta: b("Sure"),
            }
        );
    }
    for kind in ["response.output_text.done", "response.text.done"] {
        let text = format!(
            r#"{{"type":"{kind}","response_id":"r","item_id":"i","output_index":0,
            "content_index":0,"text":"Sure, I can help."}}"#
        );
        assert_eq!(
            parse(&text),
            ServerEvent::TextDone {
                response_id: b("r"),
                item_id: b("i"),
                text: b("Sure, I can help."),
            }
        );
    }
}

#[test]
fn function_call_events() {
    assert_eq!(
        parse(
            r#"{"event_id":"event_5556","type":"response.function_call_arguments.delta",
            "response_id":"resp_002","item_id":"fc_001","output_index":0,"call_id":"call_001",
            "delta":"{\"location\": \"San\""}"#
        ),
        ServerEvent::FunctionCallArgumentsDelta {
            response_id: b("resp_002"),
            item_id: b("fc_001"),
            call_id: b("call_001"),
            delta: Cow::Owned(r#"{"location": "San""#.to_owned()),
        }
    );
    let ga = r#"{"type":"response.function_call_arguments.done","event_id":"event_5758",
        "response_id":"resp_002","item_id":"fc_001","output_index":0,"call_id":"call_001",
        "name":"get_weather","arguments":"{\"location\": \"San Francisco\"}"}"#;
    assert_eq!(
        parse(ga),
        ServerEvent::FunctionCallDone {
            response_id: b("resp_002"),
            item_id: b("fc_001"),
            call_id: b("call_001"),
            name: Some(b("get_weather")),
            arguments: Cow::Owned(r#"{"location": "San Francisco"}"#.to_owned()),
        }
    );
    // Older beta servers leave `name` out of this event.
    let beta = r#"{"type":"response.function_call_arguments.done","response_id":"r",
        "item_id":"fc","output_index":0,"call_id":"call","arguments":"{}"}"#;
    assert!(matches!(
        parse(beta),
        ServerEvent::FunctionCallDone { name: None, .. }
    ));
}

#[test]
fn response_done_cancelled_by_turn_detection() {
    let text = r#"{"type":"response.done","event_id":"event_CCXHxcMy","response":{
        "object":"realtime.response","id":"resp_CCXHw","status":"cancelled",
        "status_details":{"type":"cancelled","reason":"turn_detected"},
        "output":[{"id":"item_CCXHw","type":"message","status":"incomplete","role":"assistant",
        "content":[{"type":"output_audio","transcript":"Sure, let me"}]}],
        "conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf",
        "usage":{"total_tokens":253,"input_tokens":132,"output_tokens":121,
        "input_token_details":{"text_tokens":119,"audio_tokens":13,"image_tokens":0,
        "cached_tokens":0},"output_token_details":{"text_tokens":30,"audio_tokens":91}},
        "metadata":null}}"#;
    assert_eq!(
        parse(text),
        ServerEvent::ResponseDone {
            response_id: b("resp_CCXHw"),
            status: ResponseStatus::Cancelled,
            reason: Some(b("turn_detected")),
            error_code: None,
            usage: Some(TokenUsage {
                input_tokens: 132,
                output_tokens: 121
            }),
        }
    );
}

#[test]
fn response_done_completed_and_failed() {
    let completed = r#"{"type":"response.done","response":{"id":"resp_1",
        "object":"realtime.response","status":"completed","status_details":null,
        "output":[],"usage":{"total_tokens":10}}}"#;
    assert_eq!(
        parse(completed),
        ServerEvent::ResponseDone {
            response_id: b("resp_1"),
            status: ResponseStatus::Completed,
            reason: None,
            error_code: None,
            usage: Some(TokenUsage::default()),
        }
    );
    let failed = r#"{"type":"response.done","response":{"id":"resp_2","status":"failed",
        "status_details":{"type":"failed","error":{"type":"server_error",
        "code":"rate_limit_exceeded"}}}}"#;
    assert_eq!(
        parse(failed),
        ServerEvent::ResponseDone {
            response_id: b("resp_2"),
            status: ResponseStatus::Failed,
            reason: None,
            error_code: Some(b("rate_limit_exceeded")),
            usage: None,
        }
    );
    let incomplete = r#"{"type":"response.done","response":{"id":"resp_3",
        "status":"incomplete","status_details":{"type":"incomplete",
        "reason":"max_output_tokens"}}}"#;
    assert!(matches!(
        parse(incomplete),
        ServerEvent::ResponseDone { status: ResponseStatus::Incomplete, reason: Some(r), .. }
            if r == "max_output_tokens"
    ));
    let odd = r#"{"type":"response.done","response":{"id":"r","status":"exploded"}}"#;
    assert_eq!(
        parse_server_event(odd),
        Err(RealtimeError::InvalidField {
            field: "response.status",
            value: "exploded".to_owned(),
        })
    );
}

#[test]
fn rate_limits() {
    let text = r#"{"event_id":"event_5758","type":"rate_limits.updated","rate_limits":[
        {"name":"requests","limit":1000,"remaining":999,"reset_seconds":60},
        {"name":"tokens","limit":50000,"remaining":49950,"reset_seconds":60.5}]}"#;
    assert_eq!(
        parse(text),
        ServerEvent::RateLimits(vec![
            RateLimit {
                name: b("requests"),
                limit: 1000,
                remaining: 999,
                reset_seconds: 60.0,
            },
            RateLimit {
                name: b("tokens"),
                limit: 50000,
                remaining: 49950,
                reset_seconds: 60.5,
            },
        ])
    );
}

#[test]
fn errors_and_session_expiry() {
    let expired = r#"{"type":"error","event_id":"event_CCzt","error":{
        "type":"invalid_request_error","code":"session_expired",
        "message":"Your session hit the maximum duration of 60 minutes.","param":null,
        "event_id":null}}"#;
    let event = parse(expired);
    assert!(event.is_session_expired());
    assert!(event.is_fatal());
    assert_eq!(
        event,
        ServerEvent::Error(ApiError {
            error_type: b("invalid_request_error"),
            code: Some(b("session_expired")),
            message: b("Your session hit the maximum duration of 60 minutes."),
            param: None,
            event_id: None,
        })
    );
    let recoverable = r#"{"event_id":"event_890","type":"error","error":{
        "type":"invalid_request_error","code":"invalid_value",
        "message":"Invalid value: 'foo'. Supported values are: 'bar'.",
        "param":"session.voice","event_id":"evt_client_7"}}"#;
    let event = parse(recoverable);
    assert!(!event.is_fatal());
    assert!(!event.is_session_expired());
    let ServerEvent::Error(error) = event else {
        panic!("not an error")
    };
    assert_eq!(error.param.as_deref(), Some("session.voice"));
    assert_eq!(error.event_id.as_deref(), Some("evt_client_7"));
    assert!(!error.is_fatal());

    let no_code = r#"{"type":"error","error":{"type":"server_error","message":"oops"}}"#;
    assert!(matches!(
        parse(no_code),
        ServerEvent::Error(ApiError { code: None, .. })
    ));
    let bad_key = r#"{"type":"error","error":{"type":"invalid_request_error",
        "code":"invalid_api_key","message":"Incorrect API key provided."}}"#;
    assert!(parse(bad_key).is_fatal());
    assert!(!ServerEvent::AudioCleared.is_fatal());
}

#[test]
fn unknown_and_untyped_common_events_are_other() {
    for kind in [
        "conversation.created",
        "response.content_part.added",
        "response.content_part.done",
        "conversation.item.retrieved",
        "conversation.item.input_audio_transcription.segment",
        "output_audio_buffer.started",
        "response.mcp_call.completed",
        "some.future.event",
    ] {
        let text = format!(r#"{{"type":"{kind}","event_id":"e","part":{{"type":"audio"}}}}"#);
        assert_eq!(
            parse(&text),
            ServerEvent::Other {
                event_type: b(kind)
            }
        );
    }
}

#[test]
fn unknown_event_with_conflicting_field_types_is_other() {
    // `delta` and `item` are objects/numbers here, unlike in any known event.
    let text = r#"{"delta":{"nested":[1,2]},"item":7,"type":"future.thing","error":"x"}"#;
    assert_eq!(
        parse(text),
        ServerEvent::Other {
            event_type: b("future.thing")
        }
    );
}

#[test]
fn extra_fields_are_ignored() {
    let text = r#"{"zzz":[{"a":{"b":null}}],"type":"input_audio_buffer.speech_started",
        "audio_start_ms":5,"item_id":"i","new_flag":true,"meta":{"k":"v"},"x":1.5e3}"#;
    assert_eq!(
        parse(text),
        ServerEvent::SpeechStarted {
            audio_start_ms: 5,
            item_id: b("i"),
        }
    );
}

#[test]
fn missing_required_fields_are_named() {
    let cases = [
        (
            r#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i"}"#,
            "delta",
        ),
        (
            r#"{"type":"response.audio.delta","response_id":"r","delta":"AA=="}"#,
            "item_id",
        ),
        (
            r#"{"type":"input_audio_buffer.speech_started","item_id":"i"}"#,
            "audio_start_ms",
        ),
        (
            r#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":null,"item_id":"i"}"#,
            "audio_end_ms",
        ),
        (
            r#"{"type":"response.created","response":{"status":"in_progress"}}"#,
            "response.id",
        ),
        (r#"{"type":"response.done"}"#, "response"),
        (
            r#"{"type":"response.done","response":{"id":"r"}}"#,
            "response.status",
        ),
        (
            r#"{"type":"error","error":{"type":"server_error"}}"#,
            "error.message",
        ),
        (r#"{"type":"error"}"#, "error"),
        (r#"{"type":"session.created"}"#, "session"),
        (
            r#"{"type":"conversation.item.created","item":{"type":"message"}}"#,
            "item.id",
        ),
        (
            r#"{"type":"response.function_call_arguments.done","response_id":"r","item_id":"i","call_id":"c"}"#,
            "arguments",
        ),
        (
            r#"{"type":"conversation.item.truncated","item_id":"i","audio_end_ms":1}"#,
            "content_index",
        ),
        (
            r#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"i","content_index":0}"#,
            "transcript",
        ),
        (
            r#"{"type":"rate_limits.updated","rate_limits":[{"name":"tokens","limit":1,"remaining":1}]}"#,
            "rate_limits.reset_seconds",
        ),
        (r#"{"event_id":"e"}"#, "type"),
        (r#"{"type":null}"#, "type"),
    ];
    for (text, field) in cases {
        assert_eq!(
            parse_server_event(text),
            Err(RealtimeError::MissingField(field)),
            "{text}"
        );
    }
}

#[test]
fn malformed_frames_are_invalid_json() {
    for text in [
        "",
        "not json",
        "[1,2]",
        r#"{"type":"response.audio.delta""#,
        r#"{"type":7}"#,
        r#"{"type":"input_audio_buffer.speech_started","audio_start_ms":"soon","item_id":"i"}"#,
        r#"{"type":"response.done","response":{"id":"r","status":"completed"}} trailing"#,
    ] {
        assert!(
            matches!(parse_server_event(text), Err(RealtimeError::InvalidJson(_))),
            "{text}: {:?}",
            parse_server_event(text)
        );
    }
}

#[test]
fn dialect_of_event_types() {
    assert_eq!(
        server_event_dialect("response.audio.delta"),
        Some(Dialect::Beta)
    );
    assert_eq!(
        server_event_dialect("response.text.done"),
        Some(Dialect::Beta)
    );
    assert_eq!(
        server_event_dialect("response.output_audio.delta"),
        Some(Dialect::Ga)
    );
    assert_eq!(
        server_event_dialect("conversation.item.added"),
        Some(Dialect::Ga)
    );
    assert_eq!(server_event_dialect("response.output_item.added"), None);
    assert_eq!(server_event_dialect("response.done"), None);
}
