//! One connection's task: the upgrade, then the loop between the socket, the paced reply
//! clock, failure injection and shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use switchboard_actors::realtime::Dialect;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Shared;
use super::control::Moment;
use super::handshake::{PATH, Upgrade, refusal};
use super::log::EndReason;
use super::session::{Out, Session};

/// Longest the websocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest the peer waits for the client's close reply after sending a close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;
type Source = SplitStream<WebSocketStream<TcpStream>>;

/// Serves one accepted TCP connection until it ends; records how in the log.
pub(super) async fn serve(
    stream: TcpStream,
    id: usize,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut upgrade = Upgrade::default();
    let mut refused: Option<u16> = None;
    // The callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        upgrade = Upgrade::from_request(request);
        match refusal_for(&shared, id, &upgrade) {
            None => Ok(response),
            Some(error) => {
                refused = Some(error.status().as_u16());
                Err(error)
            }
        }
    };
    let accepted = timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(switchboard_actors::call::ai_socket_config()),
        ),
    )
    .await;
    shared.logs.update(id, |log| {
        log.path = Some(upgrade.path.clone());
        log.model = upgrade.model.clone();
        log.api_key = upgrade.api_key.clone();
        log.beta_header = upgrade.beta_header;
        log.dialect = Some(if upgrade.beta_header {
            Dialect::Beta
        } else {
            Dialect::Ga
        });
    });
    let ws = match accepted {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            tracing::debug!(connection = id, %err, "realtime peer: upgrade failed");
            let ended = match refused {
                Some(status) => EndReason::Rejected { status },
                None => EndReason::HandshakeFailed,
            };
            shared.logs.update(id, |log| log.ended = Some(ended));
            return;
        }
        Err(_) => {
            shared
                .logs
                .update(id, |log| log.ended = Some(EndReason::HandshakeFailed));
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let mut session = Session::new(
        id,
        Arc::clone(&shared.config),
        shared.control.clone(),
        shared.logs.clone(),
        Arc::clone(&shared.probe),
        upgrade.model,
    );
    let ended = run(&mut session, &mut sink, &mut source, &shared, &mut shutdown).await;
    session.abort();
    tracing::debug!(connection = id, ?ended, "realtime peer: connection ended");
    shared.logs.update(id, |log| log.ended = Some(ended));
}

/// Decides on an upgrade: injected 503, wrong path 404, wrong key 401, else `None`.
fn refusal_for(shared: &Shared, id: usize, upgrade: &Upgrade) -> Option<ErrorResponse> {
    if let Some(failure) = shared.control.take(id, Moment::Upgrade) {
        shared.logs.update(id, |log| log.failures.push(failure));
        return Some(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "service_unavailable",
            "The server is temporarily unavailable (injected failure).",
        ));
    }
    if upgrade.path != PATH {
        return Some(refusal(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            &format!("Invalid URL (GET {}).", upgrade.path),
        ));
    }
    if let Some(key) = &shared.config.require_api_key
        && upgrade.api_key.as_deref() != Some(key.as_str())
    {
        return Some(refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        ));
    }
    None
}

async fn run(
    session: &mut Session,
    sink: &mut Sink,
    source: &mut Source,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) -> EndReason {
    let mut control = shared.control.subscribe();
    control.mark_unchanged();
    let mut out = Vec::new();
    session.start(&mut out);
    loop {
        if let Some(ended) = flush(&mut out, session, sink, source, shutdown).await {
            return ended;
        }
        let deadline = session.deadline();
        tokio::select! {
            biased;
            () = stopped(shutdown) => {
                return close(sink, source, 1001, "peer shutting down").await;
            }
            changed = control.changed() => match changed {
                Ok(()) => session.on_control(&mut out),
                // The control outlives every connection; never expected.
                Err(_) => return close(sink, source, 1011, "peer control gone").await,
            },
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                session.on_tick(Instant::now(), &mut out);
            }
            message = source.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    session.on_text(text.as_str(), Instant::now(), &mut out);
                }
                Some(Ok(Message::Binary(_))) => session.on_binary(&mut out),
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite queued the close reply; flush it out.
                    let _ = timeout(CLOSE_TIMEOUT, sink.close()).await;
                    return EndReason::ClientClosed {
                        code: frame.map(|frame| u16::from(frame.code)),
                    };
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return EndReason::ClientVanished,
            },
        }
    }
}

/// Carries out the queued actions; `Some` when the connection is over.
async fn flush(
    out: &mut Vec<Out>,
    session: &mut Session,
    sink: &mut Sink,
    source: &mut Source,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<EndReason> {
    if out.is_empty() {
        return None;
    }
    let actions: Vec<Out> = std::mem::take(out);
    for action in actions {
        match action {
            Out::Text(text) => {
                if sink.feed(Message::text(text)).await.is_err() {
                    return Some(EndReason::ClientVanished);
                }
            }
            Out::Close { code, reason } => {
                if sink.flush().await.is_err() {
                    return Some(EndReason::ClientVanished);
                }
                return Some(close(sink, source, code, &reason).await);
            }
            Out::Drop => {
                // Whatever was sent so far goes out; then both halves are dropped by the
                // caller without a close frame.
                let _ = sink.flush().await;
                return Some(EndReason::PeerDropped);
            }
            Out::Stall(duration) => {
                if sink.flush().await.is_err() {
                    return Some(EndReason::ClientVanished);
                }
                tokio::select! {
                    () = sleep(duration) => session.resume(Instant::now()),
                    () = stopped(shutdown) => {
                        return Some(close(sink, source, 1001, "peer shutting down").await);
                    }
                }
            }
        }
    }
    match sink.flush().await {
        Ok(()) => None,
        Err(_) => Some(EndReason::ClientVanished),
    }
}

/// Sends a close frame, then waits (bounded) for the client's reply.
async fn close(sink: &mut Sink, source: &mut Source, code: u16, reason: &str) -> EndReason {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = source.next().await {}
    })
    .await;
    EndReason::PeerClosed {
        code,
        reason: reason.to_owned(),
    }
}

/// Resolves once the peer is shutting down (or gone).
pub(super) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
