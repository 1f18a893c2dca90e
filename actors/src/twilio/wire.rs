//! Input side: raw serde shapes shared by both parsers, plus field helpers.
//!
//! One flat [`Envelope`] covers every event in both directions, so a frame is
//! parsed in a single pass with no `serde` buffering (internally tagged enums
//! would copy the frame into an intermediate tree). Every leaf is a
//! [`Scalar`], which borrows from the frame unless the JSON string contained
//! escapes; unknown fields are skipped by `serde_json` without allocating.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{CodecError, MAX_FRAME_BYTES};

/// A JSON leaf as found on the wire: a string (borrowed when unescaped), a
/// non-negative integer, or anything else scalar (kept as text for errors).
#[derive(Debug)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    Other(String),
}

struct ScalarVisitor<'a>(PhantomData<Scalar<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or number")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Other(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other(v.to_string()))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(PhantomData))
    }
}

impl<'a> Scalar<'a> {
    fn describe(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s),
            Scalar::UInt(n) => Cow::Owned(n.to_string()),
            Scalar::Other(s) => Cow::Borrowed(s),
        }
    }

    /// The value as text; numbers and booleans are rejected.
    pub(crate) fn text(self, field: &'static str) -> Result<Cow<'a, str>, CodecError> {
        match self {
            Scalar::Str(s) => Ok(s),
            other => Err(CodecError::invalid(field, &other.describe())),
        }
    }

    /// The value as an owned `String`.
    pub(crate) fn string(self, field: &'static str) -> Result<String, CodecError> {
        self.text(field).map(Cow::into_owned)
    }

    /// The value as a slice of the frame itself. A JSON-escaped string cannot
    /// be borrowed and is rejected (used for base64, which never needs escapes).
    pub(crate) fn borrowed(self, field: &'static str) -> Result<&'a str, CodecError> {
        match self {
            Scalar::Str(Cow::Borrowed(s)) => Ok(s),
            Scalar::Str(Cow::Owned(s)) => Err(CodecError::invalid(
                field,
                &format!("JSON-escaped string not allowed: {s}"),
            )),
            other => Err(CodecError::invalid(field, &other.describe())),
        }
    }

    /// The value as an unsigned number: a string of ASCII digits (`"3"`) or a
    /// JSON integer, in range for `T`.
    pub(crate) fn number<T: TryFrom<u64>>(&self, field: &'static str) -> Result<T, CodecError> {
        let n = match self {
            Scalar::UInt(n) => Some(*n),
            Scalar::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().ok()
            }
            _ => None,
        };
        n.and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| CodecError::invalid(field, &self.describe()))
    }
}

/// Unwraps a required field or names it in [`CodecError::MissingField`].
pub(crate) fn need<T>(value: Option<T>, field: &'static str) -> Result<T, CodecError> {
    value.ok_or(CodecError::MissingField(field))
}

/// Every top-level field of every event, both directions.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow)]
    pub event: Option<Scalar<'a>>,
    #[serde(borrow, rename = "sequenceNumber")]
    pub sequence_number: Option<Scalar<'a>>,
    #[serde(borrow, rename = "streamSid")]
    pub stream_sid: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub protocol: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub version: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub start: Option<StartBody<'a>>,
    #[serde(borrow)]
    pub media: Option<MediaBody<'a>>,
    #[serde(borrow)]
    pub dtmf: Option<DtmfBody<'a>>,
    #[serde(borrow)]
    pub mark: Option<MarkBody<'a>>,
    #[serde(borrow)]
    pub stop: Option<StopBody<'a>>,
}

/// `start` object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBody<'a> {
    #[serde(borrow)]
    pub stream_sid: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub account_sid: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub call_sid: Option<Scalar<'a>>,
    pub tracks: Option<Vec<String>>,
    pub custom_parameters: Option<BTreeMap<String, String>>,
    #[serde(borrow)]
    pub media_format: Option<MediaFormatBody<'a>>,
}

/// `start.mediaFormat` object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaFormatBody<'a> {
    #[serde(borrow)]
    pub encoding: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub sample_rate: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub channels: Option<Scalar<'a>>,
}

/// `media` object (inbound has all fields, outbound only `payload`).
#[derive(Debug, Deserialize)]
pub(crate) struct MediaBody<'a> {
    #[serde(borrow)]
    pub track: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub chunk: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub timestamp: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub payload: Option<Scalar<'a>>,
}

/// `dtmf` object.
#[derive(Debug, Deserialize)]
pub(crate) struct DtmfBody<'a> {
    #[serde(borrow)]
    pub digit: Option<Scalar<'a>>,
}

/// `mark` object.
#[derive(Debug, Deserialize)]
pub(crate) struct MarkBody<'a> {
    #[serde(borrow)]
    pub name: Option<Scalar<'a>>,
}

/// `stop` object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StopBody<'a> {
    #[serde(borrow)]
    pub account_sid: Option<Scalar<'a>>,
    #[serde(borrow)]
    pub call_sid: Option<Scalar<'a>>,
}

/// Only the event name; used to classify frames whose full parse failed.
#[derive(Deserialize)]
struct EventOnly<'a> {
    #[serde(borrow)]
    event: Option<Scalar<'a>>,
}

/// Outcome of [`parse_envelope`]. Lives only on the stack for one call;
/// boxing the envelope would cost an allocation per frame.
#[expect(clippy::large_enum_variant, reason = "transient; Box would allocate")]
pub(crate) enum Parsed<'a> {
    /// The frame matched the envelope shape; `event` is its (present) name.
    Frame(Cow<'a, str>, Envelope<'a>),
    /// The full parse failed but the frame names an event outside `known`.
    Unknown(String),
}

/// Size-checks and parses a frame. A frame whose event is not in `known` is
/// never an error as long as it is a JSON object with a string `event`, even
/// if its other fields clash with the shapes of known events.
pub(crate) fn parse_envelope<'a>(text: &'a str, known: &[&str]) -> Result<Parsed<'a>, CodecError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(CodecError::FrameTooLarge { len: text.len() });
    }
    match serde_json::from_str::<Envelope<'a>>(text) {
        Ok(mut env) => {
            let event = need(env.event.take(), "event")?.text("event")?;
            Ok(Parsed::Frame(event, env))
        }
        Err(err) => match serde_json::from_str::<EventOnly<'_>>(text) {
            Ok(EventOnly {
                event: Some(Scalar::Str(event)),
            }) if !known.contains(&event.as_ref()) => Ok(Parsed::Unknown(event.into_owned())),
            _ => Err(err.into()),
        },
    }
}

/// Standard alphabet; accepts padded or unpadded input, emits padded output.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Clears `out` and decodes standard base64 into it, reusing its capacity.
///
/// On error `out` is left empty and [`CodecError::BadBase64`] is returned.
pub fn decode_base64(payload_b64: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.clear();
    BASE64.decode_vec(payload_b64, out).map_err(|_| {
        out.clear();
        CodecError::BadBase64
    })
}
