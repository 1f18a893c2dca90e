//! AI health: one circuit breaker per AI service (the realtime socket, the REST API) and per key
//! (the engine's, or an organization's own), shared by every call and job of the process.
//!
//! Work reports its outcomes here (a realtime connect, an analysis request); new work asks
//! [`AiHealth::admit`] first, so that while a provider is down new calls get the fallback instead
//! of waiting on it and analysis jobs wait. Calls already live keep their own
//! reconnect-by-restart: the breaker decides for new work only. Changes of state are broadcast
//! ([`AiHealth::subscribe`]) for the live events and the logs; [`AiHealth::report`] feeds
//! `GET /api/v1/ai/health`, `/ready` and the metrics.

mod breaker;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

pub use breaker::{Admission, Breaker, BreakerPolicy, BreakerReport, BreakerState, Transition};

/// Which AI service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AiService {
    /// The realtime websocket (live calls).
    Realtime,
    /// The REST API (post-call analysis).
    Rest,
}

impl AiService {
    pub const fn as_str(self) -> &'static str {
        match self {
            AiService::Realtime => "realtime",
            AiService::Rest => "rest",
        }
    }
}

/// Whose key the work runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyScope {
    /// The engine's configured key (organizations without their own).
    Engine,
    /// An organization's own key.
    Org(Uuid),
}

impl KeyScope {
    /// `Org` when the organization has its own key.
    pub fn of(org_id: Uuid, has_own_key: bool) -> KeyScope {
        if has_own_key {
            KeyScope::Org(org_id)
        } else {
            KeyScope::Engine
        }
    }
}

/// A breaker changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerChange {
    pub service: AiService,
    pub scope: KeyScope,
    pub transition: Transition,
}

/// One breaker as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointHealth {
    pub service: AiService,
    pub scope: KeyScope,
    pub report: BreakerReport,
}

/// See the module documentation.
#[derive(Debug)]
pub struct AiHealth {
    policy: BreakerPolicy,
    breakers: Mutex<HashMap<(AiService, KeyScope), Breaker>>,
    changes: broadcast::Sender<BreakerChange>,
}

impl AiHealth {
    pub fn new(policy: BreakerPolicy) -> AiHealth {
        AiHealth {
            policy,
            breakers: Mutex::default(),
            changes: broadcast::channel(256).0,
        }
    }

    /// Whether new work may go to `service` on `scope`'s key now.
    pub fn admit(&self, service: AiService, scope: KeyScope) -> Admission {
        let (admission, change) = self.with(service, scope, |b| b.admit(Instant::now()));
        self.announce(service, scope, change);
        admission
    }

    pub fn success(&self, service: AiService, scope: KeyScope, latency: Duration) {
        let change = self.with(service, scope, |b| b.success(Instant::now(), latency));
        self.announce(service, scope, change);
    }

    /// `error` is a short description, never a key or a URL with credentials.
    pub fn failure(&self, service: AiService, scope: KeyScope, error: &str) {
        let change = self.with(service, scope, |b| b.failure(Instant::now(), error));
        self.announce(service, scope, change);
    }

    /// Every breaker that has seen work, ordered by service and scope.
    pub fn report(&self) -> Vec<EndpointHealth> {
        let now = Instant::now();
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<EndpointHealth> = breakers
            .iter_mut()
            .map(|(&(service, scope), breaker)| EndpointHealth {
                service,
                scope,
                report: breaker.report(now),
            })
            .collect();
        all.sort_by_key(|h| (h.service, h.scope));
        all
    }

    /// State changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BreakerChange> {
        self.changes.subscribe()
    }

    fn with<T>(&self, service: AiService, scope: KeyScope, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let breaker = breakers
            .entry((service, scope))
            .or_insert_with(|| Breaker::new(self.policy.clone()));
        f(breaker)
    }

    fn announce(&self, service: AiService, scope: KeyScope, change: Option<Transition>) {
        let Some(transition) = change else { return };
        match &transition {
            Transition::Opened(why) => tracing::warn!(
                service = service.as_str(),
                scope = ?scope,
                why = %why,
                "AI circuit breaker opened"
            ),
            other => tracing::info!(
                service = service.as_str(),
                scope = ?scope,
                transition = ?other,
                "AI circuit breaker changed"
            ),
        }
        // Nobody listening is fine.
        let _ = self.changes.send(BreakerChange {
            service,
            scope,
            transition,
        });
    }
}

impl Default for AiHealth {
    fn default() -> Self {
        AiHealth::new(BreakerPolicy::default())
    }
}

/// What a call's AI session reports its connects to.
#[derive(Debug, Clone)]
pub struct HealthReporter {
    pub health: std::sync::Arc<AiHealth>,
    pub scope: KeyScope,
}
