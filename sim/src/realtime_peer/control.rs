//! Failure injection: a shared queue of one-shot failures the connections consume.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

/// A failure to inject. Each one is consumed by the first connection that reaches its
/// moment (see [`PeerControl`]), and then recorded in that connection's
/// [`ConnectionLog::failures`](super::ConnectionLog::failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Right after sending the first audio delta of the next audio response, drop the TCP
    /// connection without a close frame.
    CloseMidResponse,
    /// At once (or, with no connection open, right after the next connection's
    /// `session.created`): send the `session_expired` error, then close with 1001.
    SessionExpired,
    /// Instead of the next `input_audio_buffer.speech_started`: send the `session_expired`
    /// error, then close with 1001 (the caller's utterance is lost with the session).
    SessionExpiredOnSpeech,
    /// At once (or right after the next connection's `session.created`): neither read nor
    /// send anything for this long (pings included), then carry on; client events sent
    /// meanwhile are handled afterwards, and a paced reply resumes where it was.
    Stall(Duration),
    /// Refuse the next websocket upgrade with HTTP 503.
    RejectNextConnect,
}

/// The moment at which a failure applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moment {
    /// The websocket upgrade request.
    Upgrade,
    /// Whenever the connection notices it (injection time, or session start).
    Now,
    /// Just after the first delta of an audio response.
    FirstDelta,
    /// When the VAD detects the start of speech.
    SpeechStarted,
}

impl Failure {
    pub(super) fn moment(&self) -> Moment {
        match self {
            Failure::CloseMidResponse => Moment::FirstDelta,
            Failure::SessionExpired | Failure::Stall(_) => Moment::Now,
            Failure::SessionExpiredOnSpeech => Moment::SpeechStarted,
            Failure::RejectNextConnect => Moment::Upgrade,
        }
    }
}

#[derive(Debug)]
struct Pending {
    connection: Option<usize>,
    failure: Failure,
}

#[derive(Debug)]
struct Inner {
    pending: Mutex<Vec<Pending>>,
    changed: watch::Sender<u64>,
}

/// Shared handle to inject failures at run time (`peer.control()`; clones share the queue).
///
/// [`inject`](PeerControl::inject) queues a one-shot failure for *any* connection: the first
/// connection (in time) that reaches the failure's moment takes it, and no other sees it.
/// [`inject_for`](PeerControl::inject_for) targets one connection by its id (the index in
/// [`RealtimePeer::connections`](super::RealtimePeer::connections), given in accept order,
/// so the next connection's id is the current number of logs). Failures of the same moment
/// are taken in injection order.
#[derive(Debug, Clone)]
pub struct PeerControl {
    inner: Arc<Inner>,
}

impl Default for PeerControl {
    fn default() -> Self {
        PeerControl::new()
    }
}

impl PeerControl {
    pub(super) fn new() -> PeerControl {
        PeerControl {
            inner: Arc::new(Inner {
                pending: Mutex::new(Vec::new()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// Queues `failure` for the next matching moment of any connection.
    pub fn inject(&self, failure: Failure) {
        self.push(None, failure);
    }

    /// Queues `failure` for the next matching moment of connection `connection` only.
    pub fn inject_for(&self, connection: usize, failure: Failure) {
        self.push(Some(connection), failure);
    }

    /// Failures injected and not yet taken, in order.
    pub fn pending(&self) -> Vec<Failure> {
        self.lock().iter().map(|p| p.failure.clone()).collect()
    }

    /// Drops every pending failure.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, connection: Option<usize>, failure: Failure) {
        self.lock().push(Pending {
            connection,
            failure,
        });
        self.inner
            .changed
            .send_modify(|generation| *generation += 1);
    }

    /// Takes the oldest pending failure for `connection` at `moment`.
    pub(super) fn take(&self, connection: usize, moment: Moment) -> Option<Failure> {
        let mut pending = self.lock();
        let index = pending.iter().position(|p| {
            p.failure.moment() == moment && p.connection.is_none_or(|c| c == connection)
        })?;
        Some(pending.remove(index).failure)
    }

    /// Wakes whenever a failure is injected.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Pending>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
