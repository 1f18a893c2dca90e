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
//! Barge-in: every forwarded assistant delta is followed by a Twilio mark named by a sequence number;
//! Twilio echoes a mark once the audio before it has played (or at once after `clear`). When the
//! caller starts speaking while assistant audio is still queued, the audio actually played is the
//! last echoed mark's position plus the call-clock time since that echo, never more than was sent:
//! that is the `audio_end_ms` of the truncate. Then Twilio's buffer is cleared, the response is
//! cancelled if still running, and late deltas of the interrupted item are dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::supervision::{SuperviseError, SupervisionMode, Supervisor, SupervisorCommand};
use crate::domain::{
    AudioFormat, CallStatus, ConversationStatus, EventType, MessageDirection, MessageType,
    SenderType, SystemEvent, SystemEventKind,
};
use crate::persistence::{
    CallUpdate, ConversationUpdate, NewEvent, NewMessage, PersistItem, Sender,
};

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
    /// `conversation.item.create`, system `input_text`: a supervisor's whisper, or the context
    /// of a taken-over stretch of the call.
    SystemText(String),
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingStart,
    Live,
    Ended,
}

#[derive(Debug, Clone)]
enum AiLink {
    /// Not asked for yet (before `start`).
    Idle,
    /// `ConnectAi` issued; `cause` is why, when it replaces a lost session.
    Connecting {
        lost: Option<Lost>,
    },
    Ready {
        rotate_at: Instant,
    },
    Down {
        lost: Lost,
        retry_at: Instant,
    },
    GaveUp,
}

#[derive(Debug, Clone)]
struct Lost {
    cause: String,
    since: Instant,
    attempt: u32,
}

/// The assistant item whose audio is being forwarded.
#[derive(Debug, Clone)]
struct AssistantAudio {
    item_id: String,
    /// Audio forwarded to Twilio for this item, ms.
    sent_ms: u64,
    /// Call-clock ms at which its first audio plays.
    first_play_at_ms: u64,
    /// Last echoed mark of this item: (position in the item, call clock at the echo).
    echoed: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
struct MarkInFlight {
    seq: u64,
    /// Position in the item, ms, once the audio before the mark has played.
    item_ms: u64,
}

/// One utterance's audio span, from the AI's VAD, on the AI's input clock.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start_ms: Option<u64>,
    end_ms: Option<u64>,
}

#[derive(Debug, Clone)]
enum HistoryItem {
    User(String),
    Assistant(String),
    System(String),
}

/// An agent transcript held until its audio has played (see [`CallCore::on_output_transcript`]).
#[derive(Debug, Clone)]
struct PendingAgent {
    at: Instant,
    item_id: String,
    transcript: String,
}

/// The remembered AI item spans and interrupted items are bounded.
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
    version: i64,
    answered: bool,
    mode: SupervisionMode,
    history: Vec<HistoryItem>,
    said_while_taken_over: Vec<String>,
    mark_seq: u64,
    marks: VecDeque<MarkInFlight>,
    assistant: Option<AssistantAudio>,
    agent_queue_end_ms: u64,
    counters: CallCounters,
    pending_agent: Vec<PendingAgent>,
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
    assistant: Option<AssistantAudio>,
    marks: VecDeque<MarkInFlight>,
    mark_seq: u64,
    mark_name: String,
    /// Where queued assistant audio ends on the call clock (for recording positions).
    agent_queue_end_ms: u64,
    interrupted: VecDeque<String>,
    /// Caller utterance spans by item id.
    spans: HashMap<String, Span>,
    /// Agent item spans by item id: (start on the call clock, ms sent, cut at).
    agent_spans: HashMap<String, (u64, u64, Option<u64>)>,
    history: Vec<HistoryItem>,
    /// Agent transcripts whose audio is still playing: written once it has played out, or was
    /// cut (then with what the caller heard), or the call ended.
    pending_agent: Vec<PendingAgent>,
    /// `end_call` was requested: the reason, and whether the goodbye response has started (the
    /// call ends once it has played out).
    hangup_after_goodbye: Option<(String, bool)>,
    /// `call_answered` has been written (the first AI session came up).
    answered: bool,
    /// Who speaks to the caller: the AI, the AI with a supervisor mixed in, or a supervisor.
    mode: SupervisionMode,
    /// What the caller said while the call was taken over (replayed to the AI at release).
    said_while_taken_over: Vec<String>,
    version: i64,
    counters: CallCounters,
    events: VecDeque<CallEvent>,
}

impl CallCore {
    pub fn new(config: CallConfig) -> Self {
        let version = config.version_base;
        let started = config.started;
        CallCore {
            config,
            phase: Phase::AwaitingStart,
            stream_sid: None,
            clock_ms: 0,
            last_frame_at: started,
            idle_check_at: None,
            ai: AiLink::Idle,
            response_active: false,
            assistant: None,
            marks: VecDeque::new(),
            mark_seq: 0,
            mark_name: String::with_capacity(20),
            agent_queue_end_ms: 0,
            interrupted: VecDeque::new(),
            spans: HashMap::new(),
            agent_spans: HashMap::new(),
            history: Vec::new(),
            pending_agent: Vec::new(),
            hangup_after_goodbye: None,
            answered: false,
            mode: SupervisionMode::Ai,
            said_while_taken_over: Vec::new(),
            version,
            counters: CallCounters::default(),
            events: VecDeque::new(),
        }
    }

    /// A new core for a call whose actor was restarted, from the facts the previous one kept.
    /// The AI session is reopened at once (`cause` names why) and the conversation replayed,
    /// as after any AI failure; audio that was playing goes on, and its marks are still known.
    pub fn resume(config: CallConfig, facts: &CallFacts, now: Instant, cause: &str) -> Self {
        let mut core = CallCore::new(config);
        core.stream_sid = facts.stream_sid.clone();
        core.clock_ms = facts.clock_ms;
        core.version = facts.version;
        core.answered = facts.answered;
        core.mode = facts.mode;
        core.history = facts.history.clone();
        core.said_while_taken_over = facts.said_while_taken_over.clone();
        core.mark_seq = facts.mark_seq;
        core.marks = facts.marks.clone();
        core.assistant = facts.assistant.clone();
        core.agent_queue_end_ms = facts.agent_queue_end_ms;
        core.counters = facts.counters;
        core.pending_agent = facts.pending_agent.clone();
        core.interrupted = facts.interrupted.clone();
        if facts.ended {
            core.phase = Phase::Ended;
        } else if facts.stream_sid.is_some() {
            core.phase = Phase::Live;
            core.last_frame_at = now;
            core.idle_check_at = Some(now + core.config.stream_idle);
            core.ai = AiLink::Ready { rotate_at: now };
            core.on_ai_lost(now, cause);
        }
        core
    }

    /// Copies the call's facts into `facts` (kept outside the actor). Cheap enough for every
    /// step: the history is append-only and only its new items are copied; the rest reuses the
    /// buffers it has.
    pub fn save_facts(&self, facts: &mut CallFacts) {
        if facts.stream_sid.is_none() && self.stream_sid.is_some() {
            facts.stream_sid.clone_from(&self.stream_sid);
        }
        facts.ended = self.phase == Phase::Ended;
        facts.clock_ms = self.clock_ms;
        facts.version = self.version;
        facts.answered = self.answered;
        facts.mode = self.mode;
        if facts.history.len() < self.history.len() {
            facts
                .history
                .extend_from_slice(&self.history[facts.history.len()..]);
        }
        if facts.said_while_taken_over.len() != self.said_while_taken_over.len() {
            facts
                .said_while_taken_over
                .clone_from(&self.said_while_taken_over);
        }
        facts.mark_seq = self.mark_seq;
        facts.marks.clear();
        facts.marks.extend(self.marks.iter().copied());
        match (&mut facts.assistant, &self.assistant) {
            (Some(kept), Some(now)) if kept.item_id == now.item_id => {
                kept.sent_ms = now.sent_ms;
                kept.first_play_at_ms = now.first_play_at_ms;
                kept.echoed = now.echoed;
            }
            (kept, now) => kept.clone_from(now),
        }
        facts.agent_queue_end_ms = self.agent_queue_end_ms;
        facts.counters = self.counters;
        // Both change by a push or by emptying: their length says whether they changed.
        if facts.pending_agent.len() != self.pending_agent.len() {
            facts.pending_agent.clone_from(&self.pending_agent);
        }
        if facts.interrupted.back() != self.interrupted.back() {
            facts.interrupted.clone_from(&self.interrupted);
        }
    }

    /// Ends the call because its actor keeps failing (`call_ended`, reason `engine_error`):
    /// hang up rather than loop.
    pub fn on_engine_error(&mut self, now: Instant) {
        if self.phase == Phase::Ended {
            return;
        }
        self.events.push_back(CallEvent::Hangup {
            reason: "the call failed repeatedly in the engine".to_owned(),
        });
        self.end(now, "engine_error");
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
        &self.mark_name
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
        matches!(self.ai, AiLink::Ready { .. })
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
        let ai = match &self.ai {
            AiLink::Down { retry_at, .. } => Some(*retry_at),
            AiLink::Ready { rotate_at } => Some(*rotate_at),
            _ => None,
        };
        let idle = self.idle_check_at.filter(|_| self.phase == Phase::Live);
        match (ai, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
        self.system_message(
            now,
            SystemEventKind::CallStarted,
            json!({ "stream_sid": stream_sid }),
        );
        let version = self.next_version();
        self.persist(CallUpdate {
            call_id: self.config.call_id,
            version,
            status: Some(CallStatus::InProgress),
            stream_sid: Some(stream_sid.to_owned()),
            answered_at: Some(self.wall(now)),
            ..Default::default()
        });
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
        if self.ai_ready() {
            MediaAction::Forward {
                caller_at_ms: timestamp_ms,
            }
        } else if matches!(self.ai, AiLink::Connecting { lost: None }) {
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
        let Ok(seq) = name.parse::<u64>() else {
            self.counters.marks_unknown += 1;
            return;
        };
        let mut matched = None;
        while let Some(front) = self.marks.front() {
            if front.seq > seq {
                break;
            }
            matched = self.marks.pop_front();
        }
        match matched {
            Some(mark) if mark.seq == seq => {
                self.counters.marks_echoed += 1;
                if let Some(item) = &mut self.assistant {
                    item.echoed = Some((mark.item_ms, self.clock_ms));
                }
                if self.marks.is_empty() {
                    self.settle_agent_messages();
                }
                self.hang_up_if_played();
            }
            _ => self.counters.marks_unknown += 1,
        }
    }

    /// A key press.
    pub fn on_dtmf(&mut self, now: Instant, digit: char) {
        if self.phase == Phase::Live {
            self.system_message(
                now,
                SystemEventKind::Dtmf,
                json!({ "digit": digit.to_string() }),
            );
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
        if self.phase == Phase::Ended {
            return;
        }
        self.events.push_back(CallEvent::Hangup {
            reason: "the engine is shutting down".to_owned(),
        });
        self.end(now, "engine_shutdown");
    }

    // ---- AI side -----------------------------------------------------------------------------

    /// The AI socket is open: configure it, replay the conversation if this replaces a lost
    /// session, and record the gap.
    pub fn on_ai_connected(&mut self, now: Instant) {
        let AiLink::Connecting { lost } = std::mem::replace(&mut self.ai, AiLink::Idle) else {
            return;
        };
        self.ai = AiLink::Ready {
            rotate_at: now + self.config.reconnect.max_session,
        };
        self.events
            .push_back(CallEvent::Ai(AiCommand::SessionUpdate));
        if lost.is_none() && !self.answered {
            // The agent is on the line.
            self.answered = true;
            self.system_message(now, SystemEventKind::CallAnswered, json!({}));
        }
        if let Some(lost) = lost {
            for item in &self.history {
                self.events.push_back(CallEvent::Ai(match item {
                    HistoryItem::User(text) => AiCommand::ReplayUser(text.clone()),
                    HistoryItem::Assistant(text) => AiCommand::ReplayAssistant(text.clone()),
                    HistoryItem::System(text) => AiCommand::SystemText(text.clone()),
                }));
            }
            self.counters.ai_reconnects += 1;
            let gap_ms = now.saturating_duration_since(lost.since).as_millis() as u64;
            self.system_message(
                now,
                SystemEventKind::AiReconnected,
                json!({ "cause": lost.cause, "gap_ms": gap_ms, "attempts": lost.attempt,
                        "replayed_items": self.history.len() }),
            );
        }
    }

    /// The AI session failed (socket closed, fatal error, expiry, panic) or could not connect.
    pub fn on_ai_lost(&mut self, now: Instant, cause: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.response_active = false;
        let previous = match std::mem::replace(&mut self.ai, AiLink::Idle) {
            AiLink::Connecting { lost: Some(lost) } => Some(lost),
            AiLink::Down { lost, .. } => Some(lost),
            AiLink::GaveUp => {
                self.ai = AiLink::GaveUp;
                return;
            }
            _ => None,
        };
        let attempt = previous.as_ref().map_or(1, |l| l.attempt + 1);
        let since = previous.as_ref().map_or(now, |l| l.since);
        let policy = self.config.reconnect;
        if attempt > policy.max_attempts {
            self.ai = AiLink::GaveUp;
            self.system_message(
                now,
                SystemEventKind::AiUnavailable,
                json!({ "cause": cause, "attempts": attempt - 1 }),
            );
            self.events.push_back(CallEvent::Hangup {
                reason: format!("AI session unavailable: {cause}"),
            });
            self.end(now, "ai_unavailable");
            return;
        }
        let backoff = policy
            .base
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(policy.max);
        self.ai = AiLink::Down {
            lost: Lost {
                cause: cause.to_owned(),
                since,
                attempt,
            },
            retry_at: now
                + if attempt == 1 {
                    Duration::ZERO
                } else {
                    backoff
                },
        };
    }

    /// Timers: end a stalled stream; reconnect after backoff; rotate a session before the
    /// provider's limit.
    pub fn handle_timeout(&mut self, now: Instant) {
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
        match &self.ai {
            AiLink::Down { retry_at, lost } if now >= *retry_at => {
                self.ai = AiLink::Connecting {
                    lost: Some(lost.clone()),
                };
                self.events.push_back(CallEvent::ConnectAi);
            }
            AiLink::Ready { rotate_at } if now >= *rotate_at && self.phase == Phase::Live => {
                self.events.push_back(CallEvent::RotateAi);
                self.ai = AiLink::Connecting {
                    lost: Some(Lost {
                        cause: "rotation".to_owned(),
                        since: now,
                        attempt: 0,
                    }),
                };
                self.events.push_back(CallEvent::ConnectAi);
            }
            _ => {}
        }
    }

    pub fn on_response_created(&mut self) {
        if self.mode == SupervisionMode::TakenOver {
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

    pub fn on_response_done(&mut self) {
        self.response_active = false;
        self.hang_up_if_played();
    }

    /// An assistant audio delta of `audio_ms` for `item_id`.
    pub fn on_audio_delta(&mut self, item_id: &str, audio_ms: u64) -> DeltaAction {
        if self.phase != Phase::Live
            || self.mode == SupervisionMode::TakenOver
            || self.interrupted.iter().any(|i| i == item_id)
        {
            self.counters.deltas_dropped += 1;
            return DeltaAction::Drop;
        }
        self.agent_queue_end_ms = self.agent_queue_end_ms.max(self.clock_ms);
        let play_at_ms = self.agent_queue_end_ms;
        self.agent_queue_end_ms += audio_ms;
        let is_current = self
            .assistant
            .as_ref()
            .is_some_and(|a| a.item_id == item_id);
        if !is_current {
            self.assistant = Some(AssistantAudio {
                item_id: item_id.to_owned(),
                sent_ms: 0,
                first_play_at_ms: play_at_ms,
                echoed: None,
            });
            if self.agent_spans.len() >= ITEMS_KEPT {
                self.agent_spans.clear();
            }
            self.agent_spans
                .insert(item_id.to_owned(), (play_at_ms, 0, None));
        }
        let item = self.assistant.as_mut().expect("set above");
        item.sent_ms += audio_ms;
        if let Some(span) = self.agent_spans.get_mut(item_id) {
            span.1 = item.sent_ms;
        }
        self.mark_seq += 1;
        self.marks.push_back(MarkInFlight {
            seq: self.mark_seq,
            item_ms: item.sent_ms,
        });
        self.mark_name.clear();
        let _ = write!(self.mark_name, "{}", self.mark_seq);
        self.counters.deltas_forwarded += 1;
        DeltaAction::Forward { play_at_ms }
    }

    /// The AI's VAD heard the caller start: barge in if assistant audio is still queued.
    pub fn on_speech_started(&mut self, now: Instant, item_id: &str, audio_start_ms: u64) {
        self.span(item_id).start_ms = Some(audio_start_ms);
        if self.marks.is_empty() {
            return;
        }
        if let Some((item_id, played, sent_ms)) = self.cut_assistant_audio() {
            self.counters.barge_ins += 1;
            self.system_message(
                now,
                SystemEventKind::BargeIn,
                json!({ "item_id": item_id, "audio_end_ms": played, "sent_ms": sent_ms }),
            );
        }
    }

    /// Stops the assistant audio in flight where the caller has heard it: truncate the item at
    /// the audio played, clear Twilio's buffer, cancel the response if it is still running, and
    /// drop the item's late deltas. Returns (item, ms played, ms sent).
    fn cut_assistant_audio(&mut self) -> Option<(String, u64, u64)> {
        let item = self.assistant.take()?;
        let played = match item.echoed {
            Some((item_ms, at_clock)) => item_ms + self.clock_ms.saturating_sub(at_clock),
            None => self.clock_ms.saturating_sub(item.first_play_at_ms),
        }
        .min(item.sent_ms);
        self.events.push_back(CallEvent::Ai(AiCommand::Truncate {
            item_id: item.item_id.clone(),
            audio_end_ms: played,
        }));
        self.events.push_back(CallEvent::ClearTwilio);
        if self.response_active {
            self.events
                .push_back(CallEvent::Ai(AiCommand::CancelResponse));
            self.response_active = false;
        }
        self.marks.clear();
        self.agent_queue_end_ms = self.clock_ms;
        if let Some(span) = self.agent_spans.get_mut(&item.item_id) {
            span.2 = Some(played);
        }
        self.settle_agent_messages();
        if self.interrupted.len() >= 8 {
            self.interrupted.pop_front();
        }
        self.interrupted.push_back(item.item_id.clone());
        Some((item.item_id, played, item.sent_ms))
    }

    // ---- Supervisors -------------------------------------------------------------------------

    /// Who speaks to the caller now.
    pub fn supervision_mode(&self) -> SupervisionMode {
        self.mode
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
                let guidance = format!(
                    "Guidance from your supervisor (the caller does not hear this): {text}"
                );
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SystemText(guidance.clone())));
                self.history.push(HistoryItem::System(guidance));
                details["text"] = json!(text);
                let sender = Sender {
                    identifier: by.id.clone(),
                    name: Some(by.name.clone()),
                    sender_type: SenderType::Supervisor,
                    phone_number: None,
                };
                self.message(
                    now,
                    MessageType::Note,
                    MessageDirection::Internal,
                    sender,
                    text,
                    json!({ "whisper": true, "call_id": self.config.call_id }),
                );
            }
            SupervisorCommand::Barge => {
                if self.mode == SupervisionMode::TakenOver {
                    return Err(SuperviseError::TakenOver);
                }
                self.mode = SupervisionMode::Barged;
                self.cut_assistant_audio();
            }
            SupervisorCommand::Unbarge => {
                if self.mode != SupervisionMode::Barged {
                    return Err(SuperviseError::NotBarged);
                }
                self.mode = SupervisionMode::Ai;
            }
            SupervisorCommand::Takeover => {
                self.mode = SupervisionMode::TakenOver;
                self.said_while_taken_over.clear();
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
                if self.mode != SupervisionMode::TakenOver {
                    return Err(SuperviseError::NotTakenOver);
                }
                self.mode = SupervisionMode::Ai;
                let said = std::mem::take(&mut self.said_while_taken_over);
                let context = if said.is_empty() {
                    "A human supervisor spoke with the caller and has handed the call back to you. \
                     Continue the conversation."
                        .to_owned()
                } else {
                    format!(
                        "A human supervisor spoke with the caller and has handed the call back to \
                         you. Meanwhile the caller said: \"{}\". Continue the conversation.",
                        said.join(" ")
                    )
                };
                details["replayed_utterances"] = json!(said.len());
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SessionUpdate));
                self.events
                    .push_back(CallEvent::Ai(AiCommand::SystemText(context.clone())));
                self.history.push(HistoryItem::System(context));
                self.events
                    .push_back(CallEvent::Ai(AiCommand::CreateResponse));
            }
            SupervisorCommand::Hangup => {}
        }
        self.counters.supervisor_actions += 1;
        self.event(now, EventType::SupervisorAction, details.clone());
        self.system_message(now, SystemEventKind::SupervisorAction, details);
        if hangup {
            self.events.push_back(CallEvent::Hangup {
                reason: format!("hung up by supervisor {}", by.name),
            });
            self.end(now, "supervisor_hangup");
        }
        Ok(())
    }

    pub fn on_speech_stopped(&mut self, item_id: &str, audio_end_ms: u64) {
        self.span(item_id).end_ms = Some(audio_end_ms);
    }

    /// The caller's words, transcribed.
    pub fn on_input_transcript(
        &mut self,
        now: Instant,
        item_id: &str,
        transcript: &str,
        language: Option<&str>,
    ) {
        let span = self.spans.remove(item_id).unwrap_or_default();
        let mut metadata = json!({ "provider_item_id": item_id });
        if let Some(start) = span.start_ms {
            metadata["audio_start_time"] = json!(start as f64 / 1000.0);
        }
        if let Some(end) = span.end_ms {
            metadata["audio_end_time"] = json!(end as f64 / 1000.0);
        }
        if let Some(language) = language {
            metadata["language"] = json!(language);
        }
        let sender = Sender {
            identifier: self.config.caller_number.clone(),
            name: None,
            sender_type: SenderType::Customer,
            phone_number: Some(self.config.caller_number.clone()),
        };
        self.message(
            now,
            MessageType::Transcript,
            MessageDirection::Inbound,
            sender,
            transcript,
            metadata,
        );
        self.history.push(HistoryItem::User(transcript.to_owned()));
        if self.mode == SupervisionMode::TakenOver {
            self.said_while_taken_over.push(transcript.to_owned());
        }
    }

    /// The agent's words (the transcript of its audio). The transcript usually arrives before
    /// its audio has played (the model speaks faster than real time): the message is then held
    /// until the audio has played out, or was cut by a barge-in — so that it can say what the
    /// caller actually heard (`interrupted`, `heard_ms` of `total_ms`).
    pub fn on_output_transcript(&mut self, now: Instant, item_id: &str, transcript: &str) {
        self.history
            .push(HistoryItem::Assistant(transcript.to_owned()));
        let playing = !self.marks.is_empty()
            && self
                .assistant
                .as_ref()
                .is_some_and(|a| a.item_id == item_id);
        if playing && self.phase == Phase::Live {
            self.pending_agent.push(PendingAgent {
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
        for pending in std::mem::take(&mut self.pending_agent) {
            self.agent_message(pending.at, &pending.item_id, &pending.transcript);
        }
    }

    fn agent_message(&mut self, now: Instant, item_id: &str, transcript: &str) {
        let mut metadata = json!({ "provider_item_id": item_id });
        if let Some((start, sent, cut)) = self.agent_spans.remove(item_id) {
            let end = start + cut.unwrap_or(sent);
            metadata["audio_start_time"] = json!(start as f64 / 1000.0);
            metadata["audio_end_time"] = json!(end as f64 / 1000.0);
            if let Some(cut) = cut {
                metadata["interrupted_at_ms"] = json!(cut);
                metadata["interrupted"] = json!(true);
                metadata["heard_ms"] = json!(cut);
                metadata["total_ms"] = json!(sent);
            }
        }
        let sender = Sender {
            identifier: "ai".to_owned(),
            name: Some(self.config.agent_name.clone()),
            sender_type: SenderType::Ai,
            phone_number: None,
        };
        self.message(
            now,
            MessageType::Transcript,
            MessageDirection::Outbound,
            sender,
            transcript,
            metadata,
        );
    }

    /// The model called a function. `end_call` hangs up once the goodbye has played.
    pub fn on_function_call(&mut self, now: Instant, call_id: &str, name: &str, arguments: &str) {
        let args: serde_json::Value =
            serde_json::from_str(arguments).unwrap_or_else(|_| json!({ "raw": arguments }));
        self.event(
            now,
            EventType::FunctionCalled,
            json!({ "call_id": call_id, "name": name, "arguments": args }),
        );
        let output = if name == "end_call" {
            let reason = args
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("agent ended the call")
                .to_owned();
            // The response carrying the call is still finishing; the goodbye is the next one.
            self.hangup_after_goodbye = Some((reason, false));
            json!({ "ok": true, "note": "the call ends after your goodbye" })
        } else {
            json!({ "ok": false, "error": format!("unknown function {name}") })
        };
        self.events
            .push_back(CallEvent::Ai(AiCommand::FunctionOutput {
                call_id: call_id.to_owned(),
                output: output.to_string(),
            }));
        self.events
            .push_back(CallEvent::Ai(AiCommand::CreateResponse));
    }

    /// An `error` event from the AI: recorded; fatal ones also end the session (the shell then
    /// reports `on_ai_lost`).
    pub fn on_ai_error(&mut self, now: Instant, code: Option<&str>, message: &str) {
        self.event(
            now,
            EventType::Error,
            json!({ "source": "ai", "code": code, "message": message }),
        );
    }

    // ---- internals ---------------------------------------------------------------------------

    fn hang_up_if_played(&mut self) {
        let goodbye_played = matches!(self.hangup_after_goodbye, Some((_, true)))
            && self.marks.is_empty()
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
        let duration = now.saturating_duration_since(self.config.started);
        let at = self.wall(now);
        self.system_message(
            now,
            SystemEventKind::CallEnded,
            json!({ "reason": reason, "duration_ms": duration.as_millis() as u64 }),
        );
        let version = self.next_version();
        self.persist(CallUpdate {
            call_id: self.config.call_id,
            version,
            status: Some(if was_live {
                CallStatus::Completed
            } else {
                CallStatus::Failed
            }),
            ended_at: Some(at),
            duration_seconds: Some(duration.as_secs() as i32),
            ..Default::default()
        });
        let version = self.next_version();
        self.persist(ConversationUpdate {
            conversation_id: self.config.conversation_id,
            version,
            status: Some(ConversationStatus::Completed),
            completed_at: Some(at),
            last_activity_at: Some(at),
            ..Default::default()
        });
        self.events.push_back(CallEvent::Ended);
    }

    fn span(&mut self, item_id: &str) -> &mut Span {
        if !self.spans.contains_key(item_id) && self.spans.len() >= ITEMS_KEPT {
            self.spans.clear();
        }
        self.spans.entry(item_id.to_owned()).or_default()
    }

    fn wall(&self, now: Instant) -> DateTime<Utc> {
        let since = now.saturating_duration_since(self.config.started);
        self.config.started_wall + chrono::Duration::from_std(since).unwrap_or_default()
    }

    fn next_version(&mut self) -> i64 {
        self.version += 1;
        self.version
    }

    /// Queues a row. Text from the caller, the model or a frame may hold a NUL character, which
    /// PostgreSQL cannot store: it is replaced, so that the row is not set aside as poison.
    fn persist(&mut self, row: impl Into<PersistItem>) {
        self.events
            .push_back(CallEvent::Persist(row.into().storable()));
    }

    fn message(
        &mut self,
        now: Instant,
        message_type: MessageType,
        direction: MessageDirection,
        sender: Sender,
        content: &str,
        metadata: serde_json::Value,
    ) {
        let row = self.message_row(now, message_type, direction, sender, content, metadata);
        self.persist(row);
    }

    fn message_row(
        &self,
        now: Instant,
        message_type: MessageType,
        direction: MessageDirection,
        sender: Sender,
        content: &str,
        metadata: serde_json::Value,
    ) -> NewMessage {
        NewMessage {
            id: Uuid::now_v7(),
            org_id: self.config.org_id,
            conversation_id: self.config.conversation_id,
            message_type,
            direction,
            sender,
            content: content.to_owned(),
            timestamp: self.wall(now),
            metadata,
            system_event: None,
        }
    }

    fn system_message(
        &mut self,
        now: Instant,
        kind: SystemEventKind,
        mut details: serde_json::Value,
    ) {
        details["system_event_type"] = json!(kind.as_str());
        // Names the call, not only its conversation (live events are published per call).
        details["call_id"] = json!(self.config.call_id);
        details["is_automated"] = json!(true);
        details["call_clock_ms"] = json!(self.clock_ms);
        let sender = Sender {
            identifier: "system".to_owned(),
            name: None,
            sender_type: SenderType::System,
            phone_number: None,
        };
        let mut row = self.message_row(
            now,
            MessageType::System,
            MessageDirection::Internal,
            sender,
            kind.as_str(),
            details,
        );
        row.system_event = Some(SystemEvent {
            kind,
            call_id: self.config.call_id,
        });
        self.persist(row);
    }

    fn event(&mut self, now: Instant, event_type: EventType, details: serde_json::Value) {
        let row = NewEvent {
            id: Uuid::now_v7(),
            org_id: self.config.org_id,
            conversation_id: self.config.conversation_id,
            message_id: None,
            event_type,
            details,
            occurred_at: self.wall(now),
        };
        self.persist(row);
    }
}

#[cfg(test)]
mod tests;
