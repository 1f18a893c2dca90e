//! Routes: which path and method reach which handler, with what state. Paths are matched before
//! methods so that an unknown path is a 404, not a 405.

use std::convert::Infallible;

use warp::{Filter, Reply};

use super::{AppState, error, handlers};

/// Every route of the API, with request logging and the JSON error recovery.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    health(state.clone())
        .or(ready(state))
        .recover(error::recover)
        .with(warp::log::custom(log_request))
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// `GET /health`
fn health(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("health")
        .and(warp::get())
        .and(with_state(state))
        .and_then(handlers::health)
}

/// `GET /ready`
fn ready(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("ready")
        .and(warp::get())
        .and(with_state(state))
        .and_then(handlers::ready)
}

fn log_request(info: warp::log::Info<'_>) {
    tracing::info!(
        target: "switchboard::http",
        method = %info.method(),
        path = info.path(),
        status = info.status().as_u16(),
        duration_ms = info.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}
