//! Decoding of server events.
//!
//! One pass of `serde_json` fills a flat struct holding the union of the fields of all
//! known events (strings borrowed when unescaped, unknown fields skipped), then the event
//! type picks the variant and checks its required fields. An audio delta frame therefore
//! decodes without allocating. Only if that pass fails (malformed JSON, or an event whose
//! fields have types this codec does not expect) is the frame re-read for its `type`
//! alone, so that unknown events are still tolerated.

use super::dialect::Dialect;
use super::error::{RealtimeError, required};
use super::json::cow;
use super::server::{
    ApiError, ItemInfo, RateLimit, ResponseStatus, ServerEvent, SessionInfo, TokenUsage,
};
use super::server_raw::{
    Envelope, RawError, RawEvent, RawItem, RawRateLimit, RawResponse, RawSession,
};

/// Decodes one server event frame.
///
/// Unknown event types give [`ServerEvent::Other`], unknown fields are ignored, a known
/// event lacking a required field gives [`RealtimeError::MissingField`], and text that is
/// not a JSON object with a string `type` gives [`RealtimeError::InvalidJson`] (or
/// `MissingField("type")`).
pub fn parse_server_event(text: &str) -> Result<ServerEvent<'_>, RealtimeError> {
    match serde_json::from_str::<RawEvent<'_>>(text) {
        Ok(mut raw) => {
            let kind = required(raw.kind.take(), "type")?.0;
            match Kind::of(&kind) {
                Some(known) => build(known, raw),
                None => Ok(ServerEvent::Other { event_type: kind }),
            }
        }
        // Re-read only the `type`: an unknown event may use known field names differently.
        Err(err) => match serde_json::from_str::<Envelope<'_>>(text) {
            Ok(Envelope { kind: Some(kind) }) if Kind::of(&kind.0).is_none() => {
                Ok(ServerEvent::Other { event_type: kind.0 })
            }
            Ok(Envelope { kind: None }) => Err(RealtimeError::MissingField("type")),
            _ => Err(err.into()),
        },
    }
}

/// Which dialect an event type belongs to: `Some` only for the renamed and GA-only events,
/// `None` for events common to both (and unknown ones).
pub fn server_event_dialect(event_type: &str) -> Option<Dialect> {
    match event_type {
        "response.audio.delta"
        | "response.audio.done"
        | "response.audio_transcript.delta"
        | "response.audio_transcript.done"
        | "response.text.delta"
        | "response.text.done" => Some(Dialect::Beta),
        "response.output_audio.delta"
        | "response.output_audio.done"
        | "response.output_audio_transcript.delta"
        | "response.output_audio_transcript.done"
        | "response.output_text.delta"
        | "response.output_text.done"
        | "conversation.item.added"
        | "conversation.item.done"
        | "input_audio_buffer.timeout_triggered"
        | "input_audio_buffer.dtmf_event_received"
        | "conversation.item.input_audio_transcription.segment" => Some(Dialect::Ga),
        _ => None,
    }
}

/// The event types with a dedicated variant (beta and GA names folded together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error,
    SessionCreated,
    SessionUpdated,
    ItemCreated,
    ItemAdded,
    ItemDone,
    ItemDeleted,
    ItemTruncated,
    SpeechStarted,
    SpeechStopped,
    AudioCommitted,
    AudioCleared,
    InputTimeout,
    Dtmf,
    InputTranscriptionDelta,
    InputTranscriptionCompleted,
    InputTranscriptionFailed,
    ResponseCreated,
    OutputItemAdded,
    OutputItemDone,
    AudioDelta,
    AudioDone,
    TranscriptDelta,
    TranscriptDone,
    TextDelta,
    TextDone,
    FunctionCallArgumentsDelta,
    FunctionCallDone,
    ResponseDone,
    RateLimits,
}

impl Kind {
    fn of(event_type: &str) -> Option<Kind> {
        Some(match event_type {
            "error" => Kind::Error,
            "session.created" => Kind::SessionCreated,
            "session.updated" => Kind::SessionUpdated,
            "conversation.item.created" => Kind::ItemCreated,
            "conversation.item.added" => Kind::ItemAdded,
            "conversation.item.done" => Kind::ItemDone,
            "conversation.item.deleted" => Kind::ItemDeleted,
            "conversation.item.truncated" => Kind::ItemTruncated,
            "input_audio_buffer.speech_started" => Kind::SpeechStarted,
            "input_audio_buffer.speech_stopped" => Kind::SpeechStopped,
            "input_audio_buffer.committed" => Kind::AudioCommitted,
            "input_audio_buffer.cleared" => Kind::AudioCleared,
            "input_audio_buffer.timeout_triggered" => Kind::InputTimeout,
            "input_audio_buffer.dtmf_event_received" => Kind::Dtmf,
            "conversation.item.input_audio_transcription.delta" => Kind::InputTranscriptionDelta,
            "conversation.item.input_audio_transcription.completed" => {
                Kind::InputTranscriptionCompleted
            }
            "conversation.item.input_audio_transcription.failed" => Kind::InputTranscriptionFailed,
            "response.created" => Kind::ResponseCreated,
            "response.output_item.added" => Kind::OutputItemAdded,
            "response.output_item.done" => Kind::OutputItemDone,
            "response.output_audio.delta" | "response.audio.delta" => Kind::AudioDelta,
            "response.output_audio.done" | "response.audio.done" => Kind::AudioDone,
            "response.output_audio_transcript.delta" | "response.audio_transcript.delta" => {
                Kind::TranscriptDelta
            }
            "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
                Kind::TranscriptDone
            }
            "response.output_text.delta" | "response.text.delta" => Kind::TextDelta,
            "response.output_text.done" | "response.text.done" => Kind::TextDone,
            "response.function_call_arguments.delta" => Kind::FunctionCallArgumentsDelta,
            "response.function_call_arguments.done" => Kind::FunctionCallDone,
            "response.done" => Kind::ResponseDone,
            "rate_limits.updated" => Kind::RateLimits,
            _ => return None,
        })
    }
}

fn build(kind: Kind, raw: RawEvent<'_>) -> Result<ServerEvent<'_>, RealtimeError> {
    let item_id = raw.item_id.map(|s| s.0);
    let response_id = raw.response_id.map(|s| s.0);
    Ok(match kind {
        Kind::Error => ServerEvent::Error(api_error(required(raw.error, "error")?)?),
        Kind::SessionCreated => ServerEvent::SessionCreated(session(raw.session)?),
        Kind::SessionUpdated => ServerEvent::SessionUpdated(session(raw.session)?),
        Kind::ItemCreated => ServerEvent::ItemCreated {
            previous_item_id: cow(raw.previous_item_id),
            item: item_info(raw.item)?,
        },
        Kind::ItemAdded => ServerEvent::ItemAdded {
            previous_item_id: cow(raw.previous_item_id),
            item: item_info(raw.item)?,
        },
        Kind::ItemDone => ServerEvent::ItemDone {
            previous_item_id: cow(raw.previous_item_id),
            item: item_info(raw.item)?,
        },
        Kind::ItemDeleted => ServerEvent::ItemDeleted {
            item_id: required(item_id, "item_id")?,
        },
        Kind::ItemTruncated => ServerEvent::ItemTruncated {
            item_id: required(item_id, "item_id")?,
            content_index: required(raw.content_index, "content_index")?,
            audio_end_ms: required(raw.audio_end_ms, "audio_end_ms")?,
        },
        Kind::SpeechStarted => ServerEvent::SpeechStarted {
            audio_start_ms: required(raw.audio_start_ms, "audio_start_ms")?,
            item_id: required(item_id, "item_id")?,
        },
        Kind::SpeechStopped => ServerEvent::SpeechStopped {
            audio_end_ms: required(raw.audio_end_ms, "audio_end_ms")?,
            item_id: required(item_id, "item_id")?,
        },
        Kind::AudioCommitted => ServerEvent::AudioCommitted {
            item_id: required(item_id, "item_id")?,
            previous_item_id: cow(raw.previous_item_id),
        },
        Kind::AudioCleared => ServerEvent::AudioCleared,
        Kind::InputTimeout => ServerEvent::InputTimeout {
            item_id: required(item_id, "item_id")?,
            audio_start_ms: required(raw.audio_start_ms, "audio_start_ms")?,
            audio_end_ms: required(raw.audio_end_ms, "audio_end_ms")?,
        },
        Kind::Dtmf => ServerEvent::Dtmf {
            digit: required(cow(raw.event), "event")?,
            received_at: required(raw.received_at, "received_at")?,
        },
        Kind::InputTranscriptionDelta => ServerEvent::InputTranscriptionDelta {
            item_id: required(item_id, "item_id")?,
            content_index: required(raw.content_index, "content_index")?,
            delta: required(cow(raw.delta), "delta")?,
        },
        Kind::InputTranscriptionCompleted => ServerEvent::InputTranscriptionCompleted {
            item_id: required(item_id, "item_id")?,
            content_index: required(raw.content_index, "content_index")?,
            transcript: required(cow(raw.transcript), "transcript")?,
        },
        Kind::InputTranscriptionFailed => {
            let error = required(raw.error, "error")?;
            ServerEvent::InputTranscriptionFailed {
                item_id: required(item_id, "item_id")?,
                content_index: required(raw.content_index, "content_index")?,
                code: cow(error.code),
                message: required(cow(error.message), "error.message")?,
            }
        }
        Kind::ResponseCreated => ServerEvent::ResponseCreated {
            response_id: required(cow(required(raw.response, "response")?.id), "response.id")?,
        },
        Kind::OutputItemAdded => ServerEvent::OutputItemAdded {
            response_id: required(response_id, "response_id")?,
            output_index: required(raw.output_index, "output_index")?,
            item: item_info(raw.item)?,
        },
        Kind::OutputItemDone => ServerEvent::OutputItemDone {
            response_id: required(response_id, "response_id")?,
            output_index: required(raw.output_index, "output_index")?,
            item: item_info(raw.item)?,
        },
        Kind::AudioDelta => ServerEvent::AudioDelta {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            delta_b64: required(cow(raw.delta), "delta")?,
        },
        Kind::AudioDone => ServerEvent::AudioDone {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
        },
        Kind::TranscriptDelta => ServerEvent::TranscriptDelta {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            delta: required(cow(raw.delta), "delta")?,
        },
        Kind::TranscriptDone => ServerEvent::TranscriptDone {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            transcript: required(cow(raw.transcript), "transcript")?,
        },
        Kind::TextDelta => ServerEvent::TextDelta {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            delta: required(cow(raw.delta), "delta")?,
        },
        Kind::TextDone => ServerEvent::TextDone {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            text: required(cow(raw.text), "text")?,
        },
        Kind::FunctionCallArgumentsDelta => ServerEvent::FunctionCallArgumentsDelta {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            call_id: required(cow(raw.call_id), "call_id")?,
            delta: required(cow(raw.delta), "delta")?,
        },
        Kind::FunctionCallDone => ServerEvent::FunctionCallDone {
            response_id: required(response_id, "response_id")?,
            item_id: required(item_id, "item_id")?,
            call_id: required(cow(raw.call_id), "call_id")?,
            name: cow(raw.name),
            arguments: required(cow(raw.arguments), "arguments")?,
        },
        Kind::ResponseDone => response_done(required(raw.response, "response")?)?,
        Kind::RateLimits => {
            ServerEvent::RateLimits(rate_limits(required(raw.rate_limits, "rate_limits")?)?)
        }
    })
}

fn api_error(raw: RawError<'_>) -> Result<ApiError<'_>, RealtimeError> {
    Ok(ApiError {
        error_type: required(cow(raw.kind), "error.type")?,
        code: cow(raw.code),
        message: required(cow(raw.message), "error.message")?,
        param: cow(raw.param),
        event_id: cow(raw.event_id),
    })
}

fn session(raw: Option<RawSession<'_>>) -> Result<SessionInfo<'_>, RealtimeError> {
    let raw = required(raw, "session")?;
    let dialect = if raw.kind.is_some() || raw.audio.is_some() || raw.output_modalities.is_some() {
        Some(Dialect::Ga)
    } else if raw.modalities.is_some() || raw.input_audio_format.is_some() {
        Some(Dialect::Beta)
    } else {
        None
    };
    Ok(SessionInfo {
        id: cow(raw.id),
        model: cow(raw.model),
        dialect,
    })
}

fn item_info(raw: Option<RawItem<'_>>) -> Result<ItemInfo<'_>, RealtimeError> {
    let raw = required(raw, "item")?;
    Ok(ItemInfo {
        id: required(cow(raw.id), "item.id")?,
        item_type: required(cow(raw.kind), "item.type")?,
        role: cow(raw.role),
        status: cow(raw.status),
        call_id: cow(raw.call_id),
        name: cow(raw.name),
    })
}

fn response_done(raw: RawResponse<'_>) -> Result<ServerEvent<'_>, RealtimeError> {
    let status_text = required(cow(raw.status), "response.status")?;
    let status =
        ResponseStatus::from_wire(&status_text).ok_or_else(|| RealtimeError::InvalidField {
            field: "response.status",
            value: status_text.into_owned(),
        })?;
    let (reason, error_code) = match raw.status_details {
        Some(details) => (
            cow(details.reason),
            details.error.and_then(|error| cow(error.code)),
        ),
        None => (None, None),
    };
    let usage = raw.usage.map(|u| TokenUsage {
        input_tokens: u.input_tokens.unwrap_or(0),
        output_tokens: u.output_tokens.unwrap_or(0),
    });
    Ok(ServerEvent::ResponseDone {
        response_id: required(cow(raw.id), "response.id")?,
        status,
        reason,
        error_code,
        usage,
    })
}

fn rate_limits(raw: Vec<RawRateLimit<'_>>) -> Result<Vec<RateLimit<'_>>, RealtimeError> {
    raw.into_iter()
        .map(|limit| {
            Ok(RateLimit {
                name: required(cow(limit.name), "rate_limits.name")?,
                limit: required(limit.limit, "rate_limits.limit")?,
                remaining: required(limit.remaining, "rate_limits.remaining")?,
                reset_seconds: required(limit.reset_seconds, "rate_limits.reset_seconds")?,
            })
        })
        .collect()
}
