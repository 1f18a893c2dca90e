//! Twilio's identifiers: a two-letter prefix and 32 hexadecimal digits (`CA…` calls, `AC…`
//! accounts, `MZ…` streams). Every edge that takes one from a request checks its shape first, so
//! that no NUL byte, path separator or oversized value reaches the database or the file system.

/// Digits after the prefix.
const HEX_DIGITS: usize = 32;

/// `sid` is `prefix` followed by exactly 32 hexadecimal digits.
pub fn is_sid(prefix: &str, sid: &str) -> bool {
    sid.len() == prefix.len() + HEX_DIGITS
        && sid.starts_with(prefix)
        && sid[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A call's SID (`CA` + 32 hex digits).
pub fn is_call_sid(sid: &str) -> bool {
    is_sid("CA", sid)
}

/// An account's SID (`AC` + 32 hex digits).
pub fn is_account_sid(sid: &str) -> bool {
    is_sid("AC", sid)
}

/// A DTMF key Twilio reports: `0`–`9`, `*`, `#`, or `A`–`D`.
pub fn is_dtmf_digit(digit: char) -> bool {
    matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_have_their_prefix_and_32_hex_digits() {
        let call = format!("CA{}", "0123456789abcdef".repeat(2));
        assert!(is_call_sid(&call));
        assert!(is_call_sid(&format!("CA{}", "0123456789ABCDEF".repeat(2))));
        assert!(!is_account_sid(&call));
        for bad in [
            "",
            "CA",
            "../../x",
            "CA0123456789abcdef0123456789abcde",
            "CA0123456789abcdef0123456789abcdef0",
            "CA0123456789abcdef0123456789abcde\0",
            "CA0123456789abcdef0123456789abcdeg",
            "CA/123456789abcdef0123456789abcdef",
            "ca0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_call_sid(bad), "{bad:?}");
        }
        assert!(is_account_sid(&format!("AC{}", "f".repeat(32))));
        assert!(!is_account_sid("AC\0"));
    }

    #[test]
    fn dtmf_digits_are_the_keypad() {
        for d in "0123456789*#ABCD".chars() {
            assert!(is_dtmf_digit(d));
        }
        for d in ['\0', 'x', ' ', '\u{202e}', 'é'] {
            assert!(!is_dtmf_digit(d), "{d:?}");
        }
    }
}
