//! Request handlers: plain async functions from typed inputs to replies or [`ApiError`]s.

use warp::{Rejection, Reply};

use super::AppState;
use super::error::ApiError;
use super::models::{Health, Ready};
use crate::store::Store;

/// Liveness: answers while the process runs, whatever the database does.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)), security(()))]
pub async fn health(state: AppState) -> Result<impl Reply, Rejection> {
    Ok(warp::reply::json(&Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.started.elapsed().as_secs(),
    }))
}

/// Readiness: 200 only when the database answers and the schema is current; else 503 and why.
#[utoipa::path(get, path = "/ready", tag = "meta",
    responses((status = 200, body = Ready), (status = 503, body = super::models::ErrorBody)), security(()))]
pub async fn ready(state: AppState) -> Result<impl Reply, Rejection> {
    state.store.readiness().await.map_err(ApiError::from)?;
    Ok(warp::reply::json(&Ready {
        status: "ready".to_owned(),
        schema_version: Store::expected_schema_version(),
    }))
}
