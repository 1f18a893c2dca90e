//! `GET /health` and `GET /ready`: whether the process lives, and whether it can serve.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::ai::{AiGate, BreakerView};
use super::deps::Calls;
use super::error::{ApiError, ErrorBody};
use crate::store::Store;

/// `GET /health`: the process is alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
}

/// `GET /ready`: the engine can serve (database up, schema current).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    pub status: String,
    pub schema_version: i32,
    /// The AI circuit breakers, by service and key: the engine stays ready with a breaker open
    /// (new calls get the fallback), and says so here.
    #[serde(default)]
    pub ai: Vec<ReadyBreaker>,
}

/// One breaker in `/ready`'s detail (no organization named: the route is public).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadyBreaker {
    pub service: String,
    /// `engine` or `organization`.
    pub key: String,
    pub state: String,
}

/// Liveness: answers while the process runs, whatever the database does.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)), security(()))]
pub async fn health(started: Instant) -> Result<Response, Rejection> {
    Ok(warp::reply::json(&Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: started.elapsed().as_secs(),
    })
    .into_response())
}

/// Readiness: 200 only when the database answers and the schema is current; else 503 and why.
#[utoipa::path(get, path = "/ready", tag = "meta",
    responses((status = 200, body = Ready), (status = 503, body = ErrorBody)), security(()))]
pub async fn ready(store: Store, ai: Arc<AiGate>, calls: Calls) -> Result<Response, Rejection> {
    // A draining node finishes its calls but takes no new ones: load balancers stop sending.
    if let Some(node) = calls.node.as_ref().filter(|n| n.is_draining()) {
        return Ok(warp::reply::with_status(
            warp::reply::json(&serde_json::json!({
                "status": "draining",
                "reason": "draining",
                "node": node.id,
                "live_calls": node.registry.live_calls(),
            })),
            warp::http::StatusCode::SERVICE_UNAVAILABLE,
        )
        .into_response());
    }
    store.readiness().await.map_err(ApiError::from)?;
    let ai = ai
        .health
        .report()
        .iter()
        .map(BreakerView::of)
        .map(|b| ReadyBreaker {
            service: b.service,
            key: b.key,
            state: b.state,
        })
        .collect();
    Ok(warp::reply::json(&Ready {
        status: "ready".to_owned(),
        schema_version: Store::expected_schema_version(),
        ai,
    })
    .into_response())
}
