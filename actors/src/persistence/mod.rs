//! The persistence path: every message, event and call/conversation update of a live call goes
//! through one [`PersistenceHandle`] per process into batched, idempotent writes.
//!
//! - [`rows`]: what is persisted (ids made by producers, UUID v7).
//! - [`core`]: the sans-IO batching/retry/flush logic.
//! - [`actor`]: the supervised ractor shell and the producer handle; the database side is a
//!   [`PersistenceBackend`] the service implements.
//! - [`metrics`]: counters and histograms.

pub mod actor;
pub mod core;
pub mod metrics;
pub mod rows;

pub use actor::{
    PersistError, PersistMessage, PersistenceBackend, PersistenceHandle, ShutdownReport,
};
pub use core::{Full, PersistenceConfig, Rejection, WriteError};
pub use metrics::{PersistenceMetrics, PersistenceStats};
pub use rows::{
    AiUsage, CallUpdate, ConversationUpdate, DEFAULT_ORG, NewEvent, NewMessage, NewRecording,
    PersistItem, Sender,
};
