//! Decoding of a client `session.update` into a dialect-independent summary (used by fake
//! servers to check what a client configured).

use serde::Deserialize;
use serde_json::Value;

use super::dialect::{AudioFormat, Dialect};
use super::error::RealtimeError;
use super::session::VadConfig;

/// What a `session.update` sets. Every field is optional because an update may be
/// partial; both shapes are read, so a field is found whichever dialect the client used.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpdate {
    /// GA when the session has `type`, `audio` or `output_modalities`; beta when it has
    /// any beta-only flat field; `None` when nothing tells (e.g. only `instructions`).
    pub dialect: Option<Dialect>,
    /// `model` (GA only).
    pub model: Option<String>,
    /// `instructions`.
    pub instructions: Option<String>,
    /// `audio.output.voice` (GA) / `voice` (beta).
    pub voice: Option<String>,
    /// `audio.input.format` (GA) / `input_audio_format` (beta).
    pub input_format: Option<AudioFormat>,
    /// `audio.output.format` (GA) / `output_audio_format` (beta).
    pub output_format: Option<AudioFormat>,
    /// Transcription model.
    pub transcription_model: Option<String>,
    /// Transcription language hint.
    pub language: Option<String>,
    /// Turn detection when it is `server_vad` (missing numbers take the defaults).
    pub vad: Option<VadConfig>,
    /// `temperature` (beta only).
    pub temperature: Option<f64>,
    /// Names of the function tools, in order.
    pub tool_names: Vec<String>,
    /// The whole `session` object.
    pub raw: Value,
}

const BETA_ONLY_FIELDS: [&str; 8] = [
    "modalities",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
    "temperature",
    "max_response_output_tokens",
];

impl SessionUpdate {
    /// Summarizes the `session` object of a `session.update`.
    pub fn from_session(raw: Value) -> Result<SessionUpdate, RealtimeError> {
        let Some(session) = raw.as_object() else {
            return Err(invalid("session", &raw));
        };
        let audio_in = raw.pointer("/audio/input");
        let audio_out = raw.pointer("/audio/output");
        let dialect = if ["type", "audio", "output_modalities"]
            .iter()
            .any(|key| session.contains_key(*key))
        {
            Some(Dialect::Ga)
        } else if BETA_ONLY_FIELDS
            .iter()
            .any(|key| session.contains_key(*key))
        {
            Some(Dialect::Beta)
        } else {
            None
        };
        let transcription = audio_in
            .and_then(|input| input.get("transcription"))
            .or_else(|| raw.get("input_audio_transcription"))
            .filter(|value| !value.is_null());
        let turn_detection = audio_in
            .and_then(|input| input.get("turn_detection"))
            .or_else(|| raw.get("turn_detection"));
        Ok(SessionUpdate {
            dialect,
            model: opt_string(raw.get("model"), "session.model")?,
            instructions: opt_string(raw.get("instructions"), "session.instructions")?,
            voice: opt_string(
                audio_out
                    .and_then(|output| output.get("voice"))
                    .or_else(|| raw.get("voice")),
                "session.voice",
            )?,
            input_format: match audio_in.and_then(|input| input.get("format")) {
                Some(format) => ga_format(format, "session.audio.input.format")?,
                None => beta_format(raw.get("input_audio_format"), "session.input_audio_format")?,
            },
            output_format: match audio_out.and_then(|output| output.get("format")) {
                Some(format) => ga_format(format, "session.audio.output.format")?,
                None => beta_format(
                    raw.get("output_audio_format"),
                    "session.output_audio_format",
                )?,
            },
            transcription_model: opt_string(
                transcription.and_then(|t| t.get("model")),
                "session.transcription.model",
            )?,
            language: opt_string(
                transcription.and_then(|t| t.get("language")),
                "session.transcription.language",
            )?,
            vad: vad(turn_detection)?,
            temperature: match raw.get("temperature") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    value
                        .as_f64()
                        .ok_or_else(|| invalid("session.temperature", value))?,
                ),
            },
            tool_names: tool_names(raw.get("tools"))?,
            raw,
        })
    }
}

fn invalid(field: &'static str, value: &Value) -> RealtimeError {
    RealtimeError::InvalidField {
        field,
        value: value.to_string(),
    }
}

fn opt_string(value: Option<&Value>, field: &'static str) -> Result<Option<String>, RealtimeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(field, other)),
    }
}

fn ga_format(format: &Value, field: &'static str) -> Result<Option<AudioFormat>, RealtimeError> {
    if format.is_null() {
        return Ok(None);
    }
    let parsed = format
        .get("type")
        .and_then(Value::as_str)
        .and_then(AudioFormat::from_ga_type)
        .ok_or_else(|| invalid(field, format))?;
    let rate = format.get("rate").filter(|rate| !rate.is_null());
    if parsed == AudioFormat::Pcm16 && rate.is_some_and(|rate| rate.as_u64() != Some(24_000)) {
        return Err(invalid(field, format));
    }
    Ok(Some(parsed))
}

fn beta_format(
    format: Option<&Value>,
    field: &'static str,
) -> Result<Option<AudioFormat>, RealtimeError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_str()
            .and_then(AudioFormat::from_beta_name)
            .map(Some)
            .ok_or_else(|| invalid(field, value)),
    }
}

fn vad(turn_detection: Option<&Value>) -> Result<Option<VadConfig>, RealtimeError> {
    match turn_detection {
        Some(value) if value.get("type").and_then(Value::as_str) == Some("server_vad") => {
            Ok(Some(VadConfig::deserialize(value)?))
        }
        _ => Ok(None),
    }
}

fn tool_names(tools: Option<&Value>) -> Result<Vec<String>, RealtimeError> {
    match tools {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(tools)) => tools
            .iter()
            .map(|tool| {
                tool.get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid("session.tools.name", tool))
            })
            .collect(),
        Some(other) => Err(invalid("session.tools", other)),
    }
}
