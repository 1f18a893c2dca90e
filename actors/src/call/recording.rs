//! The call's recorder, on its own thread: WAV writing never runs on the async runtime.

use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use crate::audio::{AudioError, CallRecorder, RecordingInfo};

enum Chunk {
    Caller(u64, Vec<i16>),
    Agent(u64, Vec<i16>),
}

/// Feeds a [`CallRecorder`] running on a dedicated thread.
pub struct RecorderThread {
    tx: Option<SyncSender<Chunk>>,
    join: Option<JoinHandle<Result<RecordingInfo, AudioError>>>,
    /// Chunks dropped because the writer fell behind (counted, logged at the end).
    pub dropped: u64,
}

impl RecorderThread {
    /// Creates the WAV at `path` and starts the writer thread.
    pub fn start(path: PathBuf, sample_rate: u32) -> Result<Self, AudioError> {
        let mut recorder = CallRecorder::create(&path, sample_rate)?;
        // About 10 s of 20 ms frames on both sides.
        let (tx, rx) = sync_channel::<Chunk>(1000);
        let join = std::thread::Builder::new()
            .name("call-recorder".into())
            .spawn(move || {
                for chunk in rx {
                    match chunk {
                        Chunk::Caller(at, pcm) => recorder.write_caller(at, &pcm),
                        Chunk::Agent(at, pcm) => recorder.write_agent(at, &pcm),
                    }
                }
                recorder.finalize()
            })?;
        Ok(RecorderThread {
            tx: Some(tx),
            join: Some(join),
            dropped: 0,
        })
    }

    pub fn caller(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.send(Chunk::Caller(at_ms, pcm8k.to_vec()));
    }

    pub fn agent(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.send(Chunk::Agent(at_ms, pcm8k.to_vec()));
    }

    fn send(&mut self, chunk: Chunk) {
        if let Some(tx) = &self.tx
            && let Err(TrySendError::Full(_)) = tx.try_send(chunk)
        {
            self.dropped += 1;
        }
    }

    /// Closes the feed and waits for the file to be finalized (blocking: call off the runtime).
    pub fn finish(mut self) -> Result<RecordingInfo, AudioError> {
        self.tx.take();
        match self.join.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(AudioError::Resampler("the recorder thread panicked".into())),
        }
    }
}
