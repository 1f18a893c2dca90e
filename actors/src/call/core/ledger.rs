//! The ledger: every row the call writes (messages, system messages, events, call and conversation
//! updates) and what they are built from: the conversation so far (also replayed to a new AI
//! session), the caller's utterance spans, agent messages held while their audio plays, and the
//! versions of the call's updates.
//!
//! It reads no clock: row times come from the `now` it is given (mapped to wall time through the
//! call's `started`/`started_wall`). Row ids come from its [`IdSource`]: UUIDv7 in production (the
//! one place the system clock and randomness still enter), [`IdSource::Sequential`] where the
//! same inputs must give the same rows.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::barge_in::AgentSpan;
use super::{AiCommand, CallConfig, CallEvent, CallFacts, ITEMS_KEPT};
use crate::call::supervision::Supervisor;
use crate::domain::{
    CallStatus, ConversationStatus, EventType, MessageDirection, MessageType, SenderType,
    SystemEvent, SystemEventKind,
};
use crate::persistence::{
    AiUsage, CallUpdate, ConversationUpdate, NewEvent, NewMessage, PersistItem, Sender,
};

/// Where the ids of a call's rows come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum IdSource {
    /// UUIDv7: time-ordered, unique across calls and engines.
    #[default]
    V7,
    /// The given number, then the next ones, as UUIDs: deterministic (tests, replays).
    Sequential(u128),
}

impl IdSource {
    /// The next row's id.
    pub fn next_id(&mut self) -> Uuid {
        match self {
            IdSource::V7 => Uuid::now_v7(),
            IdSource::Sequential(next) => {
                let id = Uuid::from_u128(*next);
                *next += 1;
                id
            }
        }
    }
}

/// An item of the conversation, replayed to a new AI session.
#[derive(Debug, Clone)]
pub(super) enum HistoryItem {
    User(String),
    Assistant(String),
    System(String),
}

impl HistoryItem {
    pub(super) fn replay(&self) -> AiCommand {
        match self {
            HistoryItem::User(text) => AiCommand::ReplayUser(text.clone()),
            HistoryItem::Assistant(text) => AiCommand::ReplayAssistant(text.clone()),
            HistoryItem::System(text) => AiCommand::SystemText(text.clone()),
        }
    }
}

/// An agent transcript held until its audio has played (see [`super::CallCore::on_output_transcript`]).
#[derive(Debug, Clone)]
pub(super) struct PendingAgent {
    pub(super) at: Instant,
    pub(super) item_id: String,
    pub(super) transcript: String,
}

/// One utterance's audio span, from the AI's VAD, on the AI's input clock.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start_ms: Option<u64>,
    end_ms: Option<u64>,
}

/// See the module documentation.
pub(super) struct Ledger {
    ids: IdSource,
    org_id: Uuid,
    call_id: Uuid,
    conversation_id: Uuid,
    caller_number: String,
    agent_name: String,
    started: Instant,
    started_wall: DateTime<Utc>,
    version: i64,
    history: Vec<HistoryItem>,
    /// Agent transcripts whose audio is still playing: written once it has played out, or was
    /// cut (then with what the caller heard), or the call ended.
    pending_agent: Vec<PendingAgent>,
    /// Caller utterance spans by item id.
    spans: HashMap<String, Span>,
}

impl Ledger {
    pub(super) fn new(config: &CallConfig) -> Self {
        Ledger {
            ids: IdSource::default(),
            org_id: config.org_id,
            call_id: config.call_id,
            conversation_id: config.conversation_id,
            caller_number: config.caller_number.clone(),
            agent_name: config.agent_name.clone(),
            started: config.started,
            started_wall: config.started_wall,
            version: config.version_base,
            history: Vec::new(),
            pending_agent: Vec::new(),
            spans: HashMap::new(),
        }
    }

    pub(super) fn set_ids(&mut self, ids: IdSource) {
        self.ids = ids;
    }

    pub(super) fn restore(&mut self, facts: &CallFacts) {
        self.version = facts.version;
        self.history = facts.history.clone();
        self.pending_agent = facts.pending_agent.clone();
    }

    /// Cheap enough for every step: the history is append-only and only its new items are
    /// copied.
    pub(super) fn save_facts(&self, facts: &mut CallFacts) {
        facts.version = self.version;
        if facts.history.len() < self.history.len() {
            facts
                .history
                .extend_from_slice(&self.history[facts.history.len()..]);
        }
        // It changes by a push or by emptying: its length says whether it changed.
        if facts.pending_agent.len() != self.pending_agent.len() {
            facts.pending_agent.clone_from(&self.pending_agent);
        }
    }

    /// The wall-clock time of `now`.
    pub(super) fn wall(&self, now: Instant) -> DateTime<Utc> {
        let since = now.saturating_duration_since(self.started);
        self.started_wall + chrono::Duration::from_std(since).unwrap_or_default()
    }

    pub(super) fn history(&self) -> &[HistoryItem] {
        &self.history
    }

    pub(super) fn remember(&mut self, item: HistoryItem) {
        self.history.push(item);
    }

    /// Holds an agent transcript until its audio has played.
    pub(super) fn hold_agent(&mut self, pending: PendingAgent) {
        self.pending_agent.push(pending);
    }

    /// The agent transcripts held, to be written now.
    pub(super) fn take_held_agent(&mut self) -> Vec<PendingAgent> {
        std::mem::take(&mut self.pending_agent)
    }

    pub(super) fn speech_started(&mut self, item_id: &str, audio_start_ms: u64) {
        self.span(item_id).start_ms = Some(audio_start_ms);
    }

    pub(super) fn speech_stopped(&mut self, item_id: &str, audio_end_ms: u64) {
        self.span(item_id).end_ms = Some(audio_end_ms);
    }

    fn span(&mut self, item_id: &str) -> &mut Span {
        if !self.spans.contains_key(item_id) && self.spans.len() >= ITEMS_KEPT {
            self.spans.clear();
        }
        self.spans.entry(item_id.to_owned()).or_default()
    }

    /// `call_started`, and the call in progress on `stream_sid`.
    pub(super) fn call_started(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        clock_ms: u64,
        stream_sid: &str,
    ) {
        self.system_message(
            out,
            now,
            clock_ms,
            SystemEventKind::CallStarted,
            json!({ "stream_sid": stream_sid }),
        );
        let version = self.next_version();
        persist(
            out,
            CallUpdate {
                call_id: self.call_id,
                version,
                status: Some(CallStatus::InProgress),
                stream_sid: Some(stream_sid.to_owned()),
                answered_at: Some(self.wall(now)),
                ..Default::default()
            },
        );
    }

    /// `call_ended`, and the call (completed if it went live, else failed) and its conversation
    /// closed.
    pub(super) fn call_ended(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        clock_ms: u64,
        reason: &str,
        was_live: bool,
        ai_usage: AiUsage,
    ) {
        let duration = now.saturating_duration_since(self.started);
        let at = self.wall(now);
        self.system_message(
            out,
            now,
            clock_ms,
            SystemEventKind::CallEnded,
            json!({ "reason": reason, "duration_ms": duration.as_millis() as u64 }),
        );
        let version = self.next_version();
        persist(
            out,
            CallUpdate {
                call_id: self.call_id,
                version,
                status: Some(if was_live {
                    CallStatus::Completed
                } else {
                    CallStatus::Failed
                }),
                ended_at: Some(at),
                duration_seconds: Some(duration.as_secs() as i32),
                ai_usage: Some(ai_usage),
                ..Default::default()
            },
        );
        let version = self.next_version();
        persist(
            out,
            ConversationUpdate {
                conversation_id: self.conversation_id,
                version,
                status: Some(ConversationStatus::Completed),
                completed_at: Some(at),
                last_activity_at: Some(at),
                ..Default::default()
            },
        );
    }

    /// The caller's words, with their audio span, and remembered for the AI.
    pub(super) fn caller_transcript(
        &mut self,
        out: &mut VecDeque<CallEvent>,
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
            identifier: self.caller_number.clone(),
            name: None,
            sender_type: SenderType::Customer,
            phone_number: Some(self.caller_number.clone()),
        };
        let row = self.message_row(
            now,
            MessageType::Transcript,
            MessageDirection::Inbound,
            sender,
            transcript,
            metadata,
        );
        persist(out, row);
        self.history.push(HistoryItem::User(transcript.to_owned()));
    }

    /// The agent's words, with where their audio played and, if it was cut, what the caller
    /// heard of it.
    pub(super) fn agent_transcript(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        item_id: &str,
        transcript: &str,
        span: Option<AgentSpan>,
    ) {
        let mut metadata = json!({ "provider_item_id": item_id });
        if let Some(span) = span {
            let end = span.start_ms + span.cut_at_ms.unwrap_or(span.sent_ms);
            metadata["audio_start_time"] = json!(span.start_ms as f64 / 1000.0);
            metadata["audio_end_time"] = json!(end as f64 / 1000.0);
            if let Some(cut) = span.cut_at_ms {
                metadata["interrupted_at_ms"] = json!(cut);
                metadata["interrupted"] = json!(true);
                metadata["heard_ms"] = json!(cut);
                metadata["total_ms"] = json!(span.sent_ms);
            }
        }
        let sender = Sender {
            identifier: "ai".to_owned(),
            name: Some(self.agent_name.clone()),
            sender_type: SenderType::Ai,
            phone_number: None,
        };
        let row = self.message_row(
            now,
            MessageType::Transcript,
            MessageDirection::Outbound,
            sender,
            transcript,
            metadata,
        );
        persist(out, row);
    }

    /// A supervisor's whisper, as an internal note.
    pub(super) fn whisper(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        by: &Supervisor,
        text: &str,
    ) {
        let sender = Sender {
            identifier: by.id.clone(),
            name: Some(by.name.clone()),
            sender_type: SenderType::Supervisor,
            phone_number: None,
        };
        let metadata = json!({ "whisper": true, "call_id": self.call_id });
        let row = self.message_row(
            now,
            MessageType::Note,
            MessageDirection::Internal,
            sender,
            text,
            metadata,
        );
        persist(out, row);
    }

    /// A system message of `kind`, stamped with the call clock.
    pub(super) fn system_message(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        clock_ms: u64,
        kind: SystemEventKind,
        mut details: serde_json::Value,
    ) {
        details["system_event_type"] = json!(kind.as_str());
        // Names the call, not only its conversation (live events are published per call).
        details["call_id"] = json!(self.call_id);
        details["is_automated"] = json!(true);
        details["call_clock_ms"] = json!(clock_ms);
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
            call_id: self.call_id,
        });
        persist(out, row);
    }

    pub(super) fn event(
        &mut self,
        out: &mut VecDeque<CallEvent>,
        now: Instant,
        event_type: EventType,
        details: serde_json::Value,
    ) {
        let row = NewEvent {
            id: self.ids.next_id(),
            org_id: self.org_id,
            conversation_id: self.conversation_id,
            message_id: None,
            event_type,
            details,
            occurred_at: self.wall(now),
        };
        persist(out, row);
    }

    fn next_version(&mut self) -> i64 {
        self.version += 1;
        self.version
    }

    fn message_row(
        &mut self,
        now: Instant,
        message_type: MessageType,
        direction: MessageDirection,
        sender: Sender,
        content: &str,
        metadata: serde_json::Value,
    ) -> NewMessage {
        NewMessage {
            id: self.ids.next_id(),
            org_id: self.org_id,
            conversation_id: self.conversation_id,
            message_type,
            direction,
            sender,
            content: content.to_owned(),
            timestamp: self.wall(now),
            metadata,
            system_event: None,
        }
    }
}

/// Queues a row. Text from the caller, the model or a frame may hold a NUL character, which
/// PostgreSQL cannot store: it is replaced, so that the row is not set aside as poison.
fn persist(out: &mut VecDeque<CallEvent>, row: impl Into<PersistItem>) {
    out.push_back(CallEvent::Persist(row.into().storable()));
}
