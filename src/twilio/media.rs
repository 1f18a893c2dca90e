//! `GET /twilio/media`: the Media Streams websocket. The upgrade is refused with 403 unless it
//! carries Twilio's signature over the `wss://` URL (when checking is on). Frames before `start` are
//! handled here; `start` names the call (the `call_id` parameter of our TwiML), a `CallActor` is
//! spawned for it, and from then on every text frame goes to it in one hop. The call writes into
//! the socket itself through a [`SocketWriter`]. Bad input is counted and logged, never fatal to other calls.
//!
//! warp checks the handshake's headers, but the socket is built here, on hyper's upgraded
//! connection, with tokio-tungstenite's own settings: warp 0.4 does not expose the read buffer,
//! whose 128 KiB default is resident per call and zeroed before every read (10% of the engine's
//! CPU under load). The close handshake is completed both ways before the connection is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use ractor::ActorRef;
use switchboard_actors::ai_health::{HealthReporter, KeyScope};
use switchboard_actors::call::{
    CallArgs, CallConfig, CallDeps, CallError, CallMessage, CallRegistryHandle, CallShared,
    ReconnectPolicy, SocketWriter, normal_close,
};
use switchboard_actors::domain::AudioFormat;
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_actors::twilio::{self, Inbound, MAX_FRAME_BYTES};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use uuid::Uuid;
use warp::http::{HeaderValue, StatusCode, header};
use warp::{Filter, Rejection};

use super::{TwilioSettings, signature};
use crate::cluster::commands::{CallServer, ServedCall};
use crate::http::auth::AuthState;
use crate::http::deps::Calls;
use crate::http::error::ApiError;
use crate::store::Store;

/// What live calls need from the engine.
#[derive(Clone)]
pub struct MediaSettings {
    pub deps: CallDeps,
    pub registry: CallRegistryHandle,
    pub reconnect: ReconnectPolicy,
    /// A stream with no frame for this long is ended (`stream_idle`).
    pub stream_idle: Duration,
    pub agent_name: String,
    pub audio_format: AudioFormat,
    /// This node (its calls' rows name it; in a cluster, it serves their commands).
    pub node: Option<Arc<crate::cluster::Node>>,
    /// Calls the organizations' webhook tools (one client, its limits shared by every call).
    pub tool_client: crate::tools::ToolClient,
}

impl std::fmt::Debug for MediaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSettings")
            .field("agent_name", &self.agent_name)
            .field("audio_format", &self.audio_format)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

/// Frames refused on media sockets since start (malformed, unknown, out of place, oversized).
pub static REJECTED_FRAMES: AtomicU64 = AtomicU64::new(0);

/// A websocket handshake, checked by warp (method, headers), and what answering it takes: hyper's
/// upgrade handle and the client's key.
pub struct Handshake {
    on_upgrade: Option<OnUpgrade>,
    key: String,
}

/// The [`Handshake`] of a request. hyper's upgrade handle is taken before `warp::ws()` (which only
/// checks the handshake's headers here) removes it: the socket is built with our own read buffer.
pub fn handshake() -> impl Filter<Extract = (Handshake,), Error = Rejection> + Clone {
    warp::ext::optional::<OnUpgrade>()
        .and(warp::ws())
        .and(warp::header::<String>("sec-websocket-key"))
        .map(|on_upgrade, _ws, key| Handshake { on_upgrade, key })
}

/// The upgrade: signature first, then the session. The TwiML of a call of an account that an
/// organization claims names the organization in the socket's path (`/twilio/media/{org}`: Twilio
/// drops query strings from `<Stream url>`); the signature is then checked with that organization's
/// token, and only its calls may start on the socket. Without an organization in the path the
/// socket is the default organization's, signed with the configured token: the same rule as the
/// webhooks ([`super::webhooks::account_token`]).
pub async fn upgrade(
    org: Option<Uuid>,
    handshake: Handshake,
    signature_header: Option<String>,
    store: Store,
    twilio: Arc<TwilioSettings>,
    auth: Arc<AuthState>,
    calls: Calls,
) -> Result<warp::reply::Response, Rejection> {
    let org_id = org.unwrap_or(DEFAULT_ORG);
    let sealer = &auth.keys.sealer;
    // One read of the organization's credentials serves the signature check and the calls'
    // AI sessions (a socket only starts calls of its organization).
    let credentials = store.credentials(org_id).await?;
    let ai_key = credentials
        .openai_api_key
        .map(|sealed| sealer.open(org_id, "openai_api_key", &sealed))
        .transpose()
        .map_err(ApiError::from)?;
    let tool_secret = credentials
        .tool_secret
        .map(|sealed| sealer.open(org_id, "tool_secret", &sealed))
        .transpose()
        .map_err(ApiError::from)?
        .map(|secret| Arc::new(secret.into_bytes()));
    if twilio.validate_signatures {
        let token = match org {
            Some(org_id) => super::webhooks::opened_token(
                &twilio,
                sealer,
                org_id,
                credentials.twilio_auth_token,
            )?,
            None => twilio.auth_token.clone(),
        };
        let url = super::webhooks::media_url(&twilio, org);
        let valid = signature_header
            .as_deref()
            .is_some_and(|sig| signature::is_valid(token.expose(), &url, &[], sig));
        if !valid {
            tracing::warn!("media socket without a valid X-Twilio-Signature refused");
            return Err(ApiError::Forbidden(
                "X-Twilio-Signature missing or wrong for the media stream".into(),
            )
            .into());
        }
    }
    let Some(media) = calls.media else {
        return Err(
            ApiError::Internal("live calls are not configured in this process".into()).into(),
        );
    };
    Ok(accept(handshake, move |socket| {
        session(
            socket,
            store,
            media,
            OrgKeys {
                org_id,
                ai_key,
                tool_secret,
            },
        )
    }))
}

/// The media socket: hyper's upgraded connection. Public, with [`handshake`] and [`accept`], so
/// that the load test's floor relay upgrades its sockets exactly as the engine does.
pub type MediaSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The media socket's settings: the realtime socket's 8 KiB read buffer (Twilio frames are
/// under 1 KiB; a bigger one grows it). Frames over 64 KiB are refused by the codec (counted)
/// rather than by the socket layer, which would end the call.
pub fn media_socket_config() -> WebSocketConfig {
    switchboard_actors::call::ai_socket_config()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Answers the handshake (101) and, once hyper hands the connection over, runs `session` on
/// it; what warp's `Ws::on_upgrade` does, with our socket settings.
pub fn accept<F, U>(handshake: Handshake, session: F) -> warp::reply::Response
where
    F: FnOnce(MediaSocket) -> U + Send + 'static,
    U: Future<Output = ()> + Send + 'static,
{
    let Handshake { on_upgrade, key } = handshake;
    match on_upgrade {
        Some(on_upgrade) => {
            tokio::spawn(async move {
                match on_upgrade.await {
                    Ok(upgraded) => {
                        let socket = WebSocketStream::from_raw_socket(
                            TokioIo::new(upgraded),
                            Role::Server,
                            Some(media_socket_config()),
                        )
                        .await;
                        session(socket).await;
                    }
                    Err(err) => tracing::debug!(%err, "media socket upgrade failed"),
                }
            });
        }
        None => tracing::debug!("media socket cannot be upgraded: no upgrade state"),
    }
    let mut res = warp::reply::Response::default();
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    res
}

fn reject(call_sid: Option<&str>, what: &str) {
    REJECTED_FRAMES.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(call_sid = call_sid.unwrap_or("-"), "{what}");
}

/// How long the caller gets to answer a close (ours or the reply to theirs) before the
/// connection is dropped anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The socket's organization and its own secrets (opened), for the calls it starts.
struct OrgKeys {
    org_id: Uuid,
    ai_key: Option<String>,
    tool_secret: Option<Arc<Vec<u8>>>,
}

async fn session(socket: MediaSocket, store: Store, media: Arc<MediaSettings>, keys: OrgKeys) {
    let (sink, mut stream) = socket.split();
    let (writer, flusher) = SocketWriter::start(sink);

    let mut call: Option<(ActorRef<CallMessage>, String, Arc<CallShared>)> = None;
    // While the socket is open, other nodes reach the call's actor through this.
    let mut _commands = None;
    // A close frame was read, or the engine closes: the handshake is finished below.
    let mut closing = false;
    while let Some(Ok(message)) = stream.next().await {
        let call_sid = call.as_ref().map(|(_, sid, _)| sid.as_str());
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => {
                closing = true;
                break;
            }
            Message::Binary(_) => {
                reject(call_sid, "binary media-socket frame ignored");
                continue;
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        if text.len() > MAX_FRAME_BYTES {
            reject(call_sid, "media-socket frame over 64 KiB ignored");
            continue;
        }
        if let Some((actor, call_sid, shared)) = &mut call {
            // The actor's mailbox is bounded: an actor this far behind gets no more frames.
            if !shared.frame_queued() {
                reject(
                    Some(call_sid),
                    "media frame refused: the call is too far behind (overloaded engine)",
                );
                continue;
            }
            // A clone of the frame is a reference count, not a copy.
            if actor.cast(CallMessage::FromTwilio(text.clone())).is_err() {
                // The call's actor was restarted (or the call is over): ask the registry.
                match media.registry.lookup(call_sid).await {
                    Some(current) => {
                        if current.cast(CallMessage::FromTwilio(text)).is_err() {
                            shared.frame_taken();
                        }
                        *actor = current;
                    }
                    None => {
                        shared.frame_taken();
                        reject(
                            Some(call_sid),
                            "media-socket frame after the call ended ignored",
                        )
                    }
                }
            }
            continue;
        }
        match twilio::parse_inbound(&text) {
            Ok(Inbound::Connected { .. }) => {}
            Ok(Inbound::Start(start)) => {
                match start_call(&store, &media, &keys, &start, writer.clone()).await {
                    Some((actor, shared, server)) => {
                        if shared.frame_queued()
                            && actor.cast(CallMessage::FromTwilio(text.clone())).is_err()
                        {
                            shared.frame_taken();
                        }
                        call = Some((actor, start.call_sid.clone(), shared));
                        _commands = server;
                    }
                    None => {
                        reject(
                            Some(&start.call_sid),
                            "start refused (not our call, ended, or already streaming): closing the stream",
                        );
                        writer.close(Some(normal_close()));
                        closing = true;
                        break;
                    }
                }
            }
            Ok(_) => reject(None, "media-socket frame before start ignored"),
            Err(err) => reject(
                None,
                &format!("malformed media-socket frame ignored: {err}"),
            ),
        }
    }
    if let Some((actor, call_sid, _)) = call
        && actor.cast(CallMessage::TwilioClosed).is_err()
        && let Some(current) = media.registry.lookup(&call_sid).await
    {
        let _ = current.cast(CallMessage::TwilioClosed);
    }
    if closing {
        // Reading on sends the reply to the caller's close (tungstenite queues it on reading the
        // close) or reads the caller's reply to ours; the stream then ends. Dropping the
        // connection before that is what the caller sees as a reset without closing handshake.
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
    // Sent what the call wrote, then closed (the call's close, if it hung up, came first).
    writer.close(None);
    let _ = tokio::time::timeout(Duration::from_secs(5), flusher).await;
}

/// Finds the call `start` names and spawns its actor (with, in a cluster, the server of its
/// commands); `None` when it is not ours, has ended, or already streams on another socket.
async fn start_call(
    store: &Store,
    media: &MediaSettings,
    keys: &OrgKeys,
    start: &twilio::Start,
    writer: SocketWriter,
) -> Option<(ActorRef<CallMessage>, Arc<CallShared>, Option<CallServer>)> {
    if !twilio::is_call_sid(&start.call_sid) || !twilio::is_sid("MZ", &start.stream_sid) {
        tracing::warn!("start whose callSid or streamSid is not a Twilio SID");
        return None;
    }
    let call_id: Uuid = start.custom_parameters.get("call_id")?.parse().ok()?;
    let call = match store.stream_call(call_id).await {
        Ok(Some(call)) if call.call_sid == start.call_sid && call.org_id == keys.org_id => call,
        Ok(_) => return None,
        Err(err) => {
            tracing::error!(%err, "cannot look the call up");
            return None;
        }
    };
    if call.ended {
        tracing::warn!(call_sid = %call.call_sid, "stream for a call that has ended refused");
        return None;
    }
    let now = Instant::now();
    let wall = chrono::Utc::now();
    let mut config = CallConfig {
        agent_name: media.agent_name.clone(),
        audio_format: media.audio_format,
        reconnect: media.reconnect,
        stream_idle: media.stream_idle,
        ..CallConfig::new(
            call.org_id,
            call.call_id,
            call.conversation_id,
            &call.from_number,
            now,
            wall,
        )
    };
    let mut deps = media.deps.clone();
    let mut ai = (*media.deps.ai).clone();
    // An organization with its own OpenAI key talks to the AI with it.
    // Its connects count for the breaker of its own key.
    if let Some(key) = &keys.ai_key {
        ai.api_key = key.clone();
        ai.health = media
            .deps
            .ai
            .health
            .as_ref()
            .map(|reporter| HealthReporter {
                health: Arc::clone(&reporter.health),
                scope: KeyScope::Org(keys.org_id),
            });
    }
    // The line's agent profile, at the version the call was given: its session, tools,
    // greeting and limits.
    match store.call_profile(call.call_id).await {
        Ok(Some(profile)) => {
            let line = crate::agents::line::CallLine::build(
                store,
                media,
                &call,
                &profile,
                keys.tool_secret.clone(),
            )
            .await;
            line.apply(&mut config, &mut ai, &mut deps);
        }
        Ok(None) => {}
        Err(err) => {
            // The configured agent answers rather than nobody.
            tracing::error!(%err, call_sid = %call.call_sid, "cannot read the call's profile: the default agent answers");
        }
    }
    deps.ai = Arc::new(ai);
    let shared = CallShared::new(config);
    let args = CallArgs {
        shared: Arc::clone(&shared),
        call_sid: call.call_sid.clone(),
        twilio: writer,
        deps,
    };
    let actor = match media.registry.start_call(args).await {
        Ok(actor) => actor,
        Err(err @ CallError::AlreadyStreaming(_)) => {
            // A second socket for a live call (a replay, or someone holding a signed URL): the
            // call stays with its first stream.
            tracing::warn!(%err, call_sid = %call.call_sid, "second stream for a live call refused");
            return None;
        }
        Err(err) => {
            tracing::error!(%err, call_sid = %call.call_sid, "cannot start the call actor");
            return None;
        }
    };
    let server = match &media.node {
        Some(node) => {
            node.call_started(
                store,
                ServedCall {
                    org_id: call.org_id,
                    call_id: call.call_id,
                    call_sid: call.call_sid.clone(),
                },
            )
            .await
        }
        None => None,
    };
    Some((actor, shared, server))
}
