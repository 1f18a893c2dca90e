//! What the routes are built from, and the filters that hand each handler only its own part.
//!
//! [`Deps`] is assembled once (by `app.rs`, or by a test) and given to [`super::routes`]; no
//! handler receives it whole. Each field is one small, cheaply cloned dependency. Those handlers
//! use have a filter here (`with_store`, `with_calls`, `with_auth`, `with_events`, …) that a route
//! adds for its handler, so that the route tree says what each handler uses; the body limit sizes
//! the body filters of [`super::extract`], the CORS origins configure the tree's CORS. The auth
//! gate, which yields the caller, is [`super::auth::Gate`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warp::Filter;

use switchboard_actors::persistence::PersistenceHandle;

use super::ai::AiGate;
use super::auth::AuthState;
use super::metrics::HttpMetrics;
use super::sse::SseSettings;
use super::supervise::SupervisorDirectory;
use crate::config::Config;
use crate::events::EventBus;
use crate::store::Store;
use crate::twilio::TwilioSettings;
use crate::twilio::media::MediaSettings;

/// Everything the HTTP layer depends on, one field per dependency.
#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    /// When the process started (`GET /health` reports the uptime).
    pub started: Instant,
    pub calls: Calls,
    /// Keys, token lifetimes and limits of the auth layer.
    pub auth: Arc<AuthState>,
    pub events: Events,
    /// What the HTTP layer counts for `GET /metrics`.
    pub metrics: Arc<HttpMetrics>,
    pub twilio: Arc<TwilioSettings>,
    /// The largest request body the API accepts.
    pub max_body_bytes: u64,
    /// Browser origins allowed by CORS.
    pub cors_origins: Arc<Vec<String>>,
    /// The AI circuit breakers and the fallback for calls the AI cannot take.
    pub ai: Arc<AiGate>,
}

/// The engine's calls as the API reaches them: the live ones, the write path of messages, and who
/// supervises which.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    /// Live calls (absent in processes that only serve history).
    pub media: Option<Arc<MediaSettings>>,
    /// Where the API writes messages (the engine's persistence actor).
    pub persistence: Option<PersistenceHandle>,
    /// Who is supervising which live call (supervisor sockets of this process).
    pub supervisors: Arc<SupervisorDirectory>,
    /// This node: admission, drain and, in a cluster, the bus to the other nodes' calls.
    pub node: Option<Arc<crate::cluster::Node>>,
}

impl Calls {
    /// The live call, on this node or another (409 when it is live nowhere).
    pub async fn link(
        &self,
        org_id: uuid::Uuid,
        call_id: uuid::Uuid,
        call_sid: &str,
    ) -> Result<crate::cluster::link::CallLink, crate::cluster::link::LinkError> {
        crate::cluster::link::CallLink::find(
            self.media.as_ref().map(|m| &m.registry),
            self.node.as_ref().and_then(|n| n.bus.as_ref()),
            org_id,
            call_id,
            call_sid,
        )
        .await
    }
}

/// Live events: the bus (published on by the API and the webhooks, followed by event streams and
/// supervisor sockets) and how those streams run.
#[derive(Clone, Debug)]
pub struct Events {
    pub bus: EventBus,
    pub sse: SseSettings,
}

impl Deps {
    /// With the HTTP and Twilio settings of the configuration; no live calls, fresh auth keys and
    /// a bus of its own (the engine sets its own in their place).
    pub fn from_config(store: Store, config: &Config) -> Self {
        let mut deps = Self::new(
            store,
            TwilioSettings {
                public_url: config.http.public_url.clone(),
                auth_token: config.twilio.auth_token.clone(),
                validate_signatures: config.twilio.validate_signatures,
            },
        );
        deps.max_body_bytes = config.http.max_body_bytes;
        deps.events.bus = EventBus::new(config.http.sse_replay_events as usize);
        deps.events.sse.keepalive = Duration::from_secs(config.http.sse_keepalive_s);
        deps.cors_origins = Arc::new(config.http.cors_origins.clone());
        deps
    }

    /// Defaults around a store and Twilio settings (tests).
    pub fn new(store: Store, twilio: TwilioSettings) -> Self {
        Deps {
            store,
            started: Instant::now(),
            calls: Calls::default(),
            auth: Arc::new(AuthState::ephemeral()),
            events: Events {
                bus: EventBus::new(crate::events::DEFAULT_REPLAY_EVENTS),
                sse: SseSettings::default(),
            },
            metrics: Arc::default(),
            twilio: Arc::new(twilio),
            max_body_bytes: 4 * 1024 * 1024,
            cors_origins: Arc::default(),
            ai: Arc::new(AiGate::standalone()),
        }
    }
}

/// Hands every request a clone of `value`.
fn with<T: Clone + Send + Sync + 'static>(
    value: &T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone + use<T> {
    let value = value.clone();
    warp::any().map(move || value.clone())
}

/// The store.
pub fn with_store(
    store: &Store,
) -> impl Filter<Extract = (Store,), Error = Infallible> + Clone + use<> {
    with(store)
}

/// The live calls, the persistence actor and the supervisor directory.
pub fn with_calls(
    calls: &Calls,
) -> impl Filter<Extract = (Calls,), Error = Infallible> + Clone + use<> {
    with(calls)
}

/// The auth layer's keys, caches and limits (the caller itself comes from the gate).
pub fn with_auth(
    auth: &Arc<AuthState>,
) -> impl Filter<Extract = (Arc<AuthState>,), Error = Infallible> + Clone + use<> {
    with(auth)
}

/// The event bus and the streams' settings.
pub fn with_events(
    events: &Events,
) -> impl Filter<Extract = (Events,), Error = Infallible> + Clone + use<> {
    with(events)
}

/// The HTTP layer's own metrics.
pub fn with_metrics(
    metrics: &Arc<HttpMetrics>,
) -> impl Filter<Extract = (Arc<HttpMetrics>,), Error = Infallible> + Clone + use<> {
    with(metrics)
}

/// How Twilio's requests are checked and answered.
pub fn with_twilio(
    twilio: &Arc<TwilioSettings>,
) -> impl Filter<Extract = (Arc<TwilioSettings>,), Error = Infallible> + Clone + use<> {
    with(twilio)
}

/// When the process started.
pub fn with_started(
    started: Instant,
) -> impl Filter<Extract = (Instant,), Error = Infallible> + Clone + use<> {
    with(&started)
}

/// The AI gate (breakers and fallback).
pub fn with_ai(
    ai: &Arc<AiGate>,
) -> impl Filter<Extract = (Arc<AiGate>,), Error = Infallible> + Clone + use<> {
    with(ai)
}
