//! Keyset cursors: the `(timestamp, id)` of the last row of a page, as an opaque URL-safe token.
//!
//! Every list is ordered by a timestamp with the row id as tie-breaker, so "the rows after this
//! pair" is one index range scan, and rows inserted meanwhile never shift a later page (no gaps,
//! no repeats), unlike `OFFSET`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds since the epoch.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// The position after a row: its sort timestamp and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn new(at: DateTime<Utc>, id: Uuid) -> Self {
        Cursor { at, id }
    }

    /// 24 bytes (microseconds since the epoch, big-endian; the UUID), base64url without padding.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `None` when the token is not one this API issued.
    pub fn decode(token: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let bytes: [u8; 24] = bytes.try_into().ok()?;
        let micros = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        // Years 1 to 9999: what the API issues and PostgreSQL's timestamptz holds.
        if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
            return None;
        }
        let at = DateTime::from_timestamp_micros(micros)?;
        let id = Uuid::from_slice(&bytes[8..]).ok()?;
        Some(Cursor { at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(micros in -62_135_596_800_000_000i64..253_402_300_799_000_000, id: u128) {
            let cursor = Cursor::new(DateTime::from_timestamp_micros(micros).unwrap(), Uuid::from_u128(id));
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }

        #[test]
        fn garbage_is_refused_not_misread(token in "[A-Za-z0-9_-]{0,40}") {
            if let Some(cursor) = Cursor::decode(&token) {
                prop_assert_eq!(cursor.encode(), token);
            }
        }
    }

    #[test]
    fn times_outside_years_1_to_9999_are_refused() {
        let forged = |micros: i64| {
            let mut bytes = micros.to_be_bytes().to_vec();
            bytes.extend_from_slice(Uuid::nil().as_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        // Year −144,000, and one microsecond past either end.
        assert_eq!(Cursor::decode(&forged(-4_606_000_000_000_000_000)), None);
        assert_eq!(Cursor::decode(&forged(MIN_MICROS - 1)), None);
        assert_eq!(Cursor::decode(&forged(MAX_MICROS + 1)), None);
        assert!(Cursor::decode(&forged(MIN_MICROS)).is_some());
        assert!(Cursor::decode(&forged(MAX_MICROS)).is_some());
    }

    #[test]
    fn wrong_lengths_and_alphabets_are_refused() {
        assert_eq!(Cursor::decode(""), None);
        assert_eq!(Cursor::decode("abc"), None);
        assert_eq!(Cursor::decode("!!!!"), None);
        let good = Cursor::new(Utc::now(), Uuid::now_v7()).encode();
        assert_eq!(Cursor::decode(&format!("{good}AA")), None);
    }
}
