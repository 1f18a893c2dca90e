//! What a supervisor hears: [`MonitorEncoder`] turns one 20 ms frame of each side of a call
//! (caller and agent, 8 kHz mono PCM16) into one frame of the supervisor's format, either an Opus
//! packet or raw PCM16, as a mono mix of both sides or as stereo (caller left, agent right).
//!
//! * **PCM16** at 16 or 48 kHz is upsampled with the call path's own [`Resampler`] (one per
//!   channel for stereo), so it lags the call by the resampler's 10 ms filter delay; at 8 kHz it
//!   is the call's samples as they are.
//! * **Opus** is encoded straight from the 8 kHz samples. An Opus packet carries no sample rate:
//!   the supervisor's decoder, running at the format's `rate_hz` (16 or 48 kHz), resamples inside
//!   libopus. Upsampling first would add the resampler's 10 ms delay and hand the encoder 48 kHz
//!   of audio that holds nothing above 4 kHz; fed at 8 kHz the encoder codes narrowband SILK at
//!   about half the bitrate. The price is CPU at libopus' default complexity (10): measured on
//!   a busy 2-core machine, about 100 µs per frame for SILK at 8 kHz against about 60 µs for
//!   the same tones upsampled to 48 kHz (coded as CELT); at complexity 5 the 8 kHz encoder
//!   takes about 55 µs.
//!
//! The mix is a saturating sum of the two sides: loud speech on both sides clips instead of
//! wrapping around. After construction [`MonitorEncoder::encode`] does not allocate.

use super::opus::OpusEncoder;
use super::{AudioError, Resampler};

/// Samples in one 20 ms frame of the call's 8 kHz audio.
pub const CALL_FRAME_SAMPLES: usize = 160;

/// The call's sample rate.
const CALL_RATE_HZ: u32 = 8_000;

/// Opus target bitrate of a mono mix (bits/s). Narrowband SILK takes what it needs below it:
/// about 12 kbit/s for the tests' tones, where libopus' automatic target (11 kbit/s at 8 kHz)
/// gives about 7.
pub const OPUS_MIX_BITRATE: i32 = 24_000;

/// Opus target bitrate of a stereo monitor (bits/s; about 21 kbit/s are used for the tests'
/// tones). At libopus' automatic target (19 kbit/s for 8 kHz stereo) a caller tone left and an
/// agent tone right no longer come back at their level in their own channel; with the tests'
/// tones, a 24 kbit/s target leaks one side into the other at -40 dB, 40 kbit/s at -47 dB.
pub const OPUS_STEREO_BITRATE: i32 = 40_000;

/// How the supervisor's stream is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonitorCodec {
    /// One Opus packet per 20 ms frame.
    Opus,
    /// Raw 16-bit little-endian PCM, 20 ms per frame.
    Pcm16,
}

/// How the two sides of the call are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonitorLayout {
    /// One channel: caller and agent mixed.
    Mix,
    /// Two channels: caller left, agent right (interleaved for PCM16).
    Stereo,
}

/// A supervisor's listening format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorFormat {
    /// Opus or raw PCM16.
    pub codec: MonitorCodec,
    /// Opus: the rate the supervisor decodes at, 16000 or 48000. PCM16: the rate of the
    /// samples sent, 8000, 16000 or 48000.
    pub rate_hz: u32,
    /// Mono mix or stereo.
    pub layout: MonitorLayout,
}

impl MonitorFormat {
    /// Channels in the stream (1 for [`MonitorLayout::Mix`], 2 for [`MonitorLayout::Stereo`]).
    pub fn channels(&self) -> usize {
        match self.layout {
            MonitorLayout::Mix => 1,
            MonitorLayout::Stereo => 2,
        }
    }

    /// Whether this codec/rate pair is supported.
    pub fn is_supported(&self) -> bool {
        match self.codec {
            MonitorCodec::Opus => matches!(self.rate_hz, 16_000 | 48_000),
            MonitorCodec::Pcm16 => matches!(self.rate_hz, 8_000 | 16_000 | 48_000),
        }
    }

    /// Bytes of one PCM16 frame (20 ms, all channels) in this format.
    pub fn pcm16_frame_bytes(&self) -> usize {
        self.rate_hz as usize / 50 * self.channels() * 2
    }
}

/// The codec half of the encoder.
enum Output {
    Opus(OpusEncoder),
    Pcm16 {
        /// One per channel; `None` at 8 kHz (no conversion). Boxed: a resampler is about
        /// 0.5 KB.
        left: Option<Box<Resampler>>,
        right: Option<Box<Resampler>>,
    },
}

/// Encodes both sides of a call into the supervisor's format, one 20 ms frame at a time.
pub struct MonitorEncoder {
    format: MonitorFormat,
    output: Output,
    caller: [i16; CALL_FRAME_SAMPLES],
    agent: [i16; CALL_FRAME_SAMPLES],
    /// Samples handed to the codec: the mix, or the interleaved stereo frame.
    pcm: Vec<i16>,
    /// PCM16 output bytes.
    bytes: Vec<u8>,
}

impl std::fmt::Debug for MonitorEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorEncoder")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl MonitorEncoder {
    /// Builds an encoder for `format`: Opus at 16000 or 48000 Hz, PCM16 at 8000, 16000 or
    /// 48000 Hz, either layout. Other rates are [`AudioError::UnsupportedFormat`].
    pub fn new(format: MonitorFormat) -> Result<Self, AudioError> {
        let channels = format.channels();
        if !format.is_supported() {
            return Err(AudioError::UnsupportedFormat {
                codec: match format.codec {
                    MonitorCodec::Opus => "opus",
                    MonitorCodec::Pcm16 => "pcm16",
                },
                rate_hz: format.rate_hz,
                channels,
            });
        }
        let output = match format.codec {
            MonitorCodec::Opus => {
                let mut encoder = OpusEncoder::new(CALL_RATE_HZ, channels)?;
                encoder.set_bitrate(match format.layout {
                    MonitorLayout::Mix => OPUS_MIX_BITRATE,
                    MonitorLayout::Stereo => OPUS_STEREO_BITRATE,
                })?;
                Output::Opus(encoder)
            }
            MonitorCodec::Pcm16 => {
                let upsampler = || -> Result<Option<Box<Resampler>>, AudioError> {
                    if format.rate_hz == CALL_RATE_HZ {
                        Ok(None)
                    } else {
                        Resampler::new(CALL_RATE_HZ, format.rate_hz).map(|up| Some(Box::new(up)))
                    }
                };
                Output::Pcm16 {
                    left: upsampler()?,
                    right: match format.layout {
                        MonitorLayout::Mix => None,
                        MonitorLayout::Stereo => upsampler()?,
                    },
                }
            }
        };
        let out_samples = format.rate_hz as usize / 50 * channels;
        Ok(Self {
            format,
            output,
            caller: [0; CALL_FRAME_SAMPLES],
            agent: [0; CALL_FRAME_SAMPLES],
            pcm: Vec::with_capacity(out_samples.max(CALL_FRAME_SAMPLES * channels)),
            bytes: Vec::with_capacity(out_samples * 2),
        })
    }

    /// The format this encoder produces.
    pub fn format(&self) -> MonitorFormat {
        self.format
    }

    /// Encodes one 20 ms frame of each side at 8 kHz and returns one Opus packet, or the
    /// PCM16 little-endian bytes of 20 ms at the format's rate (interleaved caller/agent for
    /// stereo). The slice borrows a buffer the next call overwrites.
    ///
    /// Each side is 160 samples; an empty side (nobody speaking, a side not started yet) is
    /// silence, and a shorter one is padded with silence. A side longer than 160 samples is
    /// [`AudioError::FrameLength`].
    pub fn encode(&mut self, caller: &[i16], agent: &[i16]) -> Result<&[u8], AudioError> {
        stage(&mut self.caller, caller)?;
        stage(&mut self.agent, agent)?;
        self.pcm.clear();
        match &mut self.output {
            Output::Opus(encoder) => {
                match self.format.layout {
                    MonitorLayout::Mix => self.pcm.extend(
                        self.caller
                            .iter()
                            .zip(&self.agent)
                            .map(|(c, a)| c.saturating_add(*a)),
                    ),
                    MonitorLayout::Stereo => interleave(&mut self.pcm, &self.caller, &self.agent),
                }
                encoder.encode(&self.pcm)
            }
            Output::Pcm16 { left, right } => {
                match self.format.layout {
                    MonitorLayout::Mix => {
                        let mut mix = [0i16; CALL_FRAME_SAMPLES];
                        for ((m, c), a) in mix.iter_mut().zip(&self.caller).zip(&self.agent) {
                            *m = c.saturating_add(*a);
                        }
                        match left {
                            Some(up) => self.pcm.extend_from_slice(up.push(&mix)),
                            None => self.pcm.extend_from_slice(&mix),
                        }
                    }
                    MonitorLayout::Stereo => match (left, right) {
                        (Some(up_left), Some(up_right)) => {
                            let l = up_left.push(&self.caller);
                            let r = up_right.push(&self.agent);
                            interleave(&mut self.pcm, l, r);
                        }
                        _ => interleave(&mut self.pcm, &self.caller, &self.agent),
                    },
                }
                self.bytes.clear();
                for s in &self.pcm {
                    self.bytes.extend_from_slice(&s.to_le_bytes());
                }
                Ok(&self.bytes)
            }
        }
    }
}

/// Copies one side's frame into `dst`, padding with silence; errors if it is too long.
fn stage(dst: &mut [i16; CALL_FRAME_SAMPLES], src: &[i16]) -> Result<(), AudioError> {
    if src.len() > CALL_FRAME_SAMPLES {
        return Err(AudioError::FrameLength {
            expected: CALL_FRAME_SAMPLES,
            got: src.len(),
        });
    }
    let (head, tail) = dst.split_at_mut(src.len());
    head.copy_from_slice(src);
    tail.fill(0);
    Ok(())
}

/// Appends `left` and `right` to `out` as interleaved stereo (pairs up to the shorter side).
fn interleave(out: &mut Vec<i16>, left: &[i16], right: &[i16]) {
    for (l, r) in left.iter().zip(right) {
        out.push(*l);
        out.push(*r);
    }
}

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;
