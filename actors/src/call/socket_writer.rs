//! The sending half of a call's websocket (Twilio's or the AI's), written where the frame is
//! made: the call actor feeds and flushes the socket itself, without a hop to a writer task.
//!
//! Why: a writer task per socket meant that every 20 ms frame woke a second task (and often the
//! other worker thread) only to copy it into the socket; the independent profile of issue 15
//! found the engine spending its CPU on those wake-ups, not on work. Here a frame is written
//! inline, and a small background task (the *flusher*) runs only when the socket pushes back:
//! when the kernel buffer is full (a slow peer) a poll returns `Pending`, the frame joins a
//! backlog, and the socket's readiness wakes the flusher, which writes the backlog in order.
//! While it is behind, new frames join the backlog, so order is kept and the call is never
//! blocked by a slow socket. Closing and failures also go through the flusher, which returns
//! why the socket's sending side ended.
//!
//! The sink is polled under a plain mutex, never held across an `.await`: the actor and the
//! flusher take turns.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::Sink;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Frames kept while the socket pushes back, before the socket is given up as stalled: about
/// 20 s of a call's frames in either direction.
const BACKLOG_MAX: usize = 2_000;

type BoxSink = Pin<Box<dyn Sink<Message, Error = WsError> + Send>>;

/// A handle to one socket's sending side; clones write to the same socket.
#[derive(Clone)]
pub struct SocketWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SocketWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketWriter").finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    signal: Arc<Signal>,
    /// Wakes the flusher: given to every poll of the sink, so the socket's readiness (or the
    /// split stream's lock) reaches it.
    waker: Waker,
}

struct State {
    sink: BoxSink,
    backlog: VecDeque<Message>,
    /// A poll returned `Pending`: the flusher owns the socket until it has caught up.
    behind: bool,
    /// A close was asked: the flusher writes what is left, closes and ends.
    closing: bool,
    /// Why writing stopped (a failed write, a stalled socket); the flusher reports it.
    failed: Option<String>,
}

/// The flusher's doorbell.
struct Signal(Notify);

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

/// The socket's sending side has ended (closed, or a write failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl SocketWriter {
    /// Takes the sink and spawns its flusher, which ends once the socket is closed or a write
    /// failed: it returns the failure, or `None` after a close.
    pub fn start(
        sink: impl Sink<Message, Error = WsError> + Send + 'static,
    ) -> (SocketWriter, JoinHandle<Option<String>>) {
        let signal = Arc::new(Signal(Notify::new()));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sink: Box::pin(sink),
                backlog: VecDeque::new(),
                behind: false,
                closing: false,
                failed: None,
            }),
            waker: Waker::from(signal.clone()),
            signal,
        });
        let flusher = tokio::spawn(flush_loop(shared.clone()));
        (SocketWriter { shared }, flusher)
    }

    /// Writes `text` into the socket's buffer (sent by the next [`SocketWriter::flush`]), or
    /// queues it behind the frames the socket has not taken yet.
    pub fn send(&self, text: String) -> Result<(), Closed> {
        self.send_message(Message::text(text))
    }

    fn send_message(&self, message: Message) -> Result<(), Closed> {
        let mut state = self.shared.state();
        if state.failed.is_some() || state.closing {
            return Err(Closed);
        }
        if state.behind {
            state.queue(message, &self.shared);
            return Ok(());
        }
        let mut cx = Context::from_waker(&self.shared.waker);
        match state.sink.as_mut().poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {
                if let Err(err) = state.sink.as_mut().start_send(message) {
                    state.fail(&err, &self.shared);
                }
            }
            Poll::Ready(Err(err)) => state.fail(&err, &self.shared),
            Poll::Pending => {
                state.behind = true;
                state.queue(message, &self.shared);
            }
        }
        Ok(())
    }

    /// Sends what was written. When the socket cannot take it all now, the flusher finishes.
    pub fn flush(&self) {
        let mut state = self.shared.state();
        if state.behind || state.failed.is_some() || state.closing {
            return;
        }
        let mut cx = Context::from_waker(&self.shared.waker);
        match state.sink.as_mut().poll_flush(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(err)) => state.fail(&err, &self.shared),
            Poll::Pending => state.behind = true,
        }
    }

    /// Writes `last` (a close frame, say) behind everything before it, then closes the socket's
    /// sending side; the flusher ends once it is done.
    pub fn close(&self, last: Option<Message>) {
        if let Some(message) = last {
            let _ = self.send_message(message);
        }
        let mut state = self.shared.state();
        state.closing = true;
        self.shared.signal.0.notify_one();
    }
}

impl SocketWriter {
    /// Whether the socket's sending side has ended or is closing (nothing more will be sent).
    pub fn is_closed(&self) -> bool {
        let state = self.shared.state();
        state.closing || state.failed.is_some()
    }
}

impl Shared {
    /// A poll panicking leaves the state between two complete steps; a poisoned lock is used as is.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn queue(&mut self, message: Message, shared: &Shared) {
        if self.backlog.len() >= BACKLOG_MAX {
            self.failed = Some(format!(
                "the peer stopped reading: {BACKLOG_MAX} frames waiting"
            ));
            shared.signal.0.notify_one();
            return;
        }
        self.backlog.push_back(message);
    }

    fn fail(&mut self, err: &WsError, shared: &Shared) {
        self.failed = Some(format!("write failed: {err}"));
        shared.signal.0.notify_one();
    }

    /// The flusher's turn: writes the backlog, flushes, and closes if asked. `Ready` carries
    /// the end of the socket's sending side.
    fn catch_up(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        if let Some(cause) = &self.failed {
            return Poll::Ready(Some(cause.clone()));
        }
        while let Some(message) = self.backlog.pop_front() {
            match self.sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Err(err) = self.sink.as_mut().start_send(message) {
                        return Poll::Ready(Some(format!("write failed: {err}")));
                    }
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Some(format!("write failed: {err}"))),
                Poll::Pending => {
                    self.backlog.push_front(message);
                    return Poll::Pending;
                }
            }
        }
        let done = if self.closing {
            self.sink.as_mut().poll_close(cx)
        } else {
            self.sink.as_mut().poll_flush(cx)
        };
        match done {
            Poll::Ready(Ok(())) if self.closing => Poll::Ready(None),
            Poll::Ready(Ok(())) => {
                self.behind = false;
                Poll::Pending
            }
            Poll::Ready(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))
                if self.closing =>
            {
                Poll::Ready(None)
            }
            Poll::Ready(Err(err)) => Poll::Ready(Some(format!("write failed: {err}"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs whenever the socket pushes back, a close is asked or a write failed.
async fn flush_loop(shared: Arc<Shared>) -> Option<String> {
    loop {
        shared.signal.0.notified().await;
        let mut cx = Context::from_waker(&shared.waker);
        let mut state = shared.state();
        if !state.behind && !state.closing && state.failed.is_none() {
            continue;
        }
        if let Poll::Ready(end) = state.catch_up(&mut cx) {
            // Later sends are refused.
            state.closing = true;
            return end;
        }
    }
}

/// The close frame of a stream ended on purpose (1000, no reason).
pub fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

#[cfg(test)]
#[path = "socket_writer_tests.rs"]
mod tests;
