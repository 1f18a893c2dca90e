//! `RealtimePeer`: a websocket server on 127.0.0.1 that speaks the OpenAI Realtime protocol
//! well enough for end-to-end tests and demos of Switchboard, with no network and no model.
//!
//! It uses the actors crate's realtime codec (`parse_client_event`, `ServerEncoder`) and
//! audio helpers, so the frames are the ones the engine's own parser reads.
//!
//! # What a connection does
//! * Upgrade on `GET /v1/realtime?model=<model>`; `Authorization: Bearer <key>` is checked
//!   against [`PeerConfig::require_api_key`] (401 when it differs), other paths get 404, and
//!   [`Failure::RejectNextConnect`] gives 503.
//! * `session.created` first (the service's default session: PCM16, server VAD with
//!   auto-response and barge-in), then `session.updated` echoing each `session.update`.
//!   Input and output formats, and turn detection (`null` turns it off), follow the updates;
//!   client events are accepted in either dialect, events are sent in
//!   [`PeerConfig::dialect`].
//! * Caller audio (`input_audio_buffer.append`) is decoded and fed to an energy VAD over
//!   20 ms frames, clocked by the amount of audio received (not wall-clock), so a client may
//!   send faster than real time. Speech gives `input_audio_buffer.speech_started`; after
//!   [`PeerConfig::silence_ms_to_stop`] of non-speech, `speech_stopped`, `committed`, the
//!   user item (`conversation.item.created` in beta, `.added` + `.done` in GA) and
//!   `conversation.item.input_audio_transcription.completed` with
//!   `"Caller utterance N (D ms)"`, then (with `create_response`) a response.
//! * A response is `response.created`, `response.output_item.added`, audio deltas of
//!   [`PeerConfig::delta_ms`] each (a 440 Hz tone in the session's output format, base64)
//!   interleaved with one transcript delta per word, `response.output_audio.done`,
//!   `response.output_audio_transcript.done` (`"Agent reply K to utterance N"`),
//!   `response.output_item.done` and `response.done` (completed). Deltas are paced per
//!   [`Pace`]. Speech during a response (with `interrupt_response`) cancels it:
//!   `response.done` cancelled / `turn_detected`, and no more deltas.
//! * `conversation.item.truncate` answers `conversation.item.truncated`, or an `error` when
//!   `audio_end_ms` exceeds the audio sent for the item (or the item is unknown).
//!   `response.cancel`, `response.create`, `conversation.item.create` and
//!   `input_audio_buffer.commit` / `.clear` behave like the service's, errors included.
//! * With [`PeerConfig::end_call_on_utterance`] `Some(n)`, the response to the n-th
//!   utterance calls the function [`END_CALL`]; once the client's `function_call_output`
//!   for that call arrives, the next `response.create` gets a short goodbye reply.
//! * Malformed JSON, unknown event types, invalid fields and binary frames get an `error`
//!   event (`invalid_request_error`) and the session goes on.
//!
//! # Observing and breaking it
//! [`RealtimePeer::connections`] snapshots one [`ConnectionLog`] per accepted TCP
//! connection; [`RealtimePeer::wait_for`] waits until the logs satisfy a predicate.
//! [`RealtimePeer::control`] injects one-shot [`Failure`]s (see [`PeerControl`] for which
//! connection takes them).

mod config;
mod connection;
mod control;
mod handshake;
mod log;
mod probe;
mod session;
mod vad;

#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use config::{Pace, PeerConfig, ScriptedCalls};
pub use control::{Failure, PeerControl};
pub use log::{
    CancelLog, ConnectionLog, CreatedItem, EndReason, ResponseKind, ResponseLog, ResponseOutcome,
    SentError, TruncateLog, Utterance,
};
pub use probe::{InboundStream, PeerProbe, ProbeTotals};
pub use session::{DELTA_LAST, END_CALL};

/// How long [`RealtimePeer::shutdown`] lets connections close before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// State shared by the accept loop and the connection tasks.
struct Shared {
    config: Arc<PeerConfig>,
    control: PeerControl,
    logs: log::Logs,
    probe: Arc<PeerProbe>,
}

/// A running fake Realtime service on `127.0.0.1`. Dropping it stops it too (connections
/// are closed with 1001 in the background); [`shutdown`](RealtimePeer::shutdown) waits.
pub struct RealtimePeer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl RealtimePeer {
    /// Binds `127.0.0.1:0` and starts serving (one task per connection). Must be called
    /// inside a Tokio runtime (an error otherwise).
    pub fn start(config: PeerConfig) -> io::Result<RealtimePeer> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// [`RealtimePeer::start`] on `addr` (an engine started elsewhere can then be pointed at a
    /// known URL).
    pub fn start_on(config: PeerConfig, addr: SocketAddr) -> io::Result<RealtimePeer> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|err| {
            io::Error::other(format!("RealtimePeer needs a Tokio runtime: {err}"))
        })?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let shared = Arc::new(Shared {
            config: Arc::new(config),
            control: PeerControl::new(),
            logs: log::Logs::new(),
            probe: Arc::default(),
        });
        let (shutdown, stop) = watch::channel(false);
        let accept = runtime.spawn(accept_loop(listener, Arc::clone(&shared), stop));
        tracing::debug!(%addr, "realtime peer: listening");
        Ok(RealtimePeer {
            addr,
            shared,
            shutdown,
            accept: Some(accept),
        })
    }

    /// `ws://127.0.0.1:PORT/v1/realtime` (add `?model=` with the codec's `connect_url`).
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, handshake::PATH)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &PeerConfig {
        &self.shared.config
    }

    /// Shared failure-injection handle.
    pub fn control(&self) -> PeerControl {
        self.shared.control.clone()
    }

    /// The load-test probes ([`PeerConfig::stamps`]).
    pub fn probe(&self) -> Arc<PeerProbe> {
        Arc::clone(&self.shared.probe)
    }

    /// Snapshot of every connection's log, in accept order (index = connection id).
    pub fn connections(&self) -> Vec<ConnectionLog> {
        self.shared.logs.snapshot()
    }

    /// Number of TCP connections accepted so far (the id the next one will get).
    pub fn connection_count(&self) -> usize {
        self.shared.logs.len()
    }

    /// Waits until `pred` holds for the logs, at most `limit`; the logs that satisfied it,
    /// or `None` on timeout.
    pub async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&[ConnectionLog]) -> bool,
    ) -> Option<Vec<ConnectionLog>> {
        self.shared.logs.wait_for(limit, pred).await
    }

    /// Stops accepting, closes every connection with 1001 and waits for the tasks (those
    /// still running after a short grace period are aborted).
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for RealtimePeer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = connection::stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = shared.logs.open(|id| ConnectionLog {
                        id,
                        ..ConnectionLog::default()
                    });
                    tasks.spawn(connection::serve(stream, id, Arc::clone(&shared), stop.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "realtime peer: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
