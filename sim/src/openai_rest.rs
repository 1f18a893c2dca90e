//! `OpenAiRestPeer`: an HTTP server on 127.0.0.1 that answers OpenAI Chat Completions
//! (`POST /v1/chat/completions`) with structured output, for end-to-end tests of the engine's
//! transcript scoring, with no network and no model. Its responses are the service's shape, so
//! `async-openai` (the engine's client) reads them: point it at [`OpenAiRestPeer::api_base`].
//!
//! # What a request gets
//! * Another path: 404 `Invalid URL (METHOD /path)`; another method on the path: 405.
//! * With [`RestPeerConfig::require_api_key`], `Authorization: Bearer <key>` must carry that
//!   key: 401 `invalid_api_key` otherwise.
//! * A body above [`RestPeerConfig::max_body_bytes`]: 413. Not `application/json`, not JSON:
//!   400 naming the problem.
//! * Validation as the service does it, each failure a 400 whose `param` is the path of the
//!   offending part (`messages[0].role`, `response_format.json_schema.schema.properties.x.
//!   required`): `model` a non-empty string (404 `model_not_found` when not one of
//!   [`RestPeerConfig::models`]), `messages` a non-empty array of `{role, content}` (roles
//!   `system`, `developer`, `user`, `assistant`; content text), no unknown parameters, and a
//!   `response_format` of type `json_schema` with a valid `name`, `strict: true` and a schema
//!   obeying the strict rules (see [`schema`]). A request without `response_format` is
//!   answered in plain text (and logged as such).
//! * A valid request takes the next [`Scripted`] outcome, if any, else gets the default
//!   answer: a value that fits the schema, derived from the last user message (see the
//!   `answer` module), serialized as `choices[0].message.content`, with deterministic `usage`.
//!   `max_completion_tokens` (or `max_tokens`) cuts a longer content, `finish_reason: length`.
//!
//! Every response carries `x-request-id`, `openai-version` and `openai-processing-ms`; errors
//! are `{"error":{"message","type","param","code"}}`; a 429 carries `Retry-After`.
//!
//! Known differences: JSON object keys come out in alphabetical order (serde_json's map), not
//! in schema order; one choice only, no streaming, no tools.
//!
//! # Observing and breaking it
//! [`OpenAiRestPeer::requests`] snapshots one [`RequestLog`] per HTTP request (what it asked,
//! what it got); [`OpenAiRestPeer::wait_for`] waits until they satisfy a predicate;
//! [`OpenAiRestPeer::usage_total`] sums the tokens of the 200s. [`OpenAiRestPeer::control`]
//! scripts outcomes: a queue of one-shot [`Scripted`] answers (out-of-schema, not JSON,
//! refusal, truncated, any error status, rate limit, delay, hang), and
//! [`RestControl::fail_all`] for a service that fails every request until told otherwise.

mod answer;
mod config;
mod conform;
mod control;
mod error;
mod handler;
mod log;
mod response;
pub mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use warp::Filter;

pub use config::RestPeerConfig;
pub use conform::conforms;
pub use control::{RestControl, Scripted};
pub use error::RequestError;
pub use log::{ChatMessage, RequestLog, SentError, Usage};
pub use response::SYSTEM_FINGERPRINT;

use handler::Shared;

/// How long [`OpenAiRestPeer::shutdown`] lets open requests finish before aborting the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running fake Chat Completions service on `127.0.0.1`. Dropping it stops it too;
/// [`shutdown`](OpenAiRestPeer::shutdown) waits for it.
pub struct OpenAiRestPeer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl OpenAiRestPeer {
    /// Binds `127.0.0.1:0` and starts serving. Must be called inside a Tokio runtime (an
    /// error otherwise).
    pub fn start(config: RestPeerConfig) -> io::Result<OpenAiRestPeer> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// [`OpenAiRestPeer::start`] on `addr`, which must be a loopback address (an engine
    /// started elsewhere can then be pointed at a known URL).
    pub fn start_on(config: RestPeerConfig, addr: SocketAddr) -> io::Result<OpenAiRestPeer> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("OpenAiRestPeer binds loopback addresses only, not {addr}"),
            ));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|err| {
            io::Error::other(format!("OpenAiRestPeer needs a Tokio runtime: {err}"))
        })?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            config,
            control: RestControl::default(),
            logs: log::Logs::new(),
        });
        let (shutdown, stop) = watch::channel(false);
        let route_shared = Arc::clone(&shared);
        let route_stop = stop.clone();
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::header::headers_cloned())
            .and(warp::body::stream())
            .then(move |method, path: warp::path::FullPath, headers, body| {
                let shared = Arc::clone(&route_shared);
                let stop = route_stop.clone();
                let path = path.as_str().to_owned();
                handler::handle(shared, method, path, headers, body, stop)
            });
        let mut server_stop = stop;
        let server = warp::serve(routes)
            .incoming(listener)
            .graceful(async move { handler::stopped(&mut server_stop).await })
            .run();
        let server = runtime.spawn(server);
        tracing::debug!(%addr, "openai rest peer: listening");
        Ok(OpenAiRestPeer {
            addr,
            shared,
            shutdown,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT/v1`: the `api_base` for `async-openai`'s `OpenAIConfig`.
    pub fn api_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1/chat/completions`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, handler::PATH)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RestPeerConfig {
        &self.shared.config
    }

    /// Shared handle scripting the answers.
    pub fn control(&self) -> RestControl {
        self.shared.control.clone()
    }

    /// Snapshot of every request's log, in arrival order (index = request id).
    pub fn requests(&self) -> Vec<RequestLog> {
        self.shared.logs.snapshot()
    }

    /// The tokens of every 200 answered so far, summed.
    pub fn usage_total(&self) -> Usage {
        self.requests()
            .iter()
            .filter(|log| log.is_ok())
            .filter_map(|log| log.usage)
            .fold(Usage::default(), |total, usage| total + usage)
    }

    /// Waits until `pred` holds for the logs, at most `limit`; the logs that satisfied it, or
    /// `None` on timeout.
    pub async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&[RequestLog]) -> bool,
    ) -> Option<Vec<RequestLog>> {
        self.shared.logs.wait_for(limit, pred).await
    }

    /// Stops accepting, answers delayed and hanging requests with 503, lets open requests
    /// finish and closes the connections; aborts the server after a short grace period.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_err()
        {
            tracing::warn!("openai rest peer: connections still open after the grace period");
            server.abort();
        }
    }
}

impl Drop for OpenAiRestPeer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
