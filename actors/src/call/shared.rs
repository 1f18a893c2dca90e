//! What outlives a call's actor ([`CallShared`]): its configuration, the facts its pipeline keeps
//! (a restarted actor resumes from them), its recording, and when it last panicked. Also the end
//! of a recording: finalized off the runtime, its row queued, the call's rows made durable.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::core::{CallConfig, CallFacts};
use super::pipeline::RecordSink;
use super::recording::RecorderThread;
use crate::persistence::{NewRecording, PersistenceHandle};

/// A second panic of a call's actor within this time ends the call instead of restarting it.
pub const REPEAT_PANIC_WINDOW: Duration = Duration::from_secs(30);

/// Twilio frames a call's actor may have waiting at most (10 s of audio): the media socket hands
/// no more to an actor this far behind (it refuses them, counted), so an overloaded engine's
/// mailboxes stay bounded.
pub const MAX_QUEUED_FRAMES: u32 = 500;

/// Where recordings go.
#[derive(Debug, Clone)]
pub struct RecordingTarget {
    pub dir: std::path::PathBuf,
    pub sample_rate: u32,
}

/// See the module documentation.
pub struct CallShared {
    pub(super) config: CallConfig,
    pub(super) facts: Mutex<CallFacts>,
    recorder: Mutex<Option<RecorderThread>>,
    last_panic: Mutex<Option<Instant>>,
    /// Set on a repeated panic: the next actor ends the call.
    ending: AtomicBool,
    /// Twilio frames handed to the actor and not yet taken (see [`MAX_QUEUED_FRAMES`]).
    queued_frames: AtomicU32,
}

impl CallShared {
    pub fn new(config: CallConfig) -> Arc<Self> {
        Arc::new(CallShared {
            config,
            facts: Mutex::new(CallFacts::default()),
            recorder: Mutex::new(None),
            last_panic: Mutex::new(None),
            ending: AtomicBool::new(false),
            queued_frames: AtomicU32::new(0),
        })
    }

    /// The call's actor panicked at `now`. Whether the next actor should end the call (a
    /// second panic within [`REPEAT_PANIC_WINDOW`]) rather than resume it.
    pub fn panicked(&self, now: Instant) -> bool {
        let mut last = lock(&self.last_panic);
        let repeated =
            last.is_some_and(|at| now.saturating_duration_since(at) < REPEAT_PANIC_WINDOW);
        *last = Some(now);
        if repeated {
            self.ending.store(true, Ordering::Relaxed);
        }
        repeated
    }

    /// A Twilio frame is about to be handed to the actor: `false` (and nothing counted) when
    /// [`MAX_QUEUED_FRAMES`] are already waiting.
    pub fn frame_queued(&self) -> bool {
        self.queued_frames
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_QUEUED_FRAMES).then_some(n + 1)
            })
            .is_ok()
    }

    /// A queued frame was taken by the actor, or never reached it.
    pub fn frame_taken(&self) {
        let _ = self
            .queued_frames
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A new actor starts with an empty mailbox (what its predecessor had queued is gone).
    pub(super) fn frames_dropped_with_actor(&self) {
        self.queued_frames.store(0, Ordering::Relaxed);
    }

    /// Whether an actor already tried to end the call after repeated panics.
    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::Relaxed)
    }

    /// The facts the pipeline keeps (copied in after every step, read by a restarted actor).
    pub(super) fn facts(&self) -> MutexGuard<'_, CallFacts> {
        lock(&self.facts)
    }

    /// Starts recording the call into `target` (the file named by its CallSid); the sink to give
    /// the pipeline, or `None` when it cannot be recorded (logged).
    pub(super) fn start_recording(
        self: &Arc<Self>,
        target: &RecordingTarget,
        call_sid: &str,
    ) -> Option<Box<dyn RecordSink>> {
        // The file is named by the CallSid, which the media socket checked to be `CA` + 32 hex
        // digits; anything else (a path, a NUL) is never joined to the directory.
        if !crate::twilio::is_call_sid(call_sid) {
            tracing::error!(?call_sid, "not a call SID: this call is not recorded");
            return None;
        }
        let path = target.dir.join(format!("{call_sid}.wav"));
        match RecorderThread::start(path.clone(), target.sample_rate) {
            Ok(recorder) => {
                *lock(&self.recorder) = Some(recorder);
                Some(Box::new(SharedRecorder(self.clone())))
            }
            Err(err) => {
                tracing::error!(%call_sid, path = %path.display(), %err, "cannot record this call");
                None
            }
        }
    }

    /// The sink for a restarted actor's pipeline: the recording goes on in the same file.
    pub(super) fn recording(self: &Arc<Self>) -> Box<dyn RecordSink> {
        Box::new(SharedRecorder(self.clone()))
    }

    /// The call is over: the recording is finalized (off the runtime) and its row queued like
    /// every other row, then the call's rows are flushed, so that "no live call actors" also
    /// means "every call is written".
    pub(super) async fn finish(&self, persistence: &PersistenceHandle, call_sid: &str) {
        let recorder = lock(&self.recorder).take();
        if let Some(recorder) = recorder {
            let finished = tokio::task::spawn_blocking(move || recorder.finish())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            match finished {
                Ok(info) => {
                    let row = NewRecording {
                        id: Uuid::now_v7(),
                        org_id: self.config.org_id,
                        call_id: self.config.call_id,
                        path: info.path.display().to_string(),
                        sample_rate: info.sample_rate,
                        channels: info.channels,
                        duration_ms: info.duration_ms,
                        bytes: info.bytes,
                    };
                    if let Err(err) = persistence.persist(row) {
                        tracing::error!(%call_sid, %err, "cannot queue the recording row");
                    }
                }
                Err(err) => tracing::error!(%call_sid, %err, "recording failed"),
            }
        }
        if let Err(err) = persistence.flush().await {
            tracing::error!(%call_sid, %err, "flush at call end failed");
        }
    }
}

/// A panic leaves these between two complete writes (each is a plain copy under the lock), so a
/// poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The recording, kept in [`CallShared`] so that it survives a restart of the actor.
struct SharedRecorder(Arc<CallShared>);

impl RecordSink for SharedRecorder {
    fn caller(&mut self, at_ms: u64, pcm8k: &[i16]) {
        if let Some(recorder) = lock(&self.0.recorder).as_mut() {
            recorder.caller(at_ms, pcm8k);
        }
    }
    fn agent(&mut self, at_ms: u64, pcm8k: &[i16]) {
        if let Some(recorder) = lock(&self.0.recorder).as_mut() {
            recorder.agent(at_ms, pcm8k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_queued_frames_wait_for_the_actor() {
        let shared = CallShared::new(CallConfig::new(
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            "+14155550100",
            Instant::now(),
            chrono::Utc::now(),
        ));
        for _ in 0..MAX_QUEUED_FRAMES {
            assert!(shared.frame_queued());
        }
        assert!(!shared.frame_queued(), "the queue is full");
        shared.frame_taken();
        assert!(shared.frame_queued(), "one was taken: room for one");
        shared.frames_dropped_with_actor();
        shared.frame_taken();
        assert!(shared.frame_queued());
    }
}
