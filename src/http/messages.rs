//! A call's messages: list, create (one or up to 1,000 at once), edit and delete.
//!
//! New messages go through the persistence actor like the live calls' own messages (one write path,
//! one idempotency rule: ids are UUIDs, a retried id is stored once), then the request waits for
//! the flush and answers with the rows as stored. Everything the database would refuse is refused
//! here first with a 400 naming the field, so a bulk request is all-or-nothing: if the database
//! still rejects one row, the rows of the request that were written are deleted again and the
//! request fails as a whole.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use switchboard_actors::domain::{MessageDirection, MessageType, SenderType};
use switchboard_actors::persistence::{self as persist, PersistItem};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::calls::resolve;
use super::deps::{Calls, Events};
use super::error::{ApiError, ErrorBody};
use super::params::{self, Paging};
use crate::events::{EventKind, NewLiveEvent};
use crate::history::{Message, MessageEdit, MessageFilter, Page};
use crate::store::Store;
use crate::store::history::CallRef;

/// The longest message content accepted, in bytes.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
/// The largest metadata object accepted, serialized, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The most messages one bulk request may carry.
pub const MAX_BULK: usize = 1_000;

const MESSAGES_PAGE: (u32, u32) = (100, 1000);

/// Who sent a new message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderBody {
    #[serde(rename = "type")]
    pub sender_type: SenderType,
    /// Defaults to the caller's number for `customer`, else to the type's name.
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub phone_number: Option<String>,
}

/// A new message of a call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// Give an id to make retries safe: the same id is stored once.
    pub id: Option<Uuid>,
    /// `transcript`, `system`, `summary` or `note` (`sms` and `email` do not belong to calls).
    pub message_type: MessageType,
    /// Defaults by sender: customer → inbound; ai, agent → outbound; others → internal.
    pub direction: Option<MessageDirection>,
    pub sender: SenderBody,
    pub content: String,
    /// When it was said (default: now).
    pub timestamp: Option<DateTime<Utc>>,
    /// A JSON object: `audio_start_time`, `audio_end_time` (seconds from the call's start),
    /// `confidence_score` (0–1), `language`, …
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// Up to 1,000 new messages, stored all or none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    pub messages: Vec<MessageBody>,
}

/// The messages a bulk request stored.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct BulkCreated {
    /// How many were new (the others were already stored under their ids).
    pub created: usize,
    pub messages: Vec<Message>,
}

/// Changes to a message: its content, its metadata (replaced as a whole), or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagePatch {
    pub content: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A call's messages in conversation order.
#[utoipa::path(get, path = "/api/v1/calls/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"), MessageFilter, Paging),
    responses((status = 200, body = Page<Message>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(id: String, org: Uuid, raw: String, store: Store) -> Result<Response, Rejection> {
    let (filter, paging) = params::list_query::<MessageFilter>(&raw)?;
    let page = paging.request(MESSAGES_PAGE.0, MESSAGES_PAGE.1)?;
    params::date_range(("since", filter.since), ("until", filter.until))?;
    let call = resolve(&store, org, &id).await?;
    let messages = store
        .list_messages(call.conversation_id, &filter, &page)
        .await?;
    Ok(warp::reply::json(&messages).into_response())
}

/// Adds one message to a call.
#[utoipa::path(post, path = "/api/v1/calls/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    request_body = MessageBody,
    responses((status = 201, body = Message), (status = 200, body = Message, description = "Already stored (same id)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The id belongs to another conversation's message")))]
pub async fn create(
    id: String,
    org: Uuid,
    body: bytes::Bytes,
    store: Store,
    calls: Calls,
) -> Result<Response, Rejection> {
    let message: MessageBody = params::json_body(&body)?;
    let call = resolve(&store, org, &id).await?;
    let (stored, created) = store_one(&store, &calls, &call, message).await?;
    Ok(stored_reply(&stored, created))
}

/// A message written by a request: 201 when this request stored it, 200 when its id was already
/// stored (a retry).
pub fn stored_reply(stored: &Message, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    warp::reply::with_status(warp::reply::json(stored), status).into_response()
}

/// Adds up to 1,000 messages to a call, all or none.
#[utoipa::path(post, path = "/api/v1/calls/{id}/messages/bulk", tag = "messages",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    request_body = BulkBody,
    responses((status = 201, body = BulkCreated), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody, description = "The database refused a row; nothing was stored")))]
pub async fn bulk(
    id: String,
    org: Uuid,
    body: bytes::Bytes,
    store: Store,
    calls: Calls,
) -> Result<Response, Rejection> {
    let bulk: BulkBody = params::json_body(&body)?;
    if bulk.messages.is_empty() || bulk.messages.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!(
            "body field `messages`: {} messages given, 1 to {MAX_BULK} accepted",
            bulk.messages.len()
        ))
        .into());
    }
    let call = resolve(&store, org, &id).await?;
    let (messages, created) = store_all(&store, &calls, &call, bulk.messages, "messages").await?;
    Ok(warp::reply::with_status(
        warp::reply::json(&BulkCreated { created, messages }),
        StatusCode::CREATED,
    )
    .into_response())
}

/// Edits a message's content or metadata; `updated_at` moves.
#[utoipa::path(patch, path = "/api/v1/calls/{id}/messages/{message_id}", tag = "messages",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"), ("message_id" = Uuid, Path)),
    request_body = MessagePatch,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    id: String,
    message_id: String,
    org: Uuid,
    body: bytes::Bytes,
    store: Store,
    events: Events,
) -> Result<Response, Rejection> {
    let patch: MessagePatch = params::json_body(&body)?;
    let message_id = params::uuid("message_id", &message_id)?;
    if patch.content.is_none() && patch.metadata.is_none() {
        return Err(
            ApiError::BadRequest("body: give `content`, `metadata` or both".to_owned()).into(),
        );
    }
    if let Some(content) = &patch.content {
        check_content("content", content)?;
    }
    if let Some(metadata) = &patch.metadata {
        check_metadata("metadata", metadata)?;
    }
    let call = resolve(&store, org, &id).await?;
    let edit = MessageEdit {
        content: patch.content,
        metadata: patch.metadata,
    };
    let message = store
        .edit_message(call.conversation_id, message_id, &edit)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("message `{message_id}` of call `{id}`")))?;
    publish(
        &events,
        &call,
        EventKind::MessageUpdated,
        serde_json::to_value(&message).unwrap_or_default(),
    );
    Ok(warp::reply::json(&message).into_response())
}

/// Deletes a message.
#[utoipa::path(delete, path = "/api/v1/calls/{id}/messages/{message_id}", tag = "messages",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"), ("message_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete(
    id: String,
    message_id: String,
    org: Uuid,
    store: Store,
    events: Events,
) -> Result<Response, Rejection> {
    let message_id = params::uuid("message_id", &message_id)?;
    let call = resolve(&store, org, &id).await?;
    if !store
        .delete_message(call.conversation_id, message_id)
        .await?
    {
        return Err(ApiError::NotFound(format!("message `{message_id}` of call `{id}`")).into());
    }
    let deleted = serde_json::json!({ "id": message_id });
    publish(&events, &call, EventKind::MessageDeleted, deleted);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tells live dashboards that a message of `call` changed (new messages are published by the
/// persistence path once durable).
fn publish(events: &Events, call: &CallRef, kind: EventKind, data: Value) {
    events.bus.publish(NewLiveEvent {
        kind,
        org_id: call.org_id,
        conversation_id: Some(call.conversation_id),
        call_id: Some(call.id),
        at: Utc::now(),
        data,
    });
}

/// Stores one message; true when it is new (false: its id was already stored).
pub async fn store_one(
    store: &Store,
    calls: &Calls,
    call: &CallRef,
    message: MessageBody,
) -> Result<(Message, bool), ApiError> {
    let (mut messages, created) = store_all(store, calls, call, vec![message], "").await?;
    let stored = messages
        .pop()
        .ok_or_else(|| ApiError::Internal("stored message not found".to_owned()))?;
    Ok((stored, created == 1))
}

/// Validates `bodies` (errors name `{field}[i]…`), writes them through the persistence actor and
/// returns them as stored, in request order, with how many were new.
async fn store_all(
    store: &Store,
    calls: &Calls,
    call: &CallRef,
    bodies: Vec<MessageBody>,
    field: &str,
) -> Result<(Vec<Message>, usize), ApiError> {
    let persistence = calls
        .persistence
        .as_ref()
        .ok_or_else(|| ApiError::Internal("this server has no persistence actor".to_owned()))?;
    let now = Utc::now();
    let mut rows = Vec::with_capacity(bodies.len());
    let mut seen = HashSet::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        let at = if field.is_empty() {
            String::new()
        } else {
            format!("{field}[{i}].")
        };
        let row = validate(call, body, now, &at)?;
        if !seen.insert(row.id) {
            return Err(ApiError::BadRequest(format!(
                "body field `{at}id`: {} appears twice",
                row.id
            )));
        }
        rows.push(row);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let before: HashSet<Uuid> = store
        .messages_by_id(call.conversation_id, &ids)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let new: Vec<PersistItem> = rows
        .into_iter()
        .filter(|r| !before.contains(&r.id))
        .map(PersistItem::Message)
        .collect();
    let created = new.len();
    if created > 0 {
        persistence.persist_all(new).map_err(|_| {
            ApiError::Unavailable("the write buffer is full; retry shortly".to_owned())
        })?;
        persistence
            .flush()
            .await
            .map_err(|_| ApiError::Unavailable("the engine is shutting down".to_owned()))?;
    }
    let stored = store.messages_by_id(call.conversation_id, &ids).await?;
    if stored.len() == ids.len() {
        let mut by_id: std::collections::HashMap<Uuid, Message> =
            stored.into_iter().map(|m| (m.id, m)).collect();
        let in_order = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        return Ok((in_order, created));
    }
    // Not whole: undo what this request wrote, then say why.
    let written: Vec<Uuid> = stored
        .iter()
        .map(|m| m.id)
        .filter(|id| !before.contains(id))
        .collect();
    store
        .delete_messages(call.conversation_id, &written)
        .await?;
    let missing: HashSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !stored.iter().any(|m| m.id == *id))
        .collect();
    let rejected = persistence
        .rejections()
        .into_iter()
        .find(|r| missing.contains(&r.id));
    Err(match rejected {
        Some(r) => ApiError::Unprocessable(format!(
            "message {} was refused by the database: {}",
            r.id, r.reason
        )),
        None => ApiError::Conflict(format!(
            "message id {} is already used by another conversation",
            missing.iter().next().copied().unwrap_or_default()
        )),
    })
}

/// The message a body describes, or a 400 naming the field (prefixed with `at`).
fn validate(
    call: &CallRef,
    body: MessageBody,
    now: DateTime<Utc>,
    at: &str,
) -> Result<persist::NewMessage, ApiError> {
    let bad =
        |field: &str, why: String| ApiError::BadRequest(format!("body field `{at}{field}`: {why}"));
    if matches!(body.message_type, MessageType::Sms | MessageType::Email) {
        return Err(bad(
            "message_type",
            format!("{} messages do not belong to a call", body.message_type),
        ));
    }
    check_content(&format!("{at}content"), &body.content)?;
    let metadata = body
        .metadata
        .unwrap_or_else(|| Value::Object(Default::default()));
    check_metadata(&format!("{at}metadata"), &metadata)?;
    let sender = body.sender;
    for (name, value) in [
        ("sender.identifier", &sender.identifier),
        ("sender.name", &sender.name),
        ("sender.phone_number", &sender.phone_number),
    ] {
        if let Some(v) = value
            && (v.trim().is_empty() || v.len() > 200 || v.contains('\0'))
        {
            return Err(bad(
                name,
                "must be 1 to 200 characters, without NUL".to_owned(),
            ));
        }
    }
    let identifier = sender
        .identifier
        .unwrap_or_else(|| match sender.sender_type {
            SenderType::Customer => call.from_number.clone(),
            other => other.as_str().to_owned(),
        });
    let direction = body.direction.unwrap_or(match sender.sender_type {
        SenderType::Customer => MessageDirection::Inbound,
        SenderType::Ai | SenderType::Agent => MessageDirection::Outbound,
        _ => MessageDirection::Internal,
    });
    Ok(persist::NewMessage {
        id: body.id.unwrap_or_else(Uuid::now_v7),
        org_id: call.org_id,
        conversation_id: call.conversation_id,
        message_type: body.message_type,
        direction,
        sender: persist::Sender {
            identifier,
            name: sender.name,
            sender_type: sender.sender_type,
            phone_number: sender.phone_number,
        },
        content: body.content,
        timestamp: body.timestamp.unwrap_or(now),
        metadata,
        // Only a live call produces system events.
        system_event: None,
    })
}

fn check_content(field: &str, content: &str) -> Result<(), ApiError> {
    let why = if content.trim().is_empty() {
        "is empty".to_owned()
    } else if content.len() > MAX_CONTENT_BYTES {
        format!("is longer than {MAX_CONTENT_BYTES} bytes")
    } else if content.contains('\0') {
        "contains a NUL character".to_owned()
    } else {
        return Ok(());
    };
    Err(ApiError::BadRequest(format!("body field `{field}` {why}")))
}

/// Metadata must be an object the database can store (no NUL anywhere), of bounded size, and its
/// well-known keys must have their documented types.
fn check_metadata(field: &str, metadata: &Value) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::BadRequest(format!("body field `{field}`: {why}"));
    let Some(object) = metadata.as_object() else {
        return Err(bad("must be a JSON object".to_owned()));
    };
    let text = metadata.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(bad(format!("is larger than {MAX_METADATA_BYTES} bytes")));
    }
    if text.contains("\\u0000") {
        return Err(bad("contains a NUL character".to_owned()));
    }
    let number = |key: &str| -> Result<Option<f64>, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(bad(format!("`{key}` must be a number"))),
        }
    };
    let start = number("audio_start_time")?;
    let end = number("audio_end_time")?;
    if start.is_some_and(|s| s < 0.0) || end.is_some_and(|e| e < 0.0) {
        return Err(bad(
            "audio times are seconds from the call's start, not negative".to_owned(),
        ));
    }
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(bad(
            "`audio_end_time` is before `audio_start_time`".to_owned()
        ));
    }
    if number("confidence_score")?.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        return Err(bad("`confidence_score` must be between 0 and 1".to_owned()));
    }
    Ok(())
}
