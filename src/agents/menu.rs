//! IVR menus as data: a prompt, options chosen by key press or spoken keyword, each leading to an
//! [`Action`], a timeout, a number of retries and the default action taken when retries run out.
//! Twilio runs a menu itself (`<Gather input="dtmf speech">`); the engine's IVR webhook reads the
//! answer and picks the next step ([`Menu::step`]). Menus may lead back to each other, but a set
//! of menus from which no option ever leaves is refused ([`check_exits`]).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::action::{Action, Prompt};
use super::{Invalid, check_text};
use crate::twilio::webhooks::xml_escape;

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub name: String,
    pub prompt: Prompt,
    pub options: Vec<MenuOption>,
    /// Seconds Twilio waits for a key or speech.
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    /// How many times the menu is repeated after no or an unknown answer before `default` runs.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Said before the menu is repeated after an answer that matches no option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_prompt: Option<Prompt>,
    /// Taken when the retries run out.
    pub default: Action,
}

fn default_timeout() -> u32 {
    5
}

fn default_retries() -> u32 {
    1
}

/// One choice of a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MenuOption {
    /// The key (`0`–`9`, `*`, `#`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digit: Option<String>,
    /// Words that choose this option when spoken (matched case-insensitively as whole words).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    pub action: Action,
}

/// What the engine answers to a menu's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// An option was chosen (`by` is what the caller pressed or said).
    Chosen {
        option: usize,
        action: &'a Action,
        by: String,
    },
    /// Nothing or nothing known was heard: the menu again, as attempt `attempt`.
    Repeat { attempt: u32, invalid: bool },
    /// Retries ran out: the default action.
    Default { action: &'a Action },
}

impl Menu {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_text("name", &self.name, 1, 200)?;
        if self.prompt.is_empty() {
            return Err(Invalid::new("prompt", "needs text to say or an audio URL"));
        }
        self.prompt.validate("prompt")?;
        if self.options.is_empty() || self.options.len() > 12 {
            return Err(Invalid::new("options", "a menu has 1 to 12 options"));
        }
        if !(1..=30).contains(&self.timeout_s) {
            return Err(Invalid::new("timeout_s", "is 1 to 30 seconds"));
        }
        if self.retries > 5 {
            return Err(Invalid::new("retries", "is 0 to 5"));
        }
        if let Some(prompt) = &self.invalid_prompt {
            prompt.validate("invalid_prompt")?;
        }
        let mut digits = HashSet::new();
        let mut words = HashSet::new();
        for (i, option) in self.options.iter().enumerate() {
            let field = format!("options[{i}]");
            if option.digit.is_none() && option.keywords.is_empty() {
                return Err(Invalid::new(field, "needs a digit or keywords"));
            }
            if let Some(digit) = &option.digit {
                let ok = digit.len() == 1 && "0123456789*#".contains(digit.as_str());
                if !ok {
                    return Err(Invalid::new(
                        format!("{field}.digit"),
                        "is one of 0-9, * or #",
                    ));
                }
                if !digits.insert(digit.clone()) {
                    return Err(Invalid::new(
                        format!("{field}.digit"),
                        "is already another option's",
                    ));
                }
            }
            for (k, word) in option.keywords.iter().enumerate() {
                check_text(&format!("{field}.keywords[{k}]"), word, 1, 64)?;
                if !words.insert(word.to_lowercase()) {
                    return Err(Invalid::new(
                        format!("{field}.keywords[{k}]"),
                        "is already another option's",
                    ));
                }
            }
            option.action.validate(&format!("{field}.action"))?;
        }
        self.default.validate("default")
    }

    /// Every action of the menu (options, then the default), with its field name.
    pub fn actions(&self) -> impl Iterator<Item = (String, &Action)> {
        self.options
            .iter()
            .enumerate()
            .map(|(i, o)| (format!("options[{i}].action"), &o.action))
            .chain(std::iter::once(("default".to_owned(), &self.default)))
    }

    /// The option `digits` or `speech` chooses, if one does.
    pub fn choose(&self, digits: Option<&str>, speech: Option<&str>) -> Option<(usize, String)> {
        if let Some(digits) = digits.filter(|d| !d.is_empty()) {
            return self
                .options
                .iter()
                .position(|o| o.digit.as_deref() == Some(digits))
                .map(|i| (i, digits.to_owned()));
        }
        let speech = speech?.to_lowercase();
        let said: Vec<&str> = speech
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        self.options
            .iter()
            .position(|o| {
                o.keywords.iter().any(|k| {
                    let k = k.to_lowercase();
                    let want: Vec<&str> = k
                        .split(|c: char| !c.is_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .collect();
                    !want.is_empty() && said.windows(want.len()).any(|w| w == want.as_slice())
                })
            })
            .map(|i| (i, speech.clone()))
    }

    /// The next step after attempt `attempt` (0 is the first time the menu ran) answered
    /// `digits` / `speech` (both `None` when Twilio's `<Gather>` timed out).
    pub fn step(&self, attempt: u32, digits: Option<&str>, speech: Option<&str>) -> Step<'_> {
        if let Some((option, by)) = self.choose(digits, speech) {
            return Step::Chosen {
                option,
                action: &self.options[option].action,
                by,
            };
        }
        if attempt >= self.retries {
            return Step::Default {
                action: &self.default,
            };
        }
        Step::Repeat {
            attempt: attempt + 1,
            invalid: digits.is_some_and(|d| !d.is_empty()) || speech.is_some_and(|s| !s.is_empty()),
        }
    }

    /// The menu's TwiML verbs: the prompt inside a `<Gather>` whose answer goes to `action_url`,
    /// then a `<Redirect>` to the same URL (what Twilio runs when nothing was entered).
    pub fn twiml(&self, action_url: &str, invalid: bool) -> String {
        let mut out = String::new();
        if invalid && let Some(prompt) = &self.invalid_prompt {
            out.push_str(&prompt.twiml());
        }
        let hints: Vec<&str> = self
            .options
            .iter()
            .flat_map(|o| o.keywords.iter().map(String::as_str))
            .collect();
        let url = xml_escape(action_url);
        out.push_str(&format!(
            "<Gather input=\"dtmf speech\" action=\"{url}\" method=\"POST\" numDigits=\"1\" \
             timeout=\"{}\" speechTimeout=\"auto\"",
            self.timeout_s
        ));
        if let Some(language) = &self.prompt.language {
            out.push_str(&format!(" language=\"{}\"", xml_escape(language)));
        }
        if !hints.is_empty() {
            out.push_str(&format!(" hints=\"{}\"", xml_escape(&hints.join(", "))));
        }
        out.push('>');
        out.push_str(&self.prompt.twiml());
        out.push_str(&format!(
            "</Gather><Redirect method=\"POST\">{url}</Redirect>"
        ));
        out
    }
}

/// Refuses a set of menus that traps callers: every menu must reach, through its options and
/// default, an action that is not another menu. `menus` are the organization's menus (with the
/// one being saved in its new form); the first menu without an exit is named.
pub fn check_exits(menus: &HashMap<Uuid, &Menu>) -> Result<(), Invalid> {
    let mut exits: HashSet<Uuid> = HashSet::new();
    loop {
        let before = exits.len();
        for (id, menu) in menus {
            if exits.contains(id) {
                continue;
            }
            let leaves = menu.actions().any(|(_, action)| match action {
                Action::Menu { menu_id } => exits.contains(menu_id),
                _ => true,
            });
            if leaves {
                exits.insert(*id);
            }
        }
        if exits.len() == before {
            break;
        }
    }
    let mut trapped: Vec<&Menu> = menus
        .iter()
        .filter(|(id, _)| !exits.contains(id))
        .map(|(_, m)| *m)
        .collect();
    trapped.sort_by(|a, b| a.name.cmp(&b.name));
    match trapped.first() {
        None => Ok(()),
        Some(menu) => Err(Invalid::new(
            "options",
            format!(
                "menu '{}' only leads to menus that lead back to it: a caller could never leave (add an option or a default that is not a menu)",
                menu.name
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu(name: &str, options: serde_json::Value, default: serde_json::Value) -> Menu {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "prompt": {"say": "For sales press 1 or say sales. For billing press 2.", "language": "en-US"},
            "options": options,
            "retries": 1,
            "default": default,
        }))
        .unwrap()
    }

    fn main_menu() -> Menu {
        let sales = Uuid::from_u128(1);
        let billing = Uuid::from_u128(2);
        menu(
            "Main",
            serde_json::json!([
                {"digit": "1", "keywords": ["sales", "buy something"], "action": {"type": "agent", "profile_id": sales}},
                {"digit": "2", "keywords": ["billing"], "action": {"type": "agent", "profile_id": billing}},
                {"digit": "0", "action": {"type": "voicemail"}},
            ]),
            serde_json::json!({"type": "agent", "profile_id": sales}),
        )
    }

    #[test]
    fn digits_and_keywords_choose_options_then_retries_then_the_default() {
        let m = main_menu();
        m.validate().unwrap();
        assert!(matches!(
            m.step(0, Some("2"), None),
            Step::Chosen { option: 1, .. }
        ));
        assert!(matches!(
            m.step(0, None, Some("I'd like to BUY something, please")),
            Step::Chosen { option: 0, .. }
        ));
        assert!(matches!(
            m.step(0, None, Some("billings")),
            Step::Repeat {
                attempt: 1,
                invalid: true
            }
        ));
        assert!(matches!(
            m.step(0, None, None),
            Step::Repeat {
                attempt: 1,
                invalid: false
            }
        ));
        assert!(matches!(m.step(1, Some("7"), None), Step::Default { .. }));
        assert!(matches!(
            m.step(1, Some("0"), None),
            Step::Chosen { option: 2, .. }
        ));
    }

    #[test]
    fn the_menu_is_a_gather_that_falls_through_to_a_redirect() {
        let twiml = main_menu().twiml("https://x/twilio/ivr/c/m?attempt=1&a=b", false);
        assert!(twiml.starts_with(
            "<Gather input=\"dtmf speech\" action=\"https://x/twilio/ivr/c/m?attempt=1&amp;a=b\""
        ));
        assert!(twiml.contains("language=\"en-US\" hints=\"sales, buy something, billing\">"));
        assert!(twiml.contains("<Say language=\"en-US\">For sales press 1"));
        assert!(twiml.ends_with(
            "</Gather><Redirect method=\"POST\">https://x/twilio/ivr/c/m?attempt=1&amp;a=b</Redirect>"
        ));
    }

    #[test]
    fn bad_menus_name_the_field() {
        let mut m = main_menu();
        m.options[1].digit = Some("1".into());
        assert_eq!(m.validate().unwrap_err().field, "options[1].digit");
        let mut m = main_menu();
        m.options[2].digit = Some("12".into());
        assert_eq!(m.validate().unwrap_err().field, "options[2].digit");
        let mut m = main_menu();
        m.options[0].keywords.push("Billing".into());
        assert_eq!(m.validate().unwrap_err().field, "options[1].keywords[0]");
        let mut m = main_menu();
        m.timeout_s = 0;
        assert_eq!(m.validate().unwrap_err().field, "timeout_s");
        let mut m = main_menu();
        m.prompt = Prompt::default();
        assert_eq!(m.validate().unwrap_err().field, "prompt");
    }

    #[test]
    fn a_cycle_with_no_exit_is_refused_and_one_with_an_exit_is_not() {
        let (a, b) = (Uuid::from_u128(10), Uuid::from_u128(11));
        let to = |id: Uuid| serde_json::json!({"type": "menu", "menu_id": id});
        let menu_a = menu(
            "A",
            serde_json::json!([{"digit": "1", "action": to(b)}]),
            to(b),
        );
        let menu_b = menu(
            "B",
            serde_json::json!([{"digit": "9", "action": to(a)}]),
            to(a),
        );
        let both = HashMap::from([(a, &menu_a), (b, &menu_b)]);
        let err = check_exits(&both).unwrap_err();
        assert!(err.message.contains("menu 'A'"), "{err}");
        let menu_b = menu(
            "B",
            serde_json::json!([{"digit": "9", "action": to(a)}]),
            serde_json::json!({"type": "hangup", "prompt": {"say": "Goodbye"}}),
        );
        let both = HashMap::from([(a, &menu_a), (b, &menu_b)]);
        check_exits(&both).unwrap();
    }
}
