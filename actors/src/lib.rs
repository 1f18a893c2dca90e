//! `switchboard-actors`: the live-call core of Switchboard.
//!
//! This crate holds what a live call is made of, free of SQL and HTTP: the domain vocabulary every
//! layer shares ([`domain`]), and — as the live-call issues land — the sans-IO protocol cores
//! (Twilio Media Streams frames, OpenAI Realtime events, audio stages, `CallCore`) and the ractor
//! actors that drive them. The service crate (`switchboard`) depends on this one, never the reverse:
//! where an actor needs a service facility (a message store, a recording directory) this crate defines
//! a small trait and the service passes an implementation in.

pub mod ai_health;
pub mod audio;
pub mod call;
pub mod domain;
mod json_text;
pub mod persistence;
pub mod realtime;
pub mod twilio;
