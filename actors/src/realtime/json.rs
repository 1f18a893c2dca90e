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

pub(crate) use crate::json_text::push_json_str_body;

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
