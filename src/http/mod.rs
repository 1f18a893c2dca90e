//! The HTTP layer (warp): routes in [`filters`], logic in [`handlers`], JSON shapes in [`models`],
//! and every error turned into the one JSON error body in [`error`]. The live event stream is in
//! [`sse`], the Prometheus exposition in [`metrics`].

pub mod api;
pub mod auth;
pub mod error;
pub mod filters;
pub mod handlers;
pub mod input;
pub mod metrics;
pub mod models;
pub mod recording;
pub mod sse;
pub mod supervise;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use switchboard_actors::persistence::PersistenceHandle;

use crate::config::{Config, Secret};
use crate::events::EventBus;
use crate::store::Store;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub started: Instant,
    pub twilio: Arc<TwilioSettings>,
    /// Live calls (absent in processes that only serve history).
    pub media: Option<Arc<crate::twilio::media::MediaSettings>>,
    /// Where the API writes messages (the engine's persistence actor).
    pub persistence: Option<PersistenceHandle>,
    /// The largest request body the API accepts.
    pub max_body_bytes: u64,
    /// Live events (`GET /api/v1/events`), how their streams run, and what the HTTP layer counts
    /// for `GET /metrics`.
    pub events: EventBus,
    pub sse: sse::SseSettings,
    pub metrics: Arc<metrics::HttpMetrics>,
    /// Keys, token lifetimes and limits of the auth layer.
    pub auth: Arc<auth::AuthState>,
    /// Browser origins allowed by CORS.
    pub cors_origins: Arc<Vec<String>>,
    /// Who is supervising which live call (supervisor sockets of this process).
    pub supervisors: Arc<supervise::SupervisorDirectory>,
}

/// How Twilio's requests are checked and answered.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// The base URL Twilio calls (signatures are computed over it) and the media socket's base.
    pub public_url: url::Url,
    pub auth_token: Secret,
    pub validate_signatures: bool,
}

impl AppState {
    /// With Twilio settings from the configuration.
    pub fn from_config(store: Store, config: &Config) -> Self {
        let mut state = Self::new(
            store,
            TwilioSettings {
                public_url: config.http.public_url.clone(),
                auth_token: config.twilio.auth_token.clone(),
                validate_signatures: config.twilio.validate_signatures,
            },
        );
        state.max_body_bytes = config.http.max_body_bytes;
        state.events = EventBus::new(config.http.sse_replay_events as usize);
        state.sse.keepalive = Duration::from_secs(config.http.sse_keepalive_s);
        state.cors_origins = Arc::new(config.http.cors_origins.clone());
        state
    }

    pub fn new(store: Store, twilio: TwilioSettings) -> Self {
        AppState {
            store,
            started: Instant::now(),
            twilio: Arc::new(twilio),
            media: None,
            persistence: None,
            max_body_bytes: 4 * 1024 * 1024,
            events: EventBus::new(crate::events::DEFAULT_REPLAY_EVENTS),
            sse: sse::SseSettings::default(),
            metrics: Arc::default(),
            auth: Arc::new(auth::AuthState::ephemeral()),
            cors_origins: Arc::default(),
            supervisors: Arc::default(),
        }
    }

    /// With the auth layer's keys and limits.
    pub fn with_auth(mut self, auth: auth::AuthState) -> Self {
        self.auth = Arc::new(auth);
        self
    }

    /// With the persistence actor the API writes messages through.
    pub fn with_persistence(mut self, persistence: PersistenceHandle) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// With live calls.
    pub fn with_media(mut self, media: crate::twilio::media::MediaSettings) -> Self {
        self.media = Some(Arc::new(media));
        self
    }

    /// Publishing on (and streaming from) `events`: the engine's bus, which its persistence
    /// backend also publishes on.
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting, ends the event
/// streams (which would otherwise never finish) and waits for the requests in flight to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let streams = state.sse.shutdown.clone();
    warp::serve(filters::routes(state))
        .incoming(listener)
        .graceful(async move {
            shutdown.await;
            streams.cancel();
        })
        .run()
        .await;
}
