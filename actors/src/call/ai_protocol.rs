//! The AI side of a call, as the pipeline sees it: a small protocol seam.
//!
//! The pipeline decides barge-in, marks and rows from what the AI says ([`AiEvent`]) and asks it
//! for things ([`AiCommand`]); how those look on the wire is the protocol's business. OpenAI
//! Realtime is [`RealtimeProtocol`]; a second protocol (GPT-Live, PROTOCOLS.md §G) is another
//! implementation of [`AiProtocol`] beside it, without touching barge-in or the ledger.

use std::borrow::Cow;

use super::core::AiCommand;
use crate::realtime::{self, Dialect, ServerEvent, SessionConfig, TokenUsage};

/// What the AI said, in the pipeline's terms. Strings borrow from the frame when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum AiEvent<'a> {
    /// Agent audio for `item_id`, base64 in the session's audio format.
    AudioDelta {
        item_id: Cow<'a, str>,
        audio_b64: Cow<'a, str>,
    },
    /// The AI's voice activity detection heard the caller start (`audio_start_ms` on the AI's
    /// input clock).
    SpeechStarted {
        item_id: Cow<'a, str>,
        audio_start_ms: u64,
    },
    SpeechStopped {
        item_id: Cow<'a, str>,
        audio_end_ms: u64,
    },
    /// The caller's words, transcribed.
    InputTranscript {
        item_id: Cow<'a, str>,
        transcript: Cow<'a, str>,
    },
    /// The agent's words (the transcript of its audio item).
    OutputTranscript {
        item_id: Cow<'a, str>,
        transcript: Cow<'a, str>,
    },
    ResponseStarted,
    /// With the tokens it reported, if any.
    ResponseDone(Option<TokenUsage>),
    /// The model calls a tool.
    FunctionCall {
        call_id: Cow<'a, str>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
    /// An error from the service; a fatal one ends the session.
    Error {
        code: Option<Cow<'a, str>>,
        message: Cow<'a, str>,
        fatal: bool,
    },
    /// Nothing the call acts on.
    Other,
}

/// One AI protocol: parses the service's frames and writes the call's commands.
pub trait AiProtocol: Send + 'static {
    /// Decodes one text frame of the service.
    fn parse<'a>(&self, text: &'a str) -> Result<AiEvent<'a>, String>;

    /// Writes the append of base64 caller audio (in the call's audio format) into `out`
    /// (the per-frame path: no allocation once `out` has grown).
    fn encode_audio_append(&self, audio_b64: &str, out: &mut String);

    /// Encodes a command. `taken_over`: a supervisor has the call, so the session must answer
    /// no turn of its own (it still transcribes the caller).
    fn encode(&self, command: &AiCommand, taken_over: bool) -> String;

    /// The language to label caller transcripts with, when the session fixes one.
    fn language(&self) -> Option<&str>;
}

/// OpenAI Realtime, beta or GA dialect.
#[derive(Debug, Clone)]
pub struct RealtimeProtocol {
    pub dialect: Dialect,
    pub session: SessionConfig,
}

impl AiProtocol for RealtimeProtocol {
    fn parse<'a>(&self, text: &'a str) -> Result<AiEvent<'a>, String> {
        let event = realtime::parse_server_event(text).map_err(|e| e.to_string())?;
        Ok(match event {
            ServerEvent::AudioDelta {
                item_id, delta_b64, ..
            } => AiEvent::AudioDelta {
                item_id,
                audio_b64: delta_b64,
            },
            ServerEvent::SpeechStarted {
                item_id,
                audio_start_ms,
            } => AiEvent::SpeechStarted {
                item_id,
                audio_start_ms,
            },
            ServerEvent::SpeechStopped {
                item_id,
                audio_end_ms,
            } => AiEvent::SpeechStopped {
                item_id,
                audio_end_ms,
            },
            ServerEvent::InputTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => AiEvent::InputTranscript {
                item_id,
                transcript,
            },
            ServerEvent::TranscriptDone {
                item_id,
                transcript,
                ..
            } => AiEvent::OutputTranscript {
                item_id,
                transcript,
            },
            ServerEvent::ResponseCreated { .. } => AiEvent::ResponseStarted,
            ServerEvent::ResponseDone { usage, .. } => AiEvent::ResponseDone(usage),
            ServerEvent::FunctionCallDone {
                call_id,
                name,
                arguments,
                ..
            } => AiEvent::FunctionCall {
                call_id,
                name: name.unwrap_or_default(),
                arguments,
            },
            ServerEvent::Error(error) => {
                let fatal = error.is_fatal();
                AiEvent::Error {
                    code: error.code,
                    message: error.message,
                    fatal,
                }
            }
            _ => AiEvent::Other,
        })
    }

    fn encode_audio_append(&self, audio_b64: &str, out: &mut String) {
        realtime::encode_audio_append(audio_b64, out);
    }

    fn encode(&self, command: &AiCommand, taken_over: bool) -> String {
        match command {
            AiCommand::SessionUpdate if taken_over => {
                let mut session = self.session.clone();
                session.vad.create_response = false;
                session.vad.interrupt_response = false;
                session.session_update(self.dialect)
            }
            AiCommand::SessionUpdate => self.session.session_update(self.dialect),
            AiCommand::SystemText(text) => realtime::item_create_system_text(text),
            AiCommand::ReplayUser(text) => realtime::item_create_user_text(text),
            AiCommand::ReplayAssistant(text) => {
                realtime::item_create_assistant_text(self.dialect, text)
            }
            AiCommand::Truncate {
                item_id,
                audio_end_ms,
            } => realtime::truncate(item_id, *audio_end_ms),
            AiCommand::CancelResponse => realtime::response_cancel(None),
            AiCommand::FunctionOutput { call_id, output } => {
                realtime::item_create_function_output(call_id, output)
            }
            AiCommand::CreateResponse => realtime::response_create(),
            AiCommand::Respond { instructions } => {
                realtime::response_create_with(&serde_json::json!({ "instructions": instructions }))
            }
        }
    }

    fn language(&self) -> Option<&str> {
        self.session.language.as_deref()
    }
}
