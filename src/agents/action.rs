//! Where a caller goes: an AI agent (a profile), a menu, a number, voicemail, or a goodbye. Menu
//! options, after-hours and fallbacks all lead to one of these; the ones that end the engine's
//! part of the call ([`Action::Transfer`], [`Action::Voicemail`], [`Action::Hangup`]) are TwiML
//! Twilio runs itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Invalid, check_text, is_e164};
use crate::twilio::webhooks::xml_escape;

/// Longest voicemail recorded, in seconds.
pub const VOICEMAIL_MAX_S: u32 = 120;

/// Something said (`<Say>` with a voice and language) or played (`<Play>` of an audio URL).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    /// Text for Twilio's `<Say>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// `<Say voice>`, e.g. `Polly.Joanna` or `alice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
    /// `<Say language>`, e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// An https audio URL for `<Play>` (instead of, or after, the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<String>,
}

impl Prompt {
    pub fn say(text: &str) -> Prompt {
        Prompt {
            say: Some(text.to_owned()),
            ..Prompt::default()
        }
    }

    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        if let Some(say) = &self.say {
            check_text(&format!("{field}.say"), say, 1, 2000)?;
        }
        for (name, value) in [("voice", &self.voice), ("language", &self.language)] {
            if let Some(value) = value {
                let ok = (1..=64).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !ok {
                    return Err(Invalid::new(
                        format!("{field}.{name}"),
                        "must be 1 to 64 letters, digits, '-', '_' or '.'",
                    ));
                }
            }
        }
        if let Some(play) = &self.play {
            let url = url::Url::parse(play)
                .map_err(|e| Invalid::new(format!("{field}.play"), format!("not a URL: {e}")))?;
            if url.scheme() != "https" {
                return Err(Invalid::new(
                    format!("{field}.play"),
                    "must be an https URL",
                ));
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.say.is_none() && self.play.is_none()
    }

    /// The `<Say>` and/or `<Play>` verbs.
    pub fn twiml(&self) -> String {
        let mut out = String::new();
        if let Some(text) = &self.say {
            out.push_str("<Say");
            if let Some(voice) = &self.voice {
                out.push_str(&format!(" voice=\"{}\"", xml_escape(voice)));
            }
            if let Some(language) = &self.language {
                out.push_str(&format!(" language=\"{}\"", xml_escape(language)));
            }
            out.push('>');
            out.push_str(&xml_escape(text));
            out.push_str("</Say>");
        }
        if let Some(url) = &self.play {
            out.push_str(&format!("<Play>{}</Play>", xml_escape(url)));
        }
        out
    }
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Connect the caller to the AI agent of this profile.
    Agent { profile_id: Uuid },
    /// Another menu.
    Menu { menu_id: Uuid },
    /// Dial a number (an E.164 transfer target), after an optional announcement.
    Transfer {
        number: String,
        #[serde(default, skip_serializing_if = "Prompt::is_empty")]
        prompt: Prompt,
    },
    /// Record a voicemail after the prompt; it becomes a message of the conversation.
    Voicemail {
        #[serde(default, skip_serializing_if = "Prompt::is_empty")]
        prompt: Prompt,
    },
    /// Say the prompt, then hang up.
    Hangup {
        #[serde(default, skip_serializing_if = "Prompt::is_empty")]
        prompt: Prompt,
    },
}

impl Action {
    pub fn validate(&self, field: &str) -> Result<(), Invalid> {
        match self {
            Action::Agent { .. } | Action::Menu { .. } => Ok(()),
            Action::Transfer { number, prompt } => {
                if !is_e164(number) {
                    return Err(Invalid::new(
                        format!("{field}.number"),
                        "must be an E.164 number (+ and 7 to 15 digits)",
                    ));
                }
                prompt.validate(&format!("{field}.prompt"))
            }
            Action::Voicemail { prompt } | Action::Hangup { prompt } => {
                prompt.validate(&format!("{field}.prompt"))
            }
        }
    }

    /// The profile this action connects to, if it does.
    pub fn profile(&self) -> Option<Uuid> {
        match self {
            Action::Agent { profile_id } => Some(*profile_id),
            _ => None,
        }
    }

    /// The TwiML verbs of an action that Twilio carries out itself (transfer, voicemail,
    /// hang-up); `None` for the ones the engine answers (agent, menu). `recording_callback` is
    /// the absolute URL of the engine's voicemail callback for this call.
    pub fn terminal_twiml(&self, recording_callback: &str) -> Option<String> {
        match self {
            Action::Agent { .. } | Action::Menu { .. } => None,
            Action::Transfer { number, prompt } => Some(format!(
                "{}<Dial>{}</Dial><Hangup/>",
                prompt.twiml(),
                xml_escape(number)
            )),
            Action::Voicemail { prompt } => Some(format!(
                "{}<Record maxLength=\"{VOICEMAIL_MAX_S}\" playBeep=\"true\" \
                 recordingStatusCallback=\"{cb}\" recordingStatusCallbackEvent=\"completed\" \
                 action=\"{cb}\"/><Hangup/>",
                prompt.twiml(),
                cb = xml_escape(recording_callback),
            )),
            Action::Hangup { prompt } => Some(format!("{}<Hangup/>", prompt.twiml())),
        }
    }
}

/// A TwiML document of `verbs`.
pub fn document(verbs: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{verbs}</Response>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_from_json_and_name_the_bad_field() {
        let a: Action = serde_json::from_value(serde_json::json!(
            {"type": "transfer", "number": "+14155550100", "prompt": {"say": "Connecting you"}}
        ))
        .unwrap();
        a.validate("options[0].action").unwrap();
        let bad: Action =
            serde_json::from_value(serde_json::json!({"type": "transfer", "number": "555"}))
                .unwrap();
        assert_eq!(
            bad.validate("after_hours").unwrap_err().field,
            "after_hours.number"
        );
        assert!(serde_json::from_value::<Action>(serde_json::json!({"type": "teleport"})).is_err());
        let play = Action::Hangup {
            prompt: Prompt {
                play: Some("http://example.com/a.mp3".into()),
                ..Prompt::default()
            },
        };
        assert_eq!(play.validate("x").unwrap_err().field, "x.prompt.play");
    }

    #[test]
    fn terminal_actions_are_twiml_with_their_text_escaped() {
        let hangup = Action::Hangup {
            prompt: Prompt {
                say: Some("Bye <b>&</b>".into()),
                voice: Some("Polly.Joanna".into()),
                language: Some("en-US".into()),
                play: None,
            },
        };
        assert_eq!(
            hangup.terminal_twiml("https://x/cb").unwrap(),
            "<Say voice=\"Polly.Joanna\" language=\"en-US\">Bye &lt;b&gt;&amp;&lt;/b&gt;</Say><Hangup/>"
        );
        let vm = Action::Voicemail {
            prompt: Prompt::say("Leave a message"),
        }
        .terminal_twiml("https://x/twilio/voicemail?a=1&b=2")
        .unwrap();
        assert!(vm.contains("recordingStatusCallback=\"https://x/twilio/voicemail?a=1&amp;b=2\""));
        assert!(vm.starts_with("<Say>Leave a message</Say><Record maxLength=\"120\""));
        assert_eq!(
            Action::Agent {
                profile_id: Uuid::nil()
            }
            .terminal_twiml("x"),
            None
        );
    }
}
