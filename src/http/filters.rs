//! Routes: which path and method reach which handler, with what state. Paths are matched before
//! methods so that an unknown path is a 404, not a 405.

use std::convert::Infallible;

use uuid::Uuid;
use warp::{Filter, Reply};

use super::metrics::HttpMetrics;
use super::{AppState, error, handlers, metrics, sse};
use crate::twilio::webhooks::{self as twilio, MAX_FORM_BYTES, Webhook};

/// Every route of the API, with request logging (and its latency metric) and the JSON error
/// recovery.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let http_metrics = state.metrics.clone();
    let cors = cors(&state.cors_origins);
    health(state.clone())
        .or(ready(state.clone()))
        .or(events(state.clone()))
        .or(metrics_route(state.clone()))
        .or(twilio_voice(state.clone()))
        .or(twilio_status(state.clone()))
        .or(twilio_media(state.clone()))
        .or(super::recording::route(state.clone()))
        .or(super::auth::routes(state.clone()))
        .or(super::supervise::routes(state.clone()))
        .or(super::api::routes(state))
        .recover(error::recover)
        // CORS wraps the answers, error bodies included (browsers need the headers to read
        // them); what it refuses itself (an origin not allowed) is answered by the second
        // recover.
        .with(cors)
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
        .and(super::api::org(&state))
        .and(with_state(state))
        .and(warp::header::optional::<String>("last-event-id"))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(|org, state, header, raw| sse::events(state, org, header, raw))
}

/// `GET /metrics` (with `Authorization: Bearer <auth.metrics_token>` when that is set)
fn metrics_route(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .and(with_state(state))
        .and_then(|header: Option<String>, state: AppState| async move {
            let token = state.auth.metrics_token.expose();
            if !token.is_empty() {
                let given = header.as_deref().and_then(|h| h.strip_prefix("Bearer "));
                // Constant-time: the comparison's duration says nothing about the token.
                let ok = given.is_some_and(|g| {
                    use sha2::Digest;
                    let (a, b) = (sha2::Sha256::digest(g), sha2::Sha256::digest(token));
                    a.iter()
                        .zip(b.iter())
                        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                        == 0
                });
                if !ok {
                    return Err(warp::reject::custom(error::ApiError::Unauthorized(
                        "GET /metrics needs `Authorization: Bearer <auth.metrics_token>`".into(),
                    )));
                }
            }
            metrics::metrics(state).await
        })
}

/// CORS for the configured dashboard origins (none by default: browsers on other origins are
/// refused, server-to-server callers are unaffected).
fn cors(origins: &[String]) -> warp::cors::Builder {
    warp::cors()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type", "last-event-id", "range"])
        .expose_headers(["retry-after", "content-range", "www-authenticate"])
        .max_age(600)
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

/// `GET /twilio/media` and `GET /twilio/media/{org}` (websocket)
fn twilio_media(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    let org = warp::path!("twilio" / "media")
        .map(|| None)
        .or(warp::path!("twilio" / "media" / Uuid).map(Some))
        .unify();
    org
        // hyper's upgrade handle, taken before `warp::ws()` (which only checks the handshake
        // headers here) removes it: the socket is built with our own read buffer (see `media`).
        .and(warp::ext::optional::<hyper::upgrade::OnUpgrade>())
        .and(warp::ws())
        .and(warp::header::<String>("sec-websocket-key"))
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(with_state(state))
        .and_then(crate::twilio::media::upgrade)
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
