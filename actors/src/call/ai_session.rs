//! `AiSession`: the websocket to the realtime endpoint, child of a `CallActor`.
//!
//! It connects in `pre_start` (a failed connect is a failed spawn), forwards every text frame it
//! reads to its call, and hands its call the socket's [`SocketWriter`]: the call writes its
//! appends and commands into the socket itself and flushes once per step, without a hop through
//! a task or this actor's mailbox. Any failure — the socket closing, a read or write error —
//! stops it with the cause as the reason; the call's supervision decides whether and when to
//! start another (reconnect-by-restart: no retry loop hides in here). When the call closes the
//! writer (it is done with this session), what it wrote is sent, the socket closed, and the
//! session stops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::actor::CallMessage;
use super::socket_writer::SocketWriter;
use crate::ai_health::{AiService, HealthReporter};
use crate::realtime::{
    Dialect, ServerEvent, SessionConfig, connect_headers, connect_url, parse_server_event,
};

/// Read buffer of the realtime socket. tungstenite's default (128 KiB) is zeroed before every
/// read and so is all resident: at 20 ms frames that was 128 KiB of memory per call and a
/// 128 KiB `memset` per read (4% of the engine's CPU in the load bench's profile). Events are
/// small (an audio delta is under 2 KiB); a bigger one grows the buffer as needed.
pub const AI_READ_BUFFER: usize = 8 * 1024;

/// The realtime socket's settings (also used by the load test's floor relay and simulators).
pub fn ai_socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(AI_READ_BUFFER)
}

/// Where and how to reach the realtime service.
#[derive(Debug, Clone)]
pub struct AiEndpoint {
    /// The realtime websocket URL without the model (e.g. `wss://api.openai.com/v1/realtime`).
    pub base_url: String,
    pub api_key: String,
    pub dialect: Dialect,
    pub session: SessionConfig,
    pub connect_timeout: Duration,
    /// Where connects are reported (the realtime circuit breaker of this key), when anywhere.
    pub health: Option<HealthReporter>,
}

/// An AI session takes no messages: its call writes through the session's [`SocketWriter`], and
/// stops it with `stop()`.
#[derive(Debug)]
pub enum AiSessionMessage {}

pub struct AiSession;

pub struct AiSessionState {
    reader: tokio::task::JoinHandle<()>,
    /// The socket's writer (the call holds a clone) and the task that reports its end.
    writer: SocketWriter,
    writer_end: tokio::task::JoinHandle<()>,
}

impl Actor for AiSession {
    type Msg = AiSessionMessage;
    type State = AiSessionState;
    type Arguments = (
        Arc<AiEndpoint>,
        ActorRef<CallMessage>,
        oneshot::Sender<SocketWriter>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<AiSessionMessage>,
        (endpoint, call, hand_over): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let url = connect_url(&endpoint.base_url, &endpoint.session.model);
        let mut request = url.as_str().into_client_request()?;
        for (name, value) in connect_headers(endpoint.dialect, &endpoint.api_key) {
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(&value)?);
        }
        let started = std::time::Instant::now();
        let connected = tokio::time::timeout(
            endpoint.connect_timeout,
            // No Nagle: audio appends are small and latency-bound.
            tokio_tungstenite::connect_async_with_config(request, Some(ai_socket_config()), true),
        )
        .await;
        // Connects are what the realtime breaker counts: the handshake answered or it did not.
        let (socket, _) = match connected {
            Ok(Ok(socket)) => {
                if let Some(reporter) = &endpoint.health {
                    reporter
                        .health
                        .success(AiService::Realtime, reporter.scope, started.elapsed());
                }
                socket
            }
            Ok(Err(err)) => {
                if let Some(reporter) = &endpoint.health {
                    reporter
                        .health
                        .failure(AiService::Realtime, reporter.scope, &err.to_string());
                }
                return Err(err.into());
            }
            Err(_) => {
                if let Some(reporter) = &endpoint.health {
                    reporter.health.failure(
                        AiService::Realtime,
                        reporter.scope,
                        "connect timed out",
                    );
                }
                return Err(format!("connecting to {url} timed out").into());
            }
        };
        let (sink, mut stream) = socket.split();
        let (writer, flusher) = SocketWriter::start(sink);
        let me = myself.clone();
        let writer_end = tokio::spawn(async move {
            let cause = flusher.await.ok().flatten();
            me.stop(Some(cause.unwrap_or_else(|| "call ended".to_owned())));
        });
        let _ = hand_over.send(writer.clone());
        let reader = tokio::spawn(async move {
            // A fatal error event (e.g. session_expired) precedes the close: it is the better
            // cause, and the supervision event that reports the stop overtakes queued frames.
            let mut fatal: Option<String> = None;
            let cause = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        if text.contains("\"error\"")
                            && let Ok(ServerEvent::Error(error)) = parse_server_event(&text)
                            && error.is_fatal()
                        {
                            fatal = Some(format!(
                                "{}: {}",
                                error.code.as_deref().unwrap_or("error"),
                                error.message
                            ));
                        }
                        if call.cast(CallMessage::FromAi(text)).is_err() {
                            break "call gone".to_owned();
                        }
                    }
                    Some(Ok(Message::Close(_))) if fatal.is_some() => {
                        break fatal.take().unwrap_or_default();
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) => format!(
                                "closed by the service ({} {})",
                                u16::from(f.code),
                                f.reason
                            ),
                            None => "closed by the service".to_owned(),
                        };
                    }
                    Some(Ok(_)) => {} // pings are answered by tungstenite; binary is not used
                    Some(Err(err)) => break fatal.take().unwrap_or(format!("read failed: {err}")),
                    None => break fatal.take().unwrap_or("socket closed".to_owned()),
                }
            };
            myself.stop(Some(cause));
        });
        Ok(AiSessionState {
            reader,
            writer,
            writer_end,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<AiSessionMessage>,
        message: AiSessionMessage,
        _: &mut AiSessionState,
    ) -> Result<(), ActorProcessingErr> {
        match message {}
    }

    async fn post_stop(
        &self,
        _: ActorRef<AiSessionMessage>,
        state: &mut AiSessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.reader.abort();
        state.writer.close(None);
        if tokio::time::timeout(Duration::from_millis(300), &mut state.writer_end)
            .await
            .is_err()
        {
            state.writer_end.abort();
        }
        Ok(())
    }
}
