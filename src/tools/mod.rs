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
//!
//! Limits, signing and the client that runs a call come next.

pub mod arguments;
pub mod definition;

pub use arguments::{ArgumentsError, check_arguments, masked};
pub use definition::{BUILT_INS, DefinitionError, WebhookTool};
