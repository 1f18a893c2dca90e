//! Thin Opus wrappers over audiopus (libopus) for the supervisor paths: [`OpusEncoder`] turns
//! one 20 ms PCM16 frame into one packet, [`OpusDecoder`] turns one packet back into PCM16.
//! Both own their output buffers and hand out borrowed slices, so once built neither allocates
//! on the Rust side per frame (libopus itself works in the memory it got at creation).
//!
//! An Opus packet does not carry a sample rate: the encoder's rate is the rate of the PCM it is
//! fed and the decoder's rate is the rate it writes, and any encoder rate decodes at any decoder
//! rate (8, 12, 16, 24 or 48 kHz), libopus band-limiting and resampling inside. The supervisor
//! stages use that to stay at the call's 8 kHz without a resampler of their own.
//!
//! Encoders use [`Application::Voip`] rather than `LowDelay`: `LowDelay` is CELT-only and saves
//! 4 ms of look-ahead (2.5 ms instead of 6.5 ms at 20 ms frames), but gives up SILK, which codes
//! the narrowband speech of a phone call far better at a few tens of kbit/s. 4 ms is small next
//! to the 20 ms frame and a supervisor's network jitter; the intelligibility is not.

use audiopus::coder::{Decoder, Encoder, GenericCtl};
use audiopus::{Application, Bitrate, Channels, SampleRate};

use super::AudioError;

/// Duration of every frame the encoders take, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Size of the encoder's packet buffer: libopus' recommended upper bound for one packet.
pub const MAX_PACKET_BYTES: usize = 4000;

/// Longest audio one Opus packet can hold (a decoder buffer sized for it decodes any packet).
pub const MAX_PACKET_MS: u32 = 120;

/// The Opus sample rate for `rate_hz`, if Opus supports it.
fn opus_rate(rate_hz: u32) -> Option<SampleRate> {
    match rate_hz {
        8_000 => Some(SampleRate::Hz8000),
        12_000 => Some(SampleRate::Hz12000),
        16_000 => Some(SampleRate::Hz16000),
        24_000 => Some(SampleRate::Hz24000),
        48_000 => Some(SampleRate::Hz48000),
        _ => None,
    }
}

/// Validates an Opus rate/channel pair.
fn opus_format(rate_hz: u32, channels: usize) -> Result<(SampleRate, Channels), AudioError> {
    let channel_layout = match channels {
        1 => Some(Channels::Mono),
        2 => Some(Channels::Stereo),
        _ => None,
    };
    match (opus_rate(rate_hz), channel_layout) {
        (Some(rate), Some(layout)) => Ok((rate, layout)),
        _ => Err(AudioError::UnsupportedFormat {
            codec: "opus",
            rate_hz,
            channels,
        }),
    }
}

/// Samples (all channels, interleaved) in `ms` milliseconds at `rate_hz`.
fn samples_in(ms: u32, rate_hz: u32, channels: usize) -> usize {
    (rate_hz * ms / 1000) as usize * channels
}

/// Opus encoder for 20 ms frames of PCM16 (mono, or interleaved stereo).
pub struct OpusEncoder {
    inner: Encoder,
    rate_hz: u32,
    channels: usize,
    frame_len: usize,
    packet: Box<[u8]>,
    packet_len: usize,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("rate_hz", &self.rate_hz)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// Builds an encoder for PCM at `rate_hz` (8, 12, 16, 24 or 48 kHz) with 1 or 2 channels,
    /// at libopus' default bitrate; anything else is [`AudioError::UnsupportedFormat`].
    pub fn new(rate_hz: u32, channels: usize) -> Result<Self, AudioError> {
        let (rate, layout) = opus_format(rate_hz, channels)?;
        let inner = Encoder::new(rate, layout, Application::Voip)?;
        Ok(Self {
            inner,
            rate_hz,
            channels,
            frame_len: samples_in(FRAME_MS, rate_hz, channels),
            packet: vec![0; MAX_PACKET_BYTES].into_boxed_slice(),
            packet_len: 0,
        })
    }

    /// Input sample rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Channel count (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Samples [`encode`](Self::encode) takes per frame: 20 ms, all channels interleaved.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Sets the target bitrate in bits per second (libopus accepts 500 to 512,000).
    pub fn set_bitrate(&mut self, bits_per_second: i32) -> Result<(), AudioError> {
        self.inner
            .set_bitrate(Bitrate::BitsPerSecond(bits_per_second))?;
        Ok(())
    }

    /// The encoder's look-ahead in samples at its rate: how far decoded audio lags the input.
    pub fn lookahead(&self) -> Result<u32, AudioError> {
        Ok(self.inner.lookahead()?)
    }

    /// Encodes one 20 ms frame (exactly [`frame_len`](Self::frame_len) samples, interleaved if
    /// stereo) and returns the packet, borrowed from a buffer the next call overwrites.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<&[u8], AudioError> {
        if pcm.len() != self.frame_len {
            return Err(AudioError::FrameLength {
                expected: self.frame_len,
                got: pcm.len(),
            });
        }
        self.packet_len = self.inner.encode(pcm, &mut self.packet)?;
        Ok(&self.packet[..self.packet_len.min(self.packet.len())])
    }

    /// Returns the encoder to its freshly built state (a new stream starts).
    pub fn reset(&mut self) -> Result<(), AudioError> {
        Ok(self.inner.reset_state()?)
    }
}

/// Opus decoder writing PCM16 (mono, or interleaved stereo) at a fixed rate.
pub struct OpusDecoder {
    inner: Decoder,
    rate_hz: u32,
    channels: usize,
    pcm: Box<[i16]>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("rate_hz", &self.rate_hz)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// Builds a decoder writing PCM at `rate_hz` (8, 12, 16, 24 or 48 kHz) with 1 or 2
    /// channels; anything else is [`AudioError::UnsupportedFormat`]. It decodes packets from an
    /// encoder at any rate and with either channel count (libopus up- or down-mixes).
    pub fn new(rate_hz: u32, channels: usize) -> Result<Self, AudioError> {
        let (rate, layout) = opus_format(rate_hz, channels)?;
        let inner = Decoder::new(rate, layout)?;
        Ok(Self {
            inner,
            rate_hz,
            channels,
            pcm: vec![0; samples_in(MAX_PACKET_MS, rate_hz, channels)].into_boxed_slice(),
        })
    }

    /// Output sample rate in Hz.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Channel count (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet and returns its PCM (interleaved if stereo), borrowed from a buffer
    /// the next call overwrites. Any packet duration Opus allows (2.5 to 120 ms) decodes; a
    /// 20 ms packet gives 20 ms. A corrupt or empty packet is [`AudioError::Opus`] and leaves
    /// the decoder usable for the next one.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], AudioError> {
        let per_channel = self.inner.decode(Some(packet), &mut self.pcm[..], false)?;
        let len = (per_channel * self.channels).min(self.pcm.len());
        Ok(&self.pcm[..len])
    }

    /// Returns the decoder to its freshly built state (a new stream starts).
    pub fn reset(&mut self) -> Result<(), AudioError> {
        Ok(self.inner.reset_state()?)
    }
}

#[cfg(test)]
#[path = "opus_tests.rs"]
mod tests;
