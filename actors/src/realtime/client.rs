//! Encoders for the client events Switchboard sends to the Realtime API.
//!
//! The hot path, [`encode_audio_append`], writes into a caller-owned buffer and does not
//! allocate once that buffer has grown to frame size. Everything else returns a fresh
//! `String` built with `serde_json`, so escaping is always correct. Client event names and
//! shapes are identical in both dialects except assistant text content parts.

use serde::Serialize;

use super::dialect::Dialect;
use super::json::{push_json_str_body, to_json};

const AUDIO_APPEND_HEAD: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
const AUDIO_APPEND_TAIL: &str = r#""}"#;

/// Encodes `input_audio_buffer.append` with `audio_b64` (base64 audio in the session's
/// input format) into `out`, clearing it first.
///
/// Allocation-free whenever `out` already has room for the frame, e.g. when the same
/// buffer is reused for equally sized frames. Characters that need JSON escaping (never
/// present in base64) are escaped correctly anyway.
pub fn encode_audio_append(audio_b64: &str, out: &mut String) {
    out.clear();
    out.reserve(AUDIO_APPEND_HEAD.len() + audio_b64.len() + AUDIO_APPEND_TAIL.len());
    out.push_str(AUDIO_APPEND_HEAD);
    push_json_str_body(audio_b64, out);
    out.push_str(AUDIO_APPEND_TAIL);
}

/// `input_audio_buffer.commit`: turn the buffered input into a user item (only needed
/// without server VAD).
pub fn input_audio_commit() -> String {
    to_json(&Bare {
        kind: "input_audio_buffer.commit",
    })
}

/// `input_audio_buffer.clear`: drop uncommitted input audio.
pub fn input_audio_clear() -> String {
    to_json(&Bare {
        kind: "input_audio_buffer.clear",
    })
}

/// `conversation.item.create` with a user message (`input_text`).
pub fn item_create_user_text(text: &str) -> String {
    item_create(ItemWire::Message {
        role: "user",
        content: [ContentWire {
            kind: "input_text",
            text,
        }],
    })
}

/// `conversation.item.create` with a system message (`input_text`).
pub fn item_create_system_text(text: &str) -> String {
    item_create(ItemWire::Message {
        role: "system",
        content: [ContentWire {
            kind: "input_text",
            text,
        }],
    })
}

/// `conversation.item.create` with an assistant message, used to replay a saved assistant
/// transcript after a reconnect: content part `output_text` (GA) or `text` (beta).
pub fn item_create_assistant_text(dialect: Dialect, text: &str) -> String {
    item_create(ItemWire::Message {
        role: "assistant",
        content: [ContentWire {
            kind: dialect.assistant_text_part(),
            text,
        }],
    })
}

/// `conversation.item.create` with a `function_call` item, used to replay a past tool call
/// before its output.
pub fn item_create_function_call(call_id: &str, name: &str, arguments: &str) -> String {
    item_create(ItemWire::FunctionCall {
        call_id,
        name,
        arguments,
    })
}

/// `conversation.item.create` with a `function_call_output` item; `output` is sent as a
/// string (usually serialized JSON).
pub fn item_create_function_output(call_id: &str, output: &str) -> String {
    item_create(ItemWire::FunctionCallOutput { call_id, output })
}

/// `conversation.item.truncate` of content part 0 of an assistant item, telling the server
/// how much of its audio the caller actually heard (after barge-in).
pub fn truncate(item_id: &str, audio_end_ms: u64) -> String {
    to_json(&TruncateWire {
        kind: "conversation.item.truncate",
        item_id,
        content_index: 0,
        audio_end_ms,
    })
}

/// `response.create` with no `response` field (session defaults).
pub fn response_create() -> String {
    to_json(&Bare {
        kind: "response.create",
    })
}

/// `response.create` with explicit response parameters, e.g.
/// `{"instructions": "Greet the caller."}`.
pub fn response_create_with(response: &serde_json::Value) -> String {
    to_json(&ResponseCreateWire {
        kind: "response.create",
        response,
    })
}

/// `response.cancel`, optionally naming the response to cancel.
pub fn response_cancel(response_id: Option<&str>) -> String {
    to_json(&ResponseCancelWire {
        kind: "response.cancel",
        response_id,
    })
}

fn item_create(item: ItemWire<'_>) -> String {
    to_json(&ItemCreateWire {
        kind: "conversation.item.create",
        item,
    })
}

#[derive(Serialize)]
struct Bare {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ItemCreateWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    item: ItemWire<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ItemWire<'a> {
    Message {
        role: &'static str,
        content: [ContentWire<'a>; 1],
    },
    FunctionCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    FunctionCallOutput {
        call_id: &'a str,
        output: &'a str,
    },
}

#[derive(Serialize)]
struct ContentWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct TruncateWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    item_id: &'a str,
    content_index: u32,
    audio_end_ms: u64,
}

#[derive(Serialize)]
struct ResponseCreateWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    response: &'a serde_json::Value,
}

#[derive(Serialize)]
struct ResponseCancelWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_id: Option<&'a str>,
}
