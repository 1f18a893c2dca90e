//! Switchboard, the service: configuration, storage (PostgreSQL, managed or configured), the HTTP
//! API (warp) and the command line. The live-call core lives in the `switchboard-actors` crate.
//!
//! See `ARCHITECTURE.md` (in `shared/`) and the README for the map.

pub mod accounts;
pub mod agents;
pub mod analysis;
pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod events;
pub mod history;
pub mod http;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod twilio;

pub use switchboard_actors as actors;
