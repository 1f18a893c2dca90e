//! A call as a URL names it: by the engine's UUID or by Twilio's CallSid.

use std::str::FromStr;

use uuid::Uuid;

/// The longest CallSid the schema stores (`calls.call_sid`, CHECK length 1..64).
pub const MAX_CALL_SID_LEN: usize = 64;

/// A call as a URL names it: by the engine's UUID or by Twilio's CallSid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKey {
    Id(Uuid),
    Sid(String),
}

/// Why a path segment cannot name a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallKeyError {
    #[error("call id is empty")]
    Empty,
    #[error(
        "call id is {len} characters long; a call UUID or a CallSid has at most {MAX_CALL_SID_LEN}"
    )]
    TooLong { len: usize },
    #[error(
        "call id has a character that is not a letter, a digit or one of `-._~`; expected a call UUID or a CallSid"
    )]
    BadCharacter,
}

impl FromStr for CallKey {
    type Err = CallKeyError;

    /// A valid UUID is an [`CallKey::Id`]; anything else the schema could hold as a `call_sid` is a
    /// [`CallKey::Sid`]. Twilio's own CallSids are `CA` + 32 hex digits ([`is_twilio_call_sid`]),
    /// but the voice webhook stores whatever CallSid it is given (simulators and tests use shorter
    /// ones), so any such id is looked up and an unknown one is simply not found. Only ids that can
    /// never be stored (empty, too long, or needing percent-encoding in a URL) are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(CallKeyError::Empty);
        }
        if s.len() > MAX_CALL_SID_LEN {
            return Err(CallKeyError::TooLong { len: s.len() });
        }
        if let Ok(id) = Uuid::parse_str(s) {
            return Ok(CallKey::Id(id));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(CallKeyError::BadCharacter);
        }
        Ok(CallKey::Sid(s.to_owned()))
    }
}

/// Whether `sid` has the shape of a CallSid Twilio issues: `CA` followed by 32 hex digits.
pub fn is_twilio_call_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("CA") && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_an_id_in_any_case() {
        let id = Uuid::now_v7();
        assert_eq!(id.to_string().parse(), Ok(CallKey::Id(id)));
        assert_eq!(id.to_string().to_uppercase().parse(), Ok(CallKey::Id(id)));
    }

    #[test]
    fn anything_storable_is_a_sid() {
        let twilio = "CA0123456789abcdef0123456789ABCDEF";
        assert!(is_twilio_call_sid(twilio));
        assert_eq!(twilio.parse(), Ok(CallKey::Sid(twilio.to_owned())));
        // Shorter sids are stored by the webhook too (simulators, tests): looked up, not refused.
        assert!(!is_twilio_call_sid("CA0001"));
        assert_eq!("CA0001".parse(), Ok(CallKey::Sid("CA0001".to_owned())));
        // A UUID with a typo is not a UUID: it is looked up as a sid and will not be found.
        let typo = "0190d6f2-8a8b-7c3e-9f00-00000000000g";
        assert_eq!(typo.parse(), Ok(CallKey::Sid(typo.to_owned())));
        let longest = "x".repeat(MAX_CALL_SID_LEN);
        assert_eq!(longest.parse(), Ok(CallKey::Sid(longest.clone())));
    }

    #[test]
    fn ids_that_cannot_be_stored_are_refused() {
        assert_eq!("".parse::<CallKey>(), Err(CallKeyError::Empty));
        let long = "x".repeat(MAX_CALL_SID_LEN + 1);
        assert_eq!(
            long.parse::<CallKey>(),
            Err(CallKeyError::TooLong {
                len: MAX_CALL_SID_LEN + 1
            })
        );
        for bad in ["CA 1", "CA%201", "CA/1", "ca\"1", "é"] {
            assert_eq!(
                bad.parse::<CallKey>(),
                Err(CallKeyError::BadCharacter),
                "{bad}"
            );
        }
    }

    #[test]
    fn twilio_shape() {
        assert!(!is_twilio_call_sid("CA0123456789abcdef0123456789abcde"));
        assert!(!is_twilio_call_sid("CA0123456789abcdef0123456789abcdef0"));
        assert!(!is_twilio_call_sid("AC0123456789abcdef0123456789abcdef"));
        assert!(!is_twilio_call_sid("CA0123456789abcdef0123456789abcdeg"));
    }
}
