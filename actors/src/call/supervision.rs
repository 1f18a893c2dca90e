//! Supervisors on a live call: who they are, what they may ask of it, and the agent audio the
//! caller hears laid out on the call clock.
//!
//! A supervisor listens in (the call publishes a [`MonitorFrame`] per 20 ms to its listeners),
//! whispers to the AI, barges in (its audio is mixed into what the caller hears), takes the
//! call over (the AI falls silent and the supervisor talks to the caller), releases it, or hangs
//! up. The logic of each command lives in [`CallCore::on_supervisor`](super::CallCore::on_supervisor);
//! the actor moves the audio. Supervisor sessions reach a call only through its messages
//! ([`CallMessage`](super::CallMessage)), so a call on another node can later be reached the
//! same way.

use std::collections::VecDeque;

use serde::Serialize;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Who acts on the call (written into its events and messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Supervisor {
    /// The user's or API key's id.
    pub id: String,
    /// Its email or name, for people reading the call's history.
    pub name: String,
}

/// What a supervisor asks of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorCommand {
    /// Guidance for the AI the caller does not hear (a system item, used by its next response).
    Whisper(String),
    /// Mix the supervisor's audio into what the caller hears; the AI keeps talking.
    Barge,
    Unbarge,
    /// Silence the AI; the supervisor and the caller talk directly.
    Takeover,
    /// Give the call back to the AI, with what was said meanwhile.
    Release,
    /// End the call.
    Hangup,
}

impl SupervisorCommand {
    /// The action's name in events, messages and the supervisor protocol.
    pub fn action(&self) -> &'static str {
        match self {
            SupervisorCommand::Whisper(_) => "whisper",
            SupervisorCommand::Barge => "barge",
            SupervisorCommand::Unbarge => "unbarge",
            SupervisorCommand::Takeover => "takeover",
            SupervisorCommand::Release => "release",
            SupervisorCommand::Hangup => "hangup",
        }
    }
}

/// Who speaks to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisionMode {
    /// The AI alone (no supervisor audio).
    #[default]
    Ai,
    /// The AI, with a supervisor's audio mixed in.
    Barged,
    /// A supervisor alone; the AI is silent.
    TakenOver,
}

/// A command that does not apply to the call as it is (a 409 for REST callers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuperviseError {
    #[error("the call has ended")]
    Ended,
    #[error("the call is not barged into")]
    NotBarged,
    #[error("the call is not taken over")]
    NotTakenOver,
    #[error("the call is taken over; release it first")]
    TakenOver,
    #[error("a whisper needs text")]
    EmptyWhisper,
}

/// 20 ms of the call as both sides hear it, at 8 kHz: the caller's frame and the agent audio
/// playing at the same moment (silence where none). Published once per caller frame to every
/// listener of the call.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorFrame {
    /// Call-clock ms of the frame's start.
    pub at_ms: u64,
    pub caller: [i16; FRAME_SAMPLES],
    pub agent: [i16; FRAME_SAMPLES],
}

/// Agent µ-law audio on the call clock: each delta is placed where it will play, and the audio
/// of one 20 ms slot is taken as the caller's frame for that slot arrives. Filled only while a
/// supervisor listens or barges in (the bytes are otherwise only forwarded).
#[derive(Debug, Default)]
pub struct AgentPlayout {
    /// Call-clock ms of `ulaw[0]`.
    start_ms: u64,
    ulaw: VecDeque<u8>,
}

/// µ-law silence.
const SILENCE: u8 = 0xFF;

impl AgentPlayout {
    /// Places `ulaw` to play from `play_at_ms`. Audio queued at or after that point is replaced
    /// (a `clear` moved the queue back); a gap before it is silence.
    pub fn push(&mut self, play_at_ms: u64, ulaw: &[u8]) {
        if self.ulaw.is_empty() || play_at_ms < self.start_ms {
            self.ulaw.clear();
            self.start_ms = play_at_ms;
        }
        let offset = ((play_at_ms - self.start_ms) * 8) as usize;
        if offset < self.ulaw.len() {
            self.ulaw.truncate(offset);
        } else {
            self.ulaw.resize(offset, SILENCE);
        }
        self.ulaw.extend(ulaw);
    }

    /// The 20 ms from `at_ms` into `out` (silence where nothing plays); audio before `at_ms` is
    /// dropped. Returns whether any agent audio was in the slot.
    pub fn take(&mut self, at_ms: u64, out: &mut [u8; FRAME_SAMPLES]) -> bool {
        out.fill(SILENCE);
        if at_ms > self.start_ms {
            let skip = (((at_ms - self.start_ms) * 8) as usize).min(self.ulaw.len());
            self.ulaw.drain(..skip);
            self.start_ms = at_ms;
        }
        let lead = ((self.start_ms - at_ms) * 8) as usize;
        if lead >= FRAME_SAMPLES || self.ulaw.is_empty() {
            return false;
        }
        let n = (FRAME_SAMPLES - lead).min(self.ulaw.len());
        for (slot, byte) in out[lead..lead + n].iter_mut().zip(self.ulaw.drain(..n)) {
            *slot = byte;
        }
        self.start_ms = at_ms + ((lead + n) / 8) as u64;
        true
    }

    /// Agent audio still to play, in ms.
    pub fn queued_ms(&self) -> u64 {
        self.ulaw.len() as u64 / 8
    }

    pub fn clear(&mut self) {
        self.ulaw.clear();
    }

    /// Moves all the audio still to play into `out`, in order (it is to be played right after
    /// what is playing now, not slot by slot).
    pub fn drain_into(&mut self, out: &mut Vec<u8>) {
        out.extend(self.ulaw.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_plays_where_it_was_placed_and_a_clear_replaces_what_follows() {
        let mut playout = AgentPlayout::default();
        let mut out = [0u8; FRAME_SAMPLES];
        // 40 ms of agent audio from 100 ms.
        playout.push(100, &[1; 320]);
        assert!(!playout.take(60, &mut out), "nothing plays before 100 ms");
        assert!(out.iter().all(|&b| b == SILENCE));
        // The slot 90..110 holds 10 ms of silence, then 10 ms of audio.
        assert!(playout.take(90, &mut out));
        assert!(out[..80].iter().all(|&b| b == SILENCE));
        assert!(out[80..].iter().all(|&b| b == 1));
        assert!(playout.take(110, &mut out));
        assert!(out.iter().all(|&b| b == 1));
        assert!(playout.take(130, &mut out));
        assert!(out[..80].iter().all(|&b| b == 1) && out[80..].iter().all(|&b| b == SILENCE));
        assert!(!playout.take(150, &mut out));
        // Queued ahead, then replaced from 200 ms (a clear moved the queue back).
        playout.push(160, &[2; 800]);
        assert_eq!(playout.queued_ms(), 100);
        playout.push(200, &[3; 160]);
        assert_eq!(playout.queued_ms(), 60);
        assert!(playout.take(190, &mut out));
        assert!(out[..80].iter().all(|&b| b == 2) && out[80..].iter().all(|&b| b == 3));
        // A slot skipped over is dropped, not played late.
        playout.push(300, &[4; 800]);
        assert!(playout.take(360, &mut out));
        assert!(out.iter().all(|&b| b == 4));
        assert_eq!(playout.queued_ms(), 20);
    }
}
