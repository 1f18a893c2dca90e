//! The codec's single error type.

use thiserror::Error;

use super::MAX_FRAME_BYTES;

/// Why a frame could not be parsed or a media payload decoded.
///
/// An *unknown event* is not an error: it parses to `Inbound::Unknown` /
/// `Outbound::Unknown`, which callers count and skip.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The text frame exceeds [`MAX_FRAME_BYTES`]; it was rejected before parsing.
    #[error("frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    FrameTooLarge {
        /// Length of the rejected frame in bytes.
        len: usize,
    },
    /// The frame is not a JSON object of the expected shape (syntax error,
    /// trailing data, or a value of the wrong JSON type such as an object where
    /// a string belongs). Carries serde_json's message with line and column.
    #[error("invalid JSON frame: {0}")]
    InvalidJson(String),
    /// A field required by the frame's event is absent (or `null`).
    /// Named by its wire path, e.g. `streamSid` or `media.payload`.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// A field is present but its value is unusable: a non-numeric or
    /// out-of-range number, a non-string where text belongs, a DTMF digit that
    /// is not exactly one character, or a JSON-escaped media payload.
    #[error("invalid value for field `{field}`: {value:?}")]
    InvalidField {
        /// Wire path of the field, e.g. `sequenceNumber`.
        field: &'static str,
        /// The offending value (truncated to 64 characters).
        value: String,
    },
    /// The media payload is not valid standard base64.
    #[error("media payload is not valid base64")]
    BadBase64,
}

impl CodecError {
    /// Builds [`CodecError::InvalidField`], truncating long values.
    pub(crate) fn invalid(field: &'static str, value: &str) -> Self {
        const KEEP: usize = 64;
        let value = match value.char_indices().nth(KEEP) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        };
        CodecError::InvalidField { field, value }
    }
}

impl From<serde_json::Error> for CodecError {
    fn from(err: serde_json::Error) -> Self {
        CodecError::InvalidJson(err.to_string())
    }
}
