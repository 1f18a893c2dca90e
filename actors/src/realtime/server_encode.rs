//! Encoders for server events, for fake realtime servers in tests.
//!
//! [`ServerEncoder`] writes events in one dialect's names and shapes and numbers their
//! `event_id`s, so the frames look like the real service's.

use super::dialect::{AudioFormat, Dialect};
use super::json::to_json;
use super::server::{RateLimit, ResponseStatus, TokenUsage};
use super::server_wire::{
    BetaSessionWire, ErrorWire, GaAudioWire, GaFormatWire, GaInputWire, GaOutputWire,
    GaSessionWire, RateLimitWire, ResponseWire, SessionWire, UsageWire, Wire,
};

/// Produces server event frames in one dialect, with sequential `event_id`s.
#[derive(Debug, Clone)]
pub struct ServerEncoder {
    dialect: Dialect,
    events: u64,
}

impl ServerEncoder {
    /// An encoder speaking `dialect`.
    pub fn new(dialect: Dialect) -> ServerEncoder {
        ServerEncoder { dialect, events: 0 }
    }

    /// The dialect this encoder speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn event<'a>(&mut self, kind: &'a str) -> Wire<'a> {
        self.events += 1;
        Wire {
            kind,
            event_id: format!("event_{:04}", self.events),
            ..Wire::default()
        }
    }

    /// `session.created` with the service's default session for the dialect (PCM16 audio).
    pub fn session_created(&mut self, session_id: &str, model: &str) -> String {
        let session = match self.dialect {
            Dialect::Ga => SessionWire::Ga(GaSessionWire {
                kind: "realtime",
                object: "realtime.session",
                id: session_id,
                model,
                output_modalities: ["audio"],
                audio: GaAudioWire {
                    input: GaInputWire {
                        format: GaFormatWire::PCM16,
                    },
                    output: GaOutputWire {
                        format: GaFormatWire::PCM16,
                        voice: "marin",
                    },
                },
            }),
            Dialect::Beta => SessionWire::Beta(BetaSessionWire {
                id: session_id,
                object: "realtime.session",
                model,
                modalities: ["text", "audio"],
                voice: "alloy",
                input_audio_format: AudioFormat::Pcm16.beta_name(),
                output_audio_format: AudioFormat::Pcm16.beta_name(),
            }),
        };
        to_json(&Wire {
            session: Some(session),
            ..self.event("session.created")
        })
    }

    /// `session.updated` echoing the `session` object of a client `session.update` (as
    /// returned in [`SessionUpdate::raw`](super::SessionUpdate)), with `id` and `object`
    /// added when it is a JSON object.
    pub fn session_updated(&mut self, session_id: &str, session: &serde_json::Value) -> String {
        let mut session = session.clone();
        if let Some(map) = session.as_object_mut() {
            map.insert("id".to_owned(), session_id.into());
            map.insert("object".to_owned(), "realtime.session".into());
        }
        to_json(&Wire {
            session: Some(SessionWire::Echo(session)),
            ..self.event("session.updated")
        })
    }

    /// `error` with `error.type`, optional `error.code` and `error.message`.
    pub fn error(&mut self, error_type: &str, code: Option<&str>, message: &str) -> String {
        to_json(&Wire {
            error: Some(ErrorWire {
                kind: error_type,
                code,
                message,
                param: None,
                event_id: None,
            }),
            ..self.event("error")
        })
    }

    /// The `session_expired` error the service sends before closing with 1001.
    pub fn session_expired(&mut self, minutes: u32) -> String {
        let message = format!("Your session hit the maximum duration of {minutes} minutes.");
        self.error("invalid_request_error", Some("session_expired"), &message)
    }

    /// `conversation.item.created` with a raw item object.
    pub fn item_created(
        &mut self,
        previous_item_id: Option<&str>,
        item: &serde_json::Value,
    ) -> String {
        self.item_event("conversation.item.created", previous_item_id, item)
    }

    /// `conversation.item.added` (GA only) with a raw item object.
    pub fn item_added(
        &mut self,
        previous_item_id: Option<&str>,
        item: &serde_json::Value,
    ) -> String {
        self.item_event("conversation.item.added", previous_item_id, item)
    }

    /// `conversation.item.done` (GA only) with a raw item object.
    pub fn item_done(
        &mut self,
        previous_item_id: Option<&str>,
        item: &serde_json::Value,
    ) -> String {
        self.item_event("conversation.item.done", previous_item_id, item)
    }

    fn item_event(
        &mut self,
        kind: &'static str,
        previous_item_id: Option<&str>,
        item: &serde_json::Value,
    ) -> String {
        to_json(&Wire {
            previous_item_id: Some(previous_item_id),
            item: Some(item),
            ..self.event(kind)
        })
    }

    /// `conversation.item.deleted`.
    pub fn item_deleted(&mut self, item_id: &str) -> String {
        to_json(&Wire {
            item_id: Some(item_id),
            ..self.event("conversation.item.deleted")
        })
    }

    /// `conversation.item.truncated`.
    pub fn item_truncated(
        &mut self,
        item_id: &str,
        content_index: u32,
        audio_end_ms: u64,
    ) -> String {
        to_json(&Wire {
            item_id: Some(item_id),
            content_index: Some(content_index),
            audio_end_ms: Some(audio_end_ms),
            ..self.event("conversation.item.truncated")
        })
    }

    /// `input_audio_buffer.speech_started`.
    pub fn speech_started(&mut self, audio_start_ms: u64, item_id: &str) -> String {
        to_json(&Wire {
            audio_start_ms: Some(audio_start_ms),
            item_id: Some(item_id),
            ..self.event("input_audio_buffer.speech_started")
        })
    }

    /// `input_audio_buffer.speech_stopped`.
    pub fn speech_stopped(&mut self, audio_end_ms: u64, item_id: &str) -> String {
        to_json(&Wire {
            audio_end_ms: Some(audio_end_ms),
            item_id: Some(item_id),
            ..self.event("input_audio_buffer.speech_stopped")
        })
    }

    /// `input_audio_buffer.committed` (`previous_item_id` is `null` when `None`).
    pub fn committed(&mut self, item_id: &str, previous_item_id: Option<&str>) -> String {
        to_json(&Wire {
            previous_item_id: Some(previous_item_id),
            item_id: Some(item_id),
            ..self.event("input_audio_buffer.committed")
        })
    }

    /// `input_audio_buffer.cleared`.
    pub fn cleared(&mut self) -> String {
        to_json(&self.event("input_audio_buffer.cleared"))
    }

    /// `input_audio_buffer.timeout_triggered` (GA only).
    pub fn timeout_triggered(
        &mut self,
        item_id: &str,
        audio_start_ms: u64,
        audio_end_ms: u64,
    ) -> String {
        to_json(&Wire {
            audio_start_ms: Some(audio_start_ms),
            audio_end_ms: Some(audio_end_ms),
            item_id: Some(item_id),
            ..self.event("input_audio_buffer.timeout_triggered")
        })
    }

    /// `input_audio_buffer.dtmf_event_received` (GA only).
    pub fn dtmf(&mut self, digit: &str, received_at: u64) -> String {
        to_json(&Wire {
            event: Some(digit),
            received_at: Some(received_at),
            ..self.event("input_audio_buffer.dtmf_event_received")
        })
    }

    /// `conversation.item.input_audio_transcription.delta`.
    pub fn input_transcription_delta(
        &mut self,
        item_id: &str,
        content_index: u32,
        delta: &str,
    ) -> String {
        to_json(&Wire {
            item_id: Some(item_id),
            content_index: Some(content_index),
            delta: Some(delta),
            ..self.event("conversation.item.input_audio_transcription.delta")
        })
    }

    /// `conversation.item.input_audio_transcription.completed`.
    pub fn input_transcription_completed(
        &mut self,
        item_id: &str,
        content_index: u32,
        transcript: &str,
    ) -> String {
        to_json(&Wire {
            item_id: Some(item_id),
            content_index: Some(content_index),
            transcript: Some(transcript),
            ..self.event("conversation.item.input_audio_transcription.completed")
        })
    }

    /// `conversation.item.input_audio_transcription.failed`.
    pub fn input_transcription_failed(
        &mut self,
        item_id: &str,
        content_index: u32,
        code: Option<&str>,
        message: &str,
    ) -> String {
        to_json(&Wire {
            item_id: Some(item_id),
            content_index: Some(content_index),
            error: Some(ErrorWire {
                kind: "transcription_error",
                code,
                message,
                param: None,
                event_id: None,
            }),
            ..self.event("conversation.item.input_audio_transcription.failed")
        })
    }

    /// `response.created` (status `in_progress`).
    pub fn response_created(&mut self, response_id: &str) -> String {
        to_json(&Wire {
            response: Some(ResponseWire::new(
                response_id,
                ResponseStatus::InProgress,
                None,
            )),
            ..self.event("response.created")
        })
    }

    /// `response.output_item.added` with a raw item object.
    pub fn output_item_added(
        &mut self,
        response_id: &str,
        output_index: u32,
        item: &serde_json::Value,
    ) -> String {
        to_json(&Wire {
            response_id: Some(response_id),
            output_index: Some(output_index),
            item: Some(item),
            ..self.event("response.output_item.added")
        })
    }

    /// `response.output_item.done` with a raw item object.
    pub fn output_item_done(
        &mut self,
        response_id: &str,
        output_index: u32,
        item: &serde_json::Value,
    ) -> String {
        to_json(&Wire {
            response_id: Some(response_id),
            output_index: Some(output_index),
            item: Some(item),
            ..self.event("response.output_item.done")
        })
    }

    /// Output audio chunk: `response.output_audio.delta` (GA) / `response.audio.delta`.
    pub fn audio_delta(&mut self, response_id: &str, item_id: &str, audio_b64: &str) -> String {
        let kind = self.dialect.audio_delta_type();
        self.part_event(kind, response_id, item_id, |wire| {
            wire.delta = Some(audio_b64)
        })
    }

    /// `response.output_audio.done` (GA) / `response.audio.done` (beta).
    pub fn audio_done(&mut self, response_id: &str, item_id: &str) -> String {
        let kind = self.dialect.audio_done_type();
        self.part_event(kind, response_id, item_id, |_| ())
    }

    /// Output transcript chunk: `response.output_audio_transcript.delta` (GA) /
    /// `response.audio_transcript.delta` (beta).
    pub fn transcript_delta(&mut self, response_id: &str, item_id: &str, delta: &str) -> String {
        let kind = self.dialect.transcript_delta_type();
        self.part_event(kind, response_id, item_id, |wire| wire.delta = Some(delta))
    }

    /// `response.output_audio_transcript.done` (GA) / `response.audio_transcript.done`.
    pub fn transcript_done(
        &mut self,
        response_id: &str,
        item_id: &str,
        transcript: &str,
    ) -> String {
        let kind = self.dialect.transcript_done_type();
        self.part_event(kind, response_id, item_id, |wire| {
            wire.transcript = Some(transcript)
        })
    }

    /// `response.output_text.delta` (GA) / `response.text.delta` (beta).
    pub fn text_delta(&mut self, response_id: &str, item_id: &str, delta: &str) -> String {
        let kind = self.dialect.text_delta_type();
        self.part_event(kind, response_id, item_id, |wire| wire.delta = Some(delta))
    }

    /// `response.output_text.done` (GA) / `response.text.done` (beta).
    pub fn text_done(&mut self, response_id: &str, item_id: &str, text: &str) -> String {
        let kind = self.dialect.text_done_type();
        self.part_event(kind, response_id, item_id, |wire| wire.text = Some(text))
    }

    fn part_event<'a>(
        &mut self,
        kind: &'static str,
        response_id: &'a str,
        item_id: &'a str,
        fill: impl FnOnce(&mut Wire<'a>),
    ) -> String {
        let mut wire = Wire {
            response_id: Some(response_id),
            item_id: Some(item_id),
            output_index: Some(0),
            content_index: Some(0),
            ..self.event(kind)
        };
        fill(&mut wire);
        to_json(&wire)
    }

    /// `response.function_call_arguments.delta`.
    pub fn function_call_arguments_delta(
        &mut self,
        response_id: &str,
        item_id: &str,
        call_id: &str,
        delta: &str,
    ) -> String {
        to_json(&Wire {
            response_id: Some(response_id),
            item_id: Some(item_id),
            output_index: Some(0),
            call_id: Some(call_id),
            delta: Some(delta),
            ..self.event("response.function_call_arguments.delta")
        })
    }

    /// `response.function_call_arguments.done`; `arguments` is JSON text.
    pub fn function_call_arguments_done(
        &mut self,
        response_id: &str,
        item_id: &str,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> String {
        to_json(&Wire {
            response_id: Some(response_id),
            item_id: Some(item_id),
            output_index: Some(0),
            call_id: Some(call_id),
            name: Some(name),
            arguments: Some(arguments),
            ..self.event("response.function_call_arguments.done")
        })
    }

    /// `response.done` with `status` and optional `status_details.reason`.
    pub fn response_done(
        &mut self,
        response_id: &str,
        status: ResponseStatus,
        reason: Option<&str>,
    ) -> String {
        to_json(&Wire {
            response: Some(ResponseWire::new(response_id, status, reason)),
            ..self.event("response.done")
        })
    }

    /// `response.done` of a response that reports its token `usage`.
    pub fn response_done_with_usage(
        &mut self,
        response_id: &str,
        status: ResponseStatus,
        reason: Option<&str>,
        usage: TokenUsage,
    ) -> String {
        let mut response = ResponseWire::new(response_id, status, reason);
        response.usage = Some(UsageWire {
            total_tokens: usage.input_tokens + usage.output_tokens,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        });
        to_json(&Wire {
            response: Some(response),
            ..self.event("response.done")
        })
    }

    /// `rate_limits.updated`.
    pub fn rate_limits_updated(&mut self, limits: &[RateLimit<'_>]) -> String {
        let limits = limits
            .iter()
            .map(|limit| RateLimitWire {
                name: &limit.name,
                limit: limit.limit,
                remaining: limit.remaining,
                reset_seconds: limit.reset_seconds,
            })
            .collect();
        to_json(&Wire {
            rate_limits: Some(limits),
            ..self.event("rate_limits.updated")
        })
    }
}
