//! The call history as dashboards read it: the read models the store returns and the REST API
//! serializes (one set of types, so the JSON and the OpenAPI document cannot drift apart), the
//! filters and page requests the store accepts, and the pure computations over a call's messages
//! (transcript rendering, per-call analytics).
//!
//! Nothing here does I/O; the store (`crate::store::history`) fills these types and the HTTP layer
//! (`crate::http::api`) parses requests into them.

pub mod analytics;
pub mod cursor;
pub mod models;
pub mod transcript;

pub use cursor::Cursor;
pub use models::*;

use uuid::Uuid;

/// A call named in a URL: its UUID or its Twilio CallSid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKey {
    Id(Uuid),
    Sid(String),
}

impl CallKey {
    /// Reads a path segment: a UUID, else a CallSid (1–64 characters of `[A-Za-z0-9]`, as Twilio's
    /// `CA` + 32 hex). Anything else cannot name a call.
    pub fn parse(segment: &str) -> Option<CallKey> {
        if let Ok(id) = Uuid::parse_str(segment) {
            return Some(CallKey::Id(id));
        }
        let plausible =
            (1..=64).contains(&segment.len()) && segment.bytes().all(|b| b.is_ascii_alphanumeric());
        plausible.then(|| CallKey::Sid(segment.to_owned()))
    }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PageStart {
    #[default]
    First,
    /// Skip this many rows (simple, but not stable while rows arrive).
    Offset(u32),
    /// After the last row of the previous page (keyset: stable while rows arrive).
    After(Cursor),
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub start: PageStart,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_keys() {
        let id = Uuid::now_v7();
        assert_eq!(CallKey::parse(&id.to_string()), Some(CallKey::Id(id)));
        assert_eq!(
            CallKey::parse("CA0123456789abcdef0123456789abcdef"),
            Some(CallKey::Sid("CA0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(CallKey::parse(""), None);
        assert_eq!(CallKey::parse("CA-1"), None);
        assert_eq!(CallKey::parse(&"a".repeat(65)), None);
    }
}
