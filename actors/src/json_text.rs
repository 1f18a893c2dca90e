//! Writing JSON text by hand, for the codecs' hot paths: the one string escaper both the Twilio
//! and the realtime encoders use.

/// Appends `s` to `out` as the *body* of a JSON string (no surrounding quotes), escaping
/// `"`, `\` and control characters. Never allocates when `out` has enough spare capacity.
pub(crate) fn push_json_str_body(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
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
        // `i` indexes an ASCII byte, so both slices fall on UTF-8 boundaries.
        out.push_str(&s[run_start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(short);
        }
        run_start = i + 1;
    }
    out.push_str(&s[run_start..]);
}
