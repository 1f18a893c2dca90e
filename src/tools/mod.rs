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
//!
//! The client that runs a call comes next.

pub mod arguments;
pub mod definition;
pub mod limits;
pub mod signing;

pub use arguments::{ArgumentsError, check_arguments, masked};
pub use definition::{BUILT_INS, DefinitionError, WebhookTool};
pub use limits::{LimitRefusal, ToolLimits, ToolPermit};
pub use signing::{REPLAY_WINDOW_S, SignatureError, sign, verify};
