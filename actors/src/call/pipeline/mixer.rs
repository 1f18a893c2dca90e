//! The supervisors' part of the 20 ms path: the agent audio laid out on the call clock (for
//! listeners and for mixing), the one queue of supervisor audio waiting for its slot, and the
//! marks of agent audio that is paced here instead of queued at Twilio.
//!
//! Sans-IO: the pipeline calls [`Mixer::take`] (and in a supervised mode [`Mixer::mix`]) once per
//! caller frame (Twilio sends one every
//! 20 ms, so the caller's frames are the call's clock) and sends what it returns.

use std::collections::VecDeque;

use crate::audio::mix_into_ulaw;
use crate::call::supervision::{AgentPlayout, FRAME_SAMPLES, SupervisionMode};

/// Supervisor audio queued for the caller, in 20 ms frames: beyond it the oldest is dropped
/// (counted), so a burst from the supervisor's network never builds up delay.
pub const SUPERVISOR_QUEUE_MAX: usize = 3;

/// Slots in a row with a standing backlog of supervisor audio (two frames or more left after
/// the slot's) before one frame is dropped: a supervisor whose clock runs a little fast, or one
/// burst, would otherwise keep up to [`SUPERVISOR_QUEUE_MAX`] frames of delay for good.
pub const SUPERVISOR_BACKLOG_SLOTS: u32 = 25;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Mixer {
    /// Agent audio on the call clock, kept while someone listens or a supervisor speaks.
    pub playout: AgentPlayout,
    /// Supervisor audio waiting for its 20 ms slot.
    supervisor: VecDeque<[i16; FRAME_SAMPLES]>,
    /// Marks of agent audio paced here, by the call-clock ms where their audio ends.
    paced_marks: VecDeque<(u64, String)>,
    /// Supervisor frames dropped because the queue was full, or to drain a standing backlog.
    pub supervisor_frames_dropped: u64,
    /// Slots in a row that left a backlog of supervisor audio.
    backlog_slots: u32,
}

impl Mixer {
    /// A supervisor's 20 ms frame, for the next free slot.
    pub fn push_supervisor(&mut self, frame: [i16; FRAME_SAMPLES]) {
        if self.supervisor.len() == SUPERVISOR_QUEUE_MAX {
            self.supervisor.pop_front();
            self.supervisor_frames_dropped += 1;
        }
        self.supervisor.push_back(frame);
    }

    /// Supervisor frames waiting.
    pub fn supervisor_queued(&self) -> usize {
        self.supervisor.len()
    }

    /// Agent audio that this mixer paces (barged-in mode): placed at `play_at_ms`, its mark
    /// sent once its slot has been.
    pub fn pace(&mut self, play_at_ms: u64, ulaw: &[u8], mark: &str) {
        self.playout.push(play_at_ms, ulaw);
        let end = play_at_ms + ulaw.len() as u64 / 8;
        self.paced_marks.push_back((end, mark.to_owned()));
    }

    /// The agent audio of the slot at `at_ms` into `ulaw` (silence where none); whether any
    /// played.
    pub fn take(&mut self, at_ms: u64, ulaw: &mut [u8; FRAME_SAMPLES]) -> bool {
        self.playout.take(at_ms, ulaw)
    }

    /// In a supervised mode, what the caller hears in the slot: the supervisor's next frame
    /// mixed into the agent audio `ulaw` (taken over: instead of it). Whether there is anything
    /// to send.
    pub fn mix(
        &mut self,
        mode: SupervisionMode,
        agent_playing: bool,
        ulaw: &mut [u8; FRAME_SAMPLES],
    ) -> bool {
        let supervisor = self.supervisor.pop_front();
        if self.supervisor.len() >= 2 {
            self.backlog_slots += 1;
            if self.backlog_slots >= SUPERVISOR_BACKLOG_SLOTS {
                self.supervisor.pop_front();
                self.supervisor_frames_dropped += 1;
                self.backlog_slots = 0;
            }
        } else {
            self.backlog_slots = 0;
        }
        if mode == SupervisionMode::TakenOver && agent_playing {
            ulaw.fill(0xFF);
        }
        if let Some(supervisor) = &supervisor {
            mix_into_ulaw(ulaw, supervisor);
        }
        agent_playing || supervisor.is_some()
    }

    /// The next mark of paced agent audio that ends by `until_ms`.
    pub fn next_mark(&mut self, until_ms: u64) -> Option<String> {
        if self
            .paced_marks
            .front()
            .is_some_and(|(end, _)| *end <= until_ms)
        {
            return self.paced_marks.pop_front().map(|(_, name)| name);
        }
        None
    }

    /// Back to the AI alone: the agent audio still paced here, as one µ-law run for Twilio to
    /// queue behind what it has (its marks follow with [`Mixer::next_mark`]); supervisor audio
    /// is dropped.
    pub fn drain_to_ai(&mut self, out: &mut Vec<u8>) {
        self.supervisor.clear();
        out.clear();
        self.playout.drain_into(out);
    }

    /// The agent audio in flight was cut (a barge-in, or a supervisor took the line).
    pub fn cut(&mut self) {
        self.playout.clear();
        self.paced_marks.clear();
    }

    /// A supervisor starts speaking: what was queued before is stale.
    pub fn reset_supervisor(&mut self) {
        self.playout.clear();
        self.supervisor.clear();
    }
}
