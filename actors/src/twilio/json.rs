//! Output side: tiny allocation-free JSON writers into a caller's `String`.
//!
//! Frames are written by hand instead of through serde: the shapes are fixed,
//! and writing straight into a reused `String` costs no allocation once it
//! has capacity.

use base64::Engine as _;

use super::wire::BASE64;

/// Appends `s` as a quoted JSON string, escaped per RFC 8259: `"` and `\`,
/// the short escapes `\b \f \n \r \t`, other control characters as `\u00XX`.
/// Everything else, including non-ASCII, is copied as UTF-8.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    crate::json_text::push_json_str_body(s, out);
    out.push('"');
}

/// Appends `n` in decimal without allocating.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` is a single digit, so the cast is lossless.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(char::from(d));
    }
}

/// Appends `n` as a quoted decimal string (`"3"`), as Twilio sends numbers.
pub(crate) fn push_u64_str(out: &mut String, n: u64) {
    out.push('"');
    push_u64(out, n);
    out.push('"');
}

/// Appends `bytes` as a quoted, padded, standard base64 string.
pub(crate) fn push_base64(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len().div_ceil(3) * 4 + 2);
    out.push('"');
    BASE64.encode_string(bytes, out);
    out.push('"');
}
