//! The JSON shapes of the API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// `GET /health`: the process is alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
}

/// `GET /ready`: the engine can serve (database up, schema current).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    pub status: String,
    pub schema_version: i32,
}
