//! The OpenAPI 3 document of the API, generated from the handlers' `#[utoipa::path]` attributes and
//! the read models' `ToSchema` derives (so it describes what the code does), served at
//! `GET /api/v1/openapi.json`.

use std::sync::OnceLock;

use utoipa::OpenApi;
use warp::Reply;

use super::{calls, insights, messages};

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
        crate::http::recording::get_recording,
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
        crate::http::handlers::health,
        crate::http::handlers::ready,
        crate::http::sse::events,
        crate::http::metrics::metrics,
    ),
    tags(
        (name = "calls", description = "Voice calls and what was said in them"),
        (name = "messages", description = "A call's messages: transcript segments, system events, summaries, notes"),
        (name = "analytics", description = "Figures over the organization's calls"),
        (name = "conversations", description = "Omnichannel threads and customer timelines"),
        (name = "events", description = "Live events for dashboards (Server-Sent Events)"),
        (name = "meta", description = "This document, liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

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
