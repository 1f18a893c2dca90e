//! Load-test probes of the peer ([`PeerConfig::stamps`](super::PeerConfig::stamps)): what
//! arrived of each call's stamped caller audio, in what order and how late, and how much
//! audio went out. Connections keep their own figures and add them here when they end, so
//! the per-frame path takes no lock; only two counters are shared while they run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::stamp::{SeqCheck, Stamp};

/// Stamped caller audio of one call (one stamp stream) as the peer received it.
#[derive(Debug, Clone, Default)]
pub struct InboundStream {
    /// Order of the frames.
    pub check: SeqCheck,
    /// Send-to-receive time of each frame sent after the session was configured, in µs.
    pub latency_us: Vec<u32>,
    /// Frames sent before the client's first `session.update` reached the peer (held by the
    /// relay while it connected): counted, not timed.
    pub held: u64,
    /// Connections that carried this stream (1 unless the relay reconnected).
    pub connections: u32,
    /// Audio deltas the peer sent for each reply of this call (reply stamp stream `n` at index
    /// `n - 1`), with the stamps of [`PeerConfig::stamps`](super::PeerConfig::stamps).
    pub replies_sent: Vec<u32>,
}

impl InboundStream {
    fn merge(&mut self, other: InboundStream) {
        let InboundStream {
            check,
            mut latency_us,
            held,
            connections,
            mut replies_sent,
        } = other;
        self.replies_sent.append(&mut replies_sent);
        if self.check.frames == 0 {
            self.check = check;
        } else {
            // A second connection for the same call: its order is checked on its own.
            self.check.frames += check.frames;
            self.check.gaps += check.gaps;
            self.check.duplicates += check.duplicates;
            self.check.reordered += check.reordered;
            self.check.last = self.check.last.max(check.last);
        }
        self.latency_us.append(&mut latency_us);
        self.held += held;
        self.connections += connections;
    }
}

/// What all connections of a peer measured.
#[derive(Debug, Clone, Default)]
pub struct ProbeTotals {
    /// Per stamp stream (the caller's call number), from connections that have ended.
    pub streams: HashMap<u16, InboundStream>,
    /// µ-law appends without a stamp (from connections that have ended).
    pub unstamped_appends: u64,
    /// Connections whose appends carried more than one stream number.
    pub mixed_connections: u64,
}

/// Shared by a peer's connections.
#[derive(Debug, Default)]
pub struct PeerProbe {
    appends: AtomicU64,
    deltas: AtomicU64,
    totals: Mutex<ProbeTotals>,
}

impl PeerProbe {
    /// `input_audio_buffer.append` events received so far (all connections, live).
    pub fn appends(&self) -> u64 {
        self.appends.load(Ordering::Relaxed)
    }

    /// Audio deltas sent so far (all connections, live).
    pub fn deltas(&self) -> u64 {
        self.deltas.load(Ordering::Relaxed)
    }

    /// The figures of the connections that have ended.
    pub fn totals(&self) -> ProbeTotals {
        self.lock().clone()
    }

    pub(super) fn count_append(&self) {
        self.appends.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_delta(&self) {
        self.deltas.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn add(&self, connection: ConnectionProbe) {
        let mut totals = self.lock();
        totals.unstamped_appends += connection.unstamped;
        totals.mixed_connections += u64::from(connection.mixed);
        if let Some(stream) = connection.stream {
            totals
                .streams
                .entry(stream)
                .or_default()
                .merge(connection.inbound);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProbeTotals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's figures while it runs.
#[derive(Debug, Default)]
pub(super) struct ConnectionProbe {
    stream: Option<u16>,
    inbound: InboundStream,
    unstamped: u64,
    mixed: bool,
    /// When the first `session.update` arrived, on the stamp clock.
    pub(super) ready_us: Option<u32>,
    /// Responses with audio started on this connection (the stamp stream of their deltas).
    pub(super) responses: u16,
}

impl ConnectionProbe {
    /// Delta number `seq` (from 0) of reply `stream` went out.
    pub(super) fn delta_sent(&mut self, stream: u16, seq: u32) {
        let index = usize::from(stream.saturating_sub(1));
        let sent = &mut self.inbound.replies_sent;
        if sent.len() <= index {
            sent.resize(index + 1, 0);
        }
        sent[index] = sent[index].max(seq + 1);
    }

    /// One µ-law append's audio, received at `now_us`.
    pub(super) fn caller_audio(&mut self, audio: &[u8], now_us: u32) {
        let Some(stamp) = Stamp::read(audio) else {
            self.unstamped += 1;
            return;
        };
        match self.stream {
            None => {
                self.stream = Some(stamp.stream);
                self.inbound.connections = 1;
            }
            Some(stream) if stream != stamp.stream => {
                self.mixed = true;
                return;
            }
            Some(_) => {}
        }
        self.inbound.check.see(stamp.seq, 1);
        // Sent before the session was configured: held by the relay, not a relay delay.
        let sent_before_ready = self
            .ready_us
            .is_none_or(|ready| ready.wrapping_sub(stamp.sent_us) < u32::MAX / 2);
        if sent_before_ready {
            self.inbound.held += 1;
        } else {
            self.inbound.latency_us.push(stamp.age_us(now_us));
        }
    }
}
