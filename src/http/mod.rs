//! The HTTP layer (warp).
//!
//! - [`routes`] is the one route tree: every path and method, the handler it reaches and what
//!   that handler is given, plus CORS, the JSON error recovery and the request log.
//! - [`deps`] holds what the routes are built from ([`Deps`]) and the narrow filters
//!   (`with_store`, `with_calls`, `with_auth`, `with_events`, …) that hand each handler its part;
//!   the auth gate that yields the caller is [`auth::Gate`].
//! - One module per resource, with its handlers and its JSON models: [`meta`] (health, readiness),
//!   [`calls`], [`messages`], [`insights`] (analytics, conversations, timelines), [`recording`],
//!   [`sse`] (live events), [`supervise`], [`auth`] (login, refresh, logout, me, and the gate),
//!   [`admin`] (users, API keys, credentials, security events), [`analysis`] (post-call analysis
//!   jobs and fields), [`ai`] (AI health, the breakers' gate), [`usage`], [`metrics`] and
//!   [`openapi`]. The
//!   Twilio webhooks and media socket live in [`crate::twilio`].
//! - [`dashboard`]: the web page (`web/`, embedded in the binary) at `/` and `/assets/{file}`.
//! - Shared request handling: [`extract`] (filters that read the request), [`params`] (query
//!   strings and JSON bodies into typed values), [`input`] (the one rule for request text), and
//!   [`error`] (`ApiError`, the one JSON error body, the one `recover`).

pub mod admin;
pub mod agents;
pub mod ai;
pub mod analysis;
pub mod auth;
pub mod calls;
pub mod cluster;
pub mod dashboard;
pub mod deps;
pub mod error;
pub mod extract;
pub mod input;
pub mod insights;
pub mod messages;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod recording;
mod routes;
pub mod sse;
pub mod supervise;
pub mod usage;

use std::future::Future;

use tokio::net::TcpListener;

pub use deps::Deps;
pub use routes::routes;

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting, ends the event
/// streams (which would otherwise never finish) and waits for the requests in flight to finish.
pub async fn run(
    listener: TcpListener,
    deps: Deps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let streams = deps.events.sse.shutdown.clone();
    warp::serve(routes(deps))
        .incoming(listener)
        .graceful(async move {
            shutdown.await;
            streams.cancel();
        })
        .run()
        .await;
}
