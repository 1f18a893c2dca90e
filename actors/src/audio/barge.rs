//! What a supervisor says, on its way to the caller: [`SupervisorInput`] decodes the
//! supervisor's packets (Opus or PCM16), brings them to the call's 8 kHz and queues them;
//! the call takes 20 ms frames out on its own clock and mixes them into what the caller hears
//! with [`mix_into`] (PCM) or [`mix_into_ulaw`] (a Twilio µ-law frame in place).
//!
//! * **Opus** is decoded by libopus straight at 8 kHz (an Opus packet decodes at any rate;
//!   libopus band-limits inside), so this path adds no resampler and no filter delay.
//! * **PCM16** at 16, 24 or 48 kHz goes through the call path's [`Resampler`] (10 ms filter
//!   delay); at 8 kHz it is queued as it is.
//!
//! The queue holds at most [`MAX_QUEUED_MS`] of audio. The supervisor's packets arrive in
//! network bursts while the call consumes one frame per 20 ms tick; when a burst overfills the
//! queue the *oldest* audio is dropped (and counted), so what the caller hears never lags the
//! supervisor by more than the bound. Mixing saturates: loud audio clips, it never wraps around.
//!
//! After construction neither [`SupervisorInput::push`] nor [`SupervisorInput::pop_frame`]
//! allocates.

use std::collections::VecDeque;

use super::opus::OpusDecoder;
use super::{AudioError, Resampler, g711};

/// Samples in one 20 ms frame at the call's 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// The longest audio the queue holds; beyond it the oldest is dropped.
pub const MAX_QUEUED_MS: u64 = 100;

/// The call's sample rate.
const CALL_RATE_HZ: u32 = 8_000;

/// Queue capacity in 8 kHz samples.
const MAX_QUEUED_SAMPLES: usize = (MAX_QUEUED_MS as usize) * 8;

/// PCM16 samples converted per step (20 ms at 48 kHz), so a push of any size works through
/// fixed buffers.
const PCM_STEP: usize = 960;

/// The codec of a supervisor's incoming audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupervisorCodec {
    /// One Opus packet per push (mono).
    Opus,
    /// 16-bit little-endian mono PCM, any whole number of samples per push.
    Pcm16,
}

/// How incoming packets become 8 kHz samples.
enum Source {
    Opus(OpusDecoder),
    Pcm16 {
        /// `None` at 8 kHz (boxed: a resampler is about 0.5 KB).
        down: Option<Box<Resampler>>,
        /// One step of converted samples.
        scratch: Box<[i16; PCM_STEP]>,
    },
}

/// A supervisor's incoming audio: decoder, resampler to 8 kHz and a bounded FIFO of 8 kHz
/// samples that the call drains one 20 ms frame at a time.
pub struct SupervisorInput {
    codec: SupervisorCodec,
    rate_hz: u32,
    source: Source,
    queue: VecDeque<i16>,
    dropped_samples: u64,
}

impl std::fmt::Debug for SupervisorInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorInput")
            .field("codec", &self.codec)
            .field("rate_hz", &self.rate_hz)
            .field("queued", &self.queue.len())
            .field("dropped_samples", &self.dropped_samples)
            .finish_non_exhaustive()
    }
}

impl SupervisorInput {
    /// Builds the input for `codec` at `rate_hz`: Opus at 16000 or 48000 (mono), PCM16 at
    /// 8000, 16000, 24000 or 48000 (mono, little-endian). Others are
    /// [`AudioError::UnsupportedFormat`].
    pub fn new(codec: SupervisorCodec, rate_hz: u32) -> Result<Self, AudioError> {
        let supported = match codec {
            SupervisorCodec::Opus => matches!(rate_hz, 16_000 | 48_000),
            SupervisorCodec::Pcm16 => matches!(rate_hz, 8_000 | 16_000 | 24_000 | 48_000),
        };
        if !supported {
            return Err(AudioError::UnsupportedFormat {
                codec: match codec {
                    SupervisorCodec::Opus => "opus",
                    SupervisorCodec::Pcm16 => "pcm16",
                },
                rate_hz,
                channels: 1,
            });
        }
        let source = match codec {
            // The packets' own rate does not matter to the decoder: decode at the call's rate.
            SupervisorCodec::Opus => Source::Opus(OpusDecoder::new(CALL_RATE_HZ, 1)?),
            SupervisorCodec::Pcm16 => Source::Pcm16 {
                down: if rate_hz == CALL_RATE_HZ {
                    None
                } else {
                    Some(Box::new(Resampler::new(rate_hz, CALL_RATE_HZ)?))
                },
                scratch: Box::new([0; PCM_STEP]),
            },
        };
        Ok(Self {
            codec,
            rate_hz,
            source,
            // `enqueue` appends at most the bound before trimming back to it.
            queue: VecDeque::with_capacity(2 * MAX_QUEUED_SAMPLES),
            dropped_samples: 0,
        })
    }

    /// The incoming codec.
    pub fn codec(&self) -> SupervisorCodec {
        self.codec
    }

    /// The incoming sample rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Decodes one packet (one Opus packet, or any whole number of PCM16 samples), resamples
    /// it to 8 kHz and queues it, dropping the oldest queued audio beyond [`MAX_QUEUED_MS`].
    ///
    /// A malformed packet (corrupt or empty Opus, PCM16 with an odd byte count) is an error
    /// and queues nothing; the input stays usable for the next packet. An empty PCM16 packet
    /// queues nothing and is not an error.
    pub fn push(&mut self, packet: &[u8]) -> Result<(), AudioError> {
        match &mut self.source {
            Source::Opus(decoder) => {
                let pcm = decoder.decode(packet)?;
                enqueue(&mut self.queue, &mut self.dropped_samples, pcm);
            }
            Source::Pcm16 { down, scratch } => {
                if !packet.len().is_multiple_of(2) {
                    return Err(AudioError::BadPacket(
                        "PCM16 payload is not a whole number of samples",
                    ));
                }
                for bytes in packet.chunks(PCM_STEP * 2) {
                    let n = bytes.len() / 2;
                    for (s, b) in scratch.iter_mut().zip(bytes.chunks_exact(2)) {
                        *s = i16::from_le_bytes([b[0], b[1]]);
                    }
                    let pcm = &scratch[..n];
                    match down {
                        Some(down) => {
                            let out = down.push(pcm);
                            enqueue(&mut self.queue, &mut self.dropped_samples, out);
                        }
                        None => enqueue(&mut self.queue, &mut self.dropped_samples, pcm),
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the next 20 ms (160 samples at 8 kHz) into `out` and returns `true` if a whole
    /// frame is queued; otherwise leaves `out` and the queue alone and returns `false`.
    pub fn pop_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        if self.queue.len() < FRAME_SAMPLES {
            return false;
        }
        for (o, s) in out.iter_mut().zip(self.queue.drain(..FRAME_SAMPLES)) {
            *o = s;
        }
        true
    }

    /// Audio waiting in the queue, in whole milliseconds.
    pub fn queued_ms(&self) -> u64 {
        self.queue.len() as u64 / 8
    }

    /// Audio dropped so far because the queue was full, in whole milliseconds.
    pub fn dropped_ms(&self) -> u64 {
        self.dropped_samples / 8
    }

    /// Forgets queued audio and decoder/resampler state (the supervisor stopped talking or
    /// reconnected); the drop count is kept.
    pub fn reset(&mut self) -> Result<(), AudioError> {
        self.queue.clear();
        match &mut self.source {
            Source::Opus(decoder) => decoder.reset()?,
            Source::Pcm16 { down, .. } => {
                if let Some(down) = down {
                    down.reset();
                }
            }
        }
        Ok(())
    }
}

/// Appends `pcm` to `queue`, then drops the oldest samples beyond the bound.
fn enqueue(queue: &mut VecDeque<i16>, dropped: &mut u64, pcm: &[i16]) {
    // A piece longer than the bound keeps only its newest part.
    let keep = pcm.len().min(MAX_QUEUED_SAMPLES);
    *dropped += (pcm.len() - keep) as u64;
    queue.extend(&pcm[pcm.len() - keep..]);
    let over = queue.len().saturating_sub(MAX_QUEUED_SAMPLES);
    if over > 0 {
        queue.drain(..over);
        *dropped += over as u64;
    }
}

/// Saturating mix of `add` into `into`, sample by sample (`i16::saturating_add`), over the
/// shorter of the two.
pub fn mix_into(into: &mut [i16], add: &[i16]) {
    for (d, a) in into.iter_mut().zip(add) {
        *d = d.saturating_add(*a);
    }
}

/// Mixes 8 kHz PCM `add` into a µ-law frame in place (decode, saturating add, encode), over the
/// shorter of the two. Where `add` is silent the µ-law codes come back unchanged (except the
/// redundant "-0" code `0x7F`, which becomes `0xFF`).
pub fn mix_into_ulaw(ulaw: &mut [u8], add: &[i16]) {
    for (code, a) in ulaw.iter_mut().zip(add) {
        let mixed = g711::ulaw_to_linear(*code).saturating_add(*a);
        *code = g711::linear_to_ulaw(mixed);
    }
}

#[cfg(test)]
#[path = "barge_tests.rs"]
mod tests;
