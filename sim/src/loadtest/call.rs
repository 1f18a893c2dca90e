//! One simulated call of the load: the project's Twilio caller, driven turn by turn until the
//! end of the hold, with a realistic conversation shape (the held shape), or through a script
//! planned up front (the independent shape, [`super::independent`]).
//!
//! A turn ([`Shape`], by default): the caller speaks 2–4 s, falls silent (the peer's VAD ends
//! the utterance and the agent answers 3–6 s), and waits until the agent's audio has played out
//! and every mark is echoed; then a short pause. About one turn in six the caller barges in:
//! after the agent has spoken for a second or so the caller speaks again, which the engine must
//! honour (truncate, `clear`). Audio flows both ways all the time, as on a real call. Turns stop once the next
//! one might run past the end of the hold; the caller stays silent until then and hangs up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::independent::CallPlan;
use crate::twilio_caller::{
    CallReport, CallerConfig, CallerError, MediaSession, Step, TwilioCaller,
};

/// The shape of the conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Caller utterances last from .0 to .1 ms.
    pub speak_ms: (u64, u64),
    /// Agent replies last from .0 to .1 ms.
    pub reply_ms: (u64, u64),
    /// Pauses after a reply last from .0 to .1 ms.
    pub pause_ms: (u64, u64),
    /// Share of turns with a barge-in, in 1/1000.
    pub barge_in_per_mille: u64,
}

impl Default for Shape {
    /// The call-center shape: caller 2–4 s, agent 3–6 s, about one barge-in in six turns.
    fn default() -> Self {
        Shape {
            speak_ms: (2000, 4000),
            reply_ms: (3000, 6000),
            pause_ms: (300, 1200),
            barge_in_per_mille: 170,
        }
    }
}

/// Silence after which the peer's VAD ends an utterance, in ms.
pub const VAD_SILENCE_MS: u64 = 500;

impl Shape {
    /// The longest a turn can take, in ms: the longest speech, a barge-in (silence into the
    /// reply, speech again), the longest reply with its playout settling, the pause, a margin.
    pub fn longest_turn_ms(&self) -> u64 {
        let (_, barge_silence) = self.barge_silence_ms();
        self.speak_ms.1
            + barge_silence
            + self.barge_speech_ms().1
            + VAD_SILENCE_MS
            + self.reply_ms.1
            + 200
            + self.pause_ms.1
            + 500
    }

    /// Length of the speech that barges in.
    fn barge_speech_ms(&self) -> (u64, u64) {
        (self.speak_ms.0.min(1000), self.speak_ms.0.min(1500))
    }

    /// Silence after an utterance before the caller speaks over the reply: the VAD's silence,
    /// then a quarter to a half of the shortest reply.
    fn barge_silence_ms(&self) -> (u64, u64) {
        (
            VAD_SILENCE_MS + self.reply_ms.0 / 4,
            VAD_SILENCE_MS + self.reply_ms.0 / 2,
        )
    }
}

/// Counters shared by every call of a phase, for the progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Calls whose stream has started.
    pub up: AtomicU64,
    /// Calls over (well or not).
    pub done: AtomicU64,
    /// Calls that failed.
    pub failed: AtomicU64,
    /// Media frames sent by the callers (counted after each step).
    pub frames: AtomicU64,
}

/// What one call did.
#[derive(Debug)]
pub struct CallResult {
    /// The caller's report (`None` when the call could not be set up).
    pub report: Option<CallReport>,
    /// Why the call failed, if it did.
    pub failure: Option<String>,
    /// Barge-ins the script attempted.
    pub barge_ins: u64,
    /// Turns played.
    pub turns: u64,
    /// The socket failed after the caller had hung up (no clean closing handshake): noted, not
    /// a failed call.
    pub unclean_close: Option<String>,
    /// Seconds the call took, from the voice webhook to the end of the hang-up: the
    /// call-seconds it was served.
    pub served_s: f64,
}

/// What a call does once placed.
#[derive(Debug, Clone)]
pub enum Script {
    /// Turns of `shape` until `hang_up_at`, at least one (the held shape).
    Turns {
        shape: Shape,
        rng: Rng,
        hang_up_at: Instant,
    },
    /// These steps, then the hang-up (the independent shape).
    Planned(CallPlan),
}

/// A small deterministic generator (splitmix64): the same seed gives the same conversation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for call `index` of a run seeded with `seed`.
    pub fn new(seed: u64, index: u64) -> Rng {
        Rng(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// Places the call and plays `script`.
pub async fn run(config: CallerConfig, script: Script, live: Arc<Live>) -> CallResult {
    let placed = Instant::now();
    let mut result = CallResult {
        report: None,
        failure: None,
        barge_ins: 0,
        turns: 0,
        unclean_close: None,
        served_s: 0.0,
    };
    let mut counted = 0;
    let outcome = match script {
        Script::Turns {
            shape,
            mut rng,
            hang_up_at,
        } => {
            let mut played = Played {
                live: &live,
                result: &mut result,
                counted: &mut counted,
            };
            converse(&config, &shape, &mut rng, hang_up_at, &mut played).await
        }
        Script::Planned(plan) => {
            result.turns = plan.turns;
            let mut played = Played {
                live: &live,
                result: &mut result,
                counted: &mut counted,
            };
            follow(&config, &plan, &mut played).await
        }
    };
    result.served_s = placed.elapsed().as_secs_f64();
    match outcome {
        Ok((report, hung_up)) => {
            live.frames
                .fetch_add(report.media_frames_sent - counted, Ordering::Relaxed);
            match (&report.socket_error, hung_up) {
                (Some(error), true) => result.unclean_close = Some(error.clone()),
                _ => result.failure = failure(&report),
            }
            result.report = Some(report);
        }
        Err(err) => result.failure = Some(err.to_string()),
    }
    if result.failure.is_some() {
        live.failed.fetch_add(1, Ordering::Relaxed);
    }
    live.done.fetch_add(1, Ordering::Relaxed);
    result
}

/// What a script updates as it plays.
struct Played<'a> {
    live: &'a Live,
    result: &'a mut CallResult,
    counted: &'a mut u64,
}

impl Played<'_> {
    /// Places the call: the webhook, then the media stream.
    async fn place(&self, config: &CallerConfig) -> Result<MediaSession, CallerError> {
        let twiml = TwilioCaller::post_webhook(config).await?;
        let session = MediaSession::open(config, &twiml).await?;
        self.live.up.fetch_add(1, Ordering::Relaxed);
        Ok(session)
    }

    /// Plays one step, counting the frames it sent.
    async fn step(&mut self, session: &mut MediaSession, step: Step) -> Result<(), CallerError> {
        let run = session.run(&step).await;
        let sent = session.report().media_frames_sent;
        self.live
            .frames
            .fetch_add(sent - *self.counted, Ordering::Relaxed);
        *self.counted = sent;
        run
    }
}

/// Plays `plan`'s steps and hangs up (the socket still open: anything going wrong from there
/// is the closing handshake).
async fn follow(
    config: &CallerConfig,
    plan: &CallPlan,
    played: &mut Played<'_>,
) -> Result<(CallReport, bool), CallerError> {
    let mut session = played.place(config).await?;
    for step in &plan.steps {
        if !session.is_open() {
            break;
        }
        played.step(&mut session, step.clone()).await?;
    }
    let hung_up = session.is_open();
    let report = session.finish().await?;
    Ok((report, hung_up))
}

async fn converse(
    config: &CallerConfig,
    shape: &Shape,
    rng: &mut Rng,
    hang_up_at: Instant,
    played: &mut Played<'_>,
) -> Result<(CallReport, bool), CallerError> {
    let mut session = played.place(config).await?;
    // A short silence first, as on a real line before the caller talks.
    played
        .step(
            &mut session,
            Step::Silence {
                ms: rng.range(200, 1000) as u32,
            },
        )
        .await?;
    while session.is_open() {
        // Every call has its first turn, however late it came up (a loaded machine can take a
        // while to place it); a further turn only when it fits before the hang-up.
        let left = hang_up_at.saturating_duration_since(Instant::now());
        if played.result.turns > 0 && left < Duration::from_millis(shape.longest_turn_ms()) {
            let ms = left.as_millis() as u32;
            played.step(&mut session, Step::Silence { ms }).await?;
            break;
        }
        played.result.turns += 1;
        let hz = rng.range(300, 900) as u32;
        played
            .step(
                &mut session,
                Step::Speak {
                    ms: rng.range(shape.speak_ms.0, shape.speak_ms.1) as u32,
                    hz,
                },
            )
            .await?;
        if rng.range(0, 999) < shape.barge_in_per_mille {
            // The utterance ends after the VAD's silence; the reply starts at once. Speak over
            // it once it has played for a while.
            let (low, high) = shape.barge_silence_ms();
            let ms = rng.range(low, high) as u32;
            played.step(&mut session, Step::Silence { ms }).await?;
            played.result.barge_ins += 1;
            let (low, high) = shape.barge_speech_ms();
            let ms = rng.range(low, high) as u32;
            played.step(&mut session, Step::Speak { ms, hz }).await?;
        }
        let max_ms = (shape.reply_ms.1 + 4000) as u32;
        played
            .step(&mut session, Step::WaitForAgent { max_ms })
            .await?;
        played
            .step(
                &mut session,
                Step::Silence {
                    ms: rng.range(shape.pause_ms.0, shape.pause_ms.1) as u32,
                },
            )
            .await?;
    }
    // Still open: the caller hangs up (anything going wrong from here is the closing handshake).
    let hung_up = session.is_open();
    let report = session.finish().await?;
    Ok((report, hung_up))
}

/// Why a finished call counts as failed, if it does.
fn failure(report: &CallReport) -> Option<String> {
    if report.engine_hung_up {
        return Some(format!(
            "the engine hung up (close code {:?})",
            report.close_code
        ));
    }
    if let Some(error) = &report.socket_error {
        return Some(format!("socket error: {error}"));
    }
    if report.wait_timeouts > 0 {
        return Some(format!(
            "the agent did not answer {} time(s)",
            report.wait_timeouts
        ));
    }
    let bad = report.malformed_frames + report.unknown_frames + report.foreign_stream_frames;
    if bad > 0 {
        return Some(format!("{bad} bad frame(s) from the engine"));
    }
    None
}
