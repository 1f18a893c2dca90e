//! Fixed-ratio mono resampling between 8 kHz telephony audio and the wideband
//! rates (16, 24 and 48 kHz), built on rubato's synchronous FFT resampler, except
//! 8 -> 16 kHz (every recording, both sides, every frame), which is an exact 2x
//! half-band interpolation ([`super::halfband`]) with the same chunks and delay at a
//! tenth of the cost.
//!
//! The resampler works in chunks of 20 ms of *input* (160 frames at 8 kHz,
//! 480 at 24 kHz, ...), one FFT block per chunk (`FixedSync::Both`). Input of
//! any length is accepted: samples are staged until a whole chunk is
//! available, so a 20 ms push produces exactly one 20 ms output chunk and
//! other sizes produce 0, 1 or more chunks.
//!
//! Latency has two parts: the staging of a partial chunk (nothing when input
//! arrives in 20 ms frames), and the FFT filter delay reported by
//! [`Resampler::delay_frames`] (half an output FFT block, i.e. 10 ms): the
//! first `delay_frames()` output samples of a stream are the filter's start-up
//! silence, and input sample `i` reappears at output index
//! `i * to_hz / from_hz + delay_frames()`.
//!
//! After construction no call to [`Resampler::push`] allocates as long as a
//! push produces at most [`PRESIZED_CHUNKS`] chunks (200 ms); a bigger push
//! grows the reused output vector once.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use super::AudioError;
use super::halfband::HalfbandUp2;

/// The narrowband rate every supported conversion starts or ends at.
pub const NARROWBAND_HZ: u32 = 8_000;

/// The wideband rates that can be paired with [`NARROWBAND_HZ`].
pub const WIDEBAND_RATES: [u32; 3] = [16_000, 24_000, 48_000];

/// Output chunks the internal output vector is sized for up front.
pub const PRESIZED_CHUNKS: usize = 10;

const PCM_SCALE: f32 = 32_768.0;

/// Mono i16 fixed-ratio resampler (8 kHz <-> 16/24/48 kHz), push-style.
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    inner: Inner,
    chunk_in: usize,
    chunk_out: usize,
    /// One input chunk being filled (f32, scaled to [-1, 1)).
    staged: Vec<f32>,
    staged_len: usize,
    /// rubato's output for one chunk.
    chunk_buf: Vec<f32>,
    /// Output produced by the current push.
    out: Vec<i16>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("chunk_in", &self.chunk_in)
            .field("chunk_out", &self.chunk_out)
            .field("staged_len", &self.staged_len)
            .finish_non_exhaustive()
    }
}

/// What converts one chunk.
enum Inner {
    Fft(Box<Fft<f32>>),
    /// 8 -> 16 kHz, delayed by half an output chunk as the FFT conversions are.
    Halfband(Box<HalfbandUp2>),
}

/// Whether `from_hz -> to_hz` is one of the supported conversions.
pub fn is_supported(from_hz: u32, to_hz: u32) -> bool {
    (from_hz == NARROWBAND_HZ && WIDEBAND_RATES.contains(&to_hz))
        || (to_hz == NARROWBAND_HZ && WIDEBAND_RATES.contains(&from_hz))
}

impl Resampler {
    /// Builds a resampler for `from_hz -> to_hz`.
    ///
    /// Supported pairs: 8000 <-> 16000, 24000, 48000. Anything else is
    /// [`AudioError::UnsupportedRate`].
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        if !is_supported(from_hz, to_hz) {
            return Err(AudioError::UnsupportedRate {
                from: from_hz,
                to: to_hz,
            });
        }
        let chunk = from_hz as usize / 50;
        let (inner, chunk_in, chunk_out) = if (from_hz, to_hz) == (NARROWBAND_HZ, 16_000) {
            // The FFT conversions' delay: half an output chunk (10 ms).
            let delay_in = chunk / 2;
            let filter = Box::new(HalfbandUp2::new(delay_in));
            (Inner::Halfband(filter), chunk, 2 * chunk)
        } else {
            let fft = Fft::<f32>::new(from_hz as usize, to_hz as usize, chunk, 1, FixedSync::Both)
                .map_err(|e| AudioError::Resampler(e.to_string()))?;
            let (chunk_in, chunk_out) = (fft.input_frames_next(), fft.output_frames_next());
            (Inner::Fft(Box::new(fft)), chunk_in, chunk_out)
        };
        Ok(Self {
            from_hz,
            to_hz,
            inner,
            chunk_in,
            chunk_out,
            staged: vec![0.0; chunk_in],
            staged_len: 0,
            chunk_buf: vec![0.0; chunk_out],
            out: Vec::with_capacity(chunk_out * PRESIZED_CHUNKS),
        })
    }

    /// Input sample rate in Hz.
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// Output sample rate in Hz.
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Input frames per processing chunk (20 ms of input).
    pub fn chunk_in(&self) -> usize {
        self.chunk_in
    }

    /// Output frames per processing chunk (20 ms of output).
    pub fn chunk_out(&self) -> usize {
        self.chunk_out
    }

    /// Input frames staged and waiting for a full chunk.
    pub fn staged_frames(&self) -> usize {
        self.staged_len
    }

    /// The FFT filter delay in *output* frames: the number of leading output
    /// samples of a stream that precede the first input sample (10 ms).
    pub fn delay_frames(&self) -> usize {
        match &self.inner {
            Inner::Fft(fft) => fft.output_delay(),
            Inner::Halfband(_) => self.chunk_out / 2,
        }
    }

    /// Feeds `input` (any length) and returns the output produced by this
    /// push: a whole number of output chunks, possibly none.
    ///
    /// The returned slice borrows an internal buffer that the next push
    /// overwrites.
    pub fn push(&mut self, input: &[i16]) -> &[i16] {
        self.out.clear();
        let mut rest = input;
        while !rest.is_empty() {
            let take = (self.chunk_in - self.staged_len).min(rest.len());
            let (now, later) = rest.split_at(take);
            let dst = &mut self.staged[self.staged_len..self.staged_len + take];
            for (d, &s) in dst.iter_mut().zip(now) {
                *d = f32::from(s) / PCM_SCALE;
            }
            self.staged_len += take;
            rest = later;
            if self.staged_len == self.chunk_in {
                self.process_chunk();
                self.staged_len = 0;
            }
        }
        &self.out
    }

    /// Clears all state (staged input, filter memory): the next push starts a
    /// fresh stream, including the start-up delay.
    pub fn reset(&mut self) {
        match &mut self.inner {
            Inner::Fft(fft) => fft.reset(),
            Inner::Halfband(filter) => filter.reset(),
        }
        self.staged_len = 0;
        self.out.clear();
    }

    /// Resamples the full staged chunk and appends it to `out` as i16.
    fn process_chunk(&mut self) {
        let produced = match &mut self.inner {
            Inner::Halfband(filter) => {
                filter.process(&self.staged, &mut self.chunk_buf);
                Some(self.chunk_out)
            }
            Inner::Fft(fft) => match (
                InterleavedSlice::new(&self.staged[..], 1, self.chunk_in),
                InterleavedSlice::new_mut(&mut self.chunk_buf[..], 1, self.chunk_out),
            ) {
                (Ok(input), Ok(mut output)) => fft
                    .process_into_buffer(&input, &mut output, None)
                    .map(|(_, frames_out)| frames_out)
                    .ok(),
                _ => None,
            },
        };
        match produced {
            Some(frames) => {
                let frames = frames.min(self.chunk_out);
                self.out
                    .extend(self.chunk_buf[..frames].iter().map(|&x| to_i16(x)));
            }
            // Unreachable by construction (buffers are sized from the
            // resampler itself); keep the timeline intact with silence.
            None => self.out.extend(std::iter::repeat_n(0, self.chunk_out)),
        }
    }
}

/// Converts a float sample in [-1, 1) back to i16, rounded to nearest (ties to even) and
/// saturated.
///
/// Rounding adds and takes away 1.5 * 2^23: the sum has no fraction bits left, so the FPU's
/// round-to-nearest does the rounding. `f32::round` is a libm call on baseline x86-64 (no
/// SSE4.1), and was 6% of the frame-path bench; this is two additions that vectorize.
#[inline]
fn to_i16(x: f32) -> i16 {
    const ROUNDER: f32 = 12_582_912.0;
    let clamped = (x * PCM_SCALE).clamp(-PCM_SCALE, PCM_SCALE - 1.0);
    ((clamped + ROUNDER) - ROUNDER) as i16
}

#[cfg(test)]
#[path = "resample_tests.rs"]
mod tests;
