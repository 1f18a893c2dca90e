//! The TwiML a caller gets when no AI agent can take the call (the AI breaker is open, or the
//! organization reached its cap of AI minutes): an apology, then a number dialled or a voicemail
//! recorded, as configured (`ai.fallback_*`). Nothing waits on the AI provider.

use super::webhooks::xml_escape;
use crate::config::Config;

/// Longest voicemail recorded (seconds).
const VOICEMAIL_MAX_S: u32 = 120;

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub say: String,
    pub dial: Option<String>,
    pub voicemail: bool,
}

impl Fallback {
    pub fn from_config(config: &Config) -> Fallback {
        Fallback {
            say: config.ai.fallback_say.clone(),
            dial: config.ai.fallback_dial.clone(),
            voicemail: config.ai.fallback_voicemail,
        }
    }

    /// The TwiML document.
    pub fn twiml(&self) -> String {
        let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
        doc.push_str("<Say>");
        doc.push_str(&xml_escape(&self.say));
        doc.push_str("</Say>");
        match &self.dial {
            Some(number) => {
                doc.push_str("<Dial>");
                doc.push_str(&xml_escape(number));
                doc.push_str("</Dial>");
            }
            None if self.voicemail => {
                doc.push_str(&format!(
                    "<Record maxLength=\"{VOICEMAIL_MAX_S}\" playBeep=\"true\"/>"
                ));
            }
            None => {}
        }
        doc.push_str("<Hangup/></Response>");
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apology_then_a_number_or_a_voicemail() {
        let mut f = Fallback {
            say: "Sorry <all> lines & agents are busy".into(),
            dial: Some("+14155550100".into()),
            voicemail: true,
        };
        assert_eq!(
            f.twiml(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Sorry &lt;all&gt; lines &amp; agents are busy</Say><Dial>+14155550100</Dial><Hangup/></Response>"
        );
        f.dial = None;
        assert!(
            f.twiml()
                .contains("<Record maxLength=\"120\" playBeep=\"true\"/>")
        );
        f.voicemail = false;
        assert!(!f.twiml().contains("<Record"));
        assert!(!f.twiml().contains("<Dial"));
    }
}
