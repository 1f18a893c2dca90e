//! Audio stages for Switchboard's media path.
//!
//! Twilio Media Streams carry 8 kHz mono G.711 mu-law in 20 ms frames of 160
//! bytes; OpenAI Realtime takes either mu-law as-is or PCM16 at 24 kHz; a
//! supervisor listening in or barging in on a call receives and sends Opus or
//! PCM16 at wideband rates. The stages here are plain synchronous structs with
//! push-style APIs that do not allocate per frame once warm:
//!
//! * [`g711`]: mu-law and A-law encode/decode into caller buffers.
//! * [`resample`]: [`Resampler`], fixed-ratio 8 kHz <-> 16/24/48 kHz (rubato FFT; 8 -> 16 kHz
//!   by the half-band interpolator of [`halfband`]).
//! * [`recorder`]: [`CallRecorder`], a two-channel WAV (caller left, agent
//!   right) aligned on the call clock.
//! * [`opus`]: [`OpusEncoder`] / [`OpusDecoder`], 20 ms Opus frames with reused buffers.
//! * [`monitor`]: [`MonitorEncoder`], what a supervisor hears: both sides of a call as
//!   an Opus or PCM16 stream, mixed or stereo (caller left, agent right).
//! * [`barge`]: [`SupervisorInput`], what a supervisor says: decoded, brought to 8 kHz and
//!   queued (bounded) for the call to mix into the caller's audio with [`mix_into`] /
//!   [`mix_into_ulaw`].
//! * [`tone`]: synthetic tones and spectral measurements for tests.
//!
//! Typical inbound path (Twilio -> OpenAI PCM16):
//!
//! ```
//! use switchboard_actors::audio::{g711, Resampler};
//!
//! let mut up = Resampler::new(8_000, 24_000)?;
//! let mut pcm8k = [0i16; 160];
//! let frame = [0xFFu8; 160]; // one 20 ms mu-law frame of silence
//! g711::decode_ulaw(&frame, &mut pcm8k);
//! let pcm24k: &[i16] = up.push(&pcm8k);
//! assert_eq!(pcm24k.len(), 480);
//! # Ok::<(), switchboard_actors::audio::AudioError>(())
//! ```

pub mod barge;
pub mod error;
pub mod g711;
pub mod halfband;
pub mod monitor;
pub mod opus;
pub mod recorder;
pub mod resample;
pub mod tone;

pub use barge::{MAX_QUEUED_MS, SupervisorCodec, SupervisorInput, mix_into, mix_into_ulaw};
pub use error::AudioError;
pub use monitor::{MonitorCodec, MonitorEncoder, MonitorFormat, MonitorLayout};
pub use opus::{OpusDecoder, OpusEncoder};
pub use recorder::{CallRecorder, DEFAULT_RECORDING_RATE, RecorderOptions, RecordingInfo};
pub use resample::Resampler;
