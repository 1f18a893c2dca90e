//! Dual-channel call recording: left = caller, right = agent (AI), PCM16 WAV
//! at a configurable rate (default 16 kHz), aligned on the call clock.
//!
//! # Design
//!
//! Both sides arrive as 8 kHz mono PCM stamped with `at_ms`, their position in
//! milliseconds from call start. The recorder keeps, per channel, a ring
//! buffer of 8 kHz samples covering the *window* `[flushed, flushed + window)`
//! of the call timeline (default 2 s):
//!
//! * **Placement.** A write lands at sample `at_ms * 8`. It *overwrites*
//!   whatever that channel held there (last write wins; unwritten time is
//!   zeros, so where a side is silent its channel is silent). Parts of a write
//!   that fall before `flushed` are too late and are dropped.
//! * **Flushing.** Everything before `min(caller_end, agent_end)` (both sides
//!   have passed it) is flushed: both channels' samples go, in lockstep,
//!   through that channel's own 8 kHz -> output-rate [`Resampler`] and are
//!   written interleaved to the WAV. When a write would reach past the window
//!   (one side leads the other by more than the window, e.g. the agent is
//!   quiet or the caller is on hold), the oldest audio is flushed to make
//!   room and the lagging side is recorded as silence there.
//! * **Resampling.** Both resamplers see identical input lengths, so they
//!   emit identical output lengths; their common filter delay (10 ms) is cut
//!   from the start of the file, and [`CallRecorder::finalize`] pushes silence
//!   to drain the tail. The file is exactly as long as the furthest audio
//!   written by either side.
//!
//! The window should cover how far ahead of the caller the agent's audio can
//! be stamped (the AI often delivers audio faster than real time); 2 s is the
//! default, [`RecorderOptions::window_ms`] changes it. Memory is
//! `2 * window * 8 kHz * 2 bytes` (64 KB for 2 s).
//!
//! # Errors and cost
//!
//! The recorder is synchronous; call it off the async runtime. Writes do not
//! return errors: the first IO/WAV error is kept, later writes are ignored,
//! and [`CallRecorder::finalize`] reports it ([`CallRecorder::failed`] shows
//! it early). Once warm, writes of 20 ms frames do not allocate. A recorder
//! dropped without `finalize` leaves a WAV whose header hound updates on drop
//! but loses the audio still in the window. WAV caps data at 4 GiB (about
//! 18.6 hours of stereo 16 kHz, 6.2 hours at 48 kHz); audio stamped past that
//! is dropped, which also stops a bogus `at_ms` from filling the disk with
//! silence beyond it.

use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::AudioError;
use super::resample::{NARROWBAND_HZ, Resampler, is_supported};

/// Default recording sample rate.
pub const DEFAULT_RECORDING_RATE: u32 = 16_000;
/// Default look-ahead window (how far one side may lead the other).
pub const DEFAULT_WINDOW_MS: u32 = 2_000;
/// Largest span flushed through the resamplers in one step (200 ms at 8 kHz),
/// which keeps their output buffers within their pre-sized capacity.
const FLUSH_BLOCK: usize = 1_600;
/// Input samples per millisecond on the 8 kHz call clock.
const SAMPLES_PER_MS: u64 = NARROWBAND_HZ as u64 / 1000;

/// Recorder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderOptions {
    /// WAV sample rate: 8000 (no resampling), 16000, 24000 or 48000.
    pub sample_rate: u32,
    /// Look-ahead window in milliseconds, clamped to 20..=60000.
    pub window_ms: u32,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            sample_rate: DEFAULT_RECORDING_RATE,
            window_ms: DEFAULT_WINDOW_MS,
        }
    }
}

/// What [`CallRecorder::finalize`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The WAV file.
    pub path: PathBuf,
    /// Its sample rate in Hz.
    pub sample_rate: u32,
    /// Always 2 (left = caller, right = agent).
    pub channels: u16,
    /// Duration in milliseconds (rounded down).
    pub duration_ms: u64,
    /// File size in bytes, header included.
    pub bytes: u64,
}

/// One side of the call: its window of 8 kHz audio and its resampler.
struct Track {
    ring: Vec<i16>,
    /// End (exclusive, 8 kHz samples) of the furthest audio written.
    end: u64,
    resampler: Option<Resampler>,
}

impl Track {
    fn new(window: usize, sample_rate: u32) -> Result<Self, AudioError> {
        let resampler = match sample_rate {
            NARROWBAND_HZ => None,
            rate => Some(Resampler::new(NARROWBAND_HZ, rate)?),
        };
        Ok(Self {
            ring: vec![0; window],
            end: 0,
            resampler,
        })
    }

    /// Copies `pcm` into the ring at absolute position `pos` (the caller
    /// guarantees it fits in the window), wrapping around the end.
    fn place(&mut self, pos: u64, pcm: &[i16]) {
        let cap = self.ring.len();
        let start = (pos % cap as u64) as usize;
        let first = pcm.len().min(cap - start);
        self.ring[start..start + first].copy_from_slice(&pcm[..first]);
        self.ring[..pcm.len() - first].copy_from_slice(&pcm[first..]);
        self.end = self.end.max(pos + pcm.len() as u64);
    }

    /// Output-rate audio for ring slots `range`, or `input` when given.
    fn render<'a>(&'a mut self, range: Range<usize>, input: Option<&'a [i16]>) -> &'a [i16] {
        let src = match input {
            Some(pcm) => pcm,
            None => &self.ring[range],
        };
        match self.resampler.as_mut() {
            Some(rs) => rs.push(src),
            None => src,
        }
    }
}

/// WAV output with the start-up trim and the drain limit.
struct Sink {
    writer: hound::WavWriter<BufWriter<File>>,
    /// Leading output frames still to drop (resampler delay).
    skip: usize,
    /// Interleaved frames written so far.
    frames: u64,
    /// Frames never to exceed (set while draining).
    limit: u64,
}

impl Sink {
    fn write_pair(&mut self, left: &[i16], right: &[i16]) -> Result<(), AudioError> {
        let n = left.len().min(right.len());
        let skip = self.skip.min(n);
        self.skip -= skip;
        let room = usize::try_from(self.limit - self.frames).unwrap_or(usize::MAX);
        let take = (n - skip).min(room);
        if take > 0 {
            // hound's 16-bit block writer: one buffer copy for the block instead of a checked
            // write per sample (per-sample writes were 2% of the engine's CPU under load).
            let mut block = self.writer.get_i16_writer(2 * take as u32);
            for (&l, &r) in left[skip..skip + take]
                .iter()
                .zip(&right[skip..skip + take])
            {
                block.write_sample(l);
                block.write_sample(r);
            }
            block.flush()?;
        }
        self.frames += take as u64;
        Ok(())
    }
}

/// Synchronous dual-channel call recorder (see the module docs for the design).
pub struct CallRecorder {
    path: PathBuf,
    sample_rate: u32,
    caller: Track,
    agent: Track,
    /// Call-clock position (8 kHz samples) up to which audio has been written out.
    flushed: u64,
    /// Call-clock position (8 kHz samples) past which the WAV would overflow.
    max_pos: u64,
    sink: Sink,
    zeros: Vec<i16>,
    error: Option<AudioError>,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder")
            .field("path", &self.path)
            .field("sample_rate", &self.sample_rate)
            .field("flushed", &self.flushed)
            .field("frames", &self.sink.frames)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl CallRecorder {
    /// Creates (truncates) `path` and records at `sample_rate` with the
    /// default window. Rates: 8000, 16000, 24000, 48000.
    pub fn create(path: impl AsRef<Path>, sample_rate: u32) -> Result<Self, AudioError> {
        Self::create_with(
            path,
            RecorderOptions {
                sample_rate,
                ..RecorderOptions::default()
            },
        )
    }

    /// Creates (truncates) `path` with explicit [`RecorderOptions`].
    pub fn create_with(
        path: impl AsRef<Path>,
        options: RecorderOptions,
    ) -> Result<Self, AudioError> {
        let rate = options.sample_rate;
        if rate != NARROWBAND_HZ && !is_supported(NARROWBAND_HZ, rate) {
            return Err(AudioError::UnsupportedRate {
                from: NARROWBAND_HZ,
                to: rate,
            });
        }
        let window = (options.window_ms.clamp(20, 60_000) as usize) * SAMPLES_PER_MS as usize;
        let caller = Track::new(window, rate)?;
        let agent = Track::new(window, rate)?;
        let skip = caller.resampler.as_ref().map_or(0, Resampler::delay_frames);
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // WAV data is capped at u32::MAX bytes; 4 bytes per stereo frame.
        let max_frames = (u64::from(u32::MAX) - 1024) / 4;
        let max_pos = max_frames * SAMPLES_PER_MS * 1000 / u64::from(rate);
        let path = path.as_ref().to_path_buf();
        let writer = hound::WavWriter::create(&path, spec)?;
        Ok(Self {
            path,
            sample_rate: rate,
            caller,
            agent,
            flushed: 0,
            max_pos,
            sink: Sink {
                writer,
                skip,
                frames: 0,
                limit: u64::MAX,
            },
            zeros: vec![0; NARROWBAND_HZ as usize / 50],
            error: None,
        })
    }

    /// The WAV sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first write error, if any (it is also returned by `finalize`).
    pub fn failed(&self) -> Option<&AudioError> {
        self.error.as_ref()
    }

    /// Records caller audio: 8 kHz mono `pcm8k` starting `at_ms` after call start.
    pub fn write_caller(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.write(Side::Caller, at_ms, pcm8k);
    }

    /// Records agent audio: 8 kHz mono `pcm8k` starting `at_ms` after call start.
    pub fn write_agent(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.write(Side::Agent, at_ms, pcm8k);
    }

    fn write(&mut self, side: Side, at_ms: u64, pcm: &[i16]) {
        if self.error.is_some() {
            return;
        }
        let window = self.caller.ring.len();
        let mut pos = at_ms.saturating_mul(SAMPLES_PER_MS);
        let mut pcm = pcm;
        if pos < self.flushed {
            let late = usize::try_from(self.flushed - pos).unwrap_or(usize::MAX);
            pcm = &pcm[late.min(pcm.len())..];
            pos = self.flushed;
        }
        let room = usize::try_from(self.max_pos.saturating_sub(pos)).unwrap_or(usize::MAX);
        pcm = &pcm[..pcm.len().min(room)];
        for piece in pcm.chunks(window) {
            let end = pos + piece.len() as u64;
            // Make room: the leading side may be at most one window ahead.
            if let Err(e) = self.flush_to(end.saturating_sub(window as u64)) {
                self.error = Some(e);
                return;
            }
            match side {
                Side::Caller => self.caller.place(pos, piece),
                Side::Agent => self.agent.place(pos, piece),
            }
            pos = end;
        }
        if let Err(e) = self.flush_to(self.caller.end.min(self.agent.end)) {
            self.error = Some(e);
        }
    }

    /// Writes out both channels up to call-clock sample `target`.
    fn flush_to(&mut self, target: u64) -> Result<(), AudioError> {
        let cap = self.caller.ring.len();
        while self.flushed < target {
            let start = (self.flushed % cap as u64) as usize;
            let todo = usize::try_from(target - self.flushed).unwrap_or(usize::MAX);
            let n = todo.min(cap - start).min(FLUSH_BLOCK);
            let range = start..start + n;
            let left = self.caller.render(range.clone(), None);
            let right = self.agent.render(range.clone(), None);
            self.sink.write_pair(left, right)?;
            self.caller.ring[range.clone()].fill(0);
            self.agent.ring[range].fill(0);
            self.flushed += n as u64;
        }
        Ok(())
    }

    /// Flushes everything, drains the resamplers and writes the WAV header.
    pub fn finalize(mut self) -> Result<RecordingInfo, AudioError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.flush_to(self.caller.end.max(self.agent.end))?;
        let rate = u64::from(self.sample_rate);
        let total = self.flushed * rate / u64::from(NARROWBAND_HZ);
        self.sink.limit = total;
        // Each drain step emits at least one output chunk once a chunk is full;
        // the bound only guards against a logic error looping forever.
        for _ in 0..64 {
            if self.sink.frames >= total {
                break;
            }
            let left = self.caller.render(0..0, Some(&self.zeros));
            let right = self.agent.render(0..0, Some(&self.zeros));
            self.sink.write_pair(left, right)?;
        }
        self.sink.writer.finalize()?;
        let bytes = std::fs::metadata(&self.path)?.len();
        Ok(RecordingInfo {
            path: self.path,
            sample_rate: self.sample_rate,
            channels: 2,
            duration_ms: self.sink.frames * 1000 / rate,
            bytes,
        })
    }
}

#[derive(Clone, Copy)]
enum Side {
    Caller,
    Agent,
}
