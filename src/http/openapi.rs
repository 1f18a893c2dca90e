//! The OpenAPI 3 document of the API, generated from the handlers' `#[utoipa::path]` attributes and
//! the read models' `ToSchema` derives (so it describes what the code does), served at
//! `GET /api/v1/openapi.json`.

use std::sync::OnceLock;

use utoipa::OpenApi;
use warp::Reply;

use super::{
    admin, agents, ai, analysis, auth, calls, cluster, insights, messages, meta, metrics,
    recording, sse, supervise, usage,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Call history, transcripts, recordings, analytics and live events of the Switchboard telephony engine."),
    paths(
        calls::list,
        calls::detail,
        calls::transcript,
        calls::summary,
        calls::add_note,
        calls::analytics,
        recording::get_recording,
        messages::list,
        messages::create,
        messages::bulk,
        messages::edit,
        messages::delete,
        insights::analytics,
        insights::conversations,
        insights::conversation,
        insights::timeline,
        openapi_json,
        meta::health,
        meta::ready,
        sse::events,
        metrics::metrics,
        auth::login,
        auth::refresh,
        auth::logout,
        auth::me,
        admin::list_users,
        admin::create_user,
        admin::update_user,
        admin::list_api_keys,
        admin::create_api_key,
        admin::revoke_api_key,
        admin::credentials,
        admin::update_credentials,
        admin::security_events,
        supervise::docs::live,
        supervise::docs::supervise,
        supervise::docs::whisper,
        supervise::docs::barge,
        supervise::docs::unbarge,
        supervise::docs::takeover,
        supervise::docs::release,
        supervise::docs::hangup,
        analysis::job,
        analysis::rerun,
        analysis::list_fields,
        analysis::put_field,
        analysis::delete_field,
        ai::health,
        usage::usage,
        usage::cap,
        usage::set_cap,
        cluster::nodes,
        cluster::drain,
        agents::list_profiles,
        agents::create_profile,
        agents::get_profile,
        agents::update_profile,
        agents::delete_profile,
        agents::profile_versions,
        agents::list_tools,
        agents::put_tool,
        agents::delete_tool,
        agents::rotate_tool_secret,
        agents::list_menus,
        agents::create_menu,
        agents::update_menu,
        agents::delete_menu,
        agents::list_numbers,
        agents::create_number,
        agents::update_number,
        agents::delete_number,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "calls", description = "Voice calls and what was said in them"),
        (name = "messages", description = "A call's messages: transcript segments, system events, summaries, notes"),
        (name = "analytics", description = "Figures over the organization's calls"),
        (name = "conversations", description = "Omnichannel threads and customer timelines"),
        (name = "events", description = "Live events for dashboards (Server-Sent Events)"),
        (name = "meta", description = "This document, liveness, readiness, metrics"),
        (name = "auth", description = "Logging in, refreshing and ending sessions"),
        (name = "supervisors", description = "Listening in, whispering, barging in and taking over live calls (supervisors and admins)"),
        (name = "admin", description = "Users, API keys, provider credentials and security events (admins)"),
        (name = "analysis", description = "Post-call AI analysis: a call's job, the organization's own analysis fields"),
        (name = "ai", description = "The AI services' health: circuit breakers, latency, errors"),
        (name = "usage", description = "Usage metering per day, week or month, and the monthly cap of AI minutes (admins)"),
        (name = "cluster", description = "The cluster's nodes, their load, and draining one (admins)"),
        (name = "lines", description = "Agent profiles (versioned), webhook tools and their signing secret, IVR menus and phone numbers with business hours (admins)"),
    )
)]
pub struct ApiDoc;

/// Every operation needs `Authorization: Bearer <token>` (an access token or an API key) unless
/// it says `security: [{}]`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
#[allow(dead_code)] // documents the route served by `document`
fn openapi_json() {}

/// The document, rendered once.
pub fn document() -> impl Reply {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    });
    warp::reply::with_header(json.as_str(), "content-type", "application/json")
}
