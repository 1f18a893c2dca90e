//! Stamps carried in µ-law audio, so a load test can follow each 20 ms frame through a relay.
//!
//! A stamp is 24 µ-law bytes written over the start of a frame: a 4-byte marker, then a `u16`
//! stream number, a `u32` sequence number and a `u32` send time (µs on [`now_us`]'s clock), one
//! nibble per byte. Every byte is `0xF0 | nibble`: µ-law codes that decode to at most ±120 of
//! 32767 (about -49 dBFS), so a stamped silent frame stays silence to a VAD and a stamped tone
//! keeps its pitch. The relay under test must pass the µ-law bytes through untouched (the
//! `g711_ulaw` path does); after resampling (`pcm16`) stamps do not survive, and the load test
//! falls back to counting audio.

use std::sync::OnceLock;
use std::time::Instant;

/// Bytes a stamp takes at the start of a frame.
pub const STAMP_BYTES: usize = 24;

const MARKER: [u8; 4] = [0xFA, 0xF5, 0xFC, 0xF3];

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Which stream (call, or response) the frame belongs to.
    pub stream: u16,
    /// The frame's number in its stream.
    pub seq: u32,
    /// When it was sent, µs on [`now_us`]'s clock (wraps after 71 minutes).
    pub sent_us: u32,
}

impl Stamp {
    /// Writes the stamp over the first [`STAMP_BYTES`] of `frame` (a shorter frame is left as is).
    pub fn write(&self, frame: &mut [u8]) {
        let Some(head) = frame.get_mut(..STAMP_BYTES) else {
            return;
        };
        head[..4].copy_from_slice(&MARKER);
        let value = (
            u64::from(self.stream) << 32 | u64::from(self.seq),
            self.sent_us,
        );
        // 12 nibbles of stream+seq (16 + 32 bits = 48 bits), then 8 nibbles of time.
        for (i, byte) in head[4..16].iter_mut().enumerate() {
            *byte = 0xF0 | ((value.0 >> (44 - 4 * i)) & 0xF) as u8;
        }
        for (i, byte) in head[16..24].iter_mut().enumerate() {
            *byte = 0xF0 | ((value.1 >> (28 - 4 * i)) & 0xF) as u8;
        }
    }

    /// Reads the stamp at the start of `frame`, if there is one.
    pub fn read(frame: &[u8]) -> Option<Stamp> {
        let head = frame.get(..STAMP_BYTES)?;
        if head[..4] != MARKER || head[4..].iter().any(|b| b & 0xF0 != 0xF0) {
            return None;
        }
        let nibbles = |bytes: &[u8]| {
            bytes
                .iter()
                .fold(0u64, |acc, b| acc << 4 | u64::from(b & 0xF))
        };
        let ids = nibbles(&head[4..16]);
        Some(Stamp {
            stream: (ids >> 32) as u16,
            seq: ids as u32,
            sent_us: nibbles(&head[16..24]) as u32,
        })
    }

    /// µs from the send time to `now_us` (both on [`now_us`]'s clock).
    pub fn age_us(&self, now_us: u32) -> u32 {
        now_us.wrapping_sub(self.sent_us)
    }
}

/// µs since the first call in this process: the clock stamps are written and read on (sender and
/// receiver must share a process).
pub fn now_us() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u32
}

/// Order checks of one stamped stream: every frame must arrive once and in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCheck {
    /// The last sequence number seen.
    pub last: Option<u32>,
    /// Frames seen.
    pub frames: u64,
    /// Frames skipped over (a jump forward by more than one).
    pub gaps: u64,
    /// Frames seen again (the same number twice in a row).
    pub duplicates: u64,
    /// Frames that came after a later one.
    pub reordered: u64,
}

impl SeqCheck {
    /// Takes sequence number `seq`, expecting `first` when nothing was seen yet.
    pub fn see(&mut self, seq: u32, first: u32) {
        self.frames += 1;
        let expected = self.last.map_or(first, |last| last.wrapping_add(1));
        match seq.cmp(&expected) {
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Greater => self.gaps += u64::from(seq - expected),
            std::cmp::Ordering::Less if Some(seq) == self.last => self.duplicates += 1,
            std::cmp::Ordering::Less => self.reordered += 1,
        }
        self.last = Some(self.last.map_or(seq, |last| last.max(seq)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_actors::audio::g711;

    #[test]
    fn a_stamp_round_trips_and_stays_quiet() {
        let mut frame = [0xFFu8; 160];
        let stamp = Stamp {
            stream: 0xBEEF,
            seq: 0x1234_5678,
            sent_us: 0xDEAD_BEEF,
        };
        stamp.write(&mut frame);
        assert_eq!(Stamp::read(&frame), Some(stamp));
        assert!(frame[STAMP_BYTES..].iter().all(|&b| b == 0xFF));
        let peak = frame
            .iter()
            .map(|&b| g711::ulaw_to_linear(b).unsigned_abs())
            .max()
            .unwrap();
        assert!(peak <= 128, "{peak}");
        assert_eq!(Stamp::read(&[0xFF; 160]), None);
        assert_eq!(Stamp::read(&frame[..10]), None);
        assert_eq!(stamp.age_us(0xDEAD_BEEF + 10), 10);
        assert_eq!(
            Stamp {
                sent_us: u32::MAX,
                ..stamp
            }
            .age_us(4),
            5
        );
    }

    #[test]
    fn the_order_check_counts_gaps_duplicates_and_reordering() {
        let mut check = SeqCheck::default();
        for seq in [1, 2, 3, 3, 5, 4, 6] {
            check.see(seq, 1);
        }
        assert_eq!(
            (check.frames, check.gaps, check.duplicates, check.reordered),
            (7, 1, 1, 1)
        );
        let mut late_start = SeqCheck::default();
        late_start.see(3, 1);
        assert_eq!(late_start.gaps, 2);
    }
}
