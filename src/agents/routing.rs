//! A phone number of the organization: what answers it (a profile or a menu), its business hours
//! and after-hours action, and its fallback when the AI cannot take or keep a call. A number no
//! organization claims keeps the engine's default behaviour (the configured agent).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::action::{Action, Prompt};
use super::hours::BusinessHours;
use super::{Invalid, check_text, is_e164};

/// A number's definition, as the API takes and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NumberConfig {
    /// E.164, as Twilio sends it in `To`.
    pub number: String,
    #[serde(default)]
    pub label: String,
    /// The agent profile that answers (or `menu_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<Uuid>,
    /// The IVR menu that answers (or `profile_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_id: Option<Uuid>,
    /// Open hours; always open when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<BusinessHours>,
    /// What callers get when the line is closed (default: a voicemail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_hours: Option<Action>,
    /// What callers get when the AI cannot take the call or is lost for good (default: the
    /// engine's configured fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Action>,
}

impl NumberConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !is_e164(&self.number) {
            return Err(Invalid::new(
                "number",
                "must be an E.164 number (+ and 7 to 15 digits)",
            ));
        }
        check_text("label", &self.label, 0, 200)?;
        match (self.profile_id, self.menu_id) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(Invalid::new(
                    "profile_id",
                    "a number is answered by a profile (profile_id) or a menu (menu_id), one of them",
                ));
            }
        }
        if let Some(hours) = &self.hours {
            hours.validate("hours")?;
        }
        if let Some(action) = &self.after_hours {
            action.validate("after_hours")?;
        }
        if let Some(action) = &self.fallback {
            action.validate("fallback")?;
            if matches!(action, Action::Agent { .. } | Action::Menu { .. }) {
                return Err(Invalid::new(
                    "fallback",
                    "runs when the AI is unavailable: a transfer, voicemail or hangup",
                ));
            }
        }
        Ok(())
    }

    /// Every action the number may lead to, with its field name.
    pub fn actions(&self) -> Vec<(String, Action)> {
        let mut out = Vec::new();
        if let Some(profile_id) = self.profile_id {
            out.push(("profile_id".to_owned(), Action::Agent { profile_id }));
        }
        if let Some(menu_id) = self.menu_id {
            out.push(("menu_id".to_owned(), Action::Menu { menu_id }));
        }
        if let Some(a) = &self.after_hours {
            out.push(("after_hours".to_owned(), a.clone()));
        }
        if let Some(a) = &self.fallback {
            out.push(("fallback".to_owned(), a.clone()));
        }
        out
    }

    /// What a call at `now` gets first: the profile or menu when open, else the after-hours
    /// action (a voicemail unless set). The flag says whether the line is closed.
    pub fn entry(&self, now: DateTime<Utc>) -> (Action, bool) {
        if let Some(hours) = &self.hours
            && !hours.is_open(now)
        {
            let action = self.after_hours.clone().unwrap_or(Action::Voicemail {
                prompt: Prompt::say(
                    "We are closed right now. Please leave a message after the tone.",
                ),
            });
            return (action, true);
        }
        match (self.profile_id, self.menu_id) {
            (Some(profile_id), _) => (Action::Agent { profile_id }, false),
            (None, Some(menu_id)) => (Action::Menu { menu_id }, false),
            (None, None) => (
                Action::Hangup {
                    prompt: Prompt::default(),
                },
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn open_lines_go_to_their_agent_closed_ones_to_the_after_hours_action() {
        let profile = Uuid::from_u128(7);
        let number: NumberConfig = serde_json::from_value(serde_json::json!({
            "number": "+14155550123", "label": "Sales", "profile_id": profile,
            "hours": {"time_zone": "UTC", "weekly": {"mon": [["09:00", "17:00"]]}},
        }))
        .unwrap();
        number.validate().unwrap();
        let monday_10 = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
        assert_eq!(
            number.entry(monday_10),
            (
                Action::Agent {
                    profile_id: profile
                },
                false
            )
        );
        let (action, closed) = number.entry(monday_10 + chrono::Duration::hours(8));
        assert!(closed);
        assert!(matches!(action, Action::Voicemail { .. }));
    }

    #[test]
    fn bad_numbers_name_the_field() {
        let mut n = NumberConfig {
            number: "+14155550123".into(),
            label: String::new(),
            profile_id: Some(Uuid::nil()),
            menu_id: Some(Uuid::nil()),
            hours: None,
            after_hours: None,
            fallback: None,
        };
        assert_eq!(n.validate().unwrap_err().field, "profile_id");
        n.menu_id = None;
        n.number = "4155550123".into();
        assert_eq!(n.validate().unwrap_err().field, "number");
        n.number = "+14155550123".into();
        n.fallback = Some(Action::Menu {
            menu_id: Uuid::nil(),
        });
        assert_eq!(n.validate().unwrap_err().field, "fallback");
    }
}
