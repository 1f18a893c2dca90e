//! The single error type shared by the audio stages.

/// Errors produced by the audio stages.
///
/// The per-frame paths (G.711 conversion, [`Resampler::push`](super::Resampler::push))
/// never fail; errors come from construction and from the recorder's file IO.
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
}
