//! Errors as the API shows them: `{ "error": { "code", "message" } }` ([`ErrorBody`]) with the
//! right status.
//!
//! Handlers reject with an [`ApiError`] (the errors of the layers below convert into it here);
//! [`recover`] is the one place that turns it (and warp's own rejections) into a response. 5xx
//! bodies stay generic; their detail goes to the log.

use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::http::header::{CONTENT_RANGE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use warp::reject::Reject;
use warp::{Rejection, Reply};

use crate::accounts::AccountsError;
use crate::auth::AuthError;
use crate::store::NotReady;
use crate::store::accounts::AccountError;

/// `{ "error": { "code", "message" } }`: every error the API returns.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `not_ready`, `bad_request`, …
    pub code: String,
    /// For people.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotReady(#[from] NotReady),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    /// No credentials, or credentials that do not hold; answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// Answered with `Retry-After`.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// A byte range outside a file of `size` bytes; answered with `Content-Range: bytes */size`.
    #[error("the requested range is not within the {size} bytes of the file")]
    RangeNotSatisfiable { size: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl Reject for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        if err.is_timeout() {
            return ApiError::Unavailable(
                "the query ran past the database's statement timeout: retry, or narrow the filters"
                    .to_owned(),
            );
        }
        if err.is_unavailable() {
            tracing::warn!(%err, "request refused: the database is unavailable");
            return ApiError::Unavailable(
                "the database is unavailable or busy; retry shortly".to_owned(),
            );
        }
        if err.is_bad_value() {
            // Validation at the edge should have caught it; the cause is logged for that fix.
            tracing::warn!(%err, "request refused: the database rejected a value");
            return ApiError::BadRequest(
                "a value is out of range or not storable text (e.g. it contains a NUL character)"
                    .to_owned(),
            );
        }
        ApiError::Internal(err.to_string())
    }
}

impl From<crate::store::StoreError> for Rejection {
    fn from(err: crate::store::StoreError) -> Self {
        warp::reject::custom(ApiError::from(err))
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        match err {
            AuthError::Unauthenticated(why) => ApiError::Unauthorized(why),
            AuthError::Forbidden(why) => ApiError::Forbidden(why),
            AuthError::Throttled {
                what,
                retry_after_s,
            } => ApiError::TooManyRequests {
                message: what,
                retry_after_s,
            },
            AuthError::Crypto(why) => ApiError::Internal(why),
        }
    }
}

impl From<AccountsError> for ApiError {
    fn from(err: AccountsError) -> ApiError {
        match err {
            AccountsError::Invalid { field, why } => {
                ApiError::BadRequest(format!("body field `{field}`: {why}"))
            }
            AccountsError::Account(e) => e.into(),
            AccountsError::Store(e) => e.into(),
            AccountsError::Auth(e) => e.into(),
            AccountsError::Task(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<AccountsError> for Rejection {
    fn from(err: AccountsError) -> Rejection {
        warp::reject::custom(ApiError::from(err))
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> ApiError {
        match err {
            AccountError::Conflict(why) => ApiError::Conflict(why),
            AccountError::Store(e) => e.into(),
        }
    }
}

impl From<AccountError> for Rejection {
    fn from(err: AccountError) -> Rejection {
        warp::reject::custom(ApiError::from(err))
    }
}

impl ApiError {
    /// The `code` of the JSON error body.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Turns every rejection into the JSON error body.
pub async fn recover(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, code, message) = if let Some(err) = rejection.find::<ApiError>() {
        let (status, code) = err.status_and_code();
        let message = if status.is_server_error()
            && !matches!(err, ApiError::NotReady(_) | ApiError::Unavailable(_))
        {
            tracing::error!(%err, "request failed");
            "internal error; see the server log".to_owned()
        } else {
            err.to_string()
        };
        (status, code, message)
    } else if let Some(err) = rejection.find::<warp::cors::CorsForbidden>() {
        (StatusCode::FORBIDDEN, "cors_forbidden", err.to_string())
    } else if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route".to_owned(),
        )
    } else if let Some(err) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "invalid_query", err.to_string())
    } else if let Some(err) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        (StatusCode::BAD_REQUEST, "invalid_body", err.to_string())
    } else if let Some(err) = rejection.find::<warp::reject::PayloadTooLarge>() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            err.to_string(),
        )
    } else if let Some(err) = rejection.find::<warp::reject::UnsupportedMediaType>() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            err.to_string(),
        )
    } else if let Some(err) = rejection.find::<warp::reject::LengthRequired>() {
        (
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            err.to_string(),
        )
    } else if let Some(err) = rejection.find::<warp::reject::MissingHeader>() {
        (StatusCode::BAD_REQUEST, "missing_header", err.to_string())
    } else if let Some(err) = rejection.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "invalid_header", err.to_string())
    } else if let Some(err) = rejection.find::<warp::reject::MethodNotAllowed>() {
        // Last of the known ones (as warp ranks them): a route whose path matched but whose
        // method did not says less than a route that matched and refused the request itself.
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            err.to_string(),
        )
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log".to_owned(),
        )
    };
    let mut response =
        warp::reply::with_status(warp::reply::json(&ErrorBody::new(code, message)), status)
            .into_response();
    match rejection.find::<ApiError>() {
        Some(ApiError::RangeNotSatisfiable { size }) => {
            if let Ok(value) = HeaderValue::try_from(format!("bytes */{size}")) {
                response.headers_mut().insert(CONTENT_RANGE, value);
            }
        }
        Some(ApiError::Unauthorized(_)) => {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Some(ApiError::TooManyRequests { retry_after_s, .. }) => {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        Some(ApiError::Unavailable(_) | ApiError::NotReady(_)) => {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    Ok(response)
}
