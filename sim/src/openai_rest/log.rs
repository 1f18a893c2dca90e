//! The per-request record tests assert on.

use serde_json::Value;
use tokio::time::Instant;

use super::control::Scripted;
use super::error::RequestError;

/// One message of a request, as the peer read it (content parts joined with newlines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The `usage` of an answer (the peer's deterministic counts, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// `usage.total_tokens`.
    pub total_tokens: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            total_tokens: self.total_tokens + other.total_tokens,
        }
    }
}

/// An error the peer answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentError {
    /// HTTP status.
    pub status: u16,
    /// `error.type`.
    pub error_type: String,
    /// `error.code`.
    pub code: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
    /// `error.message`.
    pub message: String,
}

impl From<&RequestError> for SentError {
    fn from(error: &RequestError) -> SentError {
        SentError {
            status: error.status(),
            error_type: error.error_type().to_owned(),
            code: error.code().map(str::to_owned),
            param: error.param().map(str::to_owned),
            message: error.to_string(),
        }
    }
}

/// Everything about one HTTP request, in arrival order. Snapshot with
/// [`OpenAiRestPeer::requests`](super::OpenAiRestPeer::requests). Fields read from the body
/// are filled as far as the body allows, also for a request refused as invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLog {
    /// Index in arrival order (0, 1, …).
    pub id: usize,
    /// When the request's head arrived.
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Bearer token of the `Authorization` header.
    pub api_key: Option<String>,
    /// Whether the key passed ([`RestPeerConfig::require_api_key`](super::RestPeerConfig)
    /// unset, or equal).
    pub key_ok: bool,
    /// `model`.
    pub model: Option<String>,
    /// The `messages` (those with a role and text content).
    pub messages: Vec<ChatMessage>,
    /// `response_format.type`; `None` when the request had no `response_format` (its answer
    /// is plain text).
    pub response_format: Option<String>,
    /// `response_format.json_schema.name`.
    pub schema_name: Option<String>,
    /// `response_format.json_schema.schema`.
    pub schema: Option<Value>,
    /// The scripted outcome this request took, if any.
    pub scripted: Option<Scripted>,
    /// HTTP status answered; `None` while unanswered (delayed, hanging, or abandoned).
    pub status: Option<u16>,
    /// When the answer was sent.
    pub answered_at: Option<Instant>,
    /// The client went away before the answer was sent.
    pub abandoned: bool,
    /// The error answered, for a status other than 200.
    pub error: Option<SentError>,
    /// `choices[0].message.content` of a 200 (`None` for a refusal).
    pub content: Option<String>,
    /// `choices[0].message.refusal` of a 200.
    pub refusal: Option<String>,
    /// `choices[0].finish_reason` of a 200.
    pub finish_reason: Option<String>,
    /// `usage` of a 200.
    pub usage: Option<Usage>,
}

impl RequestLog {
    pub(super) fn new(id: usize, method: String, path: String) -> RequestLog {
        RequestLog {
            id,
            at: Instant::now(),
            method,
            path,
            api_key: None,
            key_ok: false,
            model: None,
            messages: Vec::new(),
            response_format: None,
            schema_name: None,
            schema: None,
            scripted: None,
            status: None,
            answered_at: None,
            abandoned: false,
            error: None,
            content: None,
            refusal: None,
            finish_reason: None,
            usage: None,
        }
    }

    /// Answered with 200.
    pub fn is_ok(&self) -> bool {
        self.status == Some(200)
    }

    /// The content parsed as JSON (`None` without content or when it is not JSON).
    pub fn content_json(&self) -> Option<Value> {
        serde_json::from_str(self.content.as_deref()?).ok()
    }

    /// The text of the last user message.
    pub fn last_user_message(&self) -> Option<&str> {
        let message = self.messages.iter().rev().find(|m| m.role == "user")?;
        Some(&message.content)
    }
}

/// The request logs, shared by the request handlers and the peer.
pub(super) type Logs = crate::watched::Watched<RequestLog>;

/// Fills what a log can say from a parsed body, valid or not.
pub(super) fn record_body(log: &mut RequestLog, body: &Value) {
    let text = |pointer: &str| {
        body.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    log.model = text("/model");
    log.response_format = text("/response_format/type");
    log.schema_name = text("/response_format/json_schema/name");
    log.schema = body.pointer("/response_format/json_schema/schema").cloned();
    log.messages = body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|message| {
            let role = message.get("role")?.as_str()?.to_owned();
            let content = match message.get("content")? {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|part| part.get("text")?.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => return None,
            };
            Some(ChatMessage { role, content })
        })
        .collect();
}
