//! The model's tools, as a call sees them: which functions the shell runs for it (webhook tools
//! and the built-ins that need the service, e.g. `lookup_customer`, `add_note`), what the agent
//! says while one runs, where `transfer` may send the caller, and the [`ToolRunner`] seam through
//! which the service runs them (the actors crate makes no HTTP requests and reads no database).
//!
//! A tool call never stalls the conversation: the runner always answers with a [`ToolReport`]
//! whose `output` goes back to the model as the function's output, an error included.

use std::future::Future;
use std::pin::Pin;

/// A function the shell runs for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTool {
    pub name: String,
    /// Said (as an instruction to the model) while the tool runs, if anything.
    pub say_while_waiting: Option<String>,
}

/// A named destination of the `transfer` built-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferTarget {
    pub name: String,
    /// E.164.
    pub number: String,
}

/// One function call of the model, to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    /// The model's `call_id` (its output names it).
    pub call_id: String,
    pub name: String,
    /// The model's arguments, a JSON string (not yet validated).
    pub arguments: String,
}

/// How a tool call went.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReport {
    /// The function output for the model (a JSON string, errors included).
    pub output: String,
    /// `ok`, `timeout`, `http_error`, `invalid_json`, `too_large`, `invalid_arguments`, …
    pub status: String,
    pub latency_ms: u64,
    /// Bytes of the tool's result.
    pub result_bytes: usize,
    /// The arguments as they may be logged and stored (secret fields masked).
    pub arguments: serde_json::Value,
}

/// Runs a call's tools (the service implements it, one per call, with the call's context).
pub trait ToolRunner: Send + Sync + std::fmt::Debug + 'static {
    fn run(&self, request: ToolRequest) -> Pin<Box<dyn Future<Output = ToolReport> + Send>>;
}
