//! Counters of live calls, shared by every call actor of a process and read by the service's
//! `/metrics` endpoint. Each is one relaxed atomic add where the thing happens: on the 20 ms media
//! path that is the only cost.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What the calls of this process have done since it started.
#[derive(Debug, Default)]
pub struct CallMetrics {
    /// Streams whose `start` was accepted.
    pub calls_started: AtomicU64,
    /// Calls that ended (hung up by either side, or given up on).
    pub calls_ended: AtomicU64,
    /// Media frames received from Twilio.
    pub media_frames_in: AtomicU64,
    /// Media frames sent to Twilio (the agent's audio).
    pub media_frames_out: AtomicU64,
    /// AI sessions reopened after one was lost or rotated.
    pub ai_reconnects: AtomicU64,
}

impl CallMetrics {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> CallStats {
        CallStats {
            calls_started: self.calls_started.load(Relaxed),
            calls_ended: self.calls_ended.load(Relaxed),
            media_frames_in: self.media_frames_in.load(Relaxed),
            media_frames_out: self.media_frames_out.load(Relaxed),
            ai_reconnects: self.ai_reconnects.load(Relaxed),
        }
    }
}

/// A snapshot of [`CallMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallStats {
    pub calls_started: u64,
    pub calls_ended: u64,
    pub media_frames_in: u64,
    pub media_frames_out: u64,
    pub ai_reconnects: u64,
}
