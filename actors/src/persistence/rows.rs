//! What producers persist: messages, events, and call/conversation updates, with ids (UUID v7) made
//! by the producer so that a retried write inserts nothing twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    CallStatus, ConversationStatus, EventType, MessageDirection, MessageType, Outcome, SenderType,
    Sentiment, SystemEvent,
};

/// The id of the default organization (single-tenant installs, and everything before accounts).
pub const DEFAULT_ORG: Uuid = Uuid::from_u128(1);

/// Who said or did something; stored as the message's `sender` JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    /// Stable id of the sender within its type: a phone number, an agent id, `ai`, `system`.
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub sender_type: SenderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// A new entry of a conversation (transcript segment, system event, note, …).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: Uuid,
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    pub message_type: MessageType,
    pub direction: MessageDirection,
    pub sender: Sender,
    pub content: String,
    pub timestamp: DateTime<Utc>,
    /// A JSON object: `audio_start_time`, `audio_end_time`, `confidence_score`, `language`,
    /// `system_event_type`, …
    pub metadata: serde_json::Value,
    /// For a call's system message: what it records, typed (not stored apart from `metadata`).
    pub system_event: Option<SystemEvent>,
}

/// A conversation- or message-level occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Option<Uuid>,
    pub event_type: EventType,
    /// A JSON object.
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// A change to a call. Fields left `None` keep their stored value. Updates are last-writer-wins by
/// `version` (e.g. microseconds of the producer's clock, or a per-call counter): an update whose
/// version is not above the stored one changes nothing, so a retried older update never overwrites
/// a newer one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallUpdate {
    pub call_id: Uuid,
    pub version: i64,
    pub status: Option<CallStatus>,
    pub stream_sid: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub agent: Option<String>,
    pub node: Option<String>,
    /// What the AI did on the call so far (cumulative; usage metering adds each increase).
    pub ai_usage: Option<AiUsage>,
}

/// A call's AI usage: audio sent to and received from the realtime model, and the tokens its
/// `response.done` events reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiUsage {
    pub audio_in_ms: u64,
    pub audio_out_ms: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A change to a conversation; same rules as [`CallUpdate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationUpdate {
    pub conversation_id: Uuid,
    pub version: i64,
    pub status: Option<ConversationStatus>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub satisfaction_score: Option<i16>,
    pub sentiment: Option<Sentiment>,
    pub outcome: Option<Outcome>,
    pub subject: Option<String>,
    pub ai_summary: Option<String>,
}

/// Overlays `newer` on `older` field by field: what `newer` sets wins, what it leaves `None` keeps
/// `older`'s value. Used to fold several updates of one row within a batch into one.
macro_rules! merge_fields {
    ($older:expr, $newer:expr; $($field:ident),+) => {{
        let (older, newer) = ($older, $newer);
        Self { $($field: newer.$field.or(older.$field),)+ ..newer }
    }};
}

impl CallUpdate {
    /// Folds two updates of the same call, the higher version on top.
    pub fn merge(self, other: CallUpdate) -> CallUpdate {
        let (older, newer) = if other.version >= self.version {
            (self, other)
        } else {
            (other, self)
        };
        merge_fields!(older, newer; status, stream_sid, answered_at, ended_at, duration_seconds, agent, node, ai_usage)
    }
}

impl ConversationUpdate {
    /// Folds two updates of the same conversation, the higher version on top.
    pub fn merge(self, other: ConversationUpdate) -> ConversationUpdate {
        let (older, newer) = if other.version >= self.version {
            (self, other)
        } else {
            (other, self)
        };
        merge_fields!(older, newer; status, last_activity_at, completed_at, satisfaction_score, sentiment, outcome, subject, ai_summary)
    }
}

/// A finished call recording (a WAV file, left channel the caller, right the agent).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecording {
    pub id: Uuid,
    pub org_id: Uuid,
    pub call_id: Uuid,
    pub path: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
    pub bytes: u64,
}

/// One row for the persistence actor.
#[derive(Debug, Clone, PartialEq)]
pub enum PersistItem {
    Message(NewMessage),
    Event(NewEvent),
    CallUpdate(CallUpdate),
    ConversationUpdate(ConversationUpdate),
    Recording(NewRecording),
}

impl PersistItem {
    /// The id to name in logs: the row's own id, or the updated row's.
    pub fn id(&self) -> Uuid {
        match self {
            PersistItem::Message(m) => m.id,
            PersistItem::Event(e) => e.id,
            PersistItem::CallUpdate(u) => u.call_id,
            PersistItem::ConversationUpdate(u) => u.conversation_id,
            PersistItem::Recording(r) => r.id,
        }
    }

    /// The row as PostgreSQL can store it: text cannot hold a NUL character, so one in a
    /// message's content, sender or JSON, or in an event's JSON, becomes U+FFFD. Producers of
    /// text they do not control (a live call's transcripts) use it; a row that still cannot be
    /// stored is poison, reported and skipped by the persistence actor.
    pub fn storable(mut self) -> Self {
        match &mut self {
            PersistItem::Message(m) => {
                replace_nul(&mut m.content);
                replace_nul(&mut m.sender.identifier);
                m.sender.name.iter_mut().for_each(replace_nul);
                m.sender.phone_number.iter_mut().for_each(replace_nul);
                replace_nul_in_json(&mut m.metadata);
            }
            PersistItem::Event(e) => replace_nul_in_json(&mut e.details),
            PersistItem::CallUpdate(_)
            | PersistItem::ConversationUpdate(_)
            | PersistItem::Recording(_) => {}
        }
        self
    }

    /// The table it lands in, for logs.
    pub fn table(&self) -> &'static str {
        match self {
            PersistItem::Message(_) => "messages",
            PersistItem::Event(_) => "events",
            PersistItem::CallUpdate(_) => "calls",
            PersistItem::ConversationUpdate(_) => "conversations",
            PersistItem::Recording(_) => "recordings",
        }
    }
}

/// Replaces NUL characters in `text` with U+FFFD (no copy when there is none).
fn replace_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// Replaces NUL characters in every string (keys included) of `value` with U+FFFD.
fn replace_nul_in_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => replace_nul(s),
        Value::Array(items) => items.iter_mut().for_each(replace_nul_in_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                *map = entries
                    .into_iter()
                    .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v))
                    .collect();
            }
            map.values_mut().for_each(replace_nul_in_json);
        }
        _ => {}
    }
}

impl From<NewMessage> for PersistItem {
    fn from(m: NewMessage) -> Self {
        PersistItem::Message(m)
    }
}

impl From<NewEvent> for PersistItem {
    fn from(e: NewEvent) -> Self {
        PersistItem::Event(e)
    }
}

impl From<CallUpdate> for PersistItem {
    fn from(u: CallUpdate) -> Self {
        PersistItem::CallUpdate(u)
    }
}

impl From<NewRecording> for PersistItem {
    fn from(r: NewRecording) -> Self {
        PersistItem::Recording(r)
    }
}

impl From<ConversationUpdate> for PersistItem {
    fn from(u: ConversationUpdate) -> Self {
        PersistItem::ConversationUpdate(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storable_rows_carry_no_nul() {
        let message = NewMessage {
            id: Uuid::now_v7(),
            org_id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            message_type: MessageType::Transcript,
            direction: MessageDirection::Inbound,
            sender: Sender {
                identifier: "+1\0".into(),
                name: Some("N\0".into()),
                sender_type: SenderType::Customer,
                phone_number: Some("\0".into()),
            },
            content: "a\0b".into(),
            timestamp: Utc::now(),
            metadata: serde_json::json!({ "digit": "\0", "k\0": [1, "x\0"] }),
            system_event: None,
        };
        let PersistItem::Message(m) = PersistItem::from(message).storable() else {
            unreachable!()
        };
        assert_eq!(m.content, "a\u{FFFD}b");
        assert_eq!(m.sender.identifier, "+1\u{FFFD}");
        assert_eq!(m.sender.name.as_deref(), Some("N\u{FFFD}"));
        assert_eq!(m.sender.phone_number.as_deref(), Some("\u{FFFD}"));
        assert_eq!(
            m.metadata,
            serde_json::json!({ "digit": "\u{FFFD}", "k\u{FFFD}": [1, "x\u{FFFD}"] })
        );
    }

    #[test]
    fn merge_keeps_the_newer_fields_and_fills_from_the_older() {
        let id = Uuid::now_v7();
        let answered = CallUpdate {
            call_id: id,
            version: 1,
            status: Some(CallStatus::InProgress),
            agent: Some("ai".into()),
            ..Default::default()
        };
        let ended = CallUpdate {
            call_id: id,
            version: 2,
            status: Some(CallStatus::Completed),
            duration_seconds: Some(42),
            ..Default::default()
        };
        for merged in [answered.clone().merge(ended.clone()), ended.merge(answered)] {
            assert_eq!(merged.version, 2);
            assert_eq!(merged.status, Some(CallStatus::Completed));
            assert_eq!(merged.duration_seconds, Some(42));
            assert_eq!(merged.agent.as_deref(), Some("ai"));
        }
    }

    #[test]
    fn sender_serializes_with_its_type() {
        let s = Sender {
            identifier: "+15550001111".into(),
            name: None,
            sender_type: SenderType::Customer,
            phone_number: Some("+15550001111".into()),
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["type"], "customer");
        assert!(json.get("name").is_none());
    }
}
