//! Small JSON helpers shared by the encoders and decoders: a zero-copy string type for
//! `serde`, an allocation-free JSON string escaper, and the infallible serializer wrapper.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A JSON string that borrows from the input when it contains no escape sequences and
/// falls back to an owned copy when it does (`serde`'s plain `Cow<str>` always copies when
/// nested inside an `Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CowStrVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for CowStrVisitor<'a> {
            type Value = CowStr<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(CowStrVisitor(PhantomData))
    }
}

/// Unwraps an optional [`CowStr`] into an optional `Cow`.
pub(crate) fn cow(value: Option<CowStr<'_>>) -> Option<Cow<'_, str>> {
    value.map(|s| s.0)
}

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

/// Serializes one of this module's wire structs.
///
/// `serde_json` can only fail on non-string map keys or a failing custom `Serialize`
/// implementation; the wire structs here contain only strings, numbers, booleans, options,
/// vectors and `serde_json::Value`, so the error arm is unreachable.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(text) => text,
        Err(err) => unreachable!("realtime wire structs always serialize: {err}"),
    }
}
