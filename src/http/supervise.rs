//! Supervisors on live calls: the supervisor websocket (`GET /api/v1/calls/{id}/supervise`), the
//! REST control actions (`POST /api/v1/calls/{id}/whisper|barge|unbarge|takeover|release|hangup`)
//! and the list of live calls with who supervises them (`GET /api/v1/calls/live`).
//!
//! A session reaches its call only through the call actor's messages (`Listen`, `Supervise`,
//! `SupervisorAudio`), looked up by CallSid in the registry, and looks it up again when the actor
//! was restarted. Audio is coded here, per supervisor, off the call's path: the call publishes
//! one 8 kHz [`MonitorFrame`] per 20 ms to a broadcast channel and never waits for a listener;
//! a listener that falls behind loses its own oldest frames (counted). The protocol:
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

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ractor::ActorRef;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_actors::audio::{MonitorEncoder, SupervisorInput};
use switchboard_actors::call::{
    CallMessage, MonitorFrame, SuperviseError, Supervisor, SupervisorCommand,
};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;
use warp::ws::{Message, WebSocket, Ws};
use warp::{Filter, Rejection, Reply};

use super::AppState;
use super::error::ApiError;
use crate::auth::{Principal, Subject};
use crate::events::Delivery;
use crate::store::history::CallRef;

pub use directory::{Present, SupervisorDirectory};
pub use format::SessionFormat;

/// How long a control action may wait for the call's answer.
const ACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The supervisor routes. Mounted before the history routes: `GET /api/v1/calls/live` would
/// otherwise be taken for the call `live`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let live = warp::path!("api" / "v1" / "calls" / "live")
        .and(warp::get())
        .and(who(&state))
        .and_then(live);
    // Authentication first, and the upgrade optional: a request without a token is a 401, and
    // another organization's call a 404, before a missing upgrade is a 400.
    let supervise = warp::path!("api" / "v1" / "calls" / String / "supervise")
        .and(warp::get())
        .and(who(&state))
        .and(warp::ws().map(Some).or(warp::any().map(|| None)).unify())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(|id, state, principal, ws, raw| upgrade(ws, state, principal, id, raw));
    let action = warp::path!("api" / "v1" / "calls" / String / String)
        .and(warp::post())
        .and_then(|id: String, action: String| async move {
            match Action::from_path(&action) {
                Some(action) => Ok((id, action)),
                None => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(who(&state))
        .and(
            warp::body::content_length_limit(state.max_body_bytes)
                .and(warp::body::bytes())
                .or(warp::any().map(bytes::Bytes::new))
                .unify(),
        )
        .and_then(|id, action, state, principal, body| control(state, principal, id, action, body));
    live.or(supervise).unify().or(action).unify().boxed()
}

fn who(
    state: &AppState,
) -> impl Filter<Extract = (AppState, Principal), Error = Rejection> + Clone + use<> {
    let with_state = state.clone();
    warp::any()
        .map(move || with_state.clone())
        .and(super::auth::principal(state))
}

/// The REST control actions (the path's last segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
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
async fn supervisor_of(state: &AppState, principal: &Principal) -> Supervisor {
    let name = match principal.subject {
        Subject::User { id, session } => state
            .store
            .session_user(session, id)
            .await
            .ok()
            .flatten()
            .map(|u| u.email),
        Subject::ApiKey { id } => state
            .store
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

/// The call `id` names in the principal's organization, and its actor on this node.
async fn live_call(
    state: &AppState,
    org: Uuid,
    id: &str,
) -> Result<(CallRef, ActorRef<CallMessage>), ApiError> {
    let call = super::api::calls::resolve(state, org, id).await?;
    let actor = call_actor(state, &call, id).await?;
    Ok((call, actor))
}

/// The actor of `call` on this node (409 when the call is not live here).
async fn call_actor(
    state: &AppState,
    call: &CallRef,
    id: &str,
) -> Result<ActorRef<CallMessage>, ApiError> {
    let media = state.media.as_ref().ok_or_else(|| {
        ApiError::Conflict(format!(
            "call `{id}` is not live (this process serves no calls)"
        ))
    })?;
    media
        .registry
        .lookup(&call.call_sid)
        .await
        .ok_or_else(|| ApiError::Conflict(format!("call `{id}` is not live")))
}

async fn ask(
    actor: &ActorRef<CallMessage>,
    by: Supervisor,
    command: SupervisorCommand,
) -> Result<(), ApiError> {
    let answer = actor
        .call(
            |reply| CallMessage::Supervise { by, command, reply },
            Some(ACTION_TIMEOUT),
        )
        .await
        .map_err(|e| ApiError::Conflict(format!("the call did not take the action: {e}")))?;
    match answer.success_or(()) {
        Ok(outcome) => outcome.map_err(|e: SuperviseError| ApiError::Conflict(e.to_string())),
        Err(()) => Err(ApiError::Conflict("the call did not answer in time".into())),
    }
}

/// `POST /api/v1/calls/{id}/{action}`.
async fn control(
    state: AppState,
    principal: Principal,
    id: String,
    action: Action,
    body: bytes::Bytes,
) -> Result<warp::reply::Response, Rejection> {
    let name = format!("{action:?}").to_lowercase();
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body: ActionBody = super::api::params::json_body(&body)?;
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
    let (call, actor) = live_call(&state, principal.org_id, &id).await?;
    let by = supervisor_of(&state, &principal).await;
    ask(&actor, by, command).await?;
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
async fn live(state: AppState, principal: Principal) -> Result<warp::reply::Response, Rejection> {
    let sids = match &state.media {
        Some(media) => media.registry.live_call_sids().await,
        None => Vec::new(),
    };
    let calls = state.store.calls_by_sid(principal.org_id, &sids).await?;
    let items: Vec<LiveCall> = calls
        .into_iter()
        .map(|c| LiveCall {
            supervisors: state.supervisors.present(&c.call_sid),
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
async fn upgrade(
    ws: Option<Ws>,
    state: AppState,
    principal: Principal,
    id: String,
    raw: String,
) -> Result<warp::reply::Response, Rejection> {
    // The call first (404 for another organization's), read once.
    let call = super::api::calls::resolve(&state, principal.org_id, &id).await?;
    let format = SessionFormat::parse(&raw)?;
    let ws = ws.ok_or_else(|| {
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
    let actor = call_actor(&state, &call, &id).await?;
    let by = supervisor_of(&state, &principal).await;
    Ok(ws
        .max_message_size(256 * 1024)
        .on_upgrade(move |socket| {
            let session = Session {
                state,
                principal,
                call,
                actor,
                by,
                format,
                encoder,
                input,
            };
            session.run(socket)
        })
        .into_response())
}

/// One supervisor's socket on one call.
struct Session {
    state: AppState,
    principal: Principal,
    call: CallRef,
    actor: ActorRef<CallMessage>,
    by: Supervisor,
    format: SessionFormat,
    encoder: MonitorEncoder,
    input: SupervisorInput,
}

/// Whether `event` is of the call (id, conversation id).
fn is_ours((call_id, conversation_id): (Uuid, Uuid), event: &crate::events::LiveEvent) -> bool {
    event.call_id == Some(call_id) || event.conversation_id == Some(conversation_id)
}

/// Why a session ends.
enum End {
    CallEnded,
    Closed,
    ShuttingDown,
}

impl Session {
    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let present = self
            .state
            .supervisors
            .join(&self.call.call_sid, self.by.clone());
        let mut events = self.state.events.subscribe(self.principal.org_id, None);
        let mut last_event = self.state.events.last_id();
        let mut dropped: u64 = 0;
        let mut ignored_audio: u64 = 0;
        let shutdown = self.state.sse.shutdown.clone();
        let mut monitor = self.listen().await;
        let ready = json!({
            "type": "ready",
            "call_id": self.call.id,
            "call_sid": self.call.call_sid,
            "session": present.session(),
            "audio": self.format.describe_output(),
            "input": self.format.describe_input(),
        });
        let end = if sink.send(Message::text(ready.to_string())).await.is_err() {
            End::Closed
        } else {
            loop {
                let Some(frames) = monitor.as_mut() else {
                    break End::CallEnded;
                };
                tokio::select! {
                    () = shutdown.cancelled() => break End::ShuttingDown,
                    frame = frames.recv() => match frame {
                        Ok(frame) => {
                            if !self.send_audio(&mut sink, &frame).await {
                                break End::Closed;
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            dropped += n;
                            self.state.metrics.supervisor_frames_dropped(n);
                        }
                        // The call ended, or its actor was restarted: listen again if it lives.
                        Err(RecvError::Closed) => monitor = self.listen().await,
                    },
                    delivery = events.next() => match delivery {
                        Some(Delivery::Event(event)) => {
                            last_event = event.id;
                            if is_ours((self.call.id, self.call.conversation_id), &event) {
                                let text = json!({ "type": "event", "event": event.kind.as_str(), "data": &*event });
                                if sink.send(Message::text(text.to_string())).await.is_err() {
                                    break End::Closed;
                                }
                            }
                        }
                        Some(Delivery::Gap(_)) => {}
                        // Behind the bus: resume from the replay buffer.
                        Some(Delivery::CutOff { .. }) | None => {
                            events = self.state.events.subscribe(self.principal.org_id, Some(last_event));
                        }
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(message)) if message.is_text() => {
                            let reply = self.on_text(message.to_str().unwrap_or_default()).await;
                            if sink.send(Message::text(reply.to_string())).await.is_err() {
                                break End::Closed;
                            }
                        }
                        Some(Ok(message)) if message.is_binary() => {
                            if !self.on_audio(message.as_bytes()) {
                                ignored_audio += 1;
                            }
                        }
                        Some(Ok(message)) if message.is_close() => break End::Closed,
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break End::Closed,
                    },
                }
            }
        };
        if matches!(end, End::CallEnded) {
            // The call's last events (its end among them) are published once durable, which
            // may be just after its actor stopped: pass them on before saying goodbye.
            let call = (self.call.id, self.call.conversation_id);
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Delivery::Event(event)) = events.next().await {
                    if is_ours(call, &event) {
                        let text = json!({ "type": "event", "event": event.kind.as_str(), "data": &*event });
                        if sink.send(Message::text(text.to_string())).await.is_err() {
                            break;
                        }
                        if event.kind == crate::events::EventKind::CallEnded {
                            break;
                        }
                    }
                }
            })
            .await;
        }
        if !matches!(end, End::Closed) {
            let reason = match end {
                End::ShuttingDown => "server shutting down",
                _ => "call ended",
            };
            let bye = json!({ "type": "ended", "reason": reason, "frames_dropped": dropped });
            let _ = sink.send(Message::text(bye.to_string())).await;
            let _ = sink.send(Message::close()).await;
        }
        let _ = sink.close().await;
        tracing::info!(call_sid = %self.call.call_sid, supervisor = %self.by.name, frames_dropped = dropped, ignored_audio, "supervisor session ended");
        drop(present);
    }

    /// Subscribes to the call's frames (`None` once the call is no longer live here).
    async fn listen(&mut self) -> Option<broadcast::Receiver<Arc<MonitorFrame>>> {
        for attempt in 0..2 {
            if attempt > 0 {
                let media = self.state.media.as_ref()?;
                self.actor = media.registry.lookup(&self.call.call_sid).await?;
            }
            if let Ok(answer) = self
                .actor
                .call(CallMessage::Listen, Some(ACTION_TIMEOUT))
                .await
                && let Ok(frames) = answer.success_or(())
            {
                return Some(frames);
            }
        }
        None
    }

    async fn send_audio(
        &mut self,
        sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
        frame: &MonitorFrame,
    ) -> bool {
        match self.encoder.encode(&frame.caller, &frame.agent) {
            Ok(bytes) => sink.send(Message::binary(bytes.to_vec())).await.is_ok(),
            Err(err) => {
                tracing::warn!(call_sid = %self.call.call_sid, %err, "monitor frame not encoded");
                true
            }
        }
    }

    /// An action from the socket; the answer to send back.
    async fn on_text(&mut self, text: &str) -> serde_json::Value {
        let body = serde_json::from_str::<ActionBody>(text)
            .map_err(|e| ApiError::BadRequest(format!("message: {e}")));
        let action = body
            .as_ref()
            .ok()
            .and_then(|b| b.action.clone())
            .unwrap_or_default();
        let outcome = async {
            let body = body?;
            let action = body
                .action
                .ok_or_else(|| ApiError::BadRequest("message field `action` is missing".into()))?;
            let command = command(&action, body.text)?;
            ask(&self.actor, self.by.clone(), command).await
        }
        .await;
        match outcome {
            Ok(()) => json!({ "type": "ack", "action": action }),
            Err(err) => {
                tracing::info!(call_sid = %self.call.call_sid, %err, "supervisor action refused");
                json!({ "type": "error", "action": action,
                        "error": { "code": err.code(), "message": err.to_string() } })
            }
        }
    }

    /// Supervisor audio: decoded to 8 kHz and handed to the call 20 ms at a time (the call drops
    /// it unless barged in or taken over). `false` when the packet could not be decoded.
    fn on_audio(&mut self, packet: &[u8]) -> bool {
        if let Err(err) = self.input.push(packet) {
            tracing::debug!(call_sid = %self.call.call_sid, %err, "supervisor audio not decoded");
            return false;
        }
        let mut frame = [0i16; 160];
        while self.input.pop_frame(&mut frame) {
            if self
                .actor
                .cast(CallMessage::SupervisorAudio(Box::new(frame)))
                .is_err()
            {
                return true;
            }
        }
        true
    }
}
