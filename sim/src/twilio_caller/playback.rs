//! Twilio's playback buffer for the audio the engine sends, as a pure model on the call clock.
//!
//! Twilio queues outbound `media` in order and plays it at 8 bytes (samples) per millisecond,
//! playing silence when the queue runs dry. A `mark` is echoed when everything queued before it has
//! played (at once if nothing is queued). `clear` empties the queue and echoes every pending mark
//! immediately. Times are milliseconds of the paced call clock (see [`super::Pace`]).

use std::collections::VecDeque;

/// mu-law bytes Twilio plays per millisecond (8 kHz, one byte per sample).
pub const BYTES_PER_MS: f64 = 8.0;

/// The playback queue: when it runs dry, and the marks waiting on it.
#[derive(Debug, Default, Clone)]
pub struct Playback {
    /// Call-clock time at which the audio queued so far will have played out.
    end_ms: f64,
    /// Marks not yet echoed, with the time each becomes due (non-decreasing).
    pending: VecDeque<(String, f64)>,
}

impl Playback {
    /// Queues `bytes` of audio received at `now_ms`; returns how much is now buffered, in ms.
    pub fn enqueue_audio(&mut self, now_ms: f64, bytes: usize) -> f64 {
        let start = self.end_ms.max(now_ms);
        self.end_ms = start + bytes as f64 / BYTES_PER_MS;
        self.end_ms - now_ms
    }

    /// A mark received at `now_ms`: `true` if it is due at once (nothing buffered before it);
    /// otherwise it waits for [`Playback::pop_due`].
    pub fn mark(&mut self, now_ms: f64, name: &str) -> bool {
        if self.end_ms <= now_ms && self.pending.is_empty() {
            return true;
        }
        self.pending.push_back((name.to_owned(), self.end_ms));
        false
    }

    /// When the next pending mark becomes due.
    pub fn next_due(&self) -> Option<f64> {
        self.pending.front().map(|(_, due)| *due)
    }

    /// The next mark whose audio has played by `now_ms`, with the time it became due.
    pub fn pop_due(&mut self, now_ms: f64) -> Option<(String, f64)> {
        if self.next_due()? <= now_ms {
            self.pending.pop_front()
        } else {
            None
        }
    }

    /// `clear` at `now_ms`: drops the unplayed audio and returns its size in bytes, with every
    /// pending mark (to be echoed at once, in order).
    pub fn clear(&mut self, now_ms: f64) -> (u64, Vec<String>) {
        let dropped = self.buffered_bytes(now_ms);
        self.end_ms = self.end_ms.min(now_ms);
        let flushed = self.pending.drain(..).map(|(name, _)| name).collect();
        (dropped, flushed)
    }

    /// Audio still to play at `now_ms`, in ms.
    pub fn buffered_ms(&self, now_ms: f64) -> f64 {
        (self.end_ms - now_ms).max(0.0)
    }

    /// Audio still to play at `now_ms`, in bytes.
    pub fn buffered_bytes(&self, now_ms: f64) -> u64 {
        (self.buffered_ms(now_ms) * BYTES_PER_MS).round() as u64
    }

    /// Marks still waiting.
    pub fn pending_marks(&self) -> usize {
        self.pending.len()
    }

    /// Nothing left to play and no mark waiting at `now_ms`.
    pub fn is_idle(&self, now_ms: f64) -> bool {
        self.end_ms <= now_ms && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_wait_for_the_audio_before_them() {
        let mut p = Playback::default();
        assert!(p.mark(5.0, "empty"), "nothing buffered: echo at once");
        assert_eq!(p.enqueue_audio(10.0, 800), 100.0);
        assert!(!p.mark(10.0, "a"));
        assert_eq!(p.enqueue_audio(30.0, 800), 180.0);
        assert!(!p.mark(30.0, "b"));
        assert_eq!(p.next_due(), Some(110.0));
        assert_eq!(p.pop_due(109.9), None);
        assert_eq!(p.pop_due(110.0), Some(("a".into(), 110.0)));
        assert_eq!(p.pop_due(150.0), None);
        assert!(!p.is_idle(209.0));
        assert_eq!(p.pop_due(400.0), Some(("b".into(), 210.0)));
        assert!(p.is_idle(400.0));
        // After an underrun, new audio starts playing when it arrives.
        assert_eq!(p.enqueue_audio(500.0, 160), 20.0);
        assert!(!p.mark(500.0, "c"));
        assert_eq!(p.next_due(), Some(520.0));
    }

    #[test]
    fn a_mark_behind_a_pending_mark_waits_even_with_no_new_audio() {
        let mut p = Playback::default();
        p.enqueue_audio(0.0, 160);
        assert!(!p.mark(0.0, "a"));
        // "b" is due when "a" is: same audio before it.
        assert!(!p.mark(1.0, "b"));
        assert_eq!(p.pop_due(20.0), Some(("a".into(), 20.0)));
        assert_eq!(p.pop_due(20.0), Some(("b".into(), 20.0)));
    }

    #[test]
    fn clear_drops_the_rest_and_flushes_pending_marks() {
        let mut p = Playback::default();
        for i in 0..10 {
            p.enqueue_audio(0.0, 800);
            assert!(!p.mark(0.0, &format!("m{i}")));
        }
        assert_eq!(p.pop_due(250.0), Some(("m0".into(), 100.0)));
        assert_eq!(p.pop_due(250.0), Some(("m1".into(), 200.0)));
        assert_eq!(p.pop_due(250.0), None);
        assert_eq!(p.buffered_bytes(250.0), 6000);
        let (dropped, flushed) = p.clear(250.0);
        assert_eq!(dropped, 6000);
        assert_eq!(
            flushed,
            (2..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
        );
        assert!(p.is_idle(250.0));
        assert_eq!(p.clear(260.0), (0, vec![]));
        // Playback resumes from the clear.
        assert_eq!(p.enqueue_audio(260.0, 80), 10.0);
    }
}
