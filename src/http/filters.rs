//! Routes: which path and method reach which handler, with what state. Paths are matched before
//! methods so that an unknown path is a 404, not a 405.

use std::convert::Infallible;

use warp::{Filter, Reply};

use super::metrics::HttpMetrics;
use super::twilio::{self, MAX_FORM_BYTES, Webhook};
use super::{AppState, error, handlers, metrics, sse};

/// Every route of the API, with request logging (and its latency metric) and the JSON error
/// recovery.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let http_metrics = state.metrics.clone();
    health(state.clone())
        .or(ready(state.clone()))
        .or(events(state.clone()))
        .or(metrics_route(state.clone()))
        .or(twilio_voice(state.clone()))
        .or(twilio_status(state.clone()))
        .or(twilio_media(state.clone()))
        .or(super::recording::route(state.clone()))
        .or(super::api::routes(state))
        .recover(error::recover)
        .with(warp::log::custom(move |info| {
            log_request(&http_metrics, info)
        }))
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

/// `GET /api/v1/events` (Server-Sent Events)
fn events(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "v1" / "events")
        .and(warp::get())
        .and(with_state(state))
        .and(super::api::org())
        .and(warp::header::optional::<String>("last-event-id"))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(sse::events)
}

/// `GET /metrics`
fn metrics_route(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state))
        .and_then(metrics::metrics)
}

/// A Twilio webhook: path, raw query, signature header and form body (size-limited).
fn webhook() -> impl Filter<Extract = (Webhook,), Error = warp::Rejection> + Clone {
    warp::post()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(warp::body::content_length_limit(MAX_FORM_BYTES))
        .and(warp::body::form::<Vec<(String, String)>>())
        .map(
            |path: warp::path::FullPath, query, signature, form| Webhook {
                path: path.as_str().to_owned(),
                query,
                signature,
                form,
            },
        )
}

/// `POST /twilio/voice`
fn twilio_voice(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("twilio" / "voice")
        .and(with_state(state))
        .and(webhook())
        .and_then(twilio::voice)
}

/// `POST /twilio/status`
fn twilio_status(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("twilio" / "status")
        .and(with_state(state))
        .and(webhook())
        .and_then(twilio::status)
}

/// `GET /twilio/media` (websocket)
fn twilio_media(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("twilio" / "media")
        .and(warp::ws())
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(with_state(state))
        .and_then(super::media::upgrade)
}

fn log_request(metrics: &HttpMetrics, info: warp::log::Info<'_>) {
    metrics.observe_request(info.path(), info.status(), info.elapsed());
    tracing::info!(
        target: "switchboard::http",
        method = %info.method(),
        path = info.path(),
        status = info.status().as_u16(),
        duration_ms = info.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
}
