//! Unit tests of the realtime codec.

mod client_events;
mod connect;
mod roundtrip;
mod server_events;
mod session_update;
