//! The call's recorder, written off the async runtime by a small pool of writer threads shared
//! by every call.
//!
//! Why a shared pool and batches (the load bench's profile): one thread per call, woken for
//! every 20 ms frame, cost more than the rest of the per-frame path together — at 300 calls a
//! third of the engine's CPU went to futex wake-ups and context switches. Now a call's audio is
//! gathered here for [`BATCH_MS`] per side and handed over in one message; [`WRITERS`] threads
//! write every call's WAV. The `CallRecorder` itself (alignment on the call clock, resampling,
//! hound) is unchanged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::audio::{AudioError, CallRecorder, RecordingInfo};

/// Audio gathered per side before it goes to a writer, in ms (10 frames).
pub const BATCH_MS: u64 = 200;

/// Writer threads shared by all calls.
pub const WRITERS: usize = 2;

/// Batches queued per writer before the newest are dropped (counted): 4 s of audio of 1,000
/// calls on both sides (the queue's slots are allocated up front: keep it modest).
const QUEUE: usize = 2 * 1000 * 5 * 4 / WRITERS;

enum Job {
    Open(u64, Box<CallRecorder>),
    Caller(u64, u64, Vec<i16>),
    Agent(u64, u64, Vec<i16>),
    Finish(u64, SyncSender<Result<RecordingInfo, AudioError>>),
}

struct Pool {
    writers: Vec<SyncSender<Job>>,
    next_id: Mutex<u64>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let writers = (0..WRITERS)
            .map(|i| {
                let (tx, rx) = sync_channel::<Job>(QUEUE);
                std::thread::Builder::new()
                    .name(format!("call-recorder-{i}"))
                    .spawn(move || write_loop(rx))
                    .expect("spawn a recorder thread");
                tx
            })
            .collect();
        Pool {
            writers,
            next_id: Mutex::new(0),
        }
    })
}

fn write_loop(rx: Receiver<Job>) {
    let mut calls: HashMap<u64, Box<CallRecorder>> = HashMap::new();
    for job in rx {
        match job {
            Job::Open(id, recorder) => {
                calls.insert(id, recorder);
            }
            Job::Caller(id, at, pcm) => {
                if let Some(recorder) = calls.get_mut(&id) {
                    recorder.write_caller(at, &pcm);
                }
            }
            Job::Agent(id, at, pcm) => {
                if let Some(recorder) = calls.get_mut(&id) {
                    recorder.write_agent(at, &pcm);
                }
            }
            Job::Finish(id, reply) => {
                let result = match calls.remove(&id) {
                    Some(recorder) => recorder.finalize(),
                    None => Err(AudioError::Resampler("the recording was lost".into())),
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// Audio of one side not yet handed to the writer: starts at `at_ms` on the call clock.
#[derive(Default)]
struct Batch {
    at_ms: u64,
    pcm: Vec<i16>,
}

impl Batch {
    /// 8 kHz: 8 samples a ms.
    fn end_ms(&self) -> u64 {
        self.at_ms + self.pcm.len() as u64 / 8
    }
}

/// One call's recording: batches its audio and feeds a shared writer thread.
pub struct RecorderThread {
    id: u64,
    writer: SyncSender<Job>,
    caller: Batch,
    agent: Batch,
    finished: bool,
    /// Batches dropped because the writers fell behind (counted, logged at the end).
    pub dropped: u64,
}

impl RecorderThread {
    /// Creates the WAV at `path` and hands it to a writer.
    pub fn start(path: PathBuf, sample_rate: u32) -> Result<Self, AudioError> {
        let recorder = CallRecorder::create(&path, sample_rate)?;
        let pool = pool();
        let id = {
            let mut next = pool.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            *next
        };
        let writer = pool.writers[id as usize % pool.writers.len()].clone();
        writer
            .send(Job::Open(id, Box::new(recorder)))
            .map_err(|_| AudioError::Resampler("the recorder threads are gone".into()))?;
        Ok(RecorderThread {
            id,
            writer,
            caller: Batch::default(),
            agent: Batch::default(),
            finished: false,
            dropped: 0,
        })
    }

    pub fn caller(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.push(true, at_ms, pcm8k);
    }

    pub fn agent(&mut self, at_ms: u64, pcm8k: &[i16]) {
        self.push(false, at_ms, pcm8k);
    }

    /// Adds audio to its side's batch; a batch goes out once it holds [`BATCH_MS`], or when the
    /// new audio does not follow it on the call clock (the recorder aligns each write itself).
    fn push(&mut self, caller: bool, at_ms: u64, pcm8k: &[i16]) {
        let batch = if caller {
            &mut self.caller
        } else {
            &mut self.agent
        };
        if !batch.pcm.is_empty() && batch.end_ms() != at_ms {
            self.flush(caller);
        }
        let batch = if caller {
            &mut self.caller
        } else {
            &mut self.agent
        };
        if batch.pcm.is_empty() {
            batch.at_ms = at_ms;
            batch.pcm.reserve(BATCH_MS as usize * 8 + 160);
        }
        batch.pcm.extend_from_slice(pcm8k);
        if batch.end_ms() - batch.at_ms >= BATCH_MS {
            self.flush(caller);
        }
    }

    fn flush(&mut self, caller: bool) {
        let batch = if caller {
            &mut self.caller
        } else {
            &mut self.agent
        };
        if batch.pcm.is_empty() {
            return;
        }
        let pcm = std::mem::take(&mut batch.pcm);
        let job = if caller {
            Job::Caller(self.id, batch.at_ms, pcm)
        } else {
            Job::Agent(self.id, batch.at_ms, pcm)
        };
        if let Err(TrySendError::Full(_)) = self.writer.try_send(job) {
            self.dropped += 1;
        }
    }

    /// Writes what is left and waits for the file to be finalized (blocking: call off the
    /// runtime).
    pub fn finish(mut self) -> Result<RecordingInfo, AudioError> {
        self.flush(true);
        self.flush(false);
        self.finished = true;
        let (tx, rx) = sync_channel(1);
        // Blocking send: the finish must not be dropped even when the queue is full.
        self.writer
            .send(Job::Finish(self.id, tx))
            .map_err(|_| AudioError::Resampler("the recorder threads are gone".into()))?;
        rx.recv()
            .map_err(|_| AudioError::Resampler("the recorder thread panicked".into()))?
    }
}

impl Drop for RecorderThread {
    /// A recording never finished (the call's state was dropped): close its file anyway.
    fn drop(&mut self) {
        if !self.finished {
            let (tx, _rx) = sync_channel(1);
            let _ = self.writer.try_send(Job::Finish(self.id, tx));
        }
    }
}
