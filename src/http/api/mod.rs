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

/// Every `/api/v1` route of the history API. Each route matches its path and method before the
/// auth gate runs, and no two routes share both: a request passes the gate (and its rate limit)
/// once, even when its handler answers with an error.
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
        .and(warp::get())
        .and(ctx(&state))
        .and(raw_query())
        .and_then(|id, state, org, raw| messages::list(state, org, id, raw));
    let create_message = warp::path!("api" / "v1" / "calls" / String / "messages")
        .and(warp::post())
        .and(ctx(&state))
        .and(body.clone())
        .and_then(|id, state, org, body| messages::create(state, org, id, body));
    let bulk = warp::path!("api" / "v1" / "calls" / String / "messages" / "bulk")
        .and(warp::post())
        .and(ctx(&state))
        .and(body.clone())
        .and_then(|id, state, org, body| messages::bulk(state, org, id, body));
    let edit_message = warp::path!("api" / "v1" / "calls" / String / "messages" / String)
        .and(warp::patch())
        .and(ctx(&state))
        .and(body.clone())
        .and_then(|id, message_id, state, org, body| {
            messages::edit(state, org, id, message_id, body)
        });
    let delete_message = warp::path!("api" / "v1" / "calls" / String / "messages" / String)
        .and(warp::delete())
        .and(ctx(&state))
        .and_then(|id, message_id, state, org| messages::delete(state, org, id, message_id));
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
        .and(warp::get())
        .and(who(&state))
        .and_then(admin::list_users);
    let create_user = warp::path!("api" / "v1" / "users")
        .and(warp::post())
        .and(who(&state))
        .and(body.clone())
        .and_then(admin::create_user);
    let user = warp::path!("api" / "v1" / "users" / String)
        .and(warp::patch())
        .and(who(&state))
        .and(body.clone())
        .and_then(|id, state, p, body| admin::update_user(state, p, id, body));
    let api_keys = warp::path!("api" / "v1" / "api-keys")
        .and(warp::get())
        .and(who(&state))
        .and_then(admin::list_api_keys);
    let create_api_key = warp::path!("api" / "v1" / "api-keys")
        .and(warp::post())
        .and(who(&state))
        .and(body.clone())
        .and_then(admin::create_api_key);
    let api_key = warp::path!("api" / "v1" / "api-keys" / String)
        .and(warp::delete())
        .and(who(&state))
        .and_then(|id, state, p| admin::revoke_api_key(state, p, id));
    let credentials = warp::path!("api" / "v1" / "organization" / "credentials")
        .and(warp::get())
        .and(who(&state))
        .and_then(admin::credentials);
    let update_credentials = warp::path!("api" / "v1" / "organization" / "credentials")
        .and(warp::put())
        .and(who(&state))
        .and(body.clone())
        .and_then(admin::update_credentials);
    let security_events = warp::path!("api" / "v1" / "security-events")
        .and(warp::get())
        .and(who(&state))
        .and(raw_query())
        .and_then(admin::security_events);
    let administration = users
        .or(create_user)
        .unify()
        .or(user)
        .unify()
        .or(api_keys)
        .unify()
        .or(create_api_key)
        .unify()
        .or(api_key)
        .unify()
        .or(credentials)
        .unify()
        .or(update_credentials)
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
        .or(create_message)
        .unify()
        .or(edit_message)
        .unify()
        .or(delete_message)
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
