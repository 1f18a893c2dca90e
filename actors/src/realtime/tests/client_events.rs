//! Client event encoders (exact output) and the client event decoder.

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::realtime::{
    AudioFormat, ClientEvent, ContentPart, ConversationItem, Dialect, RealtimeError,
    encode_audio_append, input_audio_clear, input_audio_commit, item_create_assistant_text,
    item_create_function_call, item_create_function_output, item_create_system_text,
    item_create_user_text, parse_client_event, response_cancel, response_create,
    response_create_with, truncate,
};

fn value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

#[test]
fn audio_append_exact_and_reusing_buffer() {
    let mut out = String::from("stale contents that must be cleared");
    encode_audio_append("//uQZAAAAAAA+/==", &mut out);
    assert_eq!(
        out,
        r#"{"type":"input_audio_buffer.append","audio":"//uQZAAAAAAA+/=="}"#
    );
    encode_audio_append("", &mut out);
    assert_eq!(out, r#"{"type":"input_audio_buffer.append","audio":""}"#);
}

#[test]
fn audio_append_escapes_non_base64() {
    let mut out = String::new();
    let weird = "a\"b\\c\nd\u{1}e\u{7f}é\u{2028}\t\r\u{8}\u{c}";
    encode_audio_append(weird, &mut out);
    assert_eq!(value(&out)["audio"], weird);
    assert!(out.contains(r"\u0001"));
    assert_eq!(
        parse_client_event(&out),
        Ok(ClientEvent::AudioAppend {
            audio_b64: Cow::Borrowed(weird)
        })
    );
}

#[test]
fn simple_client_events_exact() {
    assert_eq!(
        input_audio_commit(),
        r#"{"type":"input_audio_buffer.commit"}"#
    );
    assert_eq!(
        input_audio_clear(),
        r#"{"type":"input_audio_buffer.clear"}"#
    );
    assert_eq!(response_create(), r#"{"type":"response.create"}"#);
    assert_eq!(response_cancel(None), r#"{"type":"response.cancel"}"#);
    assert_eq!(
        response_cancel(Some("resp_1")),
        r#"{"type":"response.cancel","response_id":"resp_1"}"#
    );
    assert_eq!(
        truncate("item_7", 1234),
        r#"{"type":"conversation.item.truncate","item_id":"item_7","content_index":0,"audio_end_ms":1234}"#
    );
    assert_eq!(
        value(&response_create_with(
            &json!({"instructions": "Greet the caller."})
        )),
        json!({"type": "response.create", "response": {"instructions": "Greet the caller."}})
    );
}

#[test]
fn item_create_shapes() {
    assert_eq!(
        value(&item_create_user_text("Hi \"there\"")),
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
               "content": [{"type": "input_text", "text": "Hi \"there\""}]}})
    );
    assert_eq!(
        value(&item_create_system_text("Be terse.")),
        json!({"type": "conversation.item.create", "item": {"type": "message",
               "role": "system", "content": [{"type": "input_text", "text": "Be terse."}]}})
    );
    assert_eq!(
        value(&item_create_assistant_text(Dialect::Ga, "Hello!")),
        json!({"type": "conversation.item.create", "item": {"type": "message",
               "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]}})
    );
    assert_eq!(
        value(&item_create_assistant_text(Dialect::Beta, "Hello!")),
        json!({"type": "conversation.item.create", "item": {"type": "message",
               "role": "assistant", "content": [{"type": "text", "text": "Hello!"}]}})
    );
    assert_eq!(
        value(&item_create_function_output("call_1", r#"{"ok":true}"#)),
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
               "call_id": "call_1", "output": "{\"ok\":true}"}})
    );
    assert_eq!(
        value(&item_create_function_call("call_1", "transfer", "{}")),
        json!({"type": "conversation.item.create", "item": {"type": "function_call",
               "call_id": "call_1", "name": "transfer", "arguments": "{}"}})
    );
}

#[test]
fn parse_realistic_client_events() {
    assert_eq!(
        parse_client_event(
            r#"{"event_id":"event_456","type":"input_audio_buffer.append","audio":"AAAA"}"#
        ),
        Ok(ClientEvent::AudioAppend {
            audio_b64: Cow::Borrowed("AAAA")
        })
    );
    assert_eq!(
        parse_client_event(r#"{"event_id":"e","type":"input_audio_buffer.commit"}"#),
        Ok(ClientEvent::AudioCommit)
    );
    assert_eq!(
        parse_client_event(r#"{"type":"input_audio_buffer.clear"}"#),
        Ok(ClientEvent::AudioClear)
    );
    assert_eq!(
        parse_client_event(
            r#"{"event_id":"event_678","type":"conversation.item.truncate","item_id":"msg_002",
            "content_index":0,"audio_end_ms":1500}"#
        ),
        Ok(ClientEvent::Truncate {
            item_id: Cow::Borrowed("msg_002"),
            content_index: 0,
            audio_end_ms: 1500,
        })
    );
    assert_eq!(
        parse_client_event(r#"{"type":"response.create","response":null}"#),
        Ok(ClientEvent::ResponseCreate { response: None })
    );
    assert_eq!(
        parse_client_event(r#"{"type":"response.create","response":{"instructions":"x"}}"#),
        Ok(ClientEvent::ResponseCreate {
            response: Some(json!({"instructions": "x"}))
        })
    );
    assert_eq!(
        parse_client_event(r#"{"type":"response.cancel","response_id":"resp_9"}"#),
        Ok(ClientEvent::ResponseCancel {
            response_id: Some(Cow::Borrowed("resp_9"))
        })
    );
    assert_eq!(
        parse_client_event(r#"{"type":"conversation.item.delete","item_id":"x"}"#),
        Ok(ClientEvent::Other {
            event_type: Cow::Borrowed("conversation.item.delete")
        })
    );
    assert_eq!(
        parse_client_event(
            r#"{"type":"conversation.item.create","previous_item_id":"p","item":{
            "type":"message","role":"user","content":[{"type":"input_text","text":"a"},
            {"type":"input_audio","audio":"AAAA"},{"type":"input_text","text":"b"}]}}"#
        ),
        Ok(ClientEvent::ItemCreate {
            previous_item_id: Some(Cow::Borrowed("p")),
            item: ConversationItem::Message {
                role: "user".to_owned(),
                content: vec![
                    ContentPart {
                        part_type: "input_text".to_owned(),
                        text: Some("a".to_owned())
                    },
                    ContentPart {
                        part_type: "input_audio".to_owned(),
                        text: None
                    },
                    ContentPart {
                        part_type: "input_text".to_owned(),
                        text: Some("b".to_owned())
                    },
                ],
            },
        })
    );
    let other_item = json!({"type": "mcp_call", "id": "x"});
    assert_eq!(
        parse_client_event(&format!(
            r#"{{"type":"conversation.item.create","item":{other_item}}}"#
        )),
        Ok(ClientEvent::ItemCreate {
            previous_item_id: None,
            item: ConversationItem::Other(other_item),
        })
    );
}

#[test]
fn item_text_joins_text_parts() {
    let Ok(ClientEvent::ItemCreate { item, .. }) =
        parse_client_event(&item_create_assistant_text(Dialect::Beta, "Hi"))
    else {
        panic!("not an item")
    };
    assert_eq!(item.text().as_deref(), Some("Hi"));
    let Ok(ClientEvent::ItemCreate { item, .. }) =
        parse_client_event(&item_create_function_output("c", "o"))
    else {
        panic!("not an item")
    };
    assert_eq!(item.text(), None);
}

#[test]
fn parse_beta_session_update_from_the_docs() {
    let text = r#"{"event_id":"event_123","type":"session.update","session":{
        "modalities":["text","audio"],"instructions":"You are a helpful assistant.",
        "voice":"sage","input_audio_format":"pcm16","output_audio_format":"g711_alaw",
        "input_audio_transcription":{"model":"whisper-1"},
        "turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,
        "silence_duration_ms":500,"create_response":true},
        "tools":[{"type":"function","name":"get_weather","description":"w",
        "parameters":{"type":"object"}}],"tool_choice":"auto","temperature":0.8,
        "max_response_output_tokens":"inf"}}"#;
    let Ok(ClientEvent::SessionUpdate(update)) = parse_client_event(text) else {
        panic!("not a session.update")
    };
    assert_eq!(update.dialect, Some(Dialect::Beta));
    assert_eq!(update.model, None);
    assert_eq!(update.voice.as_deref(), Some("sage"));
    assert_eq!(update.input_format, Some(AudioFormat::Pcm16));
    assert_eq!(update.output_format, Some(AudioFormat::G711Alaw));
    assert_eq!(update.transcription_model.as_deref(), Some("whisper-1"));
    assert_eq!(update.language, None);
    let vad = update.vad.as_ref().expect("server_vad");
    assert!(vad.interrupt_response, "absent flags take defaults");
    assert_eq!(vad.silence_duration_ms, 500);
    assert_eq!(update.temperature, Some(0.8));
    assert_eq!(update.tool_names, vec!["get_weather".to_owned()]);
}

#[test]
fn partial_and_invalid_session_updates() {
    let Ok(ClientEvent::SessionUpdate(update)) =
        parse_client_event(r#"{"type":"session.update","session":{"instructions":"x"}}"#)
    else {
        panic!("not a session.update")
    };
    assert_eq!(update.dialect, None);
    assert_eq!(update.instructions.as_deref(), Some("x"));
    assert_eq!(update.vad, None);
    assert!(update.tool_names.is_empty());

    let semantic = r#"{"type":"session.update","session":{"type":"realtime",
        "audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}}}"#;
    let Ok(ClientEvent::SessionUpdate(update)) = parse_client_event(semantic) else {
        panic!("not a session.update")
    };
    assert_eq!(update.dialect, Some(Dialect::Ga));
    assert_eq!(update.vad, None);

    let cases = [
        (
            r#"{"type":"session.update","session":{"input_audio_format":"mp3"}}"#,
            "session.input_audio_format",
        ),
        (
            r#"{"type":"session.update","session":{"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}}}"#,
            "session.audio.input.format",
        ),
        (
            r#"{"type":"session.update","session":{"audio":{"output":{"format":{"type":"audio/opus"}}}}}"#,
            "session.audio.output.format",
        ),
        (r#"{"type":"session.update","session":[]}"#, "session"),
        (
            r#"{"type":"session.update","session":{"voice":3}}"#,
            "session.voice",
        ),
        (
            r#"{"type":"session.update","session":{"tools":[{}]}}"#,
            "session.tools.name",
        ),
    ];
    for (text, field) in cases {
        assert!(
            matches!(parse_client_event(text), Err(RealtimeError::InvalidField { field: f, .. }) if f == field),
            "{text}: {:?}",
            parse_client_event(text)
        );
    }
}

#[test]
fn client_missing_fields_are_named() {
    let cases = [
        (r#"{"type":"input_audio_buffer.append"}"#, "audio"),
        (r#"{"type":"conversation.item.create"}"#, "item"),
        (
            r#"{"type":"conversation.item.create","item":{"role":"user"}}"#,
            "item.type",
        ),
        (
            r#"{"type":"conversation.item.create","item":{"type":"message","content":[]}}"#,
            "item.role",
        ),
        (
            r#"{"type":"conversation.item.create","item":{"type":"message","role":"user"}}"#,
            "item.content",
        ),
        (
            r#"{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"c"}}"#,
            "item.output",
        ),
        (
            r#"{"type":"conversation.item.truncate","item_id":"i","content_index":0}"#,
            "audio_end_ms",
        ),
        (r#"{"type":"session.update"}"#, "session"),
        (r#"{"audio":"AAAA"}"#, "type"),
    ];
    for (text, field) in cases {
        assert_eq!(
            parse_client_event(text),
            Err(RealtimeError::MissingField(field)),
            "{text}"
        );
    }
    assert!(matches!(
        parse_client_event("{"),
        Err(RealtimeError::InvalidJson(_))
    ));
}
