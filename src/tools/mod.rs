//! Webhook tools: functions an organization defines for its agent, answered by the
//! organization's own HTTPS endpoint.
//!
//! The path of one tool call, file by file:
//!
//! * [`definition`]: what an organization defines ([`WebhookTool`]: name, description, JSON Schema
//!   parameters, URL, timeout, what the agent says while waiting, which argument fields are
//!   secret), validated when defined, each refusal naming the field ([`DefinitionError`]).
//! * [`arguments`]: the model's arguments string is checked against the tool's schema before
//!   anything is sent ([`ArgumentsError`]); [`masked`] hides the secret fields for logs, events
//!   and system messages.
//! * [`limits`]: per-organization limits protecting the customer's endpoint ([`ToolLimits`]: a
//!   rate with a burst, refused at once; a number of concurrent calls, waited for).
//! * [`signing`]: the `X-Switchboard-Timestamp` / `X-Switchboard-Signature` headers (HMAC-SHA256
//!   over `"<timestamp>.<body>"`), and how a customer verifies them.
//! * [`client`]: [`ToolClient::call`] runs one call (validate, limit, sign, POST, read a bounded
//!   answer, all within the tool's timeout) and always returns a [`ToolOutcome`] whose `output`
//!   is a JSON string for the Realtime `function_call_output`, so the conversation never stalls
//!   on a tool.
//! * [`record`]: [`ToolCallRecord`], what an event or a system message says of a call (name,
//!   masked arguments, status, latency, result size).
//!
//! Several calls of one model response run concurrently: [`ToolClient::call`] takes `&self`, so
//! the caller joins the futures. The customer's side is simulated by `switchboard-sim`'s
//! `tool_server`.

pub mod arguments;
pub mod client;
pub mod definition;
pub mod limits;
pub mod record;
pub mod signing;

pub use arguments::{ArgumentsError, check_arguments, masked};
pub use client::{MAX_RESULT_BYTES, ToolClient, ToolContext, ToolOutcome, ToolStatus};
pub use definition::{BUILT_INS, DefinitionError, WebhookTool};
pub use limits::{LimitRefusal, ToolLimits, ToolPermit};
pub use record::ToolCallRecord;
pub use signing::{REPLAY_WINDOW_S, SignatureError, sign, verify};
