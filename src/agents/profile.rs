//! An AI agent profile: what one line's agent is — its instructions, voice, model, AI protocol,
//! audio format, turn-taking, greeting, longest call, tools, transfer targets and analysis
//! fields. Fields left out take the engine's configuration (`[ai]`), so a profile can be as small
//! as a name and instructions. Profiles are versioned by the store; a call keeps its version.

use serde::{Deserialize, Serialize};
use switchboard_actors::realtime::{self, SessionConfig, Tool, VadConfig};
use utoipa::ToSchema;

use super::{Invalid, check_text, is_e164};
use crate::analysis::fields::AnalysisField;
use switchboard_actors::domain::AudioFormat;

/// The built-in tools a profile may list (webhook tools are the organization's own).
pub const BUILT_IN_TOOLS: &[&str] = &["end_call", "transfer", "lookup_customer", "add_note"];

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `realtime` (OpenAI Realtime); `live` (GPT-Live) once the engine speaks it.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `g711_ulaw` (Twilio's audio passed through) or `pcm16` (24 kHz, resampled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub audio_format: Option<AudioFormat>,
    /// ISO-639-1 language hint for the caller's transcription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnSettings>,
    #[serde(default)]
    pub greeting: Greeting,
    /// The call is ended (politely, by the engine) after this many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call_minutes: Option<u32>,
    /// Tools the agent may use: built-ins (`end_call`, `transfer`, `lookup_customer`,
    /// `add_note`) and the organization's webhook tools, by name. Default: `end_call`.
    #[serde(default = "default_tools")]
    pub tools: Vec<String>,
    /// Where the `transfer` tool may send the caller.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfer_targets: Vec<TransferTarget>,
    /// Analysis fields of this line's calls, with the organization's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysis_fields: Vec<AnalysisField>,
}

fn default_protocol() -> String {
    "realtime".to_owned()
}

fn default_tools() -> Vec<String> {
    vec!["end_call".to_owned()]
}

/// Voice activity detection: when the caller's turn ends and whether speaking interrupts the
/// agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_padding_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence_duration_ms: Option<u32>,
    /// Whether the caller may interrupt the agent (barge-in). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt: Option<bool>,
}

/// Who speaks first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Greeting {
    /// The agent greets the caller as soon as the call connects (else it waits for the caller).
    #[serde(default)]
    pub agent_speaks_first: bool,
    /// What the greeting should say (an instruction for the first response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A named destination of the `transfer` tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    pub name: String,
    pub number: String,
    #[serde(default)]
    pub description: String,
}

impl ProfileConfig {
    /// Checks every field; `webhook_tools` are the organization's webhook tool names.
    pub fn validate(&self, webhook_tools: &[String]) -> Result<(), Invalid> {
        check_text("name", &self.name, 1, 200)?;
        check_text("instructions", &self.instructions, 0, 20_000)?;
        if let Some(voice) = &self.voice {
            word("voice", voice)?;
        }
        if let Some(model) = &self.model {
            word("model", model)?;
        }
        match self.protocol.as_str() {
            "realtime" => {}
            "live" => {
                return Err(Invalid::new(
                    "protocol",
                    "GPT-Live is not available in this engine yet: use realtime",
                ));
            }
            _ => return Err(Invalid::new("protocol", "is realtime or live")),
        }
        if let Some(language) = &self.language
            && !(language.len() == 2 && language.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(Invalid::new("language", "is an ISO-639-1 code such as en"));
        }
        if let Some(turn) = &self.turn {
            if turn.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                return Err(Invalid::new("turn.threshold", "is 0.0 to 1.0"));
            }
            if turn.prefix_padding_ms.is_some_and(|ms| ms > 2000) {
                return Err(Invalid::new("turn.prefix_padding_ms", "is 0 to 2000"));
            }
            if turn
                .silence_duration_ms
                .is_some_and(|ms| !(100..=5000).contains(&ms))
            {
                return Err(Invalid::new("turn.silence_duration_ms", "is 100 to 5000"));
            }
        }
        if let Some(text) = &self.greeting.text {
            check_text("greeting.text", text, 1, 1000)?;
        }
        if self
            .max_call_minutes
            .is_some_and(|m| !(1..=240).contains(&m))
        {
            return Err(Invalid::new("max_call_minutes", "is 1 to 240"));
        }
        for (i, tool) in self.tools.iter().enumerate() {
            if !BUILT_IN_TOOLS.contains(&tool.as_str()) && !webhook_tools.contains(tool) {
                return Err(Invalid::new(
                    format!("tools[{i}]"),
                    format!("no built-in or webhook tool is named '{tool}'"),
                ));
            }
            if self.tools[..i].contains(tool) {
                return Err(Invalid::new(format!("tools[{i}]"), "is listed twice"));
            }
        }
        for (i, target) in self.transfer_targets.iter().enumerate() {
            check_text(&format!("transfer_targets[{i}].name"), &target.name, 1, 100)?;
            check_text(
                &format!("transfer_targets[{i}].description"),
                &target.description,
                0,
                500,
            )?;
            if !is_e164(&target.number) {
                return Err(Invalid::new(
                    format!("transfer_targets[{i}].number"),
                    "must be an E.164 number",
                ));
            }
        }
        if self.tools.iter().any(|t| t == "transfer") && self.transfer_targets.is_empty() {
            return Err(Invalid::new(
                "transfer_targets",
                "the transfer tool needs at least one target",
            ));
        }
        for (i, field) in self.analysis_fields.iter().enumerate() {
            field
                .clone()
                .validated()
                .map_err(|e| Invalid::new(format!("analysis_fields[{i}]"), e.to_string()))?;
        }
        Ok(())
    }

    /// The realtime session of this profile: `base` (the engine's configuration) with the
    /// profile's settings, and `tools` (its tools' definitions, built-ins and webhooks) as
    /// function tools.
    pub fn session(&self, base: &SessionConfig, tools: Vec<Tool>) -> SessionConfig {
        let mut session = base.clone();
        if !self.instructions.is_empty() {
            session.instructions = self.instructions.clone();
        }
        if let Some(voice) = &self.voice {
            session.voice = voice.clone();
        }
        if let Some(model) = &self.model {
            session.model = model.clone();
        }
        if let Some(format) = self.audio_format {
            session.audio_format = match format {
                AudioFormat::G711Ulaw => realtime::AudioFormat::G711Ulaw,
                AudioFormat::Pcm16 => realtime::AudioFormat::Pcm16,
            };
        }
        if let Some(language) = &self.language {
            session.language = Some(language.clone());
        }
        if let Some(turn) = &self.turn {
            let defaults = VadConfig::default();
            session.vad = VadConfig {
                threshold: turn.threshold.unwrap_or(defaults.threshold),
                prefix_padding_ms: turn.prefix_padding_ms.unwrap_or(defaults.prefix_padding_ms),
                silence_duration_ms: turn
                    .silence_duration_ms
                    .unwrap_or(defaults.silence_duration_ms),
                interrupt_response: turn.interrupt.unwrap_or(true),
                ..base.vad.clone()
            };
        }
        session.tools = tools;
        session
    }
}

/// A model or voice name: 1 to 64 letters, digits, `-`, `_`, `.`.
fn word(field: &str, value: &str) -> Result<(), Invalid> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            "is 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The function tool of a built-in, as the model sees it; `targets` name where `transfer` goes.
pub fn built_in_tool(name: &str, targets: &[TransferTarget]) -> Option<Tool> {
    let tool = match name {
        "end_call" => Tool::new(
            "end_call",
            "Hang up after saying goodbye, once the caller has nothing more to ask.",
            serde_json::json!({"type": "object", "properties": {"reason": {"type": "string"}}, "required": []}),
        ),
        "transfer" => {
            let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
            let described: Vec<String> = targets
                .iter()
                .map(|t| {
                    if t.description.is_empty() {
                        t.name.clone()
                    } else {
                        format!("{} ({})", t.name, t.description)
                    }
                })
                .collect();
            Tool::new(
                "transfer",
                format!(
                    "Transfer the caller to a person: {}. Tell the caller first; the call leaves you.",
                    described.join(", ")
                ),
                serde_json::json!({"type": "object",
                    "properties": {"target": {"type": "string", "enum": names},
                                   "reason": {"type": "string"}},
                    "required": ["target"]}),
            )
        }
        "lookup_customer" => Tool::new(
            "lookup_customer",
            "Look up the caller in the call center's records (name, email, recent conversations) by their phone number.",
            serde_json::json!({"type": "object", "properties": {}, "required": []}),
        ),
        "add_note" => Tool::new(
            "add_note",
            "Add a note to this call's record for the call center's staff.",
            serde_json::json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        ),
        _ => return None,
    };
    Some(tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sales() -> ProfileConfig {
        serde_json::from_value(serde_json::json!({
            "name": "Sales",
            "instructions": "You sell widgets.",
            "voice": "cedar",
            "turn": {"silence_duration_ms": 700, "interrupt": false},
            "greeting": {"agent_speaks_first": true, "text": "Welcome to sales"},
            "tools": ["end_call", "transfer", "order_status"],
            "transfer_targets": [{"name": "billing desk", "number": "+14155550100"}],
        }))
        .unwrap()
    }

    #[test]
    fn a_profile_overrides_the_engine_defaults_it_names() {
        let p = sales();
        p.validate(&["order_status".to_owned()]).unwrap();
        let base = SessionConfig {
            instructions: "default".into(),
            ..SessionConfig::default()
        };
        let s = p.session(&base, vec![]);
        assert_eq!(s.instructions, "You sell widgets.");
        assert_eq!(s.voice, "cedar");
        assert_eq!(s.model, base.model);
        assert_eq!(s.vad.silence_duration_ms, 700);
        assert!(!s.vad.interrupt_response);
        assert_eq!(s.vad.threshold, 0.5);
        let minimal: ProfileConfig =
            serde_json::from_value(serde_json::json!({"name": "Support"})).unwrap();
        minimal.validate(&[]).unwrap();
        assert_eq!(minimal.tools, ["end_call"]);
        assert_eq!(minimal.session(&base, vec![]).instructions, "default");
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let err = |p: &ProfileConfig| p.validate(&["order_status".to_owned()]).unwrap_err().field;
        let mut p = sales();
        p.tools.push("launch_rocket".into());
        assert_eq!(err(&p), "tools[3]");
        let mut p = sales();
        p.protocol = "carrier-pigeon".into();
        assert_eq!(err(&p), "protocol");
        let mut p = sales();
        p.transfer_targets[0].number = "555-0100".into();
        assert_eq!(err(&p), "transfer_targets[0].number");
        let mut p = sales();
        p.transfer_targets.clear();
        assert_eq!(err(&p), "transfer_targets");
        let mut p = sales();
        p.turn.as_mut().unwrap().threshold = Some(1.5);
        assert_eq!(err(&p), "turn.threshold");
        let mut p = sales();
        p.voice = Some("<script>".into());
        assert_eq!(err(&p), "voice");
        assert!(
            serde_json::from_value::<ProfileConfig>(
                serde_json::json!({"name": "x", "colour": "red"})
            )
            .is_err()
        );
    }

    #[test]
    fn built_ins_describe_themselves_to_the_model() {
        let targets = [TransferTarget {
            name: "billing".into(),
            number: "+14155550100".into(),
            description: "invoices".into(),
        }];
        let transfer = built_in_tool("transfer", &targets).unwrap();
        assert_eq!(
            transfer.parameters["properties"]["target"]["enum"][0],
            "billing"
        );
        assert!(transfer.description.contains("billing (invoices)"));
        for name in BUILT_IN_TOOLS {
            assert!(built_in_tool(name, &targets).is_some(), "{name}");
        }
        assert!(built_in_tool("order_status", &targets).is_none());
    }
}
