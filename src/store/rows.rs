//! Reading the history's rows into its read models: one column list and one mapper per model, so
//! every query that returns a model selects the same columns in the same order. Column lists are
//! macros so that queries are assembled at compile time with `concat!`, never at run time.

use std::str::FromStr;

use tokio_postgres::Row;

use super::StoreError;
use crate::history::{CallSummary, Conversation, Customer, Message, Sender};

/// A stored enumeration value, parsed (the schema's CHECKs make failure a corrupt row).
pub(super) fn parse<T: FromStr>(row: &Row, idx: usize) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: &str = row.try_get(idx)?;
    text.parse()
        .map_err(|e: T::Err| StoreError::Decode(e.to_string()))
}

/// Like [`parse`], for a nullable column.
pub(super) fn parse_opt<T: FromStr>(row: &Row, idx: usize) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: Option<&str> = row.try_get(idx)?;
    text.map(|t| {
        t.parse()
            .map_err(|e: T::Err| StoreError::Decode(e.to_string()))
    })
    .transpose()
}

/// Columns of [`call_summary`] over `calls c JOIN conversations v` (15 columns).
macro_rules! call_summary_columns {
    () => {
        "c.id, c.call_sid, c.conversation_id, v.customer_id, c.from_number, c.to_number, \
     c.direction, c.status, c.started_at, c.answered_at, c.ended_at, c.duration_seconds, c.agent, \
     v.sentiment, v.outcome"
    };
}
pub(super) use call_summary_columns;

pub(super) fn call_summary(row: &Row, at: usize) -> Result<CallSummary, StoreError> {
    Ok(CallSummary {
        id: row.try_get(at)?,
        call_sid: row.try_get(at + 1)?,
        conversation_id: row.try_get(at + 2)?,
        customer_id: row.try_get(at + 3)?,
        from: row.try_get(at + 4)?,
        to: row.try_get(at + 5)?,
        direction: parse(row, at + 6)?,
        status: parse(row, at + 7)?,
        started_at: row.try_get(at + 8)?,
        answered_at: row.try_get(at + 9)?,
        ended_at: row.try_get(at + 10)?,
        duration_seconds: row.try_get(at + 11)?,
        agent: row.try_get(at + 12)?,
        sentiment: parse_opt(row, at + 13)?,
        outcome: parse_opt(row, at + 14)?,
    })
}

/// Columns of [`conversation`] over `conversations v` (14 columns).
macro_rules! conversation_columns {
    () => {
        "v.id, v.channel, v.status, v.customer_id, v.initiated_at, \
     v.last_activity_at, v.completed_at, v.satisfaction_score, v.sentiment, v.outcome, v.subject, \
     v.ai_summary, v.metadata, v.analysis"
    };
}
pub(super) use conversation_columns;

pub(super) fn conversation(row: &Row, at: usize) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: row.try_get(at)?,
        channel: parse(row, at + 1)?,
        status: parse(row, at + 2)?,
        customer_id: row.try_get(at + 3)?,
        initiated_at: row.try_get(at + 4)?,
        last_activity_at: row.try_get(at + 5)?,
        completed_at: row.try_get(at + 6)?,
        satisfaction_score: row.try_get(at + 7)?,
        sentiment: parse_opt(row, at + 8)?,
        outcome: parse_opt(row, at + 9)?,
        subject: row.try_get(at + 10)?,
        ai_summary: row.try_get(at + 11)?,
        metadata: row.try_get(at + 12)?,
        analysis: row.try_get(at + 13)?,
    })
}

/// Columns of [`customer`] over `customers cu`, all nullable for outer joins (6 columns).
macro_rules! customer_columns {
    () => {
        "cu.id, cu.name, cu.phone, cu.email, cu.metadata, cu.created_at"
    };
}
pub(super) use customer_columns;

/// The customer, or `None` when an outer join found none.
pub(super) fn customer(row: &Row, at: usize) -> Result<Option<Customer>, StoreError> {
    let Some(id) = row.try_get(at)? else {
        return Ok(None);
    };
    Ok(Some(Customer {
        id,
        name: row.try_get(at + 1)?,
        phone: row.try_get(at + 2)?,
        email: row.try_get(at + 3)?,
        metadata: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
    }))
}

/// Columns of [`message`] over `messages m` (10 columns).
macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.message_type, m.direction, m.sender, \
     m.content, m.\"timestamp\", m.metadata, m.created_at, m.updated_at"
    };
}
pub(super) use message_columns;

pub(super) fn message(row: &Row, at: usize) -> Result<Message, StoreError> {
    let sender: serde_json::Value = row.try_get(at + 4)?;
    let sender: Sender = serde_json::from_value(sender)
        .map_err(|e| StoreError::Decode(format!("message sender: {e}")))?;
    Ok(Message {
        id: row.try_get(at)?,
        conversation_id: row.try_get(at + 1)?,
        message_type: parse(row, at + 2)?,
        direction: parse(row, at + 3)?,
        sender,
        content: row.try_get(at + 5)?,
        timestamp: row.try_get(at + 6)?,
        metadata: row.try_get(at + 7)?,
        created_at: row.try_get(at + 8)?,
        updated_at: row.try_get(at + 9)?,
    })
}
