//! Switchboard's simulators and test tooling, kept out of the engine: the protocol peers (a
//! Twilio caller, an OpenAI Realtime peer and an OpenAI Chat Completions peer with structured
//! output, implemented from the protocol facts), an organization's webhook tool endpoint
//! (`tool_server`), realistic conversation fixtures, the call load
//! test, the `demo`, and the harness that starts engines and databases for the tests and benches.
//! The `switchboard-sim` binary runs `demo`, `loadtest` and the load test's floor relay.

pub mod demo;
pub mod fixture;
pub mod harness;
pub mod loadtest;
pub mod messages;
pub mod openai_rest;
pub mod realtime_peer;
pub mod stamp;
pub mod tool_server;
pub mod twilio_caller;
mod watched;
