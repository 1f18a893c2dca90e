//! The errors the peer answers with, and their OpenAI shape:
//! `{"error":{"message","type","param","code"}}` with the HTTP status the service uses.

use serde_json::{Value, json};

/// Why a request gets an error instead of a completion. The `Display` text is
/// `error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// 404: nothing is served at this path.
    #[error("Invalid URL ({method} {path})")]
    InvalidUrl {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// 405: the path is served, not with this method.
    #[error("Invalid method for URL ({method} {path})")]
    InvalidMethod {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// 401: no `Authorization: Bearer` header while a key is required.
    #[error(
        "You didn't provide an API key. You need to provide your API key in an Authorization \
         header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
    )]
    MissingApiKey,
    /// 401: a key other than the required one.
    #[error(
        "Incorrect API key provided: {masked}. You can find your API key at \
         https://platform.openai.com/account/api-keys."
    )]
    WrongApiKey {
        /// The key sent, masked as the service masks it (`sk-ab***yz`).
        masked: String,
    },
    /// 413: the body is larger than [`RestPeerConfig::max_body_bytes`](super::RestPeerConfig).
    #[error("Request body too large: the limit is {limit} bytes.")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// 400: the `Content-Type` is not `application/json`.
    #[error("Invalid Content-Type header ({got}), expected application/json.")]
    ContentType {
        /// The header sent (`none` when absent).
        got: String,
    },
    /// 400: the body is not JSON (or not a JSON object).
    #[error(
        "We could not parse the JSON body of your request. ({detail}) The OpenAI API expects a \
         JSON payload."
    )]
    InvalidJson {
        /// What the parser said.
        detail: String,
    },
    /// 400: a parameter is missing or invalid.
    #[error("{message}")]
    Invalid {
        /// The parameter's path (`messages[1].role`, `response_format.json_schema.schema.
        /// properties.x.required`).
        param: String,
        /// `error.code`: `missing_required_parameter`, `invalid_type`, `invalid_value`,
        /// `empty_array`, `invalid_json_schema`, …
        code: &'static str,
        /// `error.message`.
        message: String,
    },
    /// 404: the model is not one of [`RestPeerConfig::models`](super::RestPeerConfig).
    #[error("The model `{model}` does not exist or you do not have access to it.")]
    ModelNotFound {
        /// The model requested.
        model: String,
    },
    /// 429 from [`Scripted::RateLimited`](super::Scripted::RateLimited).
    #[error(
        "Rate limit reached for {model} on requests per min (RPM): Limit 500, Used 500, \
         Requested 1. Please try again in {retry_after_s}s."
    )]
    RateLimited {
        /// The model requested.
        model: String,
        /// Seconds in the `Retry-After` header.
        retry_after_s: u64,
    },
    /// Any status, from [`Scripted::Status`](super::Scripted::Status).
    #[error("{message}")]
    Scripted {
        /// HTTP status (500 when not 4xx/5xx).
        status: u16,
        /// `error.message`.
        message: String,
    },
    /// 503: the peer shut down while the request hung.
    #[error("The server is shutting down.")]
    ShuttingDown,
}

impl RequestError {
    /// A 400 for `param`.
    pub(super) fn invalid(
        param: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> RequestError {
        RequestError::Invalid {
            param: param.into(),
            code,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::InvalidUrl { .. } | RequestError::ModelNotFound { .. } => 404,
            RequestError::InvalidMethod { .. } => 405,
            RequestError::MissingApiKey | RequestError::WrongApiKey { .. } => 401,
            RequestError::BodyTooLarge { .. } => 413,
            RequestError::ContentType { .. }
            | RequestError::InvalidJson { .. }
            | RequestError::Invalid { .. } => 400,
            RequestError::RateLimited { .. } => 429,
            RequestError::Scripted { status, .. } if (400..600).contains(status) => *status,
            RequestError::Scripted { .. } => 500,
            RequestError::ShuttingDown => 503,
        }
    }

    /// `error.type`. The service sends `invalid_request_error` for a missing or wrong key.
    pub fn error_type(&self) -> &'static str {
        match self.status() {
            401 if matches!(self, RequestError::Scripted { .. }) => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            500.. => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// `error.code`.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            RequestError::MissingApiKey | RequestError::WrongApiKey { .. } => {
                Some("invalid_api_key")
            }
            RequestError::BodyTooLarge { .. } => Some("request_too_large"),
            RequestError::Invalid { code, .. } => Some(code),
            RequestError::ModelNotFound { .. } => Some("model_not_found"),
            RequestError::RateLimited { .. } => Some("rate_limit_exceeded"),
            RequestError::Scripted { .. } if self.status() == 429 => Some("rate_limit_exceeded"),
            _ => None,
        }
    }

    /// `error.param`.
    pub fn param(&self) -> Option<&str> {
        match self {
            RequestError::Invalid { param, .. } => Some(param),
            _ => None,
        }
    }

    /// The `Retry-After` header, in seconds.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            RequestError::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.error_type(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }
}

/// `sk-abc…xyz` as the service shows a wrong key: the first 3 and last 4 characters.
pub(super) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::{RequestError, mask_key};

    #[test]
    fn a_wrong_key_is_masked() {
        assert_eq!(mask_key("sk-abcdefghijkl"), "sk-********ijkl");
        assert_eq!(mask_key("short"), "*****");
    }

    #[test]
    fn scripted_statuses_get_the_services_types() {
        let scripted = |status| RequestError::Scripted {
            status,
            message: "m".into(),
        };
        assert_eq!(scripted(401).error_type(), "authentication_error");
        assert_eq!(scripted(403).error_type(), "permission_error");
        assert_eq!(scripted(429).code(), Some("rate_limit_exceeded"));
        assert_eq!(scripted(502).error_type(), "server_error");
        assert_eq!(scripted(200).status(), 500, "not an error status: 500");
        assert_eq!(
            RequestError::MissingApiKey.error_type(),
            "invalid_request_error"
        );
    }
}
