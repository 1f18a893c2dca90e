//! What answers a phone number (issue 19): agent profiles (instructions, voice, model, turn
//! settings, greeting, tools, transfer targets, analysis fields — versioned), the organization's
//! numbers with their business hours, IVR menus as data, and the actions all of them lead to.
//!
//! Everything here is plain data with its validation (a definition that does not hold is an
//! [`Invalid`] naming the field, which the REST layer answers as a 400) and pure decisions
//! (is the line open now, which TwiML does a menu step answer); the store keeps it and the Twilio
//! webhooks and media socket act on it.

pub mod action;
pub mod hours;
pub mod line;
pub mod menu;
pub mod profile;
pub mod routing;
pub mod runner;

pub use action::Action;
pub use hours::BusinessHours;
pub use menu::Menu;
pub use profile::ProfileConfig;

/// A definition that does not hold: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// `value` of `field` has 1..=`max` characters and no NUL or other control character but
/// newlines and tabs.
pub(crate) fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let chars = value.chars().count();
    if chars < min {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if chars > max {
        return Err(Invalid::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Invalid::new(field, "contains a control character"));
    }
    Ok(())
}

/// An E.164 number: `+`, then 7 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_and_text_rules() {
        assert!(is_e164("+14155550100"));
        assert!(!is_e164("14155550100"));
        assert!(!is_e164("+0415555"));
        assert!(!is_e164("+1415555010012345"));
        assert!(!is_e164("+1 415 555"));
        assert!(check_text("name", "Sales", 1, 10).is_ok());
        assert_eq!(
            check_text("name", "", 1, 10).unwrap_err().to_string(),
            "name: must not be empty"
        );
        assert!(check_text("name", "a\u{0}b", 1, 10).is_err());
        assert!(check_text("name", "elevenchars", 1, 10).is_err());
    }
}
