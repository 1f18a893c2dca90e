//! The REST history API under `/api/v1`: calls, messages, transcripts, summaries, notes, analytics,
//! conversations and customer timelines, and the OpenAPI document that describes them.
//!
//! Routes are declared here; handlers live in [`calls`], [`messages`] and [`insights`]; request
//! parsing (errors that name the parameter) in [`params`]; the document in [`openapi`]. Every
//! handler is scoped by the caller's organization, which [`org`] supplies.

pub mod admin;
pub mod calls;
pub mod insights;
pub mod messages;
pub mod openapi;
pub mod params;

use std::convert::Infallible;

use uuid::Uuid;
use warp::{Filter, Rejection, Reply};

use super::AppState;
use super::error::ApiError;

/// Every `/api/v1` route of the history API.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let body = body_filter(state.max_body_bytes);
    let calls = warp::path!("api" / "v1" / "calls")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(calls::list);
    let call = warp::path!("api" / "v1" / "calls" / String)
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| calls::detail(state, org, id, raw));
    let transcript = warp::path!("api" / "v1" / "calls" / String / "transcript")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| calls::transcript(state, org, id, raw));
    let summary = warp::path!("api" / "v1" / "calls" / String / "summary")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| calls::summary(state, org, id, raw));
    let notes = warp::path!("api" / "v1" / "calls" / String / "notes")
        .and(warp::post())
        .and(ctx(&state))
        .and(body.clone())
        .and_then(|id, state, org, body| calls::add_note(state, org, id, body));
    let call_analytics = warp::path!("api" / "v1" / "calls" / String / "messages" / "analytics")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| calls::analytics(state, org, id, raw));
    let messages = warp::path!("api" / "v1" / "calls" / String / "messages")
        .and(ctx(&state))
        .and(
            (warp::get().and(raw_query()).map(Method::Get))
                .or(warp::post().and(body.clone()).map(Method::Post))
                .unify(),
        )
        .and_then(|id, state, org, method| async move {
            match method {
                Method::Get(raw) => messages::list(state, org, id, raw).await,
                Method::Post(body) => messages::create(state, org, id, body).await,
            }
        });
    let bulk = warp::path!("api" / "v1" / "calls" / String / "messages" / "bulk")
        .and(warp::post())
        .and(ctx(&state))
        .and(body.clone())
        .and_then(|id, state, org, body| messages::bulk(state, org, id, body));
    let message = warp::path!("api" / "v1" / "calls" / String / "messages" / String)
        .and(ctx(&state))
        .and(
            (warp::patch().and(body.clone()).map(Some))
                .or(warp::delete().map(|| None))
                .unify(),
        )
        .and_then(
            |id, message_id, state, org, body: Option<bytes::Bytes>| async move {
                match body {
                    Some(body) => messages::edit(state, org, id, message_id, body).await,
                    None => messages::delete(state, org, id, message_id).await,
                }
            },
        );
    let analytics = warp::path!("api" / "v1" / "analytics")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(insights::analytics);
    let conversations = warp::path!("api" / "v1" / "conversations")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(insights::conversations);
    let conversation = warp::path!("api" / "v1" / "conversations" / String)
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| insights::conversation(state, org, id, raw));
    let timeline = warp::path!("api" / "v1" / "customers" / String / "timeline")
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| insights::timeline(state, org, id, raw));
    let openapi = warp::path!("api" / "v1" / "openapi.json")
        .and(warp::get())
        .and(org(&state))
        .map(|_| openapi::document());
    let users = warp::path!("api" / "v1" / "users")
        .and(who(&state))
        .and(read_or_write(warp::post(), body.clone()))
        .and_then(|state, p, body: Option<bytes::Bytes>| async move {
            match body {
                None => admin::list_users(state, p).await,
                Some(body) => admin::create_user(state, p, body).await,
            }
        });
    let user = warp::path!("api" / "v1" / "users" / String)
        .and(warp::patch())
        .and(who(&state))
        .and(body.clone())
        .and_then(|id, state, p, body| admin::update_user(state, p, id, body));
    let api_keys = warp::path!("api" / "v1" / "api-keys")
        .and(who(&state))
        .and(read_or_write(warp::post(), body.clone()))
        .and_then(|state, p, body: Option<bytes::Bytes>| async move {
            match body {
                None => admin::list_api_keys(state, p).await,
                Some(body) => admin::create_api_key(state, p, body).await,
            }
        });
    let api_key = warp::path!("api" / "v1" / "api-keys" / String)
        .and(warp::delete())
        .and(who(&state))
        .and_then(|id, state, p| admin::revoke_api_key(state, p, id));
    let credentials = warp::path!("api" / "v1" / "organization" / "credentials")
        .and(who(&state))
        .and(read_or_write(warp::put(), body.clone()))
        .and_then(|state, p, body: Option<bytes::Bytes>| async move {
            match body {
                None => admin::credentials(state, p).await,
                Some(body) => admin::update_credentials(state, p, body).await,
            }
        });
    let security_events = warp::path!("api" / "v1" / "security-events")
        .and(warp::get())
        .and(who(&state))
        .and(raw_query())
        .and_then(admin::security_events);
    let administration = users
        .or(user)
        .unify()
        .or(api_keys)
        .unify()
        .or(api_key)
        .unify()
        .or(credentials)
        .unify()
        .or(security_events)
        .unify()
        .boxed();
    // `boxed` keeps the combined filter's type (and compile times) small.
    calls
        .or(call)
        .unify()
        .or(transcript)
        .unify()
        .or(summary)
        .unify()
        .or(notes)
        .unify()
        .or(call_analytics)
        .unify()
        .or(bulk)
        .unify()
        .or(messages)
        .unify()
        .or(message)
        .unify()
        .or(analytics)
        .unify()
        .or(conversations)
        .unify()
        .or(conversation)
        .unify()
        .or(timeline)
        .unify()
        .or(openapi.map(Reply::into_response))
        .unify()
        .or(administration)
        .unify()
        .boxed()
}

/// A GET (`None`) or a write with `method` and its body (`Some`) on the same path.
fn read_or_write(
    method: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    body: impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Option<bytes::Bytes>,), Error = Rejection> + Clone {
    (warp::get().map(|| None))
        .or(method.and(body).map(Some))
        .unify()
}

/// A GET or a POST on the same path.
enum Method {
    Get(String),
    Post(bytes::Bytes),
}

/// The handler's state and the caller's organization (after the auth gate).
fn ctx(
    state: &AppState,
) -> impl Filter<Extract = (AppState, Uuid), Error = Rejection> + Clone + use<> {
    let with_state = state.clone();
    warp::any().map(move || with_state.clone()).and(org(state))
}

/// The handler's state and the authenticated caller.
fn who(
    state: &AppState,
) -> impl Filter<Extract = (AppState, crate::auth::Principal), Error = Rejection> + Clone + use<> {
    let with_state = state.clone();
    warp::any()
        .map(move || with_state.clone())
        .and(super::auth::principal(state))
}

/// The organization an authenticated request acts for: every query is scoped by it.
pub fn org(state: &AppState) -> impl Filter<Extract = (Uuid,), Error = Rejection> + Clone + use<> {
    super::auth::principal(state).map(|p: crate::auth::Principal| p.org_id)
}

/// The raw query string (empty when there is none).
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// A JSON request body of at most `max` bytes (413 above; 415 for another content type).
pub fn body_filter(max: u64) -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            match content_type {
                Some(t) if !t.to_ascii_lowercase().starts_with("application/json") => {
                    Err(warp::reject::custom(ApiError::UnsupportedMediaType(
                        format!("expected application/json, got `{t}`"),
                    )))
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(max))
        .and(warp::body::bytes())
}
