//! The call's recorder, written off the async runtime by a small pool of writer threads shared
//! by every call.
//!
//! Why a shared pool, batches, and no wake-up per batch (the load bench's profile, and an
//! independent one): one thread per call, woken for every 20 ms frame, cost more than the rest of
//! the per-frame path together — at 300 calls a third of the engine's CPU went to futex wake-ups
//! and context switches; a channel per writer thread still woke it once per batch (6% of the
//! engine's CPU in futex). Now a call's audio is gathered here for [`BATCH_MS`] per side and
//! pushed on its writer's queue under an uncontended lock, without waking it; each of the
//! [`WRITERS`] threads wakes every [`WRITE_INTERVAL`] and writes every call's batches at once.
//! Only a recording's finish wakes its writer at once (the call waits for it). The
//! `CallRecorder` itself (alignment on the call clock, resampling, hound) is unchanged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::audio::{AudioError, CallRecorder, RecordingInfo};

/// Audio gathered per side before it goes to a writer, in ms (10 frames).
pub const BATCH_MS: u64 = 200;

/// Writer threads shared by all calls.
pub const WRITERS: usize = 2;

/// How often a writer wakes to write what was queued.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(100);

/// Batches queued per writer before the newest are dropped (counted): 4 s of audio of 1,000
/// calls on both sides.
const QUEUE: usize = 2 * 1000 * 5 * 4 / WRITERS;

enum Job {
    Open(u64, Box<CallRecorder>),
    Caller(u64, u64, Vec<i16>),
    Agent(u64, u64, Vec<i16>),
    Finish(u64, SyncSender<Result<RecordingInfo, AudioError>>),
}

/// One writer thread's queue.
#[derive(Default)]
struct Writer {
    jobs: Mutex<Vec<Job>>,
    /// Rung only for a finish (and by a writer that found its queue empty: see `write_loop`).
    finish: Condvar,
}

impl Writer {
    fn jobs(&self) -> MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a batch without waking the writer; refused when the queue is full.
    fn push(&self, job: Job) -> bool {
        let mut jobs = self.jobs();
        if jobs.len() >= QUEUE {
            return false;
        }
        jobs.push(job);
        true
    }

    /// Queues a job that must not be dropped (an open, a finish) and wakes the writer.
    fn push_now(&self, job: Job) {
        self.jobs().push(job);
        self.finish.notify_one();
    }
}

struct Pool {
    writers: Vec<Arc<Writer>>,
    next_id: Mutex<u64>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let writers = (0..WRITERS)
            .map(|i| {
                let writer = Arc::new(Writer::default());
                let queue = writer.clone();
                std::thread::Builder::new()
                    .name(format!("call-recorder-{i}"))
                    .spawn(move || write_loop(&queue))
                    .expect("spawn a recorder thread");
                writer
            })
            .collect();
        Pool {
            writers,
            next_id: Mutex::new(0),
        }
    })
}

fn write_loop(writer: &Writer) {
    let mut calls: HashMap<u64, Box<CallRecorder>> = HashMap::new();
    let mut batch = Vec::new();
    loop {
        {
            let mut jobs = writer.jobs();
            if jobs.is_empty() {
                // Woken by a finish, or after the interval: audio waits here at most that long.
                jobs = writer
                    .finish
                    .wait_timeout(jobs, WRITE_INTERVAL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut *jobs, &mut batch);
        }
        let wrote = !batch.is_empty();
        for job in batch.drain(..) {
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
        if wrote {
            // Let the next interval's batches gather instead of waking for each.
            std::thread::sleep(WRITE_INTERVAL / 4);
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
    writer: Arc<Writer>,
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
        writer.push_now(Job::Open(id, Box::new(recorder)));
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
        if !self.writer.push(job) {
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
        // Never dropped, even when the queue is full.
        self.writer.push_now(Job::Finish(self.id, tx));
        rx.recv()
            .map_err(|_| AudioError::Resampler("the recorder thread panicked".into()))?
    }
}

impl Drop for RecorderThread {
    /// A recording never finished (the call's state was dropped): close its file anyway.
    fn drop(&mut self) {
        if !self.finished {
            let (tx, _rx) = sync_channel(1);
            self.writer.push_now(Job::Finish(self.id, tx));
        }
    }
}
