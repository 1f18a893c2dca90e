//! Server events as Switchboard sees them, independent of dialect.
//!
//! Renamed beta/GA events decode to the same variant (e.g. `response.audio.delta` and
//! `response.output_audio.delta` are both [`ServerEvent::AudioDelta`]). String fields are
//! `Cow`s that borrow from the frame text whenever the JSON string has no escape sequences,
//! which is always the case for ids and base64 audio; a string with escapes (a transcript
//! with `\"` or `\u00e9`, or base64 from an encoder that writes `\/`) is decoded correctly
//! into an owned string instead of failing.

use std::borrow::Cow;

use super::dialect::Dialect;

/// One decoded server event. Parse with [`parse_server_event`](super::parse_server_event).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent<'a> {
    /// `error`: a request failed; most errors leave the session usable, see
    /// [`ApiError::is_fatal`].
    Error(ApiError<'a>),
    /// `session.created`: first event on every connection.
    SessionCreated(SessionInfo<'a>),
    /// `session.updated`: acknowledges a `session.update`.
    SessionUpdated(SessionInfo<'a>),
    /// `conversation.item.created` (both dialects).
    ItemCreated {
        /// Item this one follows, `None` at the start of the conversation.
        previous_item_id: Option<Cow<'a, str>>,
        /// The created item.
        item: ItemInfo<'a>,
    },
    /// `conversation.item.added` (GA only).
    ItemAdded {
        /// Item this one follows.
        previous_item_id: Option<Cow<'a, str>>,
        /// The added item.
        item: ItemInfo<'a>,
    },
    /// `conversation.item.done` (GA only): the item is complete.
    ItemDone {
        /// Item this one follows.
        previous_item_id: Option<Cow<'a, str>>,
        /// The finished item.
        item: ItemInfo<'a>,
    },
    /// `conversation.item.deleted`.
    ItemDeleted {
        /// Deleted item.
        item_id: Cow<'a, str>,
    },
    /// `conversation.item.truncated`: acknowledges `conversation.item.truncate`.
    ItemTruncated {
        /// Truncated assistant item.
        item_id: Cow<'a, str>,
        /// Truncated content part.
        content_index: u32,
        /// Audio kept, in ms.
        audio_end_ms: u64,
    },
    /// `input_audio_buffer.speech_started`: the caller started talking (barge-in signal).
    SpeechStarted {
        /// Position in the input audio stream, in ms.
        audio_start_ms: u64,
        /// User item that will hold this speech.
        item_id: Cow<'a, str>,
    },
    /// `input_audio_buffer.speech_stopped`.
    SpeechStopped {
        /// Position in the input audio stream, in ms.
        audio_end_ms: u64,
        /// User item holding this speech.
        item_id: Cow<'a, str>,
    },
    /// `input_audio_buffer.committed`: input audio became a user item.
    AudioCommitted {
        /// The new user item.
        item_id: Cow<'a, str>,
        /// Item it follows, if any.
        previous_item_id: Option<Cow<'a, str>>,
    },
    /// `input_audio_buffer.cleared`.
    AudioCleared,
    /// `input_audio_buffer.timeout_triggered` (GA only): the caller stayed silent for the
    /// configured `idle_timeout_ms`.
    InputTimeout {
        /// Item created for the silent stretch.
        item_id: Cow<'a, str>,
        /// Start of the silent stretch, in ms.
        audio_start_ms: u64,
        /// End of the silent stretch, in ms.
        audio_end_ms: u64,
    },
    /// `input_audio_buffer.dtmf_event_received` (GA only, SIP).
    Dtmf {
        /// The key pressed: `0`–`9`, `*`, `#`, `A`–`D`.
        digit: Cow<'a, str>,
        /// Unix time (s) the server received it.
        received_at: u64,
    },
    /// `conversation.item.input_audio_transcription.delta`.
    InputTranscriptionDelta {
        /// User item being transcribed.
        item_id: Cow<'a, str>,
        /// Content part being transcribed.
        content_index: u32,
        /// Transcript fragment.
        delta: Cow<'a, str>,
    },
    /// `conversation.item.input_audio_transcription.completed`.
    InputTranscriptionCompleted {
        /// User item transcribed.
        item_id: Cow<'a, str>,
        /// Content part transcribed.
        content_index: u32,
        /// What the caller said.
        transcript: Cow<'a, str>,
    },
    /// `conversation.item.input_audio_transcription.failed`.
    InputTranscriptionFailed {
        /// User item that failed to transcribe.
        item_id: Cow<'a, str>,
        /// Content part.
        content_index: u32,
        /// Error code, e.g. `audio_unintelligible`.
        code: Option<Cow<'a, str>>,
        /// Human-readable reason.
        message: Cow<'a, str>,
    },
    /// `response.created`.
    ResponseCreated {
        /// New response.
        response_id: Cow<'a, str>,
    },
    /// `response.output_item.added`.
    OutputItemAdded {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Position in the response output.
        output_index: u32,
        /// The item (a `message` or `function_call`).
        item: ItemInfo<'a>,
    },
    /// `response.output_item.done`.
    OutputItemDone {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Position in the response output.
        output_index: u32,
        /// The finished item.
        item: ItemInfo<'a>,
    },
    /// `response.output_audio.delta` (GA) / `response.audio.delta` (beta): the hot path.
    AudioDelta {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item the audio belongs to (needed for truncation).
        item_id: Cow<'a, str>,
        /// Base64 audio in the session's output format: borrowed from the frame (no
        /// allocation), or an owned copy if the JSON string used escapes such as `\/`.
        delta_b64: Cow<'a, str>,
    },
    /// `response.output_audio.done` (GA) / `response.audio.done` (beta).
    AudioDone {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item.
        item_id: Cow<'a, str>,
    },
    /// `response.output_audio_transcript.delta` (GA) / `response.audio_transcript.delta`.
    TranscriptDelta {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item.
        item_id: Cow<'a, str>,
        /// Transcript fragment of what the assistant says.
        delta: Cow<'a, str>,
    },
    /// `response.output_audio_transcript.done` (GA) / `response.audio_transcript.done`.
    TranscriptDone {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item.
        item_id: Cow<'a, str>,
        /// Full transcript of the assistant audio part.
        transcript: Cow<'a, str>,
    },
    /// `response.output_text.delta` (GA) / `response.text.delta` (beta).
    TextDelta {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item.
        item_id: Cow<'a, str>,
        /// Text fragment.
        delta: Cow<'a, str>,
    },
    /// `response.output_text.done` (GA) / `response.text.done` (beta).
    TextDone {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// Assistant item.
        item_id: Cow<'a, str>,
        /// Full text.
        text: Cow<'a, str>,
    },
    /// `response.function_call_arguments.delta`.
    FunctionCallArgumentsDelta {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// The `function_call` item.
        item_id: Cow<'a, str>,
        /// Call id to answer with `function_call_output`.
        call_id: Cow<'a, str>,
        /// Fragment of the JSON arguments text.
        delta: Cow<'a, str>,
    },
    /// `response.function_call_arguments.done`: the model wants a tool run.
    FunctionCallDone {
        /// Owning response.
        response_id: Cow<'a, str>,
        /// The `function_call` item.
        item_id: Cow<'a, str>,
        /// Call id to answer with `function_call_output`.
        call_id: Cow<'a, str>,
        /// Function name; older beta servers omit it here (it is always on the item in
        /// [`ServerEvent::OutputItemAdded`]).
        name: Option<Cow<'a, str>>,
        /// Arguments as JSON text (not parsed).
        arguments: Cow<'a, str>,
    },
    /// `response.done`: the response finished, was cancelled, failed or was cut short.
    ResponseDone {
        /// Finished response.
        response_id: Cow<'a, str>,
        /// Final status.
        status: ResponseStatus,
        /// `status_details.reason`: `turn_detected`, `client_cancelled`,
        /// `max_output_tokens`, `content_filter`, …
        reason: Option<Cow<'a, str>>,
        /// `status_details.error.code` of a failed response.
        error_code: Option<Cow<'a, str>>,
        /// `usage`: the tokens the response consumed, when reported.
        usage: Option<TokenUsage>,
    },
    /// `rate_limits.updated`.
    RateLimits(Vec<RateLimit<'a>>),
    /// Any other event, known or not: tolerated and only named.
    Other {
        /// The event's `type`.
        event_type: Cow<'a, str>,
    },
}

impl ServerEvent<'_> {
    /// True for an `error` event after which the session is gone (see [`ApiError::is_fatal`]).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ServerEvent::Error(err) if err.is_fatal())
    }

    /// True for the `session_expired` error (followed by close code 1001).
    pub fn is_session_expired(&self) -> bool {
        matches!(self, ServerEvent::Error(err) if err.is_session_expired())
    }
}

/// Body of an `error` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError<'a> {
    /// `error.type`, e.g. `invalid_request_error`, `server_error`.
    pub error_type: Cow<'a, str>,
    /// `error.code`, e.g. `session_expired`.
    pub code: Option<Cow<'a, str>>,
    /// Human-readable message.
    pub message: Cow<'a, str>,
    /// Offending parameter, if any.
    pub param: Option<Cow<'a, str>>,
    /// `event_id` of the client event that caused the error, if any.
    pub event_id: Option<Cow<'a, str>>,
}

/// Error codes after which the server closes the connection.
const FATAL_CODES: [&str; 2] = ["session_expired", "invalid_api_key"];

impl ApiError<'_> {
    /// True when the session hit its maximum duration.
    pub fn is_session_expired(&self) -> bool {
        self.code.as_deref() == Some("session_expired")
    }

    /// True when the server is about to close the session (`session_expired`,
    /// `invalid_api_key`). Everything else (bad parameters, unknown item ids, a failed
    /// response, transient server errors) leaves the session usable.
    pub fn is_fatal(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| FATAL_CODES.contains(&code))
    }
}

/// The `session` object of `session.created` / `session.updated`, summarized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo<'a> {
    /// Session id.
    pub id: Option<Cow<'a, str>>,
    /// Model serving the session.
    pub model: Option<Cow<'a, str>>,
    /// Dialect the session object is shaped in (GA: `type: "realtime"`, nested `audio`,
    /// `output_modalities`; beta: flat `modalities`, `*_audio_format`), if recognizable.
    pub dialect: Option<Dialect>,
}

/// A conversation item, summarized (content is not decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInfo<'a> {
    /// Item id.
    pub id: Cow<'a, str>,
    /// `message`, `function_call`, `function_call_output`, …
    pub item_type: Cow<'a, str>,
    /// `user`, `assistant` or `system` for messages.
    pub role: Option<Cow<'a, str>>,
    /// `in_progress`, `completed`, `incomplete`.
    pub status: Option<Cow<'a, str>>,
    /// Call id of `function_call` / `function_call_output` items.
    pub call_id: Option<Cow<'a, str>>,
    /// Function name of `function_call` items.
    pub name: Option<Cow<'a, str>>,
}

/// Final (or initial) status of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// Still generating (only in `response.created`).
    InProgress,
    /// Finished normally.
    Completed,
    /// Cancelled by barge-in (`turn_detected`) or `response.cancel` (`client_cancelled`).
    Cancelled,
    /// Failed; see `error_code`.
    Failed,
    /// Cut short (`max_output_tokens`, `content_filter`).
    Incomplete,
}

impl ResponseStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::InProgress => "in_progress",
            ResponseStatus::Completed => "completed",
            ResponseStatus::Cancelled => "cancelled",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Incomplete => "incomplete",
        }
    }

    /// Parses a wire name.
    pub fn from_wire(name: &str) -> Option<ResponseStatus> {
        match name {
            "in_progress" => Some(ResponseStatus::InProgress),
            "completed" => Some(ResponseStatus::Completed),
            "cancelled" => Some(ResponseStatus::Cancelled),
            "failed" => Some(ResponseStatus::Failed),
            "incomplete" => Some(ResponseStatus::Incomplete),
            _ => None,
        }
    }
}

/// One entry of `rate_limits.updated`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit<'a> {
    /// `requests` or `tokens`.
    pub name: Cow<'a, str>,
    /// Maximum allowed.
    pub limit: u64,
    /// Remaining before the limit is hit.
    pub remaining: u64,
    /// Seconds until the limit resets.
    pub reset_seconds: f64,
}

/// A response's `usage`: input tokens (text and audio the model read) and output tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}
