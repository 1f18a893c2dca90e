//! How a webhook tool request is signed, and how the customer checks it.
//!
//! Every request carries two headers:
//!
//! ```text
//! X-Switchboard-Timestamp: 1700000000
//! X-Switchboard-Signature: v1=4ccc2cc2cd9f7c81ca0ac2522cf688f285db04269ad09a26122b5b17b61fad7d
//! ```
//!
//! The signature is the lowercase hex HMAC-SHA256, keyed with the organization's tool secret, of
//! the timestamp (unix seconds, as written in the header), a dot, and the raw request body,
//! byte for byte as received: `HMAC-SHA256(secret, "<timestamp>.<body>")`.
//!
//! To verify, the customer's endpoint:
//!
//! 1. reads the raw body before parsing it (re-serialized JSON would not match);
//! 2. refuses a timestamp more than [`REPLAY_WINDOW_S`] (five minutes) away from its clock, so a
//!    captured request cannot be replayed later;
//! 3. computes the HMAC and compares it, in constant time, with each `v1=` value of the
//!    signature header (they are separated by commas: while a secret is rotated, the request is
//!    signed with the new and the old secret, so an endpoint holding either accepts it; values
//!    of other schemes are ignored);
//! 4. answers 401 when none matches (the agent then tells the caller the tool failed).
//!
//! In Python:
//!
//! ```text
//! import hmac, hashlib, time
//! def verify(secret: bytes, timestamp: str, signature: str, body: bytes) -> bool:
//!     if abs(time.time() - int(timestamp)) > 300:
//!         return False
//!     expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
//!     return any(hmac.compare_digest("v1=" + expected, v.strip())
//!                for v in signature.split(","))
//! ```
//!
//! In Rust, [`verify`] does the same (the test tool server uses it):
//!
//! ```
//! use switchboard::tools::signing::{sign, verify, REPLAY_WINDOW_S};
//! let body = br#"{"tool":"lookup_order"}"#;
//! let header = sign(b"secret", 1_700_000_000, body);
//! assert!(verify(b"secret", "1700000000", &header, body, 1_700_000_060, REPLAY_WINDOW_S).is_ok());
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header holding the unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Switchboard-Timestamp";
/// Header holding one or more `v1=<hex>` signatures, separated by commas.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";
/// How far (seconds) a timestamp may be from the verifier's clock, either way.
pub const REPLAY_WINDOW_S: i64 = 300;

const SCHEME_PREFIX: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp header is missing or not an integer.
    #[error("the timestamp header is not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error("the timestamp is {age_s} s away from now, beyond the {window_s} s window")]
    OutsideWindow { age_s: u64, window_s: i64 },
    /// The signature header holds no `v1=` value.
    #[error("the signature header holds no v1 signature")]
    NoSignature,
    /// No `v1=` value is the body's signature with this secret.
    #[error("no v1 signature matches")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` signed at `timestamp`: `v1=<64 hex digits>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    let mut header = String::with_capacity(SCHEME_PREFIX.len() + 2 * digest.len());
    header.push_str(SCHEME_PREFIX);
    for byte in digest {
        header.push(char::from(HEX[usize::from(byte >> 4)]));
        header.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    header
}

/// The signature header during a secret rotation: `body` signed with each secret, comma
/// separated, so an endpoint holding any one of them verifies the request.
pub fn sign_with_each(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, timestamp, body))
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks a request's headers against its raw body: the timestamp must be within `window_s`
/// seconds of `now_unix`, and one `v1=` value must be the HMAC of `"<timestamp>.<body>"` (compared
/// in constant time).
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    window_s: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp_header.trim();
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let age_s = now_unix.abs_diff(signed_at);
    if age_s > window_s.max(0).unsigned_abs() {
        return Err(SignatureError::OutsideWindow { age_s, window_s });
    }
    let candidates: Vec<&str> = signature_header
        .split(',')
        .filter_map(|value| value.trim().strip_prefix(SCHEME_PREFIX))
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let expected = mac(secret, timestamp, body);
    let matched = candidates.iter().any(|hex| {
        decode_hex(hex).is_some_and(|digest| expected.clone().verify_slice(&digest).is_ok())
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase or uppercase hex to bytes; `None` for an odd length or another character.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"tool":"lookup_order","arguments":{"order_id":"A-1001"}}"#;
    const AT: i64 = 1_700_000_000;
    /// `hmac.new(b"whsec_test_secret", b"1700000000." + BODY, hashlib.sha256).hexdigest()`,
    /// computed with Python's `hmac`.
    const KNOWN: &str = "v1=4ccc2cc2cd9f7c81ca0ac2522cf688f285db04269ad09a26122b5b17b61fad7d";
    /// The same with the secret `old_secret`.
    const KNOWN_OLD: &str = "v1=341781e6b5dd825081abd28d05b11e4349c880a0b891c406793342241425872e";

    #[test]
    fn the_signature_matches_a_vector_computed_independently() {
        assert_eq!(sign(SECRET, AT, BODY), KNOWN);
        assert_eq!(sign(b"old_secret", AT, BODY), KNOWN_OLD);
        assert_eq!(
            verify(SECRET, "1700000000", KNOWN, BODY, AT, REPLAY_WINDOW_S),
            Ok(())
        );
    }

    #[test]
    fn another_secret_body_or_timestamp_does_not_verify() {
        let now = AT;
        let w = REPLAY_WINDOW_S;
        assert_eq!(
            verify(b"other", "1700000000", KNOWN, BODY, now, w),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "1700000000", KNOWN, b"{}", now, w),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "1700000001", KNOWN, BODY, now, w),
            Err(SignatureError::Mismatch),
            "the timestamp is signed too"
        );
        assert_eq!(
            verify(SECRET, "1700000000", "v1=4ccc", BODY, now, w),
            Err(SignatureError::Mismatch),
            "a truncated signature"
        );
        assert_eq!(
            verify(SECRET, "1700000000", "v1=zz", BODY, now, w),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "1700000000", &KNOWN[3..], BODY, now, w),
            Err(SignatureError::NoSignature),
            "the scheme prefix is required"
        );
        assert_eq!(
            verify(SECRET, "", KNOWN, BODY, now, w),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, "17e8", KNOWN, BODY, now, w),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn timestamps_outside_the_replay_window_are_refused_either_way() {
        let w = REPLAY_WINDOW_S;
        assert!(verify(SECRET, "1700000000", KNOWN, BODY, AT + w, w).is_ok());
        assert!(verify(SECRET, "1700000000", KNOWN, BODY, AT - w, w).is_ok());
        assert_eq!(
            verify(SECRET, "1700000000", KNOWN, BODY, AT + w + 1, w),
            Err(SignatureError::OutsideWindow {
                age_s: 301,
                window_s: 300
            }),
            "stale"
        );
        assert!(
            matches!(
                verify(SECRET, "1700000000", KNOWN, BODY, AT - w - 1, w),
                Err(SignatureError::OutsideWindow { .. })
            ),
            "from the future"
        );
        assert!(
            verify(SECRET, &i64::MIN.to_string(), KNOWN, BODY, i64::MAX, w).is_err(),
            "no overflow"
        );
    }

    #[test]
    fn any_of_several_v1_values_verifies_during_a_rotation() {
        let header = sign_with_each(&[SECRET, b"old_secret"], AT, BODY);
        assert_eq!(header, format!("{KNOWN},{KNOWN_OLD}"));
        assert!(verify(SECRET, "1700000000", &header, BODY, AT, 300).is_ok());
        assert!(verify(b"old_secret", "1700000000", &header, BODY, AT, 300).is_ok());
        assert_eq!(
            verify(b"third", "1700000000", &header, BODY, AT, 300),
            Err(SignatureError::Mismatch)
        );
        let spaced = format!(
            "v0=abc, {} ,v1=00",
            KNOWN.to_uppercase().replace("V1=", "v1=")
        );
        assert!(
            verify(SECRET, " 1700000000 ", &spaced, BODY, AT, 300).is_ok(),
            "spaces, other schemes and uppercase hex are tolerated"
        );
    }
}
