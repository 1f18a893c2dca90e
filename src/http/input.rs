//! The one rule for text taken from a request (query parameters, form fields, JSON fields): valid
//! text has no NUL byte (PostgreSQL cannot store one) and a bounded length. A value that breaks the
//! rule is a 400 naming the field, before it reaches a query.

use super::error::ApiError;

/// Names, emails, filters: a line of text.
pub const SHORT_TEXT: usize = 1024;

/// A Twilio webhook parameter (`CallToken` and friends can run to a few KiB).
pub const WEBHOOK_VALUE: usize = 8192;

/// `value` of `field` if it has no NUL and at most `max_chars` characters; else a 400.
pub fn text<'a>(field: &str, value: &'a str, max_chars: usize) -> Result<&'a str, ApiError> {
    if value.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "{} contains a NUL character",
            printable(field)
        )));
    }
    if value.len() > max_chars && value.chars().count() > max_chars {
        return Err(ApiError::BadRequest(format!(
            "{} is longer than {max_chars} characters",
            printable(field)
        )));
    }
    Ok(value)
}

/// A field name from the request, safe to echo in an error: control characters escaped, cut short.
fn printable(field: &str) -> String {
    let mut out: String = field
        .chars()
        .take(64)
        .flat_map(char::escape_debug)
        .collect();
    if field.chars().count() > 64 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_overlong_text_are_refused_with_the_field_named() {
        assert_eq!(text("q", "hello", 10).unwrap(), "hello");
        assert_eq!(text("q", "héllo", 5).unwrap(), "héllo");
        let err = text("q", "a\0b", 10).unwrap_err();
        assert!(matches!(&err, ApiError::BadRequest(m) if m == "q contains a NUL character"));
        let err = text("name", &"x".repeat(11), 10).unwrap_err();
        assert!(matches!(&err, ApiError::BadRequest(m) if m.contains("longer than 10")));
        let err = text("a\0key", "\0", 10).unwrap_err();
        assert!(matches!(&err, ApiError::BadRequest(m) if m.starts_with("a\\0key")));
    }
}
