//! The call history as dashboards read it: the read models the store returns and the REST API
//! serializes (one set of types, so the JSON and the OpenAPI document cannot drift apart), the
//! filters and page requests the store accepts, and the pure computations over a call's messages
//! (transcript rendering, per-call analytics).
//!
//! Nothing here does I/O; the store (`crate::store::history`) fills these types and the HTTP layer
//! (`crate::http::params`, used by `calls`, `messages` and `insights`) parses requests into them.

pub mod analytics;
pub mod call_key;
pub mod cursor;
pub mod models;
pub mod transcript;

pub use call_key::{CallKey, CallKeyError};
pub use cursor::Cursor;
pub use models::*;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PageStart {
    #[default]
    First,
    /// Skip this many rows (simple, but not stable while rows arrive).
    Offset(u32),
    /// After the last row of the previous page (keyset: stable while rows arrive).
    After(Cursor),
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub start: PageStart,
}
