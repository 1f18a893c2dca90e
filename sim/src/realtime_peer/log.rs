//! The per-connection record tests assert on.

use switchboard_actors::realtime::{ConversationItem, Dialect, SessionUpdate, TokenUsage};

use super::control::Failure;

/// Everything one connection saw and did, in order. Snapshot with
/// [`RealtimePeer::connections`](super::RealtimePeer::connections).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionLog {
    /// Index of this connection in accept order (0, 1, …).
    pub id: usize,
    /// Path of the upgrade request (`/v1/realtime`).
    pub path: Option<String>,
    /// `model` query parameter of the upgrade request, percent-decoded.
    pub model: Option<String>,
    /// Bearer token of the `Authorization` header.
    pub api_key: Option<String>,
    /// Whether the upgrade carried `OpenAI-Beta: realtime=v1`.
    pub beta_header: bool,
    /// Dialect the client speaks: from the shape of its latest `session.update` that tells,
    /// else from the headers (beta header → beta, none → GA). `None` before the upgrade.
    pub dialect: Option<Dialect>,
    /// Every `session.update`, summarized by the codec, in order.
    pub session_updates: Vec<SessionUpdate>,
    /// Number of `input_audio_buffer.append` events.
    pub audio_appends: u64,
    /// Decoded bytes of appended audio.
    pub audio_bytes: u64,
    /// Caller audio received, in ms of audio (at the input format's rate when appended).
    pub audio_ms: u64,
    /// Caller utterances committed (by the VAD or `input_audio_buffer.commit`), in order.
    pub utterances: Vec<Utterance>,
    /// Items the client created with `conversation.item.create` (e.g. the context replayed
    /// after a reconnect), in order.
    pub items_created: Vec<CreatedItem>,
    /// `conversation.item.truncate` events received, in order.
    pub truncates: Vec<TruncateLog>,
    /// `response.cancel` events received, in order.
    pub cancels: Vec<CancelLog>,
    /// Responses the peer started, in order, with their outcome.
    pub responses: Vec<ResponseLog>,
    /// `error` events sent, in order.
    pub errors_sent: Vec<SentError>,
    /// Injected failures this connection took, in order.
    pub failures: Vec<Failure>,
    /// How the connection ended; `None` while it is open.
    pub ended: Option<EndReason>,
}

impl ConnectionLog {
    /// The last `session.update` received.
    pub fn last_session_update(&self) -> Option<&SessionUpdate> {
        self.session_updates.last()
    }

    /// Responses started.
    pub fn responses_started(&self) -> usize {
        self.responses.len()
    }

    /// Responses that completed.
    pub fn responses_completed(&self) -> usize {
        self.count(|o| *o == ResponseOutcome::Completed)
    }

    /// Responses that were cancelled (barge-in or `response.cancel`).
    pub fn responses_cancelled(&self) -> usize {
        self.count(|o| matches!(o, ResponseOutcome::Cancelled { .. }))
    }

    fn count(&self, pred: impl Fn(&ResponseOutcome) -> bool) -> usize {
        self.responses.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// `(role, text)` of the message items the client created, in order.
    pub fn created_messages(&self) -> Vec<(String, String)> {
        self.items_created
            .iter()
            .filter_map(|created| match &created.item {
                ConversationItem::Message { role, .. } => {
                    Some((role.clone(), created.item.text().unwrap_or_default()))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.ended.is_none()
    }
}

/// One committed caller utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// The user item.
    pub item_id: String,
    /// Start in the input audio stream, in ms.
    pub start_ms: u64,
    /// End in the input audio stream, in ms.
    pub end_ms: u64,
    /// The transcript sent (`Caller utterance N (D ms)`).
    pub transcript: String,
}

/// One `conversation.item.create` from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedItem {
    /// Id the peer gave the item.
    pub item_id: String,
    /// The item, decoded by the codec.
    pub item: ConversationItem,
    /// False when the peer refused it with an `error` (a `function_call_output` whose
    /// `call_id` the conversation does not hold).
    pub accepted: bool,
}

/// One `conversation.item.truncate` from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncateLog {
    /// Item to truncate.
    pub item_id: String,
    /// Content part.
    pub content_index: u32,
    /// Audio heard, in ms.
    pub audio_end_ms: u64,
    /// True when answered with `conversation.item.truncated`; false when answered with an
    /// `error` (unknown item, content index not 0, or more audio than was sent).
    pub valid: bool,
}

/// One `response.cancel` from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelLog {
    /// `response_id` of the request, if any.
    pub response_id: Option<String>,
    /// The response it cancelled; `None` when nothing matched (answered with an `error`).
    pub cancelled: Option<String>,
}

/// What a response carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseKind {
    /// Audio with its transcript.
    Audio,
    /// A function call.
    FunctionCall {
        /// Function name.
        name: String,
        /// Call id.
        call_id: String,
        /// Arguments JSON text.
        arguments: String,
    },
}

/// How a response ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// Still streaming.
    InProgress,
    /// `response.done` with status `completed`.
    Completed,
    /// `response.done` with status `cancelled` and this `status_details.reason`
    /// (`turn_detected` or `client_cancelled`).
    Cancelled {
        /// The reason sent.
        reason: String,
    },
    /// Never finished: the socket was dropped ([`Failure::CloseMidResponse`]), the session
    /// expired or the connection ended.
    Aborted,
}

/// One response the peer started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseLog {
    /// Response id.
    pub response_id: String,
    /// Its output item.
    pub item_id: String,
    /// Audio or function call.
    pub kind: ResponseKind,
    /// Full transcript of the audio (empty for a function call).
    pub transcript: String,
    /// Audio sent in deltas, in ms.
    pub audio_ms_sent: u64,
    /// Number of audio deltas sent.
    pub deltas_sent: u32,
    /// Outcome.
    pub outcome: ResponseOutcome,
    /// The `usage` its `response.done` reported (none while it runs).
    pub usage: Option<TokenUsage>,
}

/// One `error` event the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentError {
    /// `error.type`.
    pub error_type: String,
    /// `error.code`.
    pub code: Option<String>,
    /// `error.message`.
    pub message: String,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The client sent a close frame (its code, if any).
    ClientClosed {
        /// Close code.
        code: Option<u16>,
    },
    /// The client's socket ended or failed without a close frame.
    ClientVanished,
    /// The peer closed with a close frame: 1001 after `session_expired` or on shutdown.
    PeerClosed {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The peer dropped the socket without a close frame ([`Failure::CloseMidResponse`]).
    PeerDropped,
    /// The upgrade was refused with this HTTP status (401, 404, 503).
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// The websocket handshake failed or timed out.
    HandshakeFailed,
}

/// All connection logs, shared by the peer and its connection tasks (opened with a
/// [`ConnectionLog`] of the connection's id).
pub(super) type Logs = crate::watched::Watched<ConnectionLog>;
