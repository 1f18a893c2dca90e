//! Sans-IO codec for the OpenAI Realtime websocket protocol, tolerant of both the beta and
//! the GA event names.
//!
//! Nothing here does IO: callers own the websocket and hand this module text frames.
//!
//! * Connecting: [`connect_url`] and [`connect_headers`] (`OpenAI-Beta: realtime=v1` only
//!   for [`Dialect::Beta`]; pick the dialect from the model with [`Dialect::for_model`]).
//! * Configuring: [`SessionConfig::session_update`] writes the GA (nested `audio`) or beta
//!   (flat) `session.update`.
//! * Sending: [`encode_audio_append`] is the allocation-free hot path writing into a reused
//!   buffer; the other client events ([`item_create_user_text`], [`truncate`],
//!   [`response_create`], …) return a `String`.
//! * Receiving: [`parse_server_event`] decodes any server event into a [`ServerEvent`],
//!   folding the beta and GA names of renamed events into one variant. Audio deltas borrow
//!   their base64 payload from the frame and do not allocate. Unknown events decode to
//!   [`ServerEvent::Other`]; unknown fields are ignored.
//! * Faking the service in tests: [`parse_client_event`] and [`ServerEncoder`].
//!
//! Borrowed strings are `Cow<'a, str>`: borrowed when the JSON string contains no escape
//! sequence (always true for ids and base64), owned when it does, so escaped input is
//! decoded correctly rather than rejected.
//!
//! The session cannot be resumed: after `session_expired` (see
//! [`ServerEvent::is_session_expired`]) the service closes with 1001; reconnect, send
//! `session.update` again, then replay context with [`item_create_user_text`],
//! [`item_create_assistant_text`] and [`item_create_function_output`].

mod client;
mod client_parse;
mod dialect;
mod error;
mod json;
mod server;
mod server_encode;
mod server_parse;
mod server_raw;
mod server_wire;
mod session;
mod session_summary;

#[cfg(test)]
mod tests;

pub use client::{
    encode_audio_append, input_audio_clear, input_audio_commit, item_create_assistant_text,
    item_create_function_call, item_create_function_output, item_create_system_text,
    item_create_user_text, response_cancel, response_create, response_create_with, truncate,
};
pub use client_parse::{ClientEvent, ContentPart, ConversationItem, parse_client_event};
pub use dialect::{AudioFormat, DEFAULT_BASE_URL, Dialect, connect_headers, connect_url};
pub use error::RealtimeError;
pub use server::{
    ApiError, ItemInfo, RateLimit, ResponseStatus, ServerEvent, SessionInfo, TokenUsage,
};
pub use server_encode::ServerEncoder;
pub use server_parse::{parse_server_event, server_event_dialect};
pub use session::{MaxOutputTokens, NoiseReduction, SessionConfig, Tool, ToolChoice, VadConfig};
pub use session_summary::SessionUpdate;
