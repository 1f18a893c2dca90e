//! Reading and editing a call's history: the calls list, a call's detail, its messages (list, read,
//! edit, delete), transcript, summary and notes.
//!
//! Every query is scoped by organization and is static SQL: optional filters are written
//! `($n IS NULL OR col = $n)`, which PostgreSQL folds away when it plans the statement with the
//! values bound, so each request gets the plan its filters deserve. Lists page by keyset on
//! `(timestamp, id)` (see `history::cursor`) with the indexes of `sql/V5__history_indexes.sql`.

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::rows::{
    self, call_summary_columns, conversation_columns, customer_columns, message_columns,
};
use super::{Store, StoreError};
use crate::history::analytics::MessageFacts;
use crate::history::transcript::TranscriptLine;
use crate::history::{
    CallDetail, CallFilter, CallKey, CallSummary, Cursor, Message, MessageEdit, MessageFilter,
    Page, PageRequest, PageStart, Recording, TOTAL_CAP,
};

/// Bound parameters of a statement.
pub(super) type P<'a, const N: usize> = [&'a (dyn ToSql + Sync); N];

/// A call found by its key: what the message routes need to reach its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRef {
    pub id: Uuid,
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    pub call_sid: String,
    pub from_number: String,
    pub started_at: DateTime<Utc>,
}

/// A [`CallRef`] from `id, org_id, conversation_id, call_sid, from_number, started_at`.
fn call_ref(r: &tokio_postgres::Row) -> Result<CallRef, StoreError> {
    Ok(CallRef {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        conversation_id: r.try_get(2)?,
        call_sid: r.try_get(3)?,
        from_number: r.try_get(4)?,
        started_at: r.try_get(5)?,
    })
}

macro_rules! calls_where {
    () => {
        " WHERE c.org_id = $1
            AND ($2::text IS NULL OR c.status = $2)
            AND ($3::text IS NULL OR c.direction = $3)
            AND ($4::text IS NULL OR c.from_number = $4)
            AND ($5::text IS NULL OR c.to_number = $5)
            AND ($6::uuid IS NULL OR v.customer_id = $6)
            AND ($7::text IS NULL OR c.agent = $7)
            AND ($8::text IS NULL OR v.sentiment = $8)
            AND ($9::timestamptz IS NULL OR c.started_at >= $9)
            AND ($10::timestamptz IS NULL OR c.started_at < $10)
            AND ($11::jsonb IS NULL OR v.analysis @> $11)
            AND ($12::text IS NULL OR v.outcome = $12)"
    };
}

/// The page of a list or a search: after the keyset position, newest first.
macro_rules! calls_page {
    () => {
        " AND ($14::timestamptz IS NULL OR (c.started_at, c.id) < ($14, $15))
          ORDER BY c.started_at DESC, c.id DESC LIMIT $16 OFFSET $17"
    };
}

// `$13` (the search) is `NULL` for this statement; naming it keeps one parameter list for both.
const LIST_CALLS: &str = concat!(
    "SELECT ",
    call_summary_columns!(),
    " FROM calls c LEFT JOIN conversations v ON v.id = c.conversation_id",
    calls_where!(),
    " AND $13::text IS NULL",
    calls_page!()
);

/// How many matching messages a search collects from the full-text index before it stops and
/// searches the newest calls' messages instead. Collecting costs ~15 µs a match (a heap fetch
/// each); probing costs ~15 µs a call and finds a page sooner the commoner the word, so the two
/// cross near here.
const SEARCH_HIT_CAP: i64 = 2_000;

// How many messages the search is likely to match, from the statistics ANALYZE keeps of the
// `search` column's most common lexemes (a query matches at most as often as its rarest lexeme;
// a lexeme not listed is rare). NULL without statistics. A word estimated past the cap goes
// straight to probing, without first collecting the cap's worth of matches in vain.
const SEARCH_ESTIMATE: &str = "
WITH lexemes AS (SELECT unnest(tsvector_to_array(to_tsvector('simple', $1))) AS lexeme),
     stats AS (SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
               FROM pg_stats
               WHERE schemaname = current_schema() AND tablename = 'messages'
                 AND attname = 'search')
SELECT (min(coalesce(s.freqs[array_position(s.elems, l.lexeme)], 0))
        * (SELECT reltuples FROM pg_class WHERE oid = 'messages'::regclass))::float8
FROM lexemes l, stats s";

// A search first asks the full-text index for the matching conversations, up to the cap: cheap
// for a rare word (the index hands over a short list), and then the page and its exact count are
// taken among those conversations.
const SEARCH_HITS: &str = "
SELECT coalesce(array_agg(DISTINCT conversation_id), '{}'), count(*) FROM (
    SELECT m.conversation_id FROM messages m
    WHERE m.org_id = $1 AND m.message_type <> 'system'
      AND m.search @@ plainto_tsquery('simple', $2)
    LIMIT $3) hits";

const LIST_AMONG: &str = concat!(
    "SELECT ",
    call_summary_columns!(),
    " FROM calls c LEFT JOIN conversations v ON v.id = c.conversation_id",
    calls_where!(),
    " AND c.conversation_id = ANY($13::uuid[])",
    calls_page!()
);

const COUNT_AMONG: &str = concat!(
    "SELECT count(*) FROM (SELECT 1 FROM calls c LEFT JOIN conversations v ON v.id = c.conversation_id",
    calls_where!(),
    " AND c.conversation_id = ANY($13::uuid[]) LIMIT $14) capped"
);

// A word too common for that list is searched by this statement: a sub-select under `$13 IS NULL OR …` is planned as a hashed
// sub-plan that reads every match (seconds for a common word), while at the top level PostgreSQL
// chooses a semi-join by the word's frequency: probing the newest calls' messages for a common
// word, the full-text index for a rare one.
const SEARCH_CALLS: &str = concat!(
    "SELECT ",
    call_summary_columns!(),
    " FROM calls c LEFT JOIN conversations v ON v.id = c.conversation_id",
    calls_where!(),
    " AND c.conversation_id IN (
          SELECT m.conversation_id FROM messages m
          WHERE m.message_type <> 'system'
            AND m.search @@ plainto_tsquery('simple', $13))",
    calls_page!()
);

// LEFT JOIN: calls.conversation_id is NOT NULL and unique in conversations, so the rows are the
// same as an inner join's, and PostgreSQL drops the join when no conversation filter is given.
const COUNT_CALLS: &str = concat!(
    "SELECT count(*) FROM (SELECT 1 FROM calls c LEFT JOIN conversations v ON v.id = c.conversation_id",
    calls_where!(),
    " AND $13::text IS NULL LIMIT $14) capped"
);

const CALL_DETAIL: &str = concat!(
    "SELECT c.id, c.call_sid, c.stream_sid, c.account_sid, c.from_number, c.to_number, c.direction,
            c.status, c.started_at, c.answered_at, c.ended_at, c.duration_seconds, c.agent, c.notes,
            c.node, c.created_at, c.updated_at, ",
    conversation_columns!(),
    ", ",
    customer_columns!(),
    ", c.profile_id, c.profile_version",
    " FROM calls c JOIN conversations v ON v.id = c.conversation_id
      LEFT JOIN customers cu ON cu.id = v.customer_id
      WHERE c.id = $1"
);

const LIST_MESSAGES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m
      WHERE m.conversation_id = $1
        AND ($2::text IS NULL OR m.message_type = $2)
        AND ($3::text IS NULL OR m.sender->>'type' = $3)
        AND ($4::timestamptz IS NULL OR m.\"timestamp\" >= $4)
        AND ($5::timestamptz IS NULL OR m.\"timestamp\" < $5)
        AND ($6::timestamptz IS NULL OR (m.\"timestamp\", m.id) > ($6, $7))
      ORDER BY m.\"timestamp\", m.id LIMIT $8 OFFSET $9"
);

const COUNT_MESSAGES: &str = "SELECT count(*) FROM (SELECT 1 FROM messages m
      WHERE m.conversation_id = $1
        AND ($2::text IS NULL OR m.message_type = $2)
        AND ($3::text IS NULL OR m.sender->>'type' = $3)
        AND ($4::timestamptz IS NULL OR m.\"timestamp\" >= $4)
        AND ($5::timestamptz IS NULL OR m.\"timestamp\" < $5)
      LIMIT $6) capped";

const GET_MESSAGE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.id = $1 AND m.conversation_id = $2"
);

const MESSAGES_BY_ID: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.id = ANY($1) AND m.conversation_id = $2
      ORDER BY m.\"timestamp\", m.id"
);

const EDIT_MESSAGE: &str = concat!(
    "UPDATE messages m SET
        content = coalesce($3, m.content),
        metadata = coalesce($4, m.metadata),
        updated_at = greatest(now(), m.updated_at + interval '1 microsecond')
      WHERE m.id = $1 AND m.conversation_id = $2
      RETURNING ",
    message_columns!()
);

const LATEST_SUMMARY: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 AND m.message_type = 'summary'
      ORDER BY m.\"timestamp\" DESC, m.id DESC LIMIT 1"
);

/// Reads a number from a metadata key only when it is one (clients may store anything there).
macro_rules! metadata_number {
    ($key:literal) => {
        concat!(
            "CASE WHEN jsonb_typeof(m.metadata->'",
            $key,
            "') = 'number' THEN (m.metadata->>'",
            $key,
            "')::float8 END"
        )
    };
}

/// Only what a transcript shows: the sender and metadata numbers are read out of their JSONB in
/// the database instead of decoding both documents for every line.
const TRANSCRIPT: &str = concat!(
    "SELECT m.id, m.\"timestamp\", m.content, m.sender->>'type', m.sender->>'name', ",
    metadata_number!("audio_start_time"),
    ", ",
    metadata_number!("audio_end_time"),
    ", ",
    metadata_number!("confidence_score"),
    " FROM messages m WHERE m.conversation_id = $1 AND m.message_type = 'transcript'
      ORDER BY m.\"timestamp\", m.id LIMIT $2"
);

const MESSAGE_FACTS: &str = concat!(
    "SELECT m.message_type, m.sender->>'type', ",
    metadata_number!("audio_start_time"),
    ", ",
    metadata_number!("audio_end_time"),
    ", ",
    metadata_number!("confidence_score"),
    ", m.metadata->>'system_event_type'
      FROM messages m WHERE m.conversation_id = $1"
);

/// The most transcript segments one transcript request returns.
pub const TRANSCRIPT_MAX_SEGMENTS: i64 = 20_000;

impl Store {
    /// The call `key` names in organization `org_id`.
    pub async fn find_call(
        &self,
        org_id: Uuid,
        key: &CallKey,
    ) -> Result<Option<CallRef>, StoreError> {
        let client = self.pool.get().await?;
        let row = match key {
            CallKey::Id(id) => {
                let sql = concat!(
                    "SELECT id, org_id, conversation_id, call_sid, from_number, started_at FROM calls",
                    " WHERE id = $1 AND org_id = $2"
                );
                client.query_opt(sql, &[id, &org_id]).await?
            }
            CallKey::Sid(sid) => {
                let sql = concat!(
                    "SELECT id, org_id, conversation_id, call_sid, from_number, started_at FROM calls",
                    " WHERE call_sid = $1 AND org_id = $2"
                );
                client.query_opt(sql, &[sid, &org_id]).await?
            }
        };
        row.as_ref().map(call_ref).transpose()
    }

    /// The organization's calls among `call_sids` (the live calls of this node), oldest first.
    pub async fn calls_by_sid(
        &self,
        org_id: Uuid,
        call_sids: &[String],
    ) -> Result<Vec<CallRef>, StoreError> {
        let client = self.pool.get().await?;
        let sql = concat!(
            "SELECT id, org_id, conversation_id, call_sid, from_number, started_at FROM calls",
            " WHERE org_id = $1 AND call_sid = ANY($2) ORDER BY started_at, id"
        );
        let rows = client.query(sql, &[&org_id, &call_sids]).await?;
        rows.iter().map(call_ref).collect()
    }

    /// The organization's calls live on any node that is up (a cluster's live calls), oldest
    /// first.
    pub async fn calls_live_in_cluster(&self, org_id: Uuid) -> Result<Vec<CallRef>, StoreError> {
        let client = self.pool.get().await?;
        let sql = concat!(
            "SELECT c.id, c.org_id, c.conversation_id, c.call_sid, c.from_number, c.started_at",
            " FROM calls c JOIN cluster_nodes n ON n.id = c.node AND n.state = 'up'",
            " WHERE c.org_id = $1 AND c.ended_at IS NULL ORDER BY c.started_at, c.id"
        );
        let rows = client.query(sql, &[&org_id]).await?;
        rows.iter().map(call_ref).collect()
    }

    /// A page of the organization's calls, newest first, with the number matching the filters.
    pub async fn list_calls(
        &self,
        org_id: Uuid,
        filter: &CallFilter,
        page: &PageRequest,
    ) -> Result<Page<CallSummary>, StoreError> {
        let client = self.pool.get().await?;
        let status = filter.status.map(|s| s.as_str());
        let direction = filter.direction.map(|d| d.as_str());
        let sentiment = filter.sentiment.map(|s| s.as_str());
        let (after, offset) = keyset(&page.start);
        let limit = i64::from(page.limit) + 1;
        let analysis = filter.analysis_containment();
        let outcome = filter.outcome.map(|o| o.as_str());
        let filters: [&(dyn ToSql + Sync); 13] = [
            &org_id,
            &status,
            &direction,
            &filter.from,
            &filter.to,
            &filter.customer_id,
            &filter.agent,
            &sentiment,
            &filter.start_date,
            &filter.end_date,
            &analysis,
            &outcome,
            &filter.q,
        ];
        let mut params: Vec<&(dyn ToSql + Sync)> = filters.to_vec();
        let (after_at, after_id) = (after.map(|c| c.at), after.map(|c| c.id));
        params.extend::<[&(dyn ToSql + Sync); 4]>([&after_at, &after_id, &limit, &offset]);
        let mut count: Vec<&(dyn ToSql + Sync)> = filters.to_vec();
        count.push(&TOTAL_CAP);
        if let Some(q) = &filter.q {
            let estimate: Option<f64> =
                client.query_one(SEARCH_ESTIMATE, &[q]).await?.try_get(0)?;
            let (conversations, matches): (Vec<Uuid>, i64) =
                if estimate.is_some_and(|e| e >= SEARCH_HIT_CAP as f64) {
                    (Vec::new(), SEARCH_HIT_CAP)
                } else {
                    let hits = client
                        .query_one(SEARCH_HITS, &[&org_id, q, &SEARCH_HIT_CAP])
                        .await?;
                    (hits.try_get(0)?, hits.try_get(1)?)
                };
            if matches < SEARCH_HIT_CAP {
                params[12] = &conversations;
                count[12] = &conversations;
                let (rows, total) = tokio::try_join!(
                    client.query(LIST_AMONG, &params),
                    client.query_one(COUNT_AMONG, &count),
                )?;
                return calls_page(&rows, total.try_get(0)?, page.limit);
            }
            // A common word is not counted past the page: over millions of messages that count
            // would cost seconds. `total` then counts the matches this request knows of
            // (`offset` plus this page); `total_exact` says whether that is all.
            let rows = client.query(SEARCH_CALLS, &params).await?;
            let known = offset + rows.len().min(page.limit as usize) as i64;
            let mut page = calls_page(&rows, known, page.limit)?;
            page.total_exact = !page.has_more && after.is_none();
            return Ok(page);
        }
        // Both statements go out together on the one connection (pipelined).
        let (rows, total) = tokio::try_join!(
            client.query(LIST_CALLS, &params),
            client.query_one(COUNT_CALLS, &count),
        )?;
        calls_page(&rows, total.try_get(0)?, page.limit)
    }

    /// Everything a call page shows; `None` when the organization has no such call.
    pub async fn call_detail(
        &self,
        org_id: Uuid,
        key: &CallKey,
    ) -> Result<Option<CallDetail>, StoreError> {
        let Some(call) = self.find_call(org_id, key).await? else {
            return Ok(None);
        };
        let client = self.pool.get().await?;
        let (by_call, by_conversation): (P<'_, 1>, P<'_, 1>) =
            ([&call.id], [&call.conversation_id]);
        let (row, recordings, counts, summary) = tokio::try_join!(
            client.query_one(CALL_DETAIL, &by_call),
            client.query(
                "SELECT id, format, sample_rate, channels, duration_ms, bytes, created_at
                 FROM recordings WHERE call_id = $1 ORDER BY created_at DESC, id DESC",
                &by_call
            ),
            client.query(
                "SELECT message_type, count(*) FROM messages WHERE conversation_id = $1 GROUP BY 1",
                &by_conversation
            ),
            client.query_opt(LATEST_SUMMARY, &by_conversation),
        )?;
        let recordings = recordings
            .iter()
            .map(|r| {
                Ok(Recording {
                    id: r.try_get(0)?,
                    format: r.try_get(1)?,
                    sample_rate: r.try_get(2)?,
                    channels: r.try_get(3)?,
                    duration_ms: r.try_get(4)?,
                    bytes: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    url: format!("/api/v1/calls/{}/recording", call.id),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let message_counts = counts
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(CallDetail {
            id: row.try_get(0)?,
            call_sid: row.try_get(1)?,
            stream_sid: row.try_get(2)?,
            account_sid: row.try_get(3)?,
            from: row.try_get(4)?,
            to: row.try_get(5)?,
            direction: rows::parse(&row, 6)?,
            status: rows::parse(&row, 7)?,
            started_at: row.try_get(8)?,
            answered_at: row.try_get(9)?,
            ended_at: row.try_get(10)?,
            duration_seconds: row.try_get(11)?,
            agent: row.try_get(12)?,
            notes: row.try_get(13)?,
            node: row.try_get(14)?,
            // The last two columns.
            profile_id: row.try_get(row.len() - 2)?,
            profile_version: row.try_get(row.len() - 1)?,
            created_at: row.try_get(15)?,
            updated_at: row.try_get(16)?,
            conversation: rows::conversation(&row, 17)?,
            customer: rows::customer(&row, 31)?,
            recordings,
            message_counts,
            summary: summary.map(|r| rows::message(&r, 0)).transpose()?,
        }))
    }

    /// A page of a conversation's messages, in conversation order.
    pub async fn list_messages(
        &self,
        conversation_id: Uuid,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let client = self.pool.get().await?;
        let message_type = filter.message_type.map(|t| t.as_str());
        let sender_type = filter.sender_type.map(|t| t.as_str());
        let (after, offset) = keyset(&page.start);
        let (after_at, after_id) = (after.map(|c| c.at), after.map(|c| c.id));
        let limit = i64::from(page.limit) + 1;
        let filters: [&(dyn ToSql + Sync); 5] = [
            &conversation_id,
            &message_type,
            &sender_type,
            &filter.since,
            &filter.until,
        ];
        let mut params: Vec<&(dyn ToSql + Sync)> = filters.to_vec();
        params.extend::<[&(dyn ToSql + Sync); 4]>([&after_at, &after_id, &limit, &offset]);
        let mut count: Vec<&(dyn ToSql + Sync)> = filters.to_vec();
        count.push(&TOTAL_CAP);
        let (rows, total) = tokio::try_join!(
            client.query(LIST_MESSAGES, &params),
            client.query_one(COUNT_MESSAGES, &count),
        )?;
        let items = rows
            .iter()
            .map(|r| rows::message(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, total.try_get(0)?, page.limit, |m| {
            Cursor::new(m.timestamp, m.id)
        }))
    }

    /// One message of a conversation.
    pub async fn get_message(
        &self,
        conversation_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Message>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(GET_MESSAGE, &[&id, &conversation_id])
            .await?;
        row.map(|r| rows::message(&r, 0)).transpose()
    }

    /// The messages of a conversation among `ids`, in conversation order.
    pub async fn messages_by_id(
        &self,
        conversation_id: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Message>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(MESSAGES_BY_ID, &[&ids, &conversation_id])
            .await?;
        rows.iter().map(|r| rows::message(r, 0)).collect()
    }

    /// Applies `edit` to a message; `updated_at` always moves forward. `None`: no such message.
    pub async fn edit_message(
        &self,
        conversation_id: Uuid,
        id: Uuid,
        edit: &MessageEdit,
    ) -> Result<Option<Message>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                EDIT_MESSAGE,
                &[&id, &conversation_id, &edit.content, &edit.metadata],
            )
            .await?;
        row.map(|r| rows::message(&r, 0)).transpose()
    }

    /// Deletes a message (and, by cascade, its events). False: no such message.
    pub async fn delete_message(
        &self,
        conversation_id: Uuid,
        id: Uuid,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM messages WHERE id = $1 AND conversation_id = $2",
                &[&id, &conversation_id],
            )
            .await?;
        Ok(n > 0)
    }

    /// Deletes the given messages of a conversation (undoing a bulk insert that was not whole).
    pub async fn delete_messages(
        &self,
        conversation_id: Uuid,
        ids: &[Uuid],
    ) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "DELETE FROM messages WHERE id = ANY($1) AND conversation_id = $2",
                &[&ids, &conversation_id],
            )
            .await?)
    }

    /// A conversation's transcript lines in order (at most [`TRANSCRIPT_MAX_SEGMENTS`]).
    pub async fn transcript_lines(
        &self,
        conversation_id: Uuid,
    ) -> Result<Vec<TranscriptLine>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(TRANSCRIPT, &[&conversation_id, &TRANSCRIPT_MAX_SEGMENTS])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TranscriptLine {
                    message_id: r.try_get(0)?,
                    timestamp: r.try_get(1)?,
                    text: r.try_get(2)?,
                    sender_type: rows::parse(r, 3)?,
                    sender_name: r.try_get(4)?,
                    audio_start: r.try_get(5)?,
                    audio_end: r.try_get(6)?,
                    confidence: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// The latest summary message of a conversation.
    pub async fn latest_summary(
        &self,
        conversation_id: Uuid,
    ) -> Result<Option<Message>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(LATEST_SUMMARY, &[&conversation_id])
            .await?;
        row.map(|r| rows::message(&r, 0)).transpose()
    }

    /// What each message of a conversation contributes to the call's analytics.
    pub async fn message_facts(
        &self,
        conversation_id: Uuid,
    ) -> Result<Vec<MessageFacts>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query(MESSAGE_FACTS, &[&conversation_id]).await?;
        rows.iter()
            .map(|r| {
                Ok(MessageFacts {
                    message_type: rows::parse(r, 0)?,
                    sender_type: rows::parse(r, 1)?,
                    audio_start: r.try_get(2)?,
                    audio_end: r.try_get(3)?,
                    confidence: r.try_get(4)?,
                    system_event: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Appends a note to the call's `notes` column (one line per note).
    pub async fn append_call_note(&self, call_id: Uuid, note: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE calls SET notes = CASE WHEN coalesce(notes, '') = '' THEN $2
                                               ELSE notes || E'\\n' || $2 END,
                                  updated_at = now()
                 WHERE id = $1",
                &[&call_id, &note],
            )
            .await?;
        Ok(())
    }
}

/// A page of calls from `limit + 1` fetched rows, newest first.
fn calls_page(
    rows: &[tokio_postgres::Row],
    total: i64,
    limit: u32,
) -> Result<Page<CallSummary>, StoreError> {
    let items = rows
        .iter()
        .map(|r| rows::call_summary(r, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page_of(items, total, limit, |c| {
        Cursor::new(c.started_at, c.id)
    }))
}

/// The keyset position and the offset a page request asks for.
pub(super) fn keyset(start: &PageStart) -> (Option<Cursor>, i64) {
    match start {
        PageStart::First => (None, 0),
        PageStart::Offset(n) => (None, i64::from(*n)),
        PageStart::After(cursor) => (Some(*cursor), 0),
    }
}

/// A page from `limit + 1` fetched rows: the extra row only says that more follow.
pub(super) fn page_of<T>(
    mut items: Vec<T>,
    total: i64,
    limit: u32,
    cursor: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if has_more {
        items.last().map(|last| cursor(last).encode())
    } else {
        None
    };
    Page {
        items,
        total,
        total_exact: total < TOTAL_CAP,
        has_more,
        next_cursor,
    }
}
