//! Calls: the handlers and JSON models of the list, one call, its transcript, summary, notes and
//! conversation figures.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::deps::Calls;
use super::error::{ApiError, ErrorBody};
use super::messages::{self, MessageBody, SenderBody};
use super::params::{self, NoParams, Paging};
use crate::history::analytics::CallAnalytics;
use crate::history::transcript::{self, Transcript, TranscriptSegment};
use crate::history::{CallDetail, CallFilter, CallSummary, Message, Page};
use crate::store::Store;
use crate::store::history::CallRef;
use switchboard_actors::domain::{MessageType, SenderType};

/// The calls list's page sizes.
const CALLS_PAGE: (u32, u32) = (20, 100);

/// List calls, newest first.
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls",
    params(CallFilter, Paging),
    responses((status = 200, body = Page<CallSummary>), (status = 400, body = ErrorBody)))]
pub async fn list(org: Uuid, raw: String, store: Store) -> Result<Response, Rejection> {
    let (filter, paging) = params::list_query::<CallFilter>(&raw)?;
    let page = paging.request(CALLS_PAGE.0, CALLS_PAGE.1)?;
    for (name, value, max) in [
        ("from", &filter.from, 32),
        ("to", &filter.to, 32),
        ("agent", &filter.agent, 200),
        ("q", &filter.q, 200),
        ("analysis", &filter.analysis, 300),
    ] {
        params::text(name, value, max)?;
    }
    if let Some(analysis) = &filter.analysis {
        let well_formed = analysis.split_once(':').is_some_and(|(name, value)| {
            !value.is_empty()
                && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !well_formed {
            return Err(ApiError::BadRequest(
                "query parameter `analysis`: expected `field:value` with a field name in lowercase letters, digits and `_`".into(),
            )
            .into());
        }
    }
    params::date_range(
        ("start_date", filter.start_date),
        ("end_date", filter.end_date),
    )?;
    let calls = store.list_calls(org, &filter, &page).await?;
    Ok(warp::reply::json(&calls).into_response())
}

/// The call `id` (UUID or CallSid) names, or 404.
pub async fn resolve(store: &Store, org: Uuid, id: &str) -> Result<CallRef, ApiError> {
    let key = params::call_key(id)?;
    store
        .find_call(org, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call `{id}`")))
}

/// One call with its conversation, customer, recordings, message counts and latest summary.
#[utoipa::path(get, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    responses((status = 200, body = CallDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    params::query::<NoParams>(&raw)?;
    let key = params::call_key(&id)?;
    let call = store
        .call_detail(org, &key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call `{id}`")))?;
    Ok(warp::reply::json(&call).into_response())
}

/// How a transcript is rendered.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// `json` (segments, the default) or `text` (`[mm:ss] Speaker: words` lines).
    pub format: Option<TranscriptFormat>,
}

/// The call's transcript in order.
#[utoipa::path(get, path = "/api/v1/calls/{id}/transcript", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"), TranscriptQuery),
    responses((status = 200, body = Transcript, description = "JSON segments, or `text/plain` lines with `format=text`"),
              (status = 404, body = ErrorBody)))]
pub async fn transcript(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    let q = params::query::<TranscriptQuery>(&raw)?;
    let call = resolve(&store, org, &id).await?;
    let lines = store.transcript_lines(call.conversation_id).await?;
    let segments: Vec<TranscriptSegment> = lines
        .into_iter()
        .map(|line| TranscriptSegment::from_line(line, call.started_at))
        .collect();
    Ok(match q.format.unwrap_or_default() {
        TranscriptFormat::Text => warp::reply::with_header(
            transcript::render_text(&segments),
            "content-type",
            "text/plain; charset=utf-8",
        )
        .into_response(),
        TranscriptFormat::Json => warp::reply::json(&Transcript {
            call_id: call.id,
            call_sid: call.call_sid,
            started_at: call.started_at,
            segments,
        })
        .into_response(),
    })
}

/// The call's latest summary message.
#[utoipa::path(get, path = "/api/v1/calls/{id}/summary", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody, description = "No such call, or no summary yet")))]
pub async fn summary(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    params::query::<NoParams>(&raw)?;
    let call = resolve(&store, org, &id).await?;
    let summary = store
        .latest_summary(call.conversation_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "summary of call `{id}` (none has been written yet)"
            ))
        })?;
    Ok(warp::reply::json(&summary).into_response())
}

/// An operator's note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Give an id to make retries safe: the same id is stored once.
    pub id: Option<Uuid>,
    pub content: String,
    /// Who wrote it (shown as the sender's name).
    pub author: Option<String>,
}

/// Adds a `note` message from the operator (and appends it to the call's `notes`).
#[utoipa::path(post, path = "/api/v1/calls/{id}/notes", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    request_body = NoteBody,
    responses((status = 201, body = Message), (status = 200, body = Message, description = "Already stored (same id)"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn add_note(
    id: String,
    org: Uuid,
    body: bytes::Bytes,
    store: Store,
    calls: Calls,
) -> Result<Response, Rejection> {
    let note: NoteBody = params::json_body(&body)?;
    let call = resolve(&store, org, &id).await?;
    let message = MessageBody {
        id: note.id,
        message_type: MessageType::Note,
        direction: None,
        sender: SenderBody {
            sender_type: SenderType::Operator,
            identifier: note.author.clone(),
            name: note.author,
            phone_number: None,
        },
        content: note.content,
        timestamp: None,
        metadata: None,
    };
    let (stored, created) = messages::store_one(&store, &calls, &call, message).await?;
    if created {
        store.append_call_note(call.id, &stored.content).await?;
    }
    Ok(messages::stored_reply(&stored, created))
}

/// The call's conversation figures: counts by type and sender, talk time per side, longest
/// silence, interruptions, average transcript confidence.
#[utoipa::path(get, path = "/api/v1/calls/{id}/messages/analytics", tag = "calls",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    responses((status = 200, body = CallAnalytics), (status = 404, body = ErrorBody)))]
pub async fn analytics(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    params::query::<NoParams>(&raw)?;
    let call = resolve(&store, org, &id).await?;
    let facts = store.message_facts(call.conversation_id).await?;
    Ok(warp::reply::json(&CallAnalytics::compute(call.id, &facts)).into_response())
}
