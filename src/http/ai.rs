//! AI health over HTTP: the circuit breakers as `GET /api/v1/ai/health` shows them, and the gate
//! the voice webhook asks before it hands a new call to the AI ([`AiGate::admit_call`]).

use std::sync::Arc;

use serde::Serialize;
use switchboard_actors::ai_health::{
    Admission, AiHealth, AiService, BreakerState, EndpointHealth, KeyScope,
};
use utoipa::ToSchema;
use warp::{Rejection, Reply};

use crate::auth::Principal;
use crate::config::Config;
use crate::twilio::fallback::Fallback;

/// The breakers and what callers get when the AI cannot take their call.
#[derive(Debug)]
pub struct AiGate {
    pub health: Arc<AiHealth>,
    pub fallback: Fallback,
}

/// Why a new call does not go to the AI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    BreakerOpen,
    CapReached,
    /// No node of the cluster has room (or this one drains and no other has).
    NoCapacity(crate::cluster::Full),
}

impl AiGate {
    pub fn new(health: Arc<AiHealth>, config: &Config) -> AiGate {
        AiGate {
            health,
            fallback: Fallback::from_config(config),
        }
    }

    /// A gate with a fresh registry and the default fallback (tests, history-only processes).
    pub fn standalone() -> AiGate {
        AiGate::new(Arc::default(), &Config::defaults())
    }

    /// Whether the realtime service may take a new call on `scope`'s key (a half-open breaker
    /// lets the call through as its probe).
    pub fn admit_call(&self, scope: KeyScope) -> bool {
        !matches!(
            self.health.admit(AiService::Realtime, scope),
            Admission::Refused { .. }
        )
    }
}

/// One breaker, as reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakerView {
    /// `realtime` (live calls) or `rest` (post-call analysis).
    pub service: String,
    /// `engine` (the configured key) or `organization` (the organization's own key).
    pub key: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Outcomes and failures over the last 60 s.
    pub requests: u32,
    pub failures: u32,
    /// failures ÷ requests over the window (0 without requests).
    pub error_rate: f64,
    pub consecutive_failures: u32,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub last_error: Option<String>,
    pub last_error_age_s: Option<f64>,
    /// For an open breaker: seconds until a probe is let through.
    pub retry_in_s: Option<f64>,
}

impl BreakerView {
    pub fn of(h: &EndpointHealth) -> BreakerView {
        let r = &h.report;
        BreakerView {
            service: h.service.as_str().to_owned(),
            key: match h.scope {
                KeyScope::Engine => "engine".to_owned(),
                KeyScope::Org(_) => "organization".to_owned(),
            },
            state: r.state.as_str().to_owned(),
            requests: r.requests,
            failures: r.failures,
            error_rate: if r.requests == 0 {
                0.0
            } else {
                f64::from(r.failures) / f64::from(r.requests)
            },
            consecutive_failures: r.consecutive_failures,
            latency_p50_ms: r.latency_p50.map(|d| d.as_secs_f64() * 1000.0),
            latency_p95_ms: r.latency_p95.map(|d| d.as_secs_f64() * 1000.0),
            last_error: r.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_age_s: r.last_error.as_ref().map(|(age, _)| age.as_secs_f64()),
            retry_in_s: r.retry_in.map(|d| d.as_secs_f64()),
        }
    }
}

/// `GET /api/v1/ai/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AiHealthView {
    /// `ok` when every breaker the organization depends on is closed, else `degraded`.
    pub status: String,
    pub breakers: Vec<BreakerView>,
}

/// The AI services' health as the organization's work sees it: the breakers of the engine's key
/// and of the organization's own key (per service: state, recent latency, error rate, last
/// error).
#[utoipa::path(get, path = "/api/v1/ai/health", tag = "ai",
    responses((status = 200, body = AiHealthView)))]
pub async fn health(p: Principal, gate: Arc<AiGate>) -> Result<warp::reply::Response, Rejection> {
    let breakers: Vec<BreakerView> = gate
        .health
        .report()
        .iter()
        .filter(|h| h.scope == KeyScope::Engine || h.scope == KeyScope::Org(p.org_id))
        .map(BreakerView::of)
        .collect();
    let degraded = breakers
        .iter()
        .any(|b| b.state != BreakerState::Closed.as_str());
    Ok(warp::reply::json(&AiHealthView {
        status: if degraded { "degraded" } else { "ok" }.to_owned(),
        breakers,
    })
    .into_response())
}
