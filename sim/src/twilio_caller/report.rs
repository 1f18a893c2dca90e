//! What happened on a simulated call: counters and a timeline on the paced call clock.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Step;

/// Something that happened on the media socket, stamped (in [`CallReport::timeline`]) with the
/// call-clock time in ms since the `start` frame (paced: with [`super::Pace::Fast`] one call-clock
/// second passes in less than a wall-clock second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A script step began.
    StepBegan {
        /// Position among the steps this session has run (0-based).
        index: usize,
        /// The step.
        step: Step,
    },
    /// The `connected` frame was sent.
    ConnectedSent,
    /// The `start` frame was sent.
    StartSent {
        /// Its `streamSid`.
        stream_sid: String,
    },
    /// A `dtmf` frame was sent.
    DtmfSent {
        /// The key.
        digit: char,
    },
    /// A raw text frame was sent with [`super::MediaSession::send_text`].
    RawSent {
        /// Its length in bytes.
        len: usize,
    },
    /// The `stop` frame was sent (hang-up).
    StopSent,
    /// The engine sent agent audio.
    AgentMedia {
        /// mu-law bytes in the frame.
        bytes: usize,
        /// Audio buffered for playback after queueing it, in ms.
        buffered_ms: u64,
    },
    /// The engine sent a mark.
    MarkReceived {
        /// Its name.
        name: String,
    },
    /// A mark was echoed back to the engine.
    MarkEchoed {
        /// Its name.
        name: String,
        /// Echoed because a `clear` flushed it, not because its audio played.
        cleared: bool,
    },
    /// The engine sent `clear` (barge-in).
    Clear {
        /// Unplayed agent audio dropped, in bytes (8 per ms).
        dropped_bytes: u64,
        /// Pending marks echoed at once because of it.
        flushed_marks: usize,
    },
    /// A frame with an event name the codec does not know (Twilio ignores these).
    UnknownFrame {
        /// Its `event`.
        event: String,
    },
    /// A text frame that is not a valid server→Twilio message.
    MalformedFrame {
        /// The codec's complaint.
        error: String,
    },
    /// A binary frame (invalid in this protocol; Twilio warns 31950 and ignores it).
    BinaryFrame {
        /// Its length.
        len: usize,
    },
    /// A valid frame for another `streamSid` (ignored).
    ForeignStreamFrame {
        /// The `streamSid` it named.
        stream_sid: String,
    },
    /// `WaitForAgent` saw the agent's audio play out and every mark echoed.
    AgentFinished,
    /// `WaitForAgent` gave up.
    WaitTimedOut {
        /// Call-clock ms spent waiting.
        waited_ms: u64,
    },
    /// The engine sent a close frame (or, with `code: None`, the connection ended without one).
    EngineClosed {
        /// The close code, if any.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// The websocket failed.
    SocketError {
        /// What went wrong.
        error: String,
    },
    /// The engine did not finish the close handshake in time.
    CloseTimedOut,
}

/// The outcome of a simulated call.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    /// `CallSid` (`CA…`) used for the webhook and `start`.
    pub call_sid: String,
    /// `AccountSid` (`AC…`).
    pub account_sid: String,
    /// `streamSid` (`MZ…`) of the media stream.
    pub stream_sid: String,
    /// The TwiML `<Parameter name="call_id">`, if there was one.
    pub call_id: Option<String>,
    /// Every TwiML `<Parameter>`, as sent in `start.customParameters`.
    pub custom_parameters: BTreeMap<String, String>,
    /// HTTP status of the voice webhook (200 when the call got this far).
    pub twiml_status: u16,

    /// Text frames sent, of every kind (connected, start, media, dtmf, mark, stop, raw).
    pub frames_sent: u64,
    /// `media` frames sent (one per 20 ms of caller audio).
    pub media_frames_sent: u64,
    /// Caller audio sent, in ms (bytes / 8).
    pub caller_audio_ms: u64,
    /// `dtmf` frames sent.
    pub dtmf_sent: u64,
    /// The last `sequenceNumber` used.
    pub last_sequence_number: u64,

    /// Websocket messages received (text and binary).
    pub frames_received: u64,
    /// `media` frames received from the engine.
    pub media_frames_received: u64,
    /// Agent audio received, in mu-law bytes.
    pub agent_audio_bytes: u64,
    /// Agent audio received, in ms (bytes / 8).
    pub agent_audio_ms: u64,
    /// All agent audio received, mu-law 8 kHz, in arrival order (including what was cleared).
    pub agent_audio: Vec<u8>,
    /// Agent audio still buffered, unplayed, when the call ended (bytes).
    pub agent_audio_unplayed_bytes: u64,
    /// `mark` frames received.
    pub marks_received: u64,
    /// Marks echoed back (played or cleared).
    pub marks_echoed: u64,
    /// Of those, echoed because of a `clear`.
    pub marks_cleared: u64,
    /// Marks still waiting for their audio when the call ended (never echoed).
    pub marks_unechoed: u64,
    /// `clear` frames received.
    pub clears_received: u64,
    /// Agent audio dropped by `clear`, in bytes.
    pub audio_cleared_bytes: u64,
    /// Frames with an unknown `event`.
    pub unknown_frames: u64,
    /// Text frames that did not parse as server→Twilio messages.
    pub malformed_frames: u64,
    /// Binary frames.
    pub binary_frames: u64,
    /// Frames naming another `streamSid`.
    pub foreign_stream_frames: u64,

    /// `WaitForAgent` steps that timed out.
    pub wait_timeouts: u64,
    /// The close code of the closing handshake (ours echoed, or the engine's own).
    pub close_code: Option<u16>,
    /// The engine closed the socket before the caller hung up.
    pub engine_hung_up: bool,
    /// A websocket error that ended the call, if any.
    pub socket_error: Option<String>,
    /// Call-clock length of the stream when it ended, in ms.
    pub duration_ms: u64,
    /// Wall-clock length of the whole call (webhook to close).
    pub wall_duration: Duration,
    /// Everything that happened, as (call-clock ms since `start`, event); empty with
    /// [`CallerConfig::lean`](super::CallerConfig::lean).
    pub timeline: Vec<(u64, Event)>,
    /// Stamped agent audio ([`CallerConfig::stamps`](super::CallerConfig::stamps)).
    pub agent_stamps: AgentStamps,
}

/// Order and delay of stamped agent audio: each reply is a stamp stream whose deltas are numbered
/// from 0, the last one flagged. Whether a reply arrived whole is for whoever knows how much was
/// sent: [`AgentStamps::replies`] says how far each one got and whether a `clear` cut it.
#[derive(Debug, Clone, Default)]
pub struct AgentStamps {
    /// Media frames that carried a stamp.
    pub frames: u64,
    /// Media frames without one.
    pub unstamped: u64,
    /// Deltas skipped inside a reply.
    pub gaps: u64,
    /// Deltas that came twice.
    pub duplicates: u64,
    /// Deltas (or replies) that came out of order.
    pub reordered: u64,
    /// Send-to-receive time of each stamped frame, in µs.
    pub latency_us: Vec<u32>,
    /// Every reply, in order of arrival.
    pub replies: Vec<ReplyReceived>,
}

/// How much of one reply arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyReceived {
    /// Its stamp stream.
    pub stream: u16,
    /// Number of the last delta that arrived.
    pub last: u32,
    /// Its flagged last delta arrived.
    pub complete: bool,
    /// A `clear` came after its last delta and before the next reply.
    pub cleared: bool,
}

impl AgentStamps {
    /// One stamped media frame.
    pub(super) fn frame(&mut self, stream: u16, seq: u32, last: bool, age_us: u32) {
        self.frames += 1;
        self.latency_us.push(age_us);
        match self.replies.last_mut() {
            Some(reply) if reply.stream == stream => {
                let expected = reply.last.wrapping_add(1);
                if seq == expected {
                } else if seq > expected {
                    self.gaps += u64::from(seq - expected);
                } else if seq == reply.last {
                    self.duplicates += 1;
                } else {
                    self.reordered += 1;
                }
                reply.last = reply.last.max(seq);
                reply.complete |= last;
                reply.cleared = false;
            }
            Some(reply) if stream < reply.stream => self.reordered += 1,
            _ => {
                self.gaps += u64::from(seq);
                self.replies.push(ReplyReceived {
                    stream,
                    last: seq,
                    complete: last,
                    cleared: false,
                });
            }
        }
    }

    /// A `clear` arrived.
    pub(super) fn clear(&mut self) {
        if let Some(reply) = self.replies.last_mut() {
            reply.cleared = true;
        }
    }
}

impl CallReport {
    /// Call-clock time of the first event matching `pred`.
    pub fn first(&self, pred: impl Fn(&Event) -> bool) -> Option<u64> {
        self.timeline
            .iter()
            .find(|(_, e)| pred(e))
            .map(|(at, _)| *at)
    }

    /// Every event matching `pred`, with its time.
    pub fn all(&self, pred: impl Fn(&Event) -> bool) -> Vec<(u64, Event)> {
        self.timeline
            .iter()
            .filter(|(_, e)| pred(e))
            .cloned()
            .collect()
    }

    /// When mark `name` was echoed, and whether a `clear` flushed it.
    pub fn mark_echo(&self, name: &str) -> Option<(u64, bool)> {
        self.timeline.iter().find_map(|(at, e)| match e {
            Event::MarkEchoed { name: n, cleared } if n == name => Some((*at, *cleared)),
            _ => None,
        })
    }
}
