//! `AiSession`: the websocket to the realtime endpoint, child of a `CallActor`.
//!
//! It connects in `pre_start` (a failed connect is a failed spawn), forwards every text frame it
//! reads to its call, and writes the frames its call sends. Any failure — the socket closing, a read
//! or write error — stops it with the cause as the reason; the call's supervision decides whether
//! and when to start another (reconnect-by-restart: no retry loop hides in here).

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::actor::CallMessage;
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
}

/// Messages of an AI session.
#[derive(Debug)]
pub enum AiSessionMessage {
    /// A text frame for the service.
    Send(String),
    /// Stop once every frame sent before this one is written (the call is over: its last
    /// audio still goes out, which `stop()`, taking effect ahead of queued messages, would drop).
    Finish(String),
}

pub struct AiSession;

pub struct AiSessionState {
    sink: SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
    reader: tokio::task::JoinHandle<()>,
}

impl Actor for AiSession {
    type Msg = AiSessionMessage;
    type State = AiSessionState;
    type Arguments = (Arc<AiEndpoint>, ActorRef<CallMessage>);

    async fn pre_start(
        &self,
        myself: ActorRef<AiSessionMessage>,
        (endpoint, call): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let url = connect_url(&endpoint.base_url, &endpoint.session.model);
        let mut request = url.as_str().into_client_request()?;
        for (name, value) in connect_headers(endpoint.dialect, &endpoint.api_key) {
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(&value)?);
        }
        let (socket, _) = tokio::time::timeout(
            endpoint.connect_timeout,
            // No Nagle: audio appends are small and latency-bound.
            tokio_tungstenite::connect_async_with_config(request, Some(ai_socket_config()), true),
        )
        .await
        .map_err(|_| format!("connecting to {url} timed out"))??;
        let (sink, mut stream) = socket.split();
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
        Ok(AiSessionState { sink, reader })
    }

    async fn handle(
        &self,
        myself: ActorRef<AiSessionMessage>,
        message: AiSessionMessage,
        state: &mut AiSessionState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AiSessionMessage::Send(text) => {
                if let Err(err) = state.sink.send(Message::Text(Utf8Bytes::from(text))).await {
                    myself.stop(Some(format!("write failed: {err}")));
                }
            }
            AiSessionMessage::Finish(reason) => myself.stop(Some(reason)),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<AiSessionMessage>,
        state: &mut AiSessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.reader.abort();
        let _ = tokio::time::timeout(Duration::from_millis(200), state.sink.close()).await;
        Ok(())
    }
}
