//! The read models: calls, conversations, customers, messages, recordings and pages of them, as
//! the store returns them and the API serializes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_actors::domain::{
    CallDirection, CallStatus, Channel, ConversationStatus, MessageDirection, MessageType, Outcome,
    SenderType, Sentiment,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How far a list's `total` is counted: counting every match of a broad filter over a large
/// history costs far more than the page itself (on 100,000 calls, counting 10,000 matches of a
/// conversation filter took 170 ms; 1,000 stays within a few ms). Past it a list says "1,000+".
pub const TOTAL_CAP: i64 = 1_000;

/// A page of a list, newest or oldest first as the list says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many rows match the filters, all pages together — counted up to [`TOTAL_CAP`]; past
    /// it `total` is the cap and `total_exact` is false ("1,000+").
    pub total: i64,
    /// Whether `total` is the exact count (false: there are at least `total`).
    pub total_exact: bool,
    /// Whether another page follows this one.
    pub has_more: bool,
    /// Pass as `cursor` to get the next page (keyset: stable while new rows arrive).
    pub next_cursor: Option<String>,
}

/// A call in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallSummary {
    pub id: Uuid,
    pub call_sid: String,
    pub conversation_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub from: String,
    pub to: String,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub agent: Option<String>,
    pub sentiment: Option<Sentiment>,
    pub outcome: Option<Outcome>,
}

/// A call with everything a call page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallDetail {
    pub id: Uuid,
    pub call_sid: String,
    pub stream_sid: Option<String>,
    pub account_sid: Option<String>,
    pub from: String,
    pub to: String,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub agent: Option<String>,
    /// Operator notes, one per line (the `note` messages hold each with its author and time).
    pub notes: Option<String>,
    /// The engine node that carried the call's media.
    pub node: Option<String>,
    /// The agent profile that answered, and the version the call ran with.
    pub profile_id: Option<Uuid>,
    pub profile_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub conversation: Conversation,
    pub customer: Option<Customer>,
    pub recordings: Vec<Recording>,
    /// Messages of each type (types without messages are absent).
    pub message_counts: BTreeMap<String, i64>,
    /// The latest `summary` message, if any.
    pub summary: Option<Message>,
}

/// A conversation (the thread a call, SMS exchange or email exchange belongs to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: Uuid,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub customer_id: Option<Uuid>,
    pub initiated_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub satisfaction_score: Option<i16>,
    pub sentiment: Option<Sentiment>,
    pub outcome: Option<Outcome>,
    pub subject: Option<String>,
    pub ai_summary: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The organization's own analysis fields, by name (null until analysed).
    #[schema(value_type = Option<Object>)]
    pub analysis: Option<serde_json::Value>,
}

/// A customer, found or created by phone number or email address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A call's recording (download it from `url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    pub id: Uuid,
    pub format: String,
    pub sample_rate: i32,
    pub channels: i16,
    pub duration_ms: i64,
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
    /// The API path that streams it (`Range` supported).
    pub url: String,
}

/// Who said or did something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sender {
    #[serde(rename = "type")]
    pub sender_type: SenderType,
    /// Stable id within the type: a phone number, an operator's id, `ai`, `system`.
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// One entry of a conversation: a transcript segment, a system event, a summary, a note, an SMS or
/// an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub message_type: MessageType,
    pub direction: MessageDirection,
    pub sender: Sender,
    pub content: String,
    /// When it was said or happened (conversation order).
    pub timestamp: DateTime<Utc>,
    /// `audio_start_time` / `audio_end_time` (seconds from the call's start), `confidence_score`,
    /// `language`, `system_event_type`, …
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A conversation in the omnichannel list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationSummary {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub customer: Option<Customer>,
    /// The voice call, for voice conversations.
    pub call_id: Option<Uuid>,
    pub message_count: i64,
}

/// A conversation with its messages and events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub customer: Option<Customer>,
    pub call: Option<CallSummary>,
    /// In conversation order; the first [`ConversationDetail::MESSAGES_SHOWN`] only (page through
    /// the rest with the call's messages endpoint).
    pub messages: Vec<Message>,
    pub messages_total: i64,
    pub events: Vec<Event>,
}

impl ConversationDetail {
    /// How many messages and events a conversation detail carries at most.
    pub const MESSAGES_SHOWN: i64 = 500;
}

/// A conversation- or message-level occurrence (intent detected, function called, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    pub message_id: Option<Uuid>,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// A customer's conversations across channels, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    pub customer: Customer,
    pub conversations: Page<ConversationSummary>,
}

/// Which calls to list: the query parameters of `GET /api/v1/calls` (with `limit` 1–100, default
/// 20; `offset` or `cursor`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub direction: Option<CallDirection>,
    /// The caller's number, exactly (E.164, `+` encoded as `%2B`).
    pub from: Option<String>,
    /// The called number, exactly.
    pub to: Option<String>,
    pub customer_id: Option<Uuid>,
    /// The agent that handled the call.
    pub agent: Option<String>,
    /// The conversation's scored sentiment.
    pub sentiment: Option<Sentiment>,
    /// The conversation's analysed outcome.
    pub outcome: Option<Outcome>,
    /// An organization analysis field's value, as `name:value` (e.g. `churn_risk:high`,
    /// `callback:true`, `order_value:120`): `true`, `false` and numbers match those JSON values,
    /// anything else the text.
    pub analysis: Option<String>,
    /// Calls started at or after this instant (RFC 3339).
    pub start_date: Option<DateTime<Utc>>,
    /// Calls started before this instant (RFC 3339).
    pub end_date: Option<DateTime<Utc>>,
    /// Full-text search (words, any order) over what was said and written in the call.
    pub q: Option<String>,
}

impl CallFilter {
    /// The `analysis` filter as a JSON object the conversation's `analysis` must contain.
    pub fn analysis_containment(&self) -> Option<serde_json::Value> {
        let (name, value) = self.analysis.as_deref()?.split_once(':')?;
        let value = match value {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            v => match v.parse::<serde_json::Number>() {
                Ok(n) => serde_json::Value::Number(n),
                Err(_) => serde_json::Value::String(v.to_owned()),
            },
        };
        Some(serde_json::json!({ name: value }))
    }
}

/// Which messages of a conversation to list: the query parameters of a call's messages (with
/// `limit` 1–1000, default 100; `offset` or `cursor`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    pub message_type: Option<MessageType>,
    pub sender_type: Option<SenderType>,
    /// Messages at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Messages before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// Which conversations to list: the query parameters of `GET /api/v1/conversations` (with
/// `limit` 1–100, default 20; `offset` or `cursor`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationFilter {
    pub channel: Option<Channel>,
    pub status: Option<ConversationStatus>,
    pub customer_id: Option<Uuid>,
}

/// A message to store, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub message_type: MessageType,
    pub direction: MessageDirection,
    pub sender: Sender,
    pub content: String,
    pub timestamp: DateTime<Utc>,
    pub metadata: serde_json::Value,
}

/// Changes to a stored message; absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageEdit {
    pub content: Option<String>,
    /// Replaces the metadata object as a whole.
    pub metadata: Option<serde_json::Value>,
}
