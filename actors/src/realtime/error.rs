//! The single error type of the realtime codec.

use thiserror::Error;

/// Everything that can go wrong while decoding a realtime event.
///
/// Encoding never fails; only parsing returns this error. Unknown event *types* are not
/// errors (they decode to an `Other` variant); only malformed known events are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RealtimeError {
    /// The text is not valid JSON, is not a JSON object, or a field has the wrong JSON type.
    #[error("invalid realtime JSON: {0}")]
    InvalidJson(String),
    /// A field required by the event type is absent (or `null`). Nested fields are named
    /// with a dotted path, e.g. `response.id`.
    #[error("realtime event is missing required field `{0}`")]
    MissingField(&'static str),
    /// A field is present with the right JSON type but a value this codec does not accept.
    #[error("realtime event field `{field}` has invalid value {value:?}")]
    InvalidField {
        /// Dotted path of the offending field.
        field: &'static str,
        /// The rejected value, as text.
        value: String,
    },
}

impl From<serde_json::Error> for RealtimeError {
    fn from(err: serde_json::Error) -> Self {
        RealtimeError::InvalidJson(err.to_string())
    }
}

/// Turns an absent optional field into [`RealtimeError::MissingField`].
pub(crate) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, RealtimeError> {
    value.ok_or(RealtimeError::MissingField(field))
}
