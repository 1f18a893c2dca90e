//! The engine's integration tests, one binary (one link of the engine instead of one per file):
//! real PostgreSQL (the engine's managed cluster), real sockets on loopback, and the project's own
//! Twilio and OpenAI Realtime peers; the dashboard's tests drive a headless Chromium
//! ([`browser`]).

mod analysis;
mod browser;
mod cli;
mod cluster;
mod dashboard;
mod dashboard_flows;
mod fixture;
mod history_api;
mod http;
mod lines;
mod live_call;
mod live_events;
mod loadtest;
mod nodes;
mod persistence;
mod recording_api;
mod schema;
mod security;
mod supervise;
mod twilio_webhooks;
