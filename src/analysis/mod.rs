//! Post-call analysis: every conversation that ends is summarized and scored by a model, without a
//! human action.
//!
//! - [`fields`]: an organization's own analysis fields and their rules;
//! - [`schema`]: the strict JSON schema of the answer, and the check of an answer against it;
//! - [`transcript`]: the conversation as the model reads it;
//! - [`client`]: the Chat Completions request through `async-openai`;
//! - [`worker`]: the durable job queue's workers (claim, retry with backoff, fail with a reason).
//!
//! The queue itself is in PostgreSQL (`sql/V10__analysis_and_usage.sql`, `store/analysis.rs`): a
//! trigger queues a job when a conversation leaves `active`, whichever path completed it.

pub mod client;
pub mod fields;
pub mod schema;
pub mod transcript;
pub mod worker;

pub use worker::{AnalysisWorkers, WorkerDeps};
