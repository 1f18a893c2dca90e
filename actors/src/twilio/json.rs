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
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, hence a char boundary.
        out.push_str(&s[start..i]);
        start = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[start..]);
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
