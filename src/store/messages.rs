//! Messages, events and call/conversation updates: the persistence actor's batch writer, and reads
//! of a conversation in order.
//!
//! Messages, the hot table, are written with a binary `COPY` (PostgreSQL's multi-insert path: fewer
//! and smaller WAL records than row-by-row inserts); when the `COPY` meets an id that is already
//! stored — a batch written again after an uncertain failure — the batch falls back to
//! `INSERT … SELECT FROM UNNEST(…) ON CONFLICT (id) DO NOTHING`, so a retry inserts nothing twice.
//! Events and updates (few) use `INSERT … ON CONFLICT` / `UPDATE … FROM UNNEST(…)`, pipelined on the
//! same connection. See [`MessageWrite`] and the persistence bench for the measured difference.
//!
//! Errors are classified for the actor: data errors (SQLSTATE classes 22 and 23) mean a poison row;
//! anything else is transient and the batch is written again.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use serde::Serialize;
use switchboard_actors::persistence::{
    AiUsage, CallUpdate, ConversationUpdate, NewEvent, NewMessage, NewRecording, PersistItem,
    PersistenceBackend, WriteError,
};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, Type};
use uuid::Uuid;

use super::{Store, StoreError};

const INSERT_MESSAGES: &str = r#"
INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content, "timestamp", metadata)
SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::jsonb[], $7::text[],
                     $8::timestamptz[], $9::jsonb[])
ON CONFLICT (id) DO NOTHING"#;

const COPY_MESSAGES: &str = r#"COPY messages (id, org_id, conversation_id, message_type, direction, sender, content, "timestamp", metadata) FROM STDIN (FORMAT binary)"#;

/// The column types of [`COPY_MESSAGES`], in order.
const MESSAGE_COLUMNS: [Type; 9] = [
    Type::UUID,
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
];

/// How message rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageWrite {
    /// Binary `COPY`, falling back to `Unnest` when an id is already stored (the default).
    #[default]
    Copy,
    /// `INSERT … SELECT FROM UNNEST(…) ON CONFLICT (id) DO NOTHING` always.
    Unnest,
}

const INSERT_EVENTS: &str = r#"
INSERT INTO events (id, org_id, conversation_id, message_id, event_type, details, occurred_at)
SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::timestamptz[])
ON CONFLICT (id) DO NOTHING"#;

const INSERT_RECORDINGS: &str = r#"
INSERT INTO recordings (id, org_id, call_id, path, format, sample_rate, channels, duration_ms, bytes)
SELECT id, org_id, call_id, path, 'wav', sample_rate, channels, duration_ms, bytes
FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int4[], $6::int2[], $7::int8[], $8::int8[])
    AS r(id, org_id, call_id, path, sample_rate, channels, duration_ms, bytes)
ON CONFLICT (id) DO NOTHING"#;

const UPDATE_CALLS: &str = r#"
UPDATE calls AS c SET
    -- A finished call keeps its final status whatever arrives later (Twilio's status callbacks
    -- write the same column and are ordered separately).
    status = CASE WHEN c.status IN ('completed', 'busy', 'failed', 'no-answer', 'canceled')
                       AND u.status NOT IN ('completed', 'busy', 'failed', 'no-answer', 'canceled')
                  THEN c.status ELSE coalesce(u.status, c.status) END,
    stream_sid = coalesce(u.stream_sid, c.stream_sid),
    answered_at = coalesce(u.answered_at, c.answered_at),
    ended_at = coalesce(u.ended_at, c.ended_at),
    duration_seconds = coalesce(u.duration_seconds, c.duration_seconds),
    agent = coalesce(u.agent, c.agent),
    node = coalesce(u.node, c.node),
    -- Cumulative: never lowered (usage metering adds each increase).
    ai_audio_in_ms = greatest(c.ai_audio_in_ms, coalesce(u.ai_audio_in_ms, 0)),
    ai_audio_out_ms = greatest(c.ai_audio_out_ms, coalesce(u.ai_audio_out_ms, 0)),
    ai_input_tokens = greatest(c.ai_input_tokens, coalesce(u.ai_input_tokens, 0)),
    ai_output_tokens = greatest(c.ai_output_tokens, coalesce(u.ai_output_tokens, 0)),
    version = u.version,
    updated_at = now()
FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
            $7::int4[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], $13::int8[])
    AS u(id, version, status, stream_sid, answered_at, ended_at, duration_seconds, agent, node,
         ai_audio_in_ms, ai_audio_out_ms, ai_input_tokens, ai_output_tokens)
WHERE c.id = u.id AND c.version < u.version"#;

const UPDATE_CONVERSATIONS: &str = r#"
UPDATE conversations AS c SET
    status = coalesce(u.status, c.status),
    last_activity_at = coalesce(u.last_activity_at, c.last_activity_at),
    completed_at = coalesce(u.completed_at, c.completed_at),
    satisfaction_score = coalesce(u.satisfaction_score, c.satisfaction_score),
    sentiment = coalesce(u.sentiment, c.sentiment),
    outcome = coalesce(u.outcome, c.outcome),
    subject = coalesce(u.subject, c.subject),
    ai_summary = coalesce(u.ai_summary, c.ai_summary),
    version = u.version,
    updated_at = now()
FROM UNNEST($1::uuid[], $2::int8[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int2[],
            $7::text[], $8::text[], $9::text[], $10::text[])
    AS u(id, version, status, last_activity_at, completed_at, satisfaction_score, sentiment, outcome,
         subject, ai_summary)
WHERE c.id = u.id AND c.version < u.version"#;

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub message_type: String,
    pub direction: String,
    pub sender: serde_json::Value,
    pub content: String,
    pub timestamp: DateTime<Utc>,
    pub metadata: serde_json::Value,
}

impl PersistenceBackend for Store {
    async fn write(&self, rows: &[PersistItem]) -> Result<(), WriteError> {
        self.write_batch(rows)
            .await
            .map_err(|(err, connection_alive)| {
                // A poison row fails its statement and leaves the connection usable; an error that
                // also ended the connection (terminated backend, server restart) is never the rows'.
                if connection_alive {
                    classify(err)
                } else {
                    WriteError::Transient(err.to_string())
                }
            })
    }
}

/// Poison (the rows themselves) or transient (anything else: the batch is written again).
fn classify(err: StoreError) -> WriteError {
    if let StoreError::Db(db) = &err
        && let Some(state) = db.code()
        && (state.code().starts_with("22") || state.code().starts_with("23"))
    {
        let reason = match db.as_db_error() {
            Some(e) => match e.constraint() {
                Some(c) => format!(
                    "{} (constraint {c}, SQLSTATE {})",
                    e.message(),
                    state.code()
                ),
                None => format!("{} (SQLSTATE {})", e.message(), state.code()),
            },
            None => db.to_string(),
        };
        return WriteError::Rejected(reason);
    }
    WriteError::Transient(err.to_string())
}

impl Store {
    /// Writes one batch of mixed rows idempotently; see the module documentation. On error, says
    /// whether the connection survived; a connection that saw an error is not reused (its
    /// protocol state after an interrupted COPY is not to be trusted).
    pub async fn write_batch(&self, rows: &[PersistItem]) -> Result<(), (StoreError, bool)> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| (StoreError::from(e), false))?;
        let result = write_rows(&client, rows, self.message_write).await;
        if let Err(err) = result {
            let alive = !client.is_closed();
            drop(deadpool_postgres::Object::take(client));
            return Err((err, alive));
        }
        Ok(())
    }

    /// The same store writing messages the given way (for the bench's comparison).
    pub fn with_message_write(mut self, how: MessageWrite) -> Store {
        self.message_write = how;
        self
    }

    /// A conversation's messages in order (timestamp, then id).
    pub async fn conversation_messages(
        &self,
        conversation_id: Uuid,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                r#"SELECT id, conversation_id, message_type, direction, sender, content, "timestamp", metadata
                   FROM messages WHERE conversation_id = $1 ORDER BY "timestamp", id"#,
                &[&conversation_id],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredMessage {
                id: r.get(0),
                conversation_id: r.get(1),
                message_type: r.get(2),
                direction: r.get(3),
                sender: r.get(4),
                content: r.get(5),
                timestamp: r.get(6),
                metadata: r.get(7),
            })
            .collect())
    }
}

async fn write_rows(
    client: &Object,
    rows: &[PersistItem],
    message_write: MessageWrite,
) -> Result<(), StoreError> {
    let mut messages = Vec::new();
    let mut events = Vec::new();
    let mut calls: HashMap<Uuid, CallUpdate> = HashMap::new();
    let mut conversations: HashMap<Uuid, ConversationUpdate> = HashMap::new();
    let mut recordings = Vec::new();
    for row in rows {
        match row {
            PersistItem::Message(m) => messages.push(m),
            PersistItem::Recording(r) => recordings.push(r),
            PersistItem::Event(e) => events.push(e),
            // Several updates of one row in a batch fold into one (an UPDATE … FROM applies
            // only one source row per target).
            PersistItem::CallUpdate(u) => fold(&mut calls, u.call_id, u, CallUpdate::merge),
            PersistItem::ConversationUpdate(u) => fold(
                &mut conversations,
                u.conversation_id,
                u,
                ConversationUpdate::merge,
            ),
        }
    }
    // Messages first: events may refer to them.
    match message_write {
        MessageWrite::Copy => copy_messages(client, &messages).await?,
        MessageWrite::Unnest => insert_messages(client, &messages).await?,
    }
    // Pipelined: sent together, executed in this order by the server.
    let (e, c, v, r) = tokio::join!(
        insert_events(client, &events),
        update_calls(client, calls.into_values().collect()),
        update_conversations(client, conversations.into_values().collect()),
        insert_recordings(client, &recordings),
    );
    e.and(c).and(v).and(r)
}

async fn insert_recordings(client: &Object, rows: &[&NewRecording]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(INSERT_RECORDINGS).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|r| r.org_id).collect();
    let calls: Vec<Uuid> = rows.iter().map(|r| r.call_id).collect();
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    let rates: Vec<i32> = rows
        .iter()
        .map(|r| i32::try_from(r.sample_rate).unwrap_or(i32::MAX))
        .collect();
    let channels: Vec<i16> = rows.iter().map(|r| r.channels as i16).collect();
    let durations: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
        .collect();
    let bytes: Vec<i64> = rows
        .iter()
        .map(|r| i64::try_from(r.bytes).unwrap_or(i64::MAX))
        .collect();
    client
        .execute(
            &statement,
            &[
                &ids, &orgs, &calls, &paths, &rates, &channels, &durations, &bytes,
            ],
        )
        .await?;
    Ok(())
}

fn fold<T: Clone>(map: &mut HashMap<Uuid, T>, id: Uuid, update: &T, merge: fn(T, T) -> T) {
    let merged = match map.remove(&id) {
        Some(existing) => merge(existing, update.clone()),
        None => update.clone(),
    };
    map.insert(id, merged);
}

/// Binary `COPY`; on a duplicate id (a batch written before), the idempotent insert instead.
async fn copy_messages(client: &Object, rows: &[&NewMessage]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let copied = async {
        let sink = client.copy_in(COPY_MESSAGES).await?;
        let writer = BinaryCopyInWriter::new(sink, &MESSAGE_COLUMNS);
        let mut writer = std::pin::pin!(writer);
        for m in rows {
            writer
                .as_mut()
                .write(&[
                    &m.id,
                    &m.org_id,
                    &m.conversation_id,
                    &m.message_type.as_str(),
                    &m.direction.as_str(),
                    &Json(&m.sender),
                    &m.content,
                    &m.timestamp,
                    &m.metadata,
                ])
                .await?;
        }
        writer.finish().await
    }
    .await;
    match copied {
        Ok(n) if n == rows.len() as u64 => Ok(()),
        Ok(n) => Err(StoreError::Incomplete {
            expected: rows.len() as u64,
            written: n,
        }),
        Err(err)
            if err.code() == Some(&SqlState::UNIQUE_VIOLATION)
                && err.as_db_error().and_then(|e| e.constraint()) == Some("messages_pkey") =>
        {
            insert_messages(client, rows).await
        }
        Err(err) => Err(err.into()),
    }
}

async fn insert_messages(client: &Object, rows: &[&NewMessage]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(INSERT_MESSAGES).await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|m| m.org_id).collect();
    let conversations: Vec<Uuid> = rows.iter().map(|m| m.conversation_id).collect();
    let types: Vec<&str> = rows.iter().map(|m| m.message_type.as_str()).collect();
    let directions: Vec<&str> = rows.iter().map(|m| m.direction.as_str()).collect();
    let senders: Vec<Json<_>> = rows.iter().map(|m| Json(&m.sender)).collect();
    let contents: Vec<&str> = rows.iter().map(|m| m.content.as_str()).collect();
    let timestamps: Vec<DateTime<Utc>> = rows.iter().map(|m| m.timestamp).collect();
    let metadata: Vec<&serde_json::Value> = rows.iter().map(|m| &m.metadata).collect();
    client
        .execute(
            &statement,
            &[
                &ids,
                &orgs,
                &conversations,
                &types,
                &directions,
                &senders,
                &contents,
                &timestamps,
                &metadata,
            ],
        )
        .await?;
    Ok(())
}

async fn insert_events(client: &Object, rows: &[&NewEvent]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(INSERT_EVENTS).await?;
    let ids: Vec<Uuid> = rows.iter().map(|e| e.id).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|e| e.org_id).collect();
    let conversations: Vec<Uuid> = rows.iter().map(|e| e.conversation_id).collect();
    let messages: Vec<Option<Uuid>> = rows.iter().map(|e| e.message_id).collect();
    let types: Vec<&str> = rows.iter().map(|e| e.event_type.as_str()).collect();
    let details: Vec<&serde_json::Value> = rows.iter().map(|e| &e.details).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|e| e.occurred_at).collect();
    client
        .execute(
            &statement,
            &[
                &ids,
                &orgs,
                &conversations,
                &messages,
                &types,
                &details,
                &at,
            ],
        )
        .await?;
    Ok(())
}

async fn update_calls(client: &Object, rows: Vec<CallUpdate>) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(UPDATE_CALLS).await?;
    let ids: Vec<Uuid> = rows.iter().map(|u| u.call_id).collect();
    let versions: Vec<i64> = rows.iter().map(|u| u.version).collect();
    let status: Vec<Option<&str>> = rows.iter().map(|u| u.status.map(|s| s.as_str())).collect();
    let stream: Vec<Option<&str>> = rows.iter().map(|u| u.stream_sid.as_deref()).collect();
    let answered: Vec<Option<DateTime<Utc>>> = rows.iter().map(|u| u.answered_at).collect();
    let ended: Vec<Option<DateTime<Utc>>> = rows.iter().map(|u| u.ended_at).collect();
    let duration: Vec<Option<i32>> = rows.iter().map(|u| u.duration_seconds).collect();
    let agent: Vec<Option<&str>> = rows.iter().map(|u| u.agent.as_deref()).collect();
    let node: Vec<Option<&str>> = rows.iter().map(|u| u.node.as_deref()).collect();
    let usage = |f: fn(&AiUsage) -> u64| -> Vec<Option<i64>> {
        rows.iter()
            .map(|u| {
                u.ai_usage
                    .as_ref()
                    .map(|a| i64::try_from(f(a)).unwrap_or(i64::MAX))
            })
            .collect()
    };
    let (audio_in, audio_out) = (usage(|a| a.audio_in_ms), usage(|a| a.audio_out_ms));
    let (tokens_in, tokens_out) = (usage(|a| a.input_tokens), usage(|a| a.output_tokens));
    client
        .execute(
            &statement,
            &[
                &ids,
                &versions,
                &status,
                &stream,
                &answered,
                &ended,
                &duration,
                &agent,
                &node,
                &audio_in,
                &audio_out,
                &tokens_in,
                &tokens_out,
            ],
        )
        .await?;
    Ok(())
}

async fn update_conversations(
    client: &Object,
    rows: Vec<ConversationUpdate>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = client.prepare_cached(UPDATE_CONVERSATIONS).await?;
    let ids: Vec<Uuid> = rows.iter().map(|u| u.conversation_id).collect();
    let versions: Vec<i64> = rows.iter().map(|u| u.version).collect();
    let status: Vec<Option<&str>> = rows.iter().map(|u| u.status.map(|s| s.as_str())).collect();
    let activity: Vec<Option<DateTime<Utc>>> = rows.iter().map(|u| u.last_activity_at).collect();
    let completed: Vec<Option<DateTime<Utc>>> = rows.iter().map(|u| u.completed_at).collect();
    let score: Vec<Option<i16>> = rows.iter().map(|u| u.satisfaction_score).collect();
    let sentiment: Vec<Option<&str>> = rows
        .iter()
        .map(|u| u.sentiment.map(|s| s.as_str()))
        .collect();
    let outcome: Vec<Option<&str>> = rows.iter().map(|u| u.outcome.map(|s| s.as_str())).collect();
    let subject: Vec<Option<&str>> = rows.iter().map(|u| u.subject.as_deref()).collect();
    let summary: Vec<Option<&str>> = rows.iter().map(|u| u.ai_summary.as_deref()).collect();
    client
        .execute(
            &statement,
            &[
                &ids, &versions, &status, &activity, &completed, &score, &sentiment, &outcome,
                &subject, &summary,
            ],
        )
        .await?;
    Ok(())
}
