//! Audio on the wire (decode of caller audio, the reply tone) and an energy VAD clocked by
//! the amount of audio received, so clients may send faster than real time.

use switchboard_actors::audio::{g711, tone};
use switchboard_actors::realtime::AudioFormat;

/// Peak amplitude of the reply tone (about -12 dBFS).
const TONE_AMPLITUDE: f64 = 8_000.0;

/// Length of one VAD frame, in ms.
const FRAME_MS: u64 = 20;

/// Bytes of `format` audio per ms.
pub(super) fn bytes_per_ms(format: AudioFormat) -> usize {
    match format {
        AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8,
        AudioFormat::Pcm16 => 48,
    }
}

/// Decodes wire audio into 16-bit PCM at the format's rate (appending to `out`); a trailing
/// odd byte of PCM16 is ignored.
pub(super) fn decode(format: AudioFormat, bytes: &[u8], out: &mut Vec<i16>) {
    match format {
        AudioFormat::G711Ulaw => out.extend(bytes.iter().map(|&b| g711::ulaw_to_linear(b))),
        AudioFormat::G711Alaw => out.extend(bytes.iter().map(|&b| g711::alaw_to_linear(b))),
        AudioFormat::Pcm16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
        ),
    }
}

/// `ms` of a sine at `hz` in `format` wire bytes.
pub(super) fn tone_bytes(format: AudioFormat, hz: f64, ms: u32) -> Vec<u8> {
    let rate = format.sample_rate();
    let samples = tone::sine(
        hz,
        rate,
        (u64::from(rate) * u64::from(ms) / 1000) as usize,
        TONE_AMPLITUDE,
    );
    let mut bytes = Vec::with_capacity(samples.len() * 2);
    match format {
        AudioFormat::G711Ulaw => g711::encode_ulaw_into_vec(&samples, &mut bytes),
        AudioFormat::G711Alaw => g711::encode_alaw_into_vec(&samples, &mut bytes),
        AudioFormat::Pcm16 => bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes())),
    }
    bytes
}

/// A VAD transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VadEvent {
    /// Speech started at this audio time.
    Started {
        /// Start of the first speech frame, in ms.
        at_ms: u64,
    },
    /// Speech stopped.
    Stopped {
        /// Start of the first speech frame, in ms.
        start_ms: u64,
        /// End of the last speech frame, in ms.
        end_ms: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Speech {
    start_ms: u64,
    voiced_until_ms: u64,
}

/// Energy VAD over 20 ms frames.
#[derive(Debug)]
pub(super) struct Vad {
    threshold: f64,
    silence_ms: u64,
    frame: Vec<i16>,
    frame_len: usize,
    clock_ms: u64,
    speech: Option<Speech>,
}

impl Vad {
    pub(super) fn new(threshold: f64, silence_ms: u32, rate: u32) -> Vad {
        Vad {
            threshold,
            silence_ms: u64::from(silence_ms),
            frame: Vec::new(),
            frame_len: frame_len(rate),
            clock_ms: 0,
            speech: None,
        }
    }

    /// Switches to `rate`, dropping a partial frame and setting the clock to `now_ms`.
    pub(super) fn set_rate(&mut self, rate: u32, now_ms: u64) {
        self.frame.clear();
        self.frame_len = frame_len(rate);
        self.clock_ms = now_ms;
    }

    /// Feeds decoded samples; transitions go to `events`.
    pub(super) fn push(&mut self, samples: &[i16], events: &mut Vec<VadEvent>) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame_len - self.frame.len()).min(rest.len());
            self.frame.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.frame.len() == self.frame_len {
                self.frame_done(events);
                self.frame.clear();
            }
        }
    }

    fn frame_done(&mut self, events: &mut Vec<VadEvent>) {
        let start = self.clock_ms;
        let end = start + FRAME_MS;
        self.clock_ms = end;
        let voiced = tone::rms(&self.frame) >= self.threshold;
        match (&mut self.speech, voiced) {
            (None, true) => {
                self.speech = Some(Speech {
                    start_ms: start,
                    voiced_until_ms: end,
                });
                events.push(VadEvent::Started { at_ms: start });
            }
            (Some(speech), true) => speech.voiced_until_ms = end,
            (Some(speech), false)
                if end.saturating_sub(speech.voiced_until_ms) >= self.silence_ms =>
            {
                events.push(VadEvent::Stopped {
                    start_ms: speech.start_ms,
                    end_ms: speech.voiced_until_ms,
                });
                self.speech = None;
            }
            _ => {}
        }
    }

    /// Ends the current speech now (manual commit); returns `(start_ms, end_ms)`.
    pub(super) fn force_stop(&mut self) -> Option<(u64, u64)> {
        self.speech
            .take()
            .map(|speech| (speech.start_ms, self.clock_ms.max(speech.voiced_until_ms)))
    }

    /// Forgets any speech in progress (buffer cleared, VAD switched off).
    pub(super) fn forget_speech(&mut self) {
        self.speech = None;
    }
}

fn frame_len(rate: u32) -> usize {
    (u64::from(rate) * FRAME_MS / 1000).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_a_tone_between_silences_on_audio_time() {
        let mut vad = Vad::new(500.0, 300, 8000);
        let mut events = Vec::new();
        vad.push(&[0; 800], &mut events); // 100 ms silence
        vad.push(&tone::sine(1000.0, 8000, 9600, 3000.0), &mut events);
        vad.push(&[0; 2400], &mut events); // 300 ms silence
        assert_eq!(
            events,
            [
                VadEvent::Started { at_ms: 100 },
                VadEvent::Stopped {
                    start_ms: 100,
                    end_ms: 1300
                }
            ]
        );
    }

    #[test]
    fn tone_bytes_have_the_right_length() {
        assert_eq!(tone_bytes(AudioFormat::G711Ulaw, 440.0, 1500).len(), 12_000);
        assert_eq!(tone_bytes(AudioFormat::Pcm16, 440.0, 100).len(), 4_800);
        let mut pcm = Vec::new();
        decode(AudioFormat::Pcm16, &[1, 0, 0xff, 0xff, 7], &mut pcm);
        assert_eq!(pcm, [1, -1]);
    }
}
