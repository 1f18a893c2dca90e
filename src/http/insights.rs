//! Organization-wide views: call analytics with a time series, the omnichannel conversations list
//! and detail, and a customer's timeline.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::error::{ApiError, ErrorBody};
use super::params::{self, NoParams, Paging};
use crate::history::analytics::{Analytics, Interval};
use crate::history::{ConversationDetail, ConversationFilter, ConversationSummary, Page, Timeline};
use crate::store::Store;
use crate::store::analytics::bucket_count;

/// The most buckets one time series may have.
pub const MAX_BUCKETS: i64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Period start (RFC 3339; default: 30 days before `end_date`).
    pub start_date: Option<DateTime<Utc>>,
    /// Period end, exclusive (RFC 3339; default: now).
    pub end_date: Option<DateTime<Utc>>,
    /// Time-series bucket: `hour`, `day` (default) or `week` (weeks start on Monday, UTC).
    pub interval: Option<Interval>,
}

/// Totals, average duration, breakdowns by status, direction and sentiment, and a time series.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics",
    params(AnalyticsQuery),
    responses((status = 200, body = Analytics), (status = 400, body = ErrorBody)))]
pub async fn analytics(org: Uuid, raw: String, store: Store) -> Result<Response, Rejection> {
    let q = params::query::<AnalyticsQuery>(&raw)?;
    let end = q.end_date.unwrap_or_else(Utc::now);
    let start = q.start_date.unwrap_or(end - Duration::days(30));
    params::date_range(("start_date", Some(start)), ("end_date", Some(end)))?;
    let interval = q.interval.unwrap_or(Interval::Day);
    let buckets = bucket_count(start, end, interval);
    if buckets > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "query parameter `interval`: {} buckets from start_date to end_date, at most {MAX_BUCKETS} (choose a wider interval or a shorter period)",
            buckets
        ))
        .into());
    }
    let figures = store.analytics(org, start, end, interval).await?;
    Ok(warp::reply::json(&figures).into_response())
}

/// Conversations of every channel, most recently active first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations",
    params(ConversationFilter, Paging),
    responses((status = 200, body = Page<ConversationSummary>), (status = 400, body = ErrorBody)))]
pub async fn conversations(org: Uuid, raw: String, store: Store) -> Result<Response, Rejection> {
    let (filter, paging) = params::list_query::<ConversationFilter>(&raw)?;
    let page = paging.request(20, 100)?;
    let list = store.list_conversations(org, &filter, &page).await?;
    Ok(warp::reply::json(&list).into_response())
}

/// One conversation with its customer, call, first messages and events.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ConversationDetail), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn conversation(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    params::query::<NoParams>(&raw)?;
    let id = params::uuid("id", &id)?;
    let detail = store
        .conversation_detail(org, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation `{id}`")))?;
    Ok(warp::reply::json(&detail).into_response())
}

/// Every conversation of a customer across channels, newest first (with `limit` 1–100, default
/// 20; `offset` or `cursor`).
#[utoipa::path(get, path = "/api/v1/customers/{id}/timeline", tag = "conversations",
    params(("id" = Uuid, Path), Paging),
    responses((status = 200, body = Timeline), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    id: String,
    org: Uuid,
    raw: String,
    store: Store,
) -> Result<Response, Rejection> {
    let (NoParams {}, paging) = params::list_query::<NoParams>(&raw)?;
    let page = paging.request(20, 100)?;
    let id = params::uuid("id", &id)?;
    let timeline = store
        .customer_timeline(org, id, &page)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("customer `{id}`")))?;
    Ok(warp::reply::json(&timeline).into_response())
}
