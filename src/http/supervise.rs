//! Supervisors on live calls: the supervisor websocket (`GET /api/v1/calls/{id}/supervise`), the
//! REST control actions (`POST /api/v1/calls/{id}/whisper|barge|unbarge|takeover|release|hangup`)
//! and the list of live calls with who supervises them (`GET /api/v1/calls/live`).
//!
//! The handlers and the socket's upgrade are here; the socket itself is `session.rs`, its audio
//! formats `format.rs`, who is on which call `directory.rs`, the OpenAPI entries [`docs`].
//!
//! A session reaches its call only through the call actor's messages (`Listen`, `Supervise`,
//! `SupervisorAudio`), looked up by CallSid in the registry, and looks it up again when the actor
//! was restarted. Audio is coded per supervisor, off the call's path: the call publishes one
//! 8 kHz [`MonitorFrame`](switchboard_actors::call::MonitorFrame) per 20 ms to a broadcast channel
//! and never waits for a listener; a listener that falls behind loses its own oldest frames
//! (counted). The protocol:
//!
//! - server → supervisor: a text `{"type":"ready",…}` naming the formats; then one binary
//!   message per 20 ms (an Opus packet, or PCM16 little-endian); text `{"type":"event",…}` for
//!   the call's live events (transcripts, barge-ins, reconnects, supervisor actions, its end);
//!   `{"type":"ack",…}` or `{"type":"error",…}` for each action; `{"type":"ended"}` last.
//! - supervisor → server: text `{"action":"whisper","text":"…"}`, `{"action":"barge"}`,
//!   `unbarge`, `takeover`, `release`, `hangup`; binary audio in the input format, heard by the
//!   caller while barged in or taken over.

mod directory;
pub mod docs;
mod format;
mod session;

use std::convert::Infallible;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::audio::{MonitorEncoder, SupervisorInput};
use switchboard_actors::call::{Supervisor, SupervisorCommand};
use uuid::Uuid;
use warp::ws::Ws;
use warp::{Filter, Rejection, Reply};

use super::calls::resolve;
use super::deps::{Calls, Events};
use super::error::ApiError;
use super::extract::raw_query;
use super::metrics::HttpMetrics;
use super::params::json_body;
use crate::auth::{Principal, Subject};
use crate::cluster::link::{CallLink, LinkError};
use crate::store::Store;
use crate::store::history::CallRef;

pub use directory::{Present, SupervisorDirectory};
pub use format::SessionFormat;
use session::Session;

/// The REST control actions (the path's last segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Whisper,
    Barge,
    Unbarge,
    Takeover,
    Release,
    Hangup,
}

impl Action {
    fn from_path(segment: &str) -> Option<Action> {
        Some(match segment {
            "whisper" => Action::Whisper,
            "barge" => Action::Barge,
            "unbarge" => Action::Unbarge,
            "takeover" => Action::Takeover,
            "release" => Action::Release,
            "hangup" => Action::Hangup,
            _ => return None,
        })
    }
}

/// The call and the action of `POST /api/v1/calls/{id}/{action}`; a last segment that names no
/// action is not this route (404 unless another route takes it).
pub async fn action_in_path(id: String, segment: String) -> Result<(String, Action), Rejection> {
    match Action::from_path(&segment) {
        Some(action) => Ok((id, action)),
        None => Err(warp::reject::not_found()),
    }
}

/// What opens a supervisor socket: the upgrade (its absence is a 400, once the call is known)
/// and the query naming the audio formats.
pub struct SocketRequest {
    ws: Option<Ws>,
    query: String,
}

/// The [`SocketRequest`] of `GET /api/v1/calls/{id}/supervise`.
pub fn socket_request() -> impl Filter<Extract = (SocketRequest,), Error = Infallible> + Clone {
    warp::ws()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
        .and(raw_query())
        .map(|ws, query| SocketRequest { ws, query })
}

/// A supervisor's action, as a socket message or a REST body (`text` for whispers only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    action: Option<String>,
    text: Option<String>,
}

/// The command an action names, with its body checked.
fn command(action: &str, text: Option<String>) -> Result<SupervisorCommand, ApiError> {
    let no_text = |command| match text {
        Some(_) => Err(ApiError::BadRequest(format!(
            "body field `text`: only a whisper has text, not `{action}`"
        ))),
        None => Ok(command),
    };
    match action {
        "whisper" => match text {
            Some(text) if !text.trim().is_empty() && text.len() <= 4000 => {
                Ok(SupervisorCommand::Whisper(text))
            }
            Some(_) => Err(ApiError::BadRequest(
                "body field `text`: a whisper needs 1 to 4,000 characters".into(),
            )),
            None => Err(ApiError::BadRequest(
                "body field `text`: a whisper needs text".into(),
            )),
        },
        "barge" => no_text(SupervisorCommand::Barge),
        "unbarge" => no_text(SupervisorCommand::Unbarge),
        "takeover" => no_text(SupervisorCommand::Takeover),
        "release" => no_text(SupervisorCommand::Release),
        "hangup" => no_text(SupervisorCommand::Hangup),
        other => Err(ApiError::BadRequest(format!(
            "field `action`: `{other}` is not one of whisper, barge, unbarge, takeover, release, hangup"
        ))),
    }
}

/// Who the principal is, by name, for the call's history.
async fn supervisor_of(store: &Store, principal: &Principal) -> Supervisor {
    let name = match principal.subject {
        Subject::User { id, session } => store
            .session_user(session, id)
            .await
            .ok()
            .flatten()
            .map(|u| u.email),
        Subject::ApiKey { id } => store
            .list_api_keys(principal.org_id)
            .await
            .ok()
            .and_then(|keys| keys.into_iter().find(|k| k.id == id))
            .map(|k| format!("API key {}", k.name)),
    };
    Supervisor {
        id: principal.actor(),
        name: name.unwrap_or_else(|| principal.actor()),
    }
}

/// The call `id` names in the principal's organization, live on this node or another.
async fn live_call(
    store: &Store,
    calls: &Calls,
    org: Uuid,
    id: &str,
) -> Result<(CallRef, CallLink), ApiError> {
    let call = resolve(store, org, id).await?;
    let link = call_link(calls, &call, id).await?;
    Ok((call, link))
}

/// Where `call` is live (409 when it is live nowhere).
async fn call_link(calls: &Calls, call: &CallRef, id: &str) -> Result<CallLink, ApiError> {
    if calls.media.is_none() && calls.node.is_none() {
        return Err(ApiError::Conflict(format!(
            "call `{id}` is not live (this process serves no calls)"
        )));
    }
    calls
        .link(call.org_id, call.id, &call.call_sid)
        .await
        .map_err(|e| link_error(e, id))
}

/// A [`LinkError`] as the API answers it.
fn link_error(err: LinkError, id: &str) -> ApiError {
    match err {
        LinkError::NotLive => ApiError::Conflict(format!("call `{id}` is not live")),
        LinkError::Refused(message) => ApiError::Conflict(message),
        LinkError::Unavailable(message) => ApiError::Unavailable(message),
    }
}

async fn ask(
    link: &CallLink,
    by: Supervisor,
    command: SupervisorCommand,
    id: &str,
) -> Result<(), ApiError> {
    link.supervise(by, command)
        .await
        .map_err(|e| link_error(e, id))
}

/// `POST /api/v1/calls/{id}/{action}`.
pub async fn control(
    id: String,
    action: Action,
    principal: Principal,
    body: bytes::Bytes,
    store: Store,
    calls: Calls,
) -> Result<warp::reply::Response, Rejection> {
    let name = format!("{action:?}").to_lowercase();
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body: ActionBody = json_body(&body)?;
        if let Some(given) = &body.action
            && *given != name
        {
            return Err(ApiError::BadRequest(format!(
                "body field `action`: `{given}` does not match the route's `{name}`"
            ))
            .into());
        }
        body.text
    };
    let command = command(&name, text)?;
    let (call, link) = live_call(&store, &calls, principal.org_id, &id).await?;
    let by = supervisor_of(&store, &principal).await;
    ask(&link, by, command, &id).await?;
    Ok(
        warp::reply::json(
            &json!({ "call_id": call.id, "call_sid": call.call_sid, "action": name }),
        )
        .into_response(),
    )
}

/// One live call in `GET /api/v1/calls/live`.
#[derive(Debug, Serialize)]
struct LiveCall {
    id: Uuid,
    call_sid: String,
    conversation_id: Uuid,
    from_number: String,
    started_at: chrono::DateTime<chrono::Utc>,
    supervisors: Vec<Present>,
}

/// `GET /api/v1/calls/live`.
pub async fn live(
    principal: Principal,
    store: Store,
    calls: Calls,
) -> Result<warp::reply::Response, Rejection> {
    // In a cluster, the calls of every node (by their rows); on one node, this node's actors.
    let live = if calls.node.as_ref().is_some_and(|n| n.bus.is_some()) {
        store.calls_live_in_cluster(principal.org_id).await?
    } else {
        let sids = match &calls.media {
            Some(media) => media.registry.live_call_sids().await,
            None => Vec::new(),
        };
        store.calls_by_sid(principal.org_id, &sids).await?
    };
    let items: Vec<LiveCall> = live
        .into_iter()
        .map(|c| LiveCall {
            supervisors: calls.supervisors.present(&c.call_sid),
            id: c.id,
            call_sid: c.call_sid,
            conversation_id: c.conversation_id,
            from_number: c.from_number,
            started_at: c.started_at,
        })
        .collect();
    Ok(warp::reply::json(&json!({ "items": items, "total": items.len() })).into_response())
}

/// `GET /api/v1/calls/{id}/supervise`: checks the call and the formats, then upgrades.
pub async fn upgrade(
    id: String,
    principal: Principal,
    request: SocketRequest,
    store: Store,
    calls: Calls,
    events: Events,
    metrics: Arc<HttpMetrics>,
) -> Result<warp::reply::Response, Rejection> {
    // The call first (404 for another organization's), read once.
    let call = resolve(&store, principal.org_id, &id).await?;
    let format = SessionFormat::parse(&request.query)?;
    let ws = request.ws.ok_or_else(|| {
        ApiError::BadRequest("expected a websocket upgrade (`Upgrade: websocket`)".into())
    })?;
    // Both made here, so that a format the codecs refuse is a 400, not a closed socket.
    let encoder = MonitorEncoder::new(format.monitor()).map_err(|e| {
        ApiError::BadRequest(format!("query: the audio format is not available: {e}"))
    })?;
    let input = SupervisorInput::new(format.input_codec, format.input_rate_hz).map_err(|e| {
        ApiError::BadRequest(format!(
            "query: the input audio format is not available: {e}"
        ))
    })?;
    let link = call_link(&calls, &call, &id).await?;
    let by = supervisor_of(&store, &principal).await;
    Ok(ws
        .max_message_size(256 * 1024)
        .on_upgrade(move |socket| {
            let session = Session {
                calls,
                events,
                metrics,
                principal,
                call,
                link,
                by,
                format,
                encoder,
                input,
            };
            session.run(socket)
        })
        .into_response())
}
