//! Session configuration and its `session.update` encoding in both dialects.

use serde::{Deserialize, Serialize, Serializer};

use super::dialect::{AudioFormat, Dialect};
use super::json::to_json;

/// Server-side voice activity detection (`turn_detection` of type `server_vad`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VadConfig {
    /// Activation threshold, 0.0–1.0; higher needs louder speech.
    pub threshold: f64,
    /// Audio kept before detected speech start, in ms.
    pub prefix_padding_ms: u32,
    /// Silence that ends a user turn, in ms.
    pub silence_duration_ms: u32,
    /// Whether the server starts a response automatically when a turn ends.
    pub create_response: bool,
    /// Whether detected speech cancels the response in progress (barge-in).
    pub interrupt_response: bool,
    /// GA only: emit `input_audio_buffer.timeout_triggered` after this much caller silence
    /// following a response; `None` is sent as `null` (disabled). Never sent in beta.
    pub idle_timeout_ms: Option<u32>,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            create_response: true,
            interrupt_response: true,
            idle_timeout_ms: None,
        }
    }
}

/// A function tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Function name, as echoed in `response.function_call_arguments.done`.
    pub name: String,
    /// What the function does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

impl Tool {
    /// Convenience constructor.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Tool {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// GA input noise reduction (`audio.input.noise_reduction.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseReduction {
    /// Close-talking microphones (handsets, headsets).
    NearField,
    /// Far-field microphones (speakerphones, conference rooms).
    FarField,
}

/// How the model chooses tools (`tool_choice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// Never call tools.
    None,
    /// Always call some tool.
    Required,
}

/// Output token limit per response: `"inf"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxOutputTokens {
    /// No limit beyond the model's own (`"inf"`).
    #[default]
    Inf,
    /// At most this many tokens (1–4096).
    Limit(u32),
}

impl Serialize for MaxOutputTokens {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxOutputTokens::Inf => serializer.serialize_str("inf"),
            MaxOutputTokens::Limit(n) => serializer.serialize_u32(*n),
        }
    }
}

/// Everything Switchboard configures on a realtime session.
///
/// Fields marked GA-only or beta-only are silently left out of the other dialect's
/// `session.update`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// Model name; also selects the [`Dialect`] via [`Dialect::for_model`].
    pub model: String,
    /// Output voice (GA adds `marin` and `cedar`, which beta models reject).
    pub voice: String,
    /// System instructions.
    pub instructions: String,
    /// Input and output audio format (the same both ways).
    pub audio_format: AudioFormat,
    /// Model used for transcribing caller audio.
    pub transcription_model: String,
    /// ISO-639-1 hint for the transcription model; omitted when `None`.
    pub language: Option<String>,
    /// Server VAD settings.
    pub vad: VadConfig,
    /// Function tools.
    pub tools: Vec<Tool>,
    /// Tool choice policy.
    pub tool_choice: ToolChoice,
    /// GA only: input noise reduction; `None` is sent as `null` (off).
    pub noise_reduction: Option<NoiseReduction>,
    /// GA only: speech speed, clamped to 0.25–1.5 when encoded.
    pub speed: f64,
    /// Beta only: sampling temperature, clamped to 0.6–1.2 when encoded.
    pub temperature: f64,
    /// Output token limit per response.
    pub max_output_tokens: MaxOutputTokens,
}

impl Default for SessionConfig {
    /// GA defaults: `gpt-realtime`, voice `marin`, µ-law audio, `gpt-4o-mini-transcribe`,
    /// server VAD 0.5/300/500 with auto-response and barge-in, near-field noise reduction.
    fn default() -> Self {
        SessionConfig {
            model: "gpt-realtime".to_owned(),
            voice: "marin".to_owned(),
            instructions: String::new(),
            audio_format: AudioFormat::G711Ulaw,
            transcription_model: "gpt-4o-mini-transcribe".to_owned(),
            language: None,
            vad: VadConfig::default(),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            noise_reduction: Some(NoiseReduction::NearField),
            speed: 1.0,
            temperature: 0.8,
            max_output_tokens: MaxOutputTokens::Inf,
        }
    }
}

impl SessionConfig {
    /// Defaults with a model and voice valid for `dialect` (beta:
    /// `gpt-4o-realtime-preview` / `alloy`).
    pub fn for_dialect(dialect: Dialect) -> SessionConfig {
        match dialect {
            Dialect::Ga => SessionConfig::default(),
            Dialect::Beta => SessionConfig {
                model: "gpt-4o-realtime-preview".to_owned(),
                voice: "alloy".to_owned(),
                ..SessionConfig::default()
            },
        }
    }

    /// Encodes the `session.update` client event in the shape `dialect` expects.
    pub fn session_update(&self, dialect: Dialect) -> String {
        let tools: Vec<ToolWire<'_>> = self.tools.iter().map(ToolWire::from).collect();
        let transcription = TranscriptionWire {
            model: &self.transcription_model,
            language: self.language.as_deref(),
        };
        match dialect {
            Dialect::Ga => {
                let format = GaFormat::from(self.audio_format);
                to_json(&UpdateWire {
                    kind: "session.update",
                    session: GaSession {
                        kind: "realtime",
                        model: &self.model,
                        output_modalities: ["audio"],
                        instructions: &self.instructions,
                        audio: GaAudio {
                            input: GaInput {
                                format,
                                transcription,
                                noise_reduction: self
                                    .noise_reduction
                                    .map(|kind| NoiseReductionWire { kind }),
                                turn_detection: TurnDetectionWire::new(&self.vad, true),
                            },
                            output: GaOutput {
                                format,
                                voice: &self.voice,
                                speed: self.speed.clamp(0.25, 1.5),
                            },
                        },
                        tools,
                        tool_choice: self.tool_choice,
                        max_output_tokens: self.max_output_tokens,
                    },
                })
            }
            Dialect::Beta => to_json(&UpdateWire {
                kind: "session.update",
                session: BetaSession {
                    modalities: ["text", "audio"],
                    instructions: &self.instructions,
                    voice: &self.voice,
                    input_audio_format: self.audio_format.beta_name(),
                    output_audio_format: self.audio_format.beta_name(),
                    input_audio_transcription: transcription,
                    turn_detection: TurnDetectionWire::new(&self.vad, false),
                    tools,
                    tool_choice: self.tool_choice,
                    temperature: self.temperature.clamp(0.6, 1.2),
                    max_response_output_tokens: self.max_output_tokens,
                },
            }),
        }
    }
}

#[derive(Serialize)]
struct UpdateWire<S> {
    #[serde(rename = "type")]
    kind: &'static str,
    session: S,
}

#[derive(Serialize)]
struct GaSession<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    model: &'a str,
    output_modalities: [&'static str; 1],
    instructions: &'a str,
    audio: GaAudio<'a>,
    tools: Vec<ToolWire<'a>>,
    tool_choice: ToolChoice,
    max_output_tokens: MaxOutputTokens,
}

#[derive(Serialize)]
struct GaAudio<'a> {
    input: GaInput<'a>,
    output: GaOutput<'a>,
}

#[derive(Serialize)]
struct GaInput<'a> {
    format: GaFormat,
    transcription: TranscriptionWire<'a>,
    noise_reduction: Option<NoiseReductionWire>,
    turn_detection: TurnDetectionWire,
}

#[derive(Serialize)]
struct GaOutput<'a> {
    format: GaFormat,
    voice: &'a str,
    speed: f64,
}

#[derive(Serialize, Clone, Copy)]
struct GaFormat {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<u32>,
}

impl From<AudioFormat> for GaFormat {
    fn from(format: AudioFormat) -> GaFormat {
        GaFormat {
            kind: format.ga_type(),
            rate: (format == AudioFormat::Pcm16).then_some(24_000),
        }
    }
}

#[derive(Serialize)]
struct NoiseReductionWire {
    #[serde(rename = "type")]
    kind: NoiseReduction,
}

#[derive(Serialize)]
struct TranscriptionWire<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
}

#[derive(Serialize)]
struct TurnDetectionWire {
    #[serde(rename = "type")]
    kind: &'static str,
    threshold: f64,
    prefix_padding_ms: u32,
    silence_duration_ms: u32,
    create_response: bool,
    interrupt_response: bool,
    /// Outer `None`: field absent (beta); inner `None`: `null` (GA, disabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_timeout_ms: Option<Option<u32>>,
}

impl TurnDetectionWire {
    fn new(vad: &VadConfig, ga: bool) -> TurnDetectionWire {
        TurnDetectionWire {
            kind: "server_vad",
            threshold: vad.threshold,
            prefix_padding_ms: vad.prefix_padding_ms,
            silence_duration_ms: vad.silence_duration_ms,
            create_response: vad.create_response,
            interrupt_response: vad.interrupt_response,
            idle_timeout_ms: ga.then_some(vad.idle_timeout_ms),
        }
    }
}

#[derive(Serialize)]
struct ToolWire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

impl<'a> From<&'a Tool> for ToolWire<'a> {
    fn from(tool: &'a Tool) -> ToolWire<'a> {
        ToolWire {
            kind: "function",
            name: &tool.name,
            description: &tool.description,
            parameters: &tool.parameters,
        }
    }
}

#[derive(Serialize)]
struct BetaSession<'a> {
    modalities: [&'static str; 2],
    instructions: &'a str,
    voice: &'a str,
    input_audio_format: &'static str,
    output_audio_format: &'static str,
    input_audio_transcription: TranscriptionWire<'a>,
    turn_detection: TurnDetectionWire,
    tools: Vec<ToolWire<'a>>,
    tool_choice: ToolChoice,
    temperature: f64,
    max_response_output_tokens: MaxOutputTokens,
}
