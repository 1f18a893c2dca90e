//! The single error type shared by the audio stages.

/// Errors produced by the audio stages.
///
/// The telephony per-frame paths (G.711 conversion, [`Resampler::push`](super::Resampler::push))
/// never fail; errors come from construction, from the recorder's file IO, and from the
/// supervisor stages fed by a remote client (a malformed packet, an oversized frame), where an
/// error rejects that one input and leaves the stage usable.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The requested sample-rate pair is not one of the supported fixed ratios.
    #[error("unsupported sample rate conversion {from} Hz -> {to} Hz")]
    UnsupportedRate {
        /// Input sample rate in Hz.
        from: u32,
        /// Output sample rate in Hz.
        to: u32,
    },
    /// rubato refused to build or run a resampler.
    #[error("resampler error: {0}")]
    Resampler(String),
    /// WAV encoding failed (hound).
    #[error("wav error: {0}")]
    Wav(#[from] hound::Error),
    /// Plain IO failure.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// A codec, rate or channel count a stage does not support (e.g. Opus at 24 kHz, a PCM16
    /// monitor at 44.1 kHz, three channels).
    #[error("unsupported {codec} format: {rate_hz} Hz, {channels} channel(s)")]
    UnsupportedFormat {
        /// The codec asked for (`"opus"` or `"pcm16"`).
        codec: &'static str,
        /// Sample rate in Hz.
        rate_hz: u32,
        /// Channel count.
        channels: usize,
    },
    /// A PCM frame of the wrong length was handed to a stage that works in whole 20 ms frames.
    #[error("frame of {got} samples, expected {expected}")]
    FrameLength {
        /// The frame length the stage works with (samples, all channels interleaved).
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// libopus (through audiopus) failed: a corrupt or empty packet on decode, a bad argument.
    #[error("opus error: {0}")]
    Opus(#[from] audiopus::Error),
    /// An incoming packet that is not valid for its codec, e.g. PCM16 with an odd byte count.
    #[error("bad packet: {0}")]
    BadPacket(&'static str),
}
