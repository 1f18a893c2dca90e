//! `CallCore`: the logic of one live call, with no sockets, no actors and no clock of its own.
//!
//! The shell feeds it what arrives — Twilio frames (`on_start`, `on_media`, `on_mark`, `on_dtmf`,
//! `on_stop`), realtime events (`on_audio_delta`, `on_speech_started`, transcripts, function calls,
//! session connected/lost) and timeouts — and carries out what it says:
//!
//! - Per 20 ms frame, the answer is a small value ([`MediaAction`], [`DeltaAction`]) and the shell
//!   moves the audio itself with its reused buffers: nothing here allocates per frame.
//! - Everything else comes out of [`CallCore::poll_event`] as a [`CallEvent`]: commands for the AI
//!   session or Twilio, rows for the persistence actor, and session restarts.
//!
//! Time: Twilio's media timestamps are the call clock (milliseconds since the stream started);
//! barge-in and recording positions use it, so the logic is the same in real time and in tests that
//! stream faster. `Instant`s passed in drive only the timers (AI reconnect backoff, session rotation,
//! and the stalled-stream check: a stream with no frame for `stream_idle` ends the call as
//! `stream_idle`).
//!
//! Barge-in: when the caller starts speaking while assistant audio is still queued, that audio is
//! cut where the caller has heard it (`barge_in` says how that is known): the item is truncated
//! there, Twilio's buffer is cleared, the response is cancelled if still running, and late deltas
//! of the interrupted item are dropped.
//!
//! The core routes its inputs to small sub-machines, each owning its state, none reading a clock:
//!
//! - `ai_link`: the AI session's lifecycle (connect, reconnect with backoff, rotation);
//! - `barge_in`: the assistant audio forwarded, the marks in flight, cutting it where heard;
//! - `supervised`: who speaks to the caller, and what the caller said while taken over;
//! - `ledger`: the rows the call writes and what they are built from, with ids from an
//!   [`IdSource`] (UUIDv7 unless [`CallCore::with_ids`] says otherwise).
//!
//! It keeps the rest itself: the Twilio stream (its phase, the call clock, the stalled-stream
//! check), the response in progress and the hang-up after a goodbye, and the counters.

mod ai_link;
mod barge_in;
mod ledger;
mod supervised;
mod tools;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use self::ai_link::{AiLink, AiTimer, Connected};
use self::barge_in::{AssistantAudio, BargeIn, Cut, MarkInFlight};
pub use self::ledger::IdSource;
use self::ledger::{HistoryItem, Ledger, PendingAgent};
use self::supervised::Supervised;
use self::tools::ToolCalls;
use super::supervision::{SuperviseError, SupervisionMode, Supervisor, SupervisorCommand};
use super::tools::{CallTool, ToolRequest, TransferTarget};
use crate::domain::{AudioFormat, EventType, SystemEventKind};
use crate::persistence::{AiUsage, PersistItem};
use crate::realtime::TokenUsage;

/// How a lost AI session is brought back.
#[derive(Debug, Clone, Copy)]
pub struct ReconnectPolicy {
    /// First retry delay; doubles per attempt.
    pub base: Duration,
    pub max: Duration,
    /// Consecutive failed attempts before the call is ended.
    pub max_attempts: u32,
    /// Sessions are rotated (closed and reopened, conversation replayed) this long after they open,
    /// before the provider's own limit.
    pub max_session: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_millis(250),
            max: Duration::from_secs(5),
            max_attempts: 5,
            max_session: Duration::from_secs(55 * 60),
        }
    }
}

/// What the core needs to know about its call.
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub org_id: Uuid,
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    /// The caller's number (sender of caller transcripts).
    pub caller_number: String,
    /// The agent's display name (sender of AI transcripts).
    pub agent_name: String,
    pub audio_format: AudioFormat,
    pub reconnect: ReconnectPolicy,
    /// A live stream with no media frame for this long (no `stop`, no close: Twilio streams can
    /// stall that way) is hung up and the call ended with reason `stream_idle`.
    pub stream_idle: Duration,
    /// The wall-clock time that corresponds to `started` (row timestamps derive from both).
    pub started_wall: DateTime<Utc>,
    pub started: Instant,
    /// Base of the versions of this call's updates (e.g. the wall clock in µs at start).
    pub version_base: i64,
    /// Functions the shell runs for the model (besides `end_call` and `transfer`).
    pub tools: Vec<CallTool>,
    /// Where the `transfer` built-in may send the caller (none: no transfers).
    pub transfer_targets: Vec<TransferTarget>,
    /// The agent speaks first, with this instruction (empty: a plain greeting); `None`: it waits
    /// for the caller.
    pub greeting: Option<String>,
    /// The call is hung up (reason `max_duration`) this long after its stream started.
    pub max_duration: Option<Duration>,
}

impl CallConfig {
    /// A call of `org_id` from `caller_number` that starts at `started` (`started_wall` on the
    /// wall clock, which is also the base of its versions, in µs), with the engine's defaults:
    /// µ-law to the AI, the default reconnect policy, a 15 s stalled-stream limit and a generic
    /// agent name. Set the other fields with struct update syntax.
    pub fn new(
        org_id: Uuid,
        call_id: Uuid,
        conversation_id: Uuid,
        caller_number: &str,
        started: Instant,
        started_wall: DateTime<Utc>,
    ) -> Self {
        CallConfig {
            org_id,
            call_id,
            conversation_id,
            caller_number: caller_number.to_owned(),
            agent_name: "AI agent".to_owned(),
            audio_format: AudioFormat::G711Ulaw,
            reconnect: ReconnectPolicy::default(),
            stream_idle: Duration::from_secs(15),
            started_wall,
            started,
            version_base: started_wall.timestamp_micros(),
            tools: Vec::new(),
            transfer_targets: Vec::new(),
            greeting: None,
            max_duration: None,
        }
    }
}

/// What to do with one inbound Twilio media frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaAction {
    /// Append it to the AI's input; record it at `caller_at_ms` (call clock).
    Forward { caller_at_ms: u64 },
    /// The call's first AI session is still connecting: keep the frame (the shell bounds how much)
    /// and send it once the session is configured, so the caller's first words are not lost.
    Hold { caller_at_ms: u64 },
    /// The AI session is down after a failure: do not write to it (the audio is dropped for the
    /// AI and counted: replaying stale audio into a new session would garble the turn), but
    /// record it.
    RecordOnly { caller_at_ms: u64 },
    /// Media before `start` or after `stop`: count and log, then ignore.
    Reject,
}

/// What to do with one assistant audio delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaAction {
    /// Send it to Twilio as media, then a mark named [`CallCore::mark_name`]; record it at
    /// `play_at_ms` (when Twilio will play it, on the call clock).
    Forward { play_at_ms: u64 },
    /// A late delta of an interrupted item, or no stream yet: drop it (counted).
    Drop,
}

/// A command for the AI session (the shell encodes it in the session's dialect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiCommand {
    /// `session.update` from the configuration.
    SessionUpdate,
    /// Replay a caller utterance (`conversation.item.create`, user `input_text`).
    ReplayUser(String),
    /// Replay an agent reply (assistant `output_text` / beta `text`).
    ReplayAssistant(String),
    /// `conversation.item.truncate`.
    Truncate { item_id: String, audio_end_ms: u64 },
    /// `response.cancel`.
    CancelResponse,
    /// `conversation.item.create` with a `function_call_output`.
    FunctionOutput { call_id: String, output: String },
    /// `response.create`.
    CreateResponse,
    /// `conversation.item.create`, system `input_text`: a supervisor's whisper, the context
    /// of a taken-over stretch of the call, or a key the caller pressed.
    SystemText(String),
    /// `response.create` with these instructions (a greeting, or words while a tool runs).
    Respond { instructions: String },
}

/// What the shell must do, in order.
// A row is the largest event; boxing it would allocate once more per row for a queue that the
// shell drains at once (it never holds more than a few events).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Ai(AiCommand),
    /// Send Twilio `clear`.
    ClearTwilio,
    /// Hand to the persistence actor.
    Persist(PersistItem),
    /// (Re)open the AI session now.
    ConnectAi,
    /// Run this function for the model; its report comes back as
    /// [`CallCore::on_tool_result`].
    RunTool(ToolRequest),
    /// Close the current AI session: it is being rotated (a `ConnectAi` follows).
    RotateAi,
    /// End the call from our side: close the Twilio stream (so TwiML after `</Connect>` runs).
    Hangup {
        reason: String,
    },
    /// The call is over (after `stop`, a closed socket or a hangup): stop the AI session, finalize
    /// the recording, flush persistence.
    Ended,
}

/// Counters of what was refused or dropped, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounters {
    pub media_frames: u64,
    pub media_rejected: u64,
    /// Milliseconds of caller audio not sent to the AI because its session was down.
    pub caller_ms_dropped_ai_down: u64,
    pub deltas_forwarded: u64,
    pub deltas_dropped: u64,
    pub marks_echoed: u64,
    pub marks_unknown: u64,
    pub barge_ins: u64,
    pub ai_reconnects: u64,
    pub supervisor_actions: u64,
    /// What the AI did (usage metering): caller audio sent to it, its audio received, and the
    /// tokens its responses reported.
    pub ai_usage: AiUsage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingStart,
    Live,
    Ended,
}

/// The remembered AI item spans (caller and agent) are bounded.
const ITEMS_KEPT: usize = 64;

/// What a call keeps across a restart of its actor: the facts of the call (its stream, the
/// conversation so far, the marks in flight, the versions of its rows), copied out after every
/// step with [`CallCore::save_facts`]. A restarted actor builds a new core from them with
/// [`CallCore::resume`]; the state that panicked is never reused.
#[derive(Debug, Clone, Default)]
pub struct CallFacts {
    stream_sid: Option<String>,
    ended: bool,
    clock_ms: u64,
    answered: bool,
    counters: CallCounters,
    // The ledger's.
    version: i64,
    history: Vec<HistoryItem>,
    pending_agent: Vec<PendingAgent>,
    // Supervision's.
    mode: SupervisionMode,
    said_while_taken_over: Vec<String>,
    // Barge-in's.
    mark_seq: u64,
    marks: VecDeque<MarkInFlight>,
    assistant: Option<AssistantAudio>,
    agent_queue_end_ms: u64,
    interrupted: VecDeque<String>,
}

impl CallFacts {
    /// Whether the call's stream started (a restart has a call to resume).
    pub fn started(&self) -> bool {
        self.stream_sid.is_some()
    }

    pub fn ended(&self) -> bool {
        self.ended
    }
}

/// See the module documentation.
pub struct CallCore {
    config: CallConfig,
    phase: Phase,
    stream_sid: Option<String>,
    /// Latest Twilio media timestamp (the call clock), ms.
    clock_ms: u64,
    /// When the last media frame arrived, and when to look at it next (moved only by the timer,
    /// so that a frame costs a store, not a new timer).
    last_frame_at: Instant,
    idle_check_at: Option<Instant>,
    ai: AiLink,
    response_active: bool,
    barge_in: BargeIn,
    /// `end_call` was requested: the reason, and whether the goodbye response has started (the
    /// call ends once it has played out).
    hangup_after_goodbye: Option<(String, bool)>,
    /// Function calls the shell is running, and what follows them.
    tools: ToolCalls,
    /// When the call reaches its longest allowed duration.
    max_end_at: Option<Instant>,
    /// `call_answered` has been written (the first AI session came up).
    answered: bool,
    supervised: Supervised,
    ledger: Ledger,
    counters: CallCounters,
    events: VecDeque<CallEvent>,
}

impl CallCore {
    pub fn new(config: CallConfig) -> Self {
        let started = config.started;
        CallCore {
            phase: Phase::AwaitingStart,
            stream_sid: None,
            clock_ms: 0,
            last_frame_at: started,
            idle_check_at: None,
            ai: AiLink::Idle,
            response_active: false,
            barge_in: BargeIn::new(),
            hangup_after_goodbye: None,
            tools: ToolCalls::default(),
            max_end_at: None,
            answered: false,
            supervised: Supervised::new(),
            ledger: Ledger::new(&config),
            counters: CallCounters::default(),
            events: VecDeque::new(),
            config,
        }
    }

    /// The same core, with its rows' ids drawn from `ids` (UUIDv7 by default). Set it before the
    /// first input: with [`IdSource::Sequential`] and the same `now`s, the same inputs give the
    /// same rows.
    pub fn with_ids(mut self, ids: IdSource) -> Self {
        self.ledger.set_ids(ids);
        self
    }

    /// A new core for a call whose actor was restarted, from the facts the previous one kept.
    /// The AI session is reopened at once (`cause` names why) and the conversation replayed,
    /// as after any AI failure; audio that was playing goes on, and its marks are still known.
    pub fn resume(config: CallConfig, facts: &CallFacts, now: Instant, cause: &str) -> Self {
        let mut core = CallCore::new(config);
        core.stream_sid = facts.stream_sid.clone();
        core.clock_ms = facts.clock_ms;
        core.answered = facts.answered;
        core.counters = facts.counters;
        core.ledger.restore(facts);
        core.supervised.restore(facts);
        core.barge_in.restore(facts);
        if facts.ended {
            core.phase = Phase::Ended;
        } else if facts.stream_sid.is_some() {
            core.phase = Phase::Live;
            core.last_frame_at = now;
            core.idle_check_at = Some(now + core.config.stream_idle);
            // The session the previous actor had is lost with it.
            core.ai = AiLink::Ready { rotate_at: now };
            core.on_ai_lost(now, cause);
        }
        core
    }

    /// Copies the call's facts into `facts` (kept outside the actor). Cheap enough for every
    /// step: only what changed is copied, into the buffers `facts` has.
    pub fn save_facts(&self, facts: &mut CallFacts) {
        if facts.stream_sid.is_none() && self.stream_sid.is_some() {
            facts.stream_sid.clone_from(&self.stream_sid);
        }
        facts.ended = self.phase == Phase::Ended;
        facts.clock_ms = self.clock_ms;
        facts.answered = self.answered;
        facts.counters = self.counters;
        self.ledger.save_facts(facts);
        self.supervised.save_facts(facts);
        self.barge_in.save_facts(facts);
    }

    /// Ends the call because its actor keeps failing (`call_ended`, reason `engine_error`):
    /// hang up rather than loop.
    pub fn on_engine_error(&mut self, now: Instant) {
        self.hang_up(
            now,
            "the call failed repeatedly in the engine",
            "engine_error",
        );
    }

    pub fn config(&self) -> &CallConfig {
        &self.config
    }

    pub fn counters(&self) -> CallCounters {
        self.counters
    }

    /// The Twilio stream, once started.
    pub fn stream_sid(&self) -> Option<&str> {
        self.stream_sid.as_deref()
    }

    /// The name of the mark to send after the media of the last [`DeltaAction::Forward`].
    pub fn mark_name(&self) -> &str {
        self.barge_in.mark_name()
    }

    /// The call clock (latest Twilio media timestamp), ms.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Whether the AI session is up and may be written to.
    pub fn ai_ready(&self) -> bool {
        self.ai.is_ready()
    }

    /// The next thing for the shell to do.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// When [`CallCore::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Ended {
            return None;
        }
        let live = self.phase == Phase::Live;
        [
            self.ai.deadline(),
            self.idle_check_at.filter(|_| live),
            self.max_end_at.filter(|_| live),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- Twilio side -------------------------------------------------------------------------

    /// `start`: the stream is up; the AI session is asked for. A second `start` is ignored
    /// (returns false).
    pub fn on_start(&mut self, now: Instant, stream_sid: &str) -> bool {
        if self.phase != Phase::AwaitingStart {
            return false;
        }
        self.phase = Phase::Live;
        self.stream_sid = Some(stream_sid.to_owned());
        self.last_frame_at = now;
        self.idle_check_at = Some(now + self.config.stream_idle);
        self.max_end_at = self.config.max_duration.map(|d| now + d);
        self.ledger
            .call_started(&mut self.events, now, self.clock_ms, stream_sid);
        self.ai = AiLink::Connecting { lost: None };
        self.events.push_back(CallEvent::ConnectAi);
        true
    }

    /// One inbound media frame, arrived at `now`, with Twilio's `timestamp` and `payload_ms` of
    /// audio.
    pub fn on_media(&mut self, now: Instant, timestamp_ms: u64, payload_ms: u64) -> MediaAction {
        if self.phase != Phase::Live {
            self.counters.media_rejected += 1;
            return MediaAction::Reject;
        }
        self.counters.media_frames += 1;
        self.last_frame_at = now;
        self.clock_ms = self.clock_ms.max(timestamp_ms);
        if self.ai.is_ready() {
            self.counters.ai_usage.audio_in_ms += payload_ms;
            MediaAction::Forward {
                caller_at_ms: timestamp_ms,
            }
        } else if self.ai.is_first_connecting() {
            // Sent once the session is up.
            self.counters.ai_usage.audio_in_ms += payload_ms;
            MediaAction::Hold {
                caller_at_ms: timestamp_ms,
            }
        } else {
            self.counters.caller_ms_dropped_ai_down += payload_ms;
            MediaAction::RecordOnly {
                caller_at_ms: timestamp_ms,
            }
        }
    }

    /// A mark echo from Twilio: the audio before it has played (or was cleared).
    pub fn on_mark(&mut self, name: &str) {
        if !self.barge_in.echo(name, self.clock_ms) {
            self.counters.marks_unknown += 1;
            return;
        }
        self.counters.marks_echoed += 1;
        if !self.barge_in.is_playing() {
            self.settle_agent_messages();
        }
        self.hang_up_if_played();
    }

    /// A key press.
    pub fn on_dtmf(&mut self, now: Instant, digit: char) {
        if self.phase == Phase::Live {
            self.ledger.system_message(
                &mut self.events,
                now,
                self.clock_ms,
                SystemEventKind::Dtmf,
                json!({ "digit": digit.to_string() }),
            );
            // The model hears of it as context (e.g. an account number typed on the keypad).
            if self.ai.is_ready() {
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SystemText(format!(
                        "The caller pressed the key {digit} on their phone keypad."
                    ))));
            }
        }
    }

    /// `stop`, or the Twilio socket closed: the call is over.
    pub fn on_stop(&mut self, now: Instant, reason: &str) {
        self.end(now, reason);
    }

    /// The engine is shutting down: hang up and end the call now (`call_ended` with reason
    /// `engine_shutdown`), so that its end, status and recording are written while the
    /// persistence path still runs. Nothing for a call that has already ended.
    pub fn on_shutdown(&mut self, now: Instant) {
        self.hang_up(now, "the engine is shutting down", "engine_shutdown");
    }

    /// Hangs up (`why` is logged) and ends the call with `reason`, unless it has ended.
    fn hang_up(&mut self, now: Instant, why: &str, reason: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.events.push_back(CallEvent::Hangup {
            reason: why.to_owned(),
        });
        self.end(now, reason);
    }

    // ---- AI side -----------------------------------------------------------------------------

    /// The AI socket is open: configure it, replay the conversation if this replaces a lost
    /// session, and record the gap.
    pub fn on_ai_connected(&mut self, now: Instant) {
        let Some(connected) = self.ai.connected(now, self.config.reconnect.max_session) else {
            return;
        };
        self.events
            .push_back(CallEvent::Ai(AiCommand::SessionUpdate));
        match connected {
            Connected::First if !self.answered => {
                // The agent is on the line.
                self.answered = true;
                if let Some(text) = &self.config.greeting {
                    let instructions = if text.is_empty() {
                        "Greet the caller briefly and ask how you can help.".to_owned()
                    } else {
                        format!("Greet the caller now. {text}")
                    };
                    self.events
                        .push_back(CallEvent::Ai(AiCommand::Respond { instructions }));
                }
                self.ledger.system_message(
                    &mut self.events,
                    now,
                    self.clock_ms,
                    SystemEventKind::CallAnswered,
                    json!({}),
                );
            }
            Connected::First => {}
            Connected::Replacing(lost) => {
                let history = self.ledger.history();
                self.events
                    .extend(history.iter().map(|item| CallEvent::Ai(item.replay())));
                let replayed_items = history.len();
                self.counters.ai_reconnects += 1;
                let gap_ms = now.saturating_duration_since(lost.since).as_millis() as u64;
                self.ledger.system_message(
                    &mut self.events,
                    now,
                    self.clock_ms,
                    SystemEventKind::AiReconnected,
                    json!({ "cause": lost.cause, "gap_ms": gap_ms, "attempts": lost.attempt,
                            "replayed_items": replayed_items }),
                );
            }
        }
    }

    /// The AI session failed (socket closed, fatal error, expiry, panic) or could not connect.
    pub fn on_ai_lost(&mut self, now: Instant, cause: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.response_active = false;
        if let Some(attempts) = self.ai.lost(now, cause, &self.config.reconnect) {
            self.ledger.system_message(
                &mut self.events,
                now,
                self.clock_ms,
                SystemEventKind::AiUnavailable,
                json!({ "cause": cause, "attempts": attempts }),
            );
            self.events.push_back(CallEvent::Hangup {
                reason: format!("AI session unavailable: {cause}"),
            });
            self.end(now, "ai_unavailable");
        }
    }

    /// Timers: end a stalled stream; reconnect after backoff; rotate a session before the
    /// provider's limit.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Live && self.max_end_at.is_some_and(|at| now >= at) {
            self.max_end_at = None;
            self.hang_up(
                now,
                "the call reached its longest allowed duration",
                "max_duration",
            );
            return;
        }
        if self.phase == Phase::Live
            && let Some(check_at) = self.idle_check_at
            && now >= check_at
        {
            let idle_until = self.last_frame_at + self.config.stream_idle;
            if now >= idle_until {
                self.idle_check_at = None;
                self.events.push_back(CallEvent::Hangup {
                    reason: format!(
                        "no media frame for {} ms",
                        now.saturating_duration_since(self.last_frame_at)
                            .as_millis()
                    ),
                });
                self.end(now, "stream_idle");
                return;
            }
            self.idle_check_at = Some(idle_until);
        }
        match self.ai.handle_timeout(now, self.phase == Phase::Live) {
            Some(AiTimer::Reconnect) => self.events.push_back(CallEvent::ConnectAi),
            Some(AiTimer::Rotate) => {
                self.events.push_back(CallEvent::RotateAi);
                self.events.push_back(CallEvent::ConnectAi);
            }
            None => {}
        }
    }

    pub fn on_response_created(&mut self) {
        if self.supervised.is_taken_over() {
            // The AI is silent while a supervisor has the call (it was told not to respond;
            // this one was already on its way).
            self.events
                .push_back(CallEvent::Ai(AiCommand::CancelResponse));
            return;
        }
        self.response_active = true;
        if let Some((_, goodbye_started)) = &mut self.hangup_after_goodbye {
            *goodbye_started = true;
        }
    }

    /// A response finished; `usage` is the tokens it reported, if any.
    pub fn on_response_done(&mut self, usage: Option<TokenUsage>) {
        if let Some(usage) = usage {
            self.counters.ai_usage.input_tokens += usage.input_tokens;
            self.counters.ai_usage.output_tokens += usage.output_tokens;
        }
        self.response_active = false;
        self.after_response();
        self.hang_up_if_played();
    }

    /// An assistant audio delta of `audio_ms` for `item_id`.
    pub fn on_audio_delta(&mut self, item_id: &str, audio_ms: u64) -> DeltaAction {
        self.counters.ai_usage.audio_out_ms += audio_ms;
        if self.phase != Phase::Live
            || self.supervised.is_taken_over()
            || self.barge_in.is_interrupted(item_id)
        {
            self.counters.deltas_dropped += 1;
            return DeltaAction::Drop;
        }
        let play_at_ms = self.barge_in.forward(item_id, audio_ms, self.clock_ms);
        self.counters.deltas_forwarded += 1;
        DeltaAction::Forward { play_at_ms }
    }

    /// The AI's VAD heard the caller start: barge in if assistant audio is still queued.
    pub fn on_speech_started(&mut self, now: Instant, item_id: &str, audio_start_ms: u64) {
        self.ledger.speech_started(item_id, audio_start_ms);
        if !self.barge_in.is_playing() {
            return;
        }
        if let Some(cut) = self.cut_assistant_audio() {
            self.counters.barge_ins += 1;
            self.ledger.system_message(
                &mut self.events,
                now,
                self.clock_ms,
                SystemEventKind::BargeIn,
                json!({ "item_id": cut.item_id, "audio_end_ms": cut.played_ms,
                        "sent_ms": cut.sent_ms }),
            );
        }
    }

    /// Stops the assistant audio in flight where the caller has heard it: truncate the item at
    /// the audio played, clear Twilio's buffer, cancel the response if it is still running, and
    /// write the agent messages held for it.
    fn cut_assistant_audio(&mut self) -> Option<Cut> {
        let cut = self.barge_in.cut(self.clock_ms)?;
        self.events.push_back(CallEvent::Ai(AiCommand::Truncate {
            item_id: cut.item_id.clone(),
            audio_end_ms: cut.played_ms,
        }));
        self.events.push_back(CallEvent::ClearTwilio);
        if self.response_active {
            self.events
                .push_back(CallEvent::Ai(AiCommand::CancelResponse));
            self.response_active = false;
        }
        self.settle_agent_messages();
        Some(cut)
    }

    // ---- Supervisors -------------------------------------------------------------------------

    /// Who speaks to the caller now.
    pub fn supervision_mode(&self) -> SupervisionMode {
        self.supervised.mode()
    }

    /// A supervisor's command. Each one is written as a `supervisor_action` event and a system
    /// message (who, what, when); a whisper also as an internal note.
    ///
    /// Barging in and taking over both cut the assistant audio in flight, as a caller's barge-in
    /// does: the supervisor is heard at once instead of after the audio Twilio still holds.
    pub fn on_supervisor(
        &mut self,
        now: Instant,
        by: &Supervisor,
        command: SupervisorCommand,
    ) -> Result<(), SuperviseError> {
        if self.phase == Phase::Ended {
            return Err(SuperviseError::Ended);
        }
        let action = command.action();
        let hangup = command == SupervisorCommand::Hangup;
        let mut details = json!({ "action": action, "supervisor": by });
        match command {
            SupervisorCommand::Whisper(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Err(SuperviseError::EmptyWhisper);
                }
                let guidance = supervised::guidance(text);
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SystemText(guidance.clone())));
                self.ledger.remember(HistoryItem::System(guidance));
                details["text"] = json!(text);
                self.ledger.whisper(&mut self.events, now, by, text);
            }
            SupervisorCommand::Barge => {
                self.supervised.barge()?;
                self.cut_assistant_audio();
            }
            SupervisorCommand::Unbarge => self.supervised.unbarge()?,
            SupervisorCommand::Takeover => {
                self.supervised.take_over();
                if self.cut_assistant_audio().is_none() && self.response_active {
                    self.events
                        .push_back(CallEvent::Ai(AiCommand::CancelResponse));
                }
                self.response_active = false;
                // The session stops answering turns (the shell sends `create_response: false`).
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SessionUpdate));
            }
            SupervisorCommand::Release => {
                let released = self.supervised.release()?;
                details["replayed_utterances"] = json!(released.replayed);
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SessionUpdate));
                self.events.push_back(CallEvent::Ai(AiCommand::SystemText(
                    released.context.clone(),
                )));
                self.ledger.remember(HistoryItem::System(released.context));
                self.events
                    .push_back(CallEvent::Ai(AiCommand::CreateResponse));
            }
            SupervisorCommand::Hangup => {}
        }
        self.counters.supervisor_actions += 1;
        self.ledger.event(
            &mut self.events,
            now,
            EventType::SupervisorAction,
            details.clone(),
        );
        self.ledger.system_message(
            &mut self.events,
            now,
            self.clock_ms,
            SystemEventKind::SupervisorAction,
            details,
        );
        if hangup {
            self.events.push_back(CallEvent::Hangup {
                reason: format!("hung up by supervisor {}", by.name),
            });
            self.end(now, "supervisor_hangup");
        }
        Ok(())
    }

    pub fn on_speech_stopped(&mut self, item_id: &str, audio_end_ms: u64) {
        self.ledger.speech_stopped(item_id, audio_end_ms);
    }

    /// The caller's words, transcribed.
    pub fn on_input_transcript(
        &mut self,
        now: Instant,
        item_id: &str,
        transcript: &str,
        language: Option<&str>,
    ) {
        self.ledger
            .caller_transcript(&mut self.events, now, item_id, transcript, language);
        self.supervised.caller_said(transcript);
    }

    /// The agent's words (the transcript of its audio). The transcript usually arrives before
    /// its audio has played (the model speaks faster than real time): the message is then held
    /// until the audio has played out, or was cut by a barge-in — so that it can say what the
    /// caller actually heard (`interrupted`, `heard_ms` of `total_ms`).
    pub fn on_output_transcript(&mut self, now: Instant, item_id: &str, transcript: &str) {
        self.ledger
            .remember(HistoryItem::Assistant(transcript.to_owned()));
        if self.barge_in.is_playing_item(item_id) && self.phase == Phase::Live {
            self.ledger.hold_agent(PendingAgent {
                at: now,
                item_id: item_id.to_owned(),
                transcript: transcript.to_owned(),
            });
            return;
        }
        self.agent_message(now, item_id, transcript);
    }

    /// Writes the agent messages held while their audio played.
    fn settle_agent_messages(&mut self) {
        for pending in self.ledger.take_held_agent() {
            self.agent_message(pending.at, &pending.item_id, &pending.transcript);
        }
    }

    fn agent_message(&mut self, now: Instant, item_id: &str, transcript: &str) {
        let span = self.barge_in.take_span(item_id);
        self.ledger
            .agent_transcript(&mut self.events, now, item_id, transcript, span);
    }

    /// An `error` event from the AI: recorded; fatal ones also end the session (the shell then
    /// reports `on_ai_lost`).
    pub fn on_ai_error(&mut self, now: Instant, code: Option<&str>, message: &str) {
        self.ledger.event(
            &mut self.events,
            now,
            EventType::Error,
            json!({ "source": "ai", "code": code, "message": message }),
        );
    }

    // ---- internals ---------------------------------------------------------------------------

    fn hang_up_if_played(&mut self) {
        let goodbye_played = matches!(self.hangup_after_goodbye, Some((_, true)))
            && !self.barge_in.is_playing()
            && !self.response_active
            && self.phase == Phase::Live;
        if goodbye_played && let Some((reason, _)) = self.hangup_after_goodbye.take() {
            self.events.push_back(CallEvent::Hangup { reason });
        }
    }

    fn end(&mut self, now: Instant, reason: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        let was_live = self.phase == Phase::Live;
        self.settle_agent_messages();
        self.phase = Phase::Ended;
        self.ledger.call_ended(
            &mut self.events,
            now,
            self.clock_ms,
            reason,
            was_live,
            self.counters.ai_usage,
        );
        self.events.push_back(CallEvent::Ended);
    }
}

#[cfg(test)]
mod tests;
