//! Decoding of client events, for fake realtime servers in tests.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::error::{RealtimeError, required};
use super::json::{CowStr, cow};
use super::session_summary::SessionUpdate;

/// One decoded client event. Parse with [`parse_client_event`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent<'a> {
    /// `session.update`, summarized (boxed: it is much larger than the other variants).
    SessionUpdate(Box<SessionUpdate>),
    /// `input_audio_buffer.append`; the base64 audio is borrowed when unescaped.
    AudioAppend {
        /// Base64 audio in the session's input format.
        audio_b64: Cow<'a, str>,
    },
    /// `input_audio_buffer.commit`.
    AudioCommit,
    /// `input_audio_buffer.clear`.
    AudioClear,
    /// `conversation.item.create`.
    ItemCreate {
        /// Where to insert the item; `None` appends.
        previous_item_id: Option<Cow<'a, str>>,
        /// The item.
        item: ConversationItem,
    },
    /// `conversation.item.truncate`.
    Truncate {
        /// Assistant item to truncate.
        item_id: Cow<'a, str>,
        /// Content part to truncate (always 0 for audio).
        content_index: u32,
        /// Audio heard by the caller, in ms.
        audio_end_ms: u64,
    },
    /// `response.create`, with its optional `response` parameters.
    ResponseCreate {
        /// The `response` object, if sent.
        response: Option<Value>,
    },
    /// `response.cancel`.
    ResponseCancel {
        /// Response to cancel; `None` means the current one.
        response_id: Option<Cow<'a, str>>,
    },
    /// Any other client event.
    Other {
        /// The event's `type`.
        event_type: Cow<'a, str>,
    },
}

/// A conversation item from `conversation.item.create`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationItem {
    /// `type: "message"`.
    Message {
        /// `user`, `assistant` or `system`.
        role: String,
        /// Content parts in order.
        content: Vec<ContentPart>,
    },
    /// `type: "function_call"` (replay of a past tool call).
    FunctionCall {
        /// Call id.
        call_id: String,
        /// Function name.
        name: String,
        /// Arguments as JSON text.
        arguments: String,
    },
    /// `type: "function_call_output"`.
    FunctionCallOutput {
        /// Call id being answered.
        call_id: String,
        /// Output text.
        output: String,
    },
    /// Any other item type, undecoded.
    Other(Value),
}

/// One content part of a message item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPart {
    /// `input_text`, `output_text` (GA assistant), `text` (beta assistant), `input_audio`, …
    pub part_type: String,
    /// The `text` of text parts.
    pub text: Option<String>,
}

impl ConversationItem {
    /// Concatenated text of a message's text parts (`None` for other items).
    pub fn text(&self) -> Option<String> {
        match self {
            ConversationItem::Message { content, .. } => Some(
                content
                    .iter()
                    .filter_map(|part| part.text.as_deref())
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// Decodes one client event frame. Unknown event types give [`ClientEvent::Other`];
/// unknown fields are ignored; missing required fields give
/// [`RealtimeError::MissingField`].
pub fn parse_client_event(text: &str) -> Result<ClientEvent<'_>, RealtimeError> {
    let raw: RawClient<'_> = serde_json::from_str(text)?;
    let kind = required(raw.kind, "type")?.0;
    Ok(match kind.as_ref() {
        "session.update" => ClientEvent::SessionUpdate(Box::new(SessionUpdate::from_session(
            required(raw.session, "session")?,
        )?)),
        "input_audio_buffer.append" => ClientEvent::AudioAppend {
            audio_b64: required(cow(raw.audio), "audio")?,
        },
        "input_audio_buffer.commit" => ClientEvent::AudioCommit,
        "input_audio_buffer.clear" => ClientEvent::AudioClear,
        "conversation.item.create" => ClientEvent::ItemCreate {
            previous_item_id: cow(raw.previous_item_id),
            item: conversation_item(required(raw.item, "item")?)?,
        },
        "conversation.item.truncate" => ClientEvent::Truncate {
            item_id: required(cow(raw.item_id), "item_id")?,
            content_index: required(raw.content_index, "content_index")?,
            audio_end_ms: required(raw.audio_end_ms, "audio_end_ms")?,
        },
        "response.create" => ClientEvent::ResponseCreate {
            response: raw.response,
        },
        "response.cancel" => ClientEvent::ResponseCancel {
            response_id: cow(raw.response_id),
        },
        _ => ClientEvent::Other { event_type: kind },
    })
}

#[derive(Deserialize)]
struct RawClient<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow)]
    audio: Option<CowStr<'a>>,
    #[serde(borrow)]
    previous_item_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    item_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    response_id: Option<CowStr<'a>>,
    content_index: Option<u32>,
    audio_end_ms: Option<u64>,
    item: Option<Value>,
    response: Option<Value>,
    session: Option<Value>,
}

fn conversation_item(item: Value) -> Result<ConversationItem, RealtimeError> {
    let kind = match item.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return Err(invalid("item.type", other)),
        None => return Err(RealtimeError::MissingField("item.type")),
    };
    Ok(match kind {
        "message" => ConversationItem::Message {
            role: string(&item, "role", "item.role")?,
            content: match item.get("content") {
                Some(Value::Array(parts)) => {
                    parts.iter().map(content_part).collect::<Result<_, _>>()?
                }
                Some(other) => return Err(invalid("item.content", other)),
                None => return Err(RealtimeError::MissingField("item.content")),
            },
        },
        "function_call" => ConversationItem::FunctionCall {
            call_id: string(&item, "call_id", "item.call_id")?,
            name: string(&item, "name", "item.name")?,
            arguments: string(&item, "arguments", "item.arguments")?,
        },
        "function_call_output" => ConversationItem::FunctionCallOutput {
            call_id: string(&item, "call_id", "item.call_id")?,
            output: string(&item, "output", "item.output")?,
        },
        _ => ConversationItem::Other(item),
    })
}

fn content_part(part: &Value) -> Result<ContentPart, RealtimeError> {
    Ok(ContentPart {
        part_type: string(part, "type", "item.content.type")?,
        text: match part.get("text") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => return Err(invalid("item.content.text", other)),
        },
    })
}

fn string(value: &Value, key: &str, field: &'static str) -> Result<String, RealtimeError> {
    match value.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(RealtimeError::MissingField(field)),
        Some(other) => Err(invalid(field, other)),
    }
}

fn invalid(field: &'static str, value: &Value) -> RealtimeError {
    RealtimeError::InvalidField {
        field,
        value: value.to_string(),
    }
}
