//! The route tree: every route of the service, in one place.
//!
//! Each route reads the same way: its path, its method, the auth gate (for authenticated routes),
//! what it takes from the request, then the dependencies its handler uses (`with_store`,
//! `with_calls`, …); the handler takes them in that order. Paths and methods are matched before
//! anything else, so that an unknown path is a 404 (not a 405) and the gate only runs once a
//! route's path and method match. Routes are tried in the order written, which matters where
//! paths overlap: `GET /api/v1/calls/live` comes before `GET /api/v1/calls/{id}`, and
//! `POST /api/v1/calls/{id}/{action}` (the supervisor actions) declines a segment that names no
//! action, leaving `…/notes` and `…/messages` to the history routes after it. The dashboard's
//! `GET /` matches the bare root only, and `GET /assets/{file}` nothing the API uses.

use std::convert::Infallible;
use std::sync::Arc;

use uuid::Uuid;
use warp::filters::BoxedFilter;
use warp::host::Authority;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::auth::{self, Gate};
use super::deps::{
    Deps, with_ai, with_auth, with_calls, with_events, with_metrics, with_started, with_store,
    with_twilio,
};
use super::extract::{json_body, optional_body, raw_query};
use super::metrics::{self, HttpMetrics};
use super::{
    admin, agents, ai, analysis, calls, cluster, dashboard, error, insights, messages, meta,
    openapi, recording, sse, supervise, usage,
};
use crate::twilio::{ivr, media, webhooks};

/// Every route, with the JSON error recovery, CORS (for pages of other origins),
/// `X-Content-Type-Options: nosniff` on every answer, and request logging (and its latency
/// metric).
pub fn routes(deps: Deps) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let gate = Gate::new(&deps.auth, &deps.store);
    let request_metrics = Arc::clone(&deps.metrics);
    let answers = service_routes(&deps, &gate)
        .or(twilio_routes(&deps))
        .or(recording_route(&deps, &gate))
        .or(auth_routes(&deps, &gate))
        .or(analysis_routes(&deps, &gate))
        .or(supervisor_routes(&deps, &gate))
        .or(history_routes(&deps, &gate))
        .or(admin_routes(&deps, &gate))
        .or(line_routes(&deps, &gate))
        .or(dashboard_routes())
        .recover(error::recover);
    // The dashboard's own requests are not cross-origin: browsers send `Origin` with its module
    // scripts and its POSTs all the same, and CORS (which knows only the configured origins)
    // would refuse them. For every other page, CORS wraps the answers, error bodies included
    // (browsers need the headers to read them); what it refuses itself (an origin not allowed)
    // is answered by the second recover.
    same_origin()
        .and(answers.clone())
        .or(answers.with(cors(&deps.cors_origins)))
        .recover(error::recover)
        // Browsers take every answer (JSON, WAV, event stream, errors) as the type it declares.
        .with(warp::reply::with::header(
            "x-content-type-options",
            "nosniff",
        ))
        .with(warp::log::custom(move |info| {
            log_request(&request_metrics, info)
        }))
}

/// `/health`, `/ready`, the live events and `/metrics`.
fn service_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_started(d.started))
        .and_then(meta::health);
    let ready = warp::path!("ready")
        .and(warp::get())
        .and(with_store(&d.store))
        .and(with_ai(&d.ai))
        .and(with_calls(&d.calls))
        .and_then(meta::ready);
    let events = warp::path!("api" / "v1" / "events")
        .and(warp::get())
        .and(gate.org())
        .and(warp::header::optional::<String>("last-event-id"))
        .and(raw_query())
        .and(with_events(&d.events))
        .and(with_metrics(&d.metrics))
        .and_then(sse::events);
    // With `Authorization: Bearer <auth.metrics_token>` when that is set (checked by the handler).
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .and(with_auth(&d.auth))
        .and(with_calls(&d.calls))
        .and(with_events(&d.events))
        .and(with_metrics(&d.metrics))
        .and(with_store(&d.store))
        .and(with_ai(&d.ai))
        .and_then(metrics::metrics);
    health
        .or(ready)
        .unify()
        .or(events)
        .unify()
        .or(metrics)
        .unify()
        .boxed()
}

/// Twilio's webhooks and its Media Streams socket (signed by Twilio, not behind the gate).
fn twilio_routes(d: &Deps) -> BoxedFilter<(Response,)> {
    let voice = warp::path!("twilio" / "voice")
        .and(warp::post())
        .and(webhooks::webhook())
        .and(with_store(&d.store))
        .and(with_twilio(&d.twilio))
        .and(with_auth(&d.auth))
        .and(with_events(&d.events))
        .and(with_ai(&d.ai))
        .and(with_calls(&d.calls))
        .and_then(webhooks::voice);
    let status = warp::path!("twilio" / "status")
        .and(warp::post())
        .and(webhooks::webhook())
        .and(with_store(&d.store))
        .and(with_twilio(&d.twilio))
        .and(with_auth(&d.auth))
        .and(with_events(&d.events))
        .and_then(webhooks::status);
    // `/twilio/media` (the default organization's) or `/twilio/media/{org}`.
    let media_path = warp::path!("twilio" / "media")
        .map(|| None)
        .or(warp::path!("twilio" / "media" / Uuid).map(Some))
        .unify();
    let media = media_path
        .and(warp::get())
        .and(media::handshake())
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(with_store(&d.store))
        .and(with_twilio(&d.twilio))
        .and(with_auth(&d.auth))
        .and(with_calls(&d.calls))
        .and_then(media::upgrade);
    // During a call: menus, voicemails, and what follows the stream.
    let ctx = std::sync::Arc::new(ivr::Context {
        store: d.store.clone(),
        twilio: d.twilio.clone(),
        auth: d.auth.clone(),
        events: d.events.clone(),
        ai: d.ai.clone(),
        calls: d.calls.clone(),
    });
    let with_ctx = warp::any().map(move || ctx.clone());
    let menu = warp::path!("twilio" / "ivr" / Uuid / Uuid)
        .and(warp::post())
        .and(webhooks::webhook())
        .and(with_ctx.clone())
        .and_then(ivr::menu);
    let voicemail = warp::path!("twilio" / "voicemail" / Uuid)
        .and(warp::post())
        .and(webhooks::webhook())
        .and(with_ctx.clone())
        .and_then(ivr::voicemail);
    let after_stream = warp::path!("twilio" / "after-stream" / Uuid)
        .and(warp::post())
        .and(webhooks::webhook())
        .and(with_ctx)
        .and_then(ivr::after_stream);
    voice
        .or(status)
        .unify()
        .or(media)
        .unify()
        .or(menu)
        .unify()
        .or(voicemail)
        .unify()
        .or(after_stream)
        .unify()
        .boxed()
}

/// `GET /api/v1/calls/{id}/recording`.
fn recording_route(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    warp::path!("api" / "v1" / "calls" / String / "recording")
        .and(warp::get())
        .and(gate.org())
        .and(recording::recording_query())
        .and(recording::range_header())
        .and(with_store(&d.store))
        .and_then(recording::get_recording)
        .boxed()
}

/// `/api/v1/auth/…`: logging in, refreshing, logging out, and who the caller is.
fn auth_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let body = json_body(d.max_body_bytes);
    let login = warp::path!("api" / "v1" / "auth" / "login")
        .and(warp::post())
        .and(warp::addr::remote())
        .and(body.clone())
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(auth::login);
    let refresh = warp::path!("api" / "v1" / "auth" / "refresh")
        .and(warp::post())
        .and(body)
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(auth::refresh);
    let logout = warp::path!("api" / "v1" / "auth" / "logout")
        .and(warp::post())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(auth::logout);
    let me = warp::path!("api" / "v1" / "auth" / "me")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(auth::me);
    login
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(me)
        .unify()
        .boxed()
}

/// Post-call analysis (a call's job, the organization's fields), AI health, usage and the
/// cluster's nodes. Before the
/// supervisor actions: `POST /api/v1/calls/{id}/analysis` is not one of them.
fn analysis_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let body = json_body(d.max_body_bytes);
    let job = warp::path!("api" / "v1" / "calls" / String / "analysis")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(analysis::job);
    let rerun = warp::path!("api" / "v1" / "calls" / String / "analysis")
        .and(warp::post())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(analysis::rerun);
    let fields = warp::path!("api" / "v1" / "analysis" / "fields")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(analysis::list_fields);
    let put_field = warp::path!("api" / "v1" / "analysis" / "fields" / String)
        .and(warp::put())
        .and(gate.caller())
        .and(body.clone())
        .and(with_store(&d.store))
        .and_then(analysis::put_field);
    let delete_field = warp::path!("api" / "v1" / "analysis" / "fields" / String)
        .and(warp::delete())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(analysis::delete_field);
    let health = warp::path!("api" / "v1" / "ai" / "health")
        .and(warp::get())
        .and(gate.caller())
        .and(with_ai(&d.ai))
        .and_then(ai::health);
    let usage = warp::path!("api" / "v1" / "usage")
        .and(warp::get())
        .and(gate.caller())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(usage::usage);
    let cap = warp::path!("api" / "v1" / "usage" / "cap")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(usage::cap);
    let set_cap = warp::path!("api" / "v1" / "usage" / "cap")
        .and(warp::put())
        .and(gate.caller())
        .and(body)
        .and(with_store(&d.store))
        .and_then(usage::set_cap);
    let cluster_nodes = warp::path!("api" / "v1" / "cluster")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(cluster::nodes);
    let drain = warp::path!("api" / "v1" / "cluster" / "nodes" / String / "drain")
        .and(warp::post())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(cluster::drain);
    job.or(rerun)
        .unify()
        .or(fields)
        .unify()
        .or(put_field)
        .unify()
        .or(delete_field)
        .unify()
        .or(health)
        .unify()
        .or(usage)
        .unify()
        .or(cap)
        .unify()
        .or(set_cap)
        .unify()
        .or(cluster_nodes)
        .unify()
        .or(drain)
        .unify()
        .boxed()
}

/// Supervisors on live calls: the live calls, the supervisor socket, the control actions.
fn supervisor_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let live = warp::path!("api" / "v1" / "calls" / "live")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(supervise::live);
    // The upgrade is optional here: a request without a token is a 401, and another
    // organization's call a 404, before a missing upgrade is a 400.
    let socket = warp::path!("api" / "v1" / "calls" / String / "supervise")
        .and(warp::get())
        .and(gate.caller())
        .and(supervise::socket_request())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and(with_events(&d.events))
        .and(with_metrics(&d.metrics))
        .and_then(supervise::upgrade);
    // `whisper`, `barge`, `unbarge`, `takeover`, `release` or `hangup`.
    let action = warp::path!("api" / "v1" / "calls" / String / String)
        .and(warp::post())
        .and_then(supervise::action_in_path)
        .untuple_one()
        .and(gate.caller())
        .and(optional_body(d.max_body_bytes))
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(supervise::control);
    live.or(socket).unify().or(action).unify().boxed()
}

/// The history API: calls, their messages, analytics, conversations, timelines, and the OpenAPI
/// document.
fn history_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let body = json_body(d.max_body_bytes);
    let list_calls = warp::path!("api" / "v1" / "calls")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(calls::list);
    let call = warp::path!("api" / "v1" / "calls" / String)
        .and(warp::get())
        // `…/calls/live` is the live calls' route: when its gate refused the request, this one
        // must not run the gate (and charge the rate limit) a second time.
        .and_then(|id: String| async move {
            match id.as_str() {
                "live" => Err(warp::reject::not_found()),
                _ => Ok(id),
            }
        })
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(calls::detail);
    let transcript = warp::path!("api" / "v1" / "calls" / String / "transcript")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(calls::transcript);
    let summary = warp::path!("api" / "v1" / "calls" / String / "summary")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(calls::summary);
    let add_note = warp::path!("api" / "v1" / "calls" / String / "notes")
        .and(warp::post())
        .and(gate.org())
        .and(body.clone())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(calls::add_note);
    let call_analytics = warp::path!("api" / "v1" / "calls" / String / "messages" / "analytics")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(calls::analytics);
    let bulk_messages = warp::path!("api" / "v1" / "calls" / String / "messages" / "bulk")
        .and(warp::post())
        .and(gate.org())
        .and(body.clone())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(messages::bulk);
    let list_messages = warp::path!("api" / "v1" / "calls" / String / "messages")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(messages::list);
    let create_message = warp::path!("api" / "v1" / "calls" / String / "messages")
        .and(warp::post())
        .and(gate.org())
        .and(body.clone())
        .and(with_store(&d.store))
        .and(with_calls(&d.calls))
        .and_then(messages::create);
    let edit_message = warp::path!("api" / "v1" / "calls" / String / "messages" / String)
        .and(warp::patch())
        .and(gate.org())
        .and(body)
        .and(with_store(&d.store))
        .and(with_events(&d.events))
        .and_then(messages::edit);
    let delete_message = warp::path!("api" / "v1" / "calls" / String / "messages" / String)
        .and(warp::delete())
        .and(gate.org())
        .and(with_store(&d.store))
        .and(with_events(&d.events))
        .and_then(messages::delete);
    let analytics = warp::path!("api" / "v1" / "analytics")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(insights::analytics);
    let conversations = warp::path!("api" / "v1" / "conversations")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(insights::conversations);
    let conversation = warp::path!("api" / "v1" / "conversations" / String)
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(insights::conversation);
    let timeline = warp::path!("api" / "v1" / "customers" / String / "timeline")
        .and(warp::get())
        .and(gate.org())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(insights::timeline);
    let openapi = warp::path!("api" / "v1" / "openapi.json")
        .and(warp::get())
        .and(gate.org())
        .map(|_org| openapi::document().into_response());
    list_calls
        .or(call)
        .unify()
        .or(transcript)
        .unify()
        .or(summary)
        .unify()
        .or(add_note)
        .unify()
        .or(call_analytics)
        .unify()
        .or(bulk_messages)
        .unify()
        .or(list_messages)
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
        .or(openapi)
        .unify()
        .boxed()
}

/// The organization's lines: agent profiles, webhook tools and their secret, IVR menus, numbers.
fn line_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let body = json_body(d.max_body_bytes);
    let store = with_store(&d.store);
    let profiles = warp::path!("api" / "v1" / "agent-profiles");
    let profile = warp::path!("api" / "v1" / "agent-profiles" / String);
    let list_profiles = profiles
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::list_profiles);
    let create_profile = profiles
        .and(warp::post())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::create_profile);
    let get_profile = profile
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::get_profile);
    let update_profile = profile
        .and(warp::put())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::update_profile);
    let delete_profile = profile
        .and(warp::delete())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::delete_profile);
    let versions = warp::path!("api" / "v1" / "agent-profiles" / String / "versions")
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::profile_versions);
    let list_tools = warp::path!("api" / "v1" / "tools")
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::list_tools);
    let tool = warp::path!("api" / "v1" / "tools" / String);
    let put_tool = tool
        .and(warp::put())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::put_tool);
    let delete_tool = tool
        .and(warp::delete())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::delete_tool);
    let tool_secret = warp::path!("api" / "v1" / "organization" / "tool-secret")
        .and(warp::post())
        .and(gate.caller())
        .and(store.clone())
        .and(with_auth(&d.auth))
        .and_then(agents::rotate_tool_secret);
    let menus = warp::path!("api" / "v1" / "ivr-menus");
    let menu = warp::path!("api" / "v1" / "ivr-menus" / String);
    let list_menus = menus
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::list_menus);
    let create_menu = menus
        .and(warp::post())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::create_menu);
    let update_menu = menu
        .and(warp::put())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::update_menu);
    let delete_menu = menu
        .and(warp::delete())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::delete_menu);
    let numbers = warp::path!("api" / "v1" / "phone-numbers");
    let number = warp::path!("api" / "v1" / "phone-numbers" / String);
    let list_numbers = numbers
        .and(warp::get())
        .and(gate.caller())
        .and(store.clone())
        .and_then(agents::list_numbers);
    let create_number = numbers
        .and(warp::post())
        .and(gate.caller())
        .and(body.clone())
        .and(store.clone())
        .and_then(agents::create_number);
    let update_number = number
        .and(warp::put())
        .and(gate.caller())
        .and(body)
        .and(store.clone())
        .and_then(agents::update_number);
    let delete_number = number
        .and(warp::delete())
        .and(gate.caller())
        .and(store)
        .and_then(agents::delete_number);
    list_profiles
        .or(create_profile)
        .unify()
        .or(get_profile)
        .unify()
        .or(update_profile)
        .unify()
        .or(delete_profile)
        .unify()
        .or(versions)
        .unify()
        .or(list_tools)
        .unify()
        .or(put_tool)
        .unify()
        .or(delete_tool)
        .unify()
        .or(tool_secret)
        .unify()
        .or(list_menus)
        .unify()
        .or(create_menu)
        .unify()
        .or(update_menu)
        .unify()
        .or(delete_menu)
        .unify()
        .or(list_numbers)
        .unify()
        .or(create_number)
        .unify()
        .or(update_number)
        .unify()
        .or(delete_number)
        .unify()
        .boxed()
}

/// Administration of the caller's organization: users, API keys, provider credentials and
/// security events.
fn admin_routes(d: &Deps, gate: &Gate) -> BoxedFilter<(Response,)> {
    let body = json_body(d.max_body_bytes);
    let list_users = warp::path!("api" / "v1" / "users")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(admin::list_users);
    let create_user = warp::path!("api" / "v1" / "users")
        .and(warp::post())
        .and(gate.caller())
        .and(body.clone())
        .and(with_store(&d.store))
        .and_then(admin::create_user);
    let update_user = warp::path!("api" / "v1" / "users" / String)
        .and(warp::patch())
        .and(gate.caller())
        .and(body.clone())
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(admin::update_user);
    let list_api_keys = warp::path!("api" / "v1" / "api-keys")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(admin::list_api_keys);
    let create_api_key = warp::path!("api" / "v1" / "api-keys")
        .and(warp::post())
        .and(gate.caller())
        .and(body.clone())
        .and(with_store(&d.store))
        .and_then(admin::create_api_key);
    let revoke_api_key = warp::path!("api" / "v1" / "api-keys" / String)
        .and(warp::delete())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(admin::revoke_api_key);
    let credentials = warp::path!("api" / "v1" / "organization" / "credentials")
        .and(warp::get())
        .and(gate.caller())
        .and(with_store(&d.store))
        .and_then(admin::credentials);
    let update_credentials = warp::path!("api" / "v1" / "organization" / "credentials")
        .and(warp::put())
        .and(gate.caller())
        .and(body)
        .and(with_store(&d.store))
        .and(with_auth(&d.auth))
        .and_then(admin::update_credentials);
    let security_events = warp::path!("api" / "v1" / "security-events")
        .and(warp::get())
        .and(gate.caller())
        .and(raw_query())
        .and(with_store(&d.store))
        .and_then(admin::security_events);
    list_users
        .or(create_user)
        .unify()
        .or(update_user)
        .unify()
        .or(list_api_keys)
        .unify()
        .or(create_api_key)
        .unify()
        .or(revoke_api_key)
        .unify()
        .or(credentials)
        .unify()
        .or(update_credentials)
        .unify()
        .or(security_events)
        .unify()
        .boxed()
}

/// The dashboard, embedded in the binary: `GET /` (the page) and `GET /assets/{file}` (its
/// scripts and styles), HEAD too. Not behind the gate: the page signs in through the API.
pub(super) fn dashboard_routes() -> BoxedFilter<(Response,)> {
    let page = warp::path::end()
        .and(dashboard::get_or_head())
        .and(dashboard::if_none_match())
        .map(dashboard::page);
    let asset = warp::path!("assets" / String)
        .and(dashboard::get_or_head())
        .and(dashboard::if_none_match())
        .and_then(dashboard::asset);
    page.or(asset).unify().boxed()
}

/// Passes a request whose `Origin` is the very host it was sent to (`Host`): one from a page
/// this service served. Any other request (another origin, or none) is left to CORS.
fn same_origin() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let origin = warp::header::optional::<String>("origin")
        .or(warp::any().map(|| None))
        .unify();
    let host = warp::host::optional().or(warp::any().map(|| None)).unify();
    origin
        .and(host)
        .and_then(
            |origin: Option<String>, host: Option<Authority>| async move {
                let same = origin
                    .as_deref()
                    .and_then(|origin| origin.split_once("://"))
                    .zip(host)
                    .is_some_and(|((_, authority), host)| {
                        authority.eq_ignore_ascii_case(host.as_str())
                    });
                if same {
                    Ok(())
                } else {
                    Err(warp::reject::not_found())
                }
            },
        )
        .untuple_one()
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
