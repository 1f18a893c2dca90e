//! Usage over REST: what the organization used by day, week or month, and its monthly cap of AI
//! minutes.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use warp::{Rejection, Reply};

use super::error::{ApiError, ErrorBody};
use super::params::{json_body, query};
use crate::auth::Principal;
use crate::store::Store;
use crate::store::usage::{UsageBucket, UsageFigures, UsageInterval};

/// The longest period one request may cover.
const MAX_DAYS: i64 = 3 * 366;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day (YYYY-MM-DD, UTC; default: the first of this month).
    pub start_date: Option<NaiveDate>,
    /// Last day, included (default: today).
    pub end_date: Option<NaiveDate>,
    /// `day` (default), `week` (from Monday) or `month`.
    pub interval: Option<String>,
}

/// `GET /api/v1/usage`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub interval: String,
    pub totals: UsageFigures,
    pub series: Vec<UsageBucket>,
    /// The monthly cap of AI minutes, if any, and this month's minutes so far.
    pub ai_minutes_monthly_cap: Option<i32>,
}

/// The organization's usage: calls, call seconds, AI audio seconds in and out, realtime and
/// analysis tokens, analysis runs (SMS and email counts once those channels exist), in total and
/// by interval. Exact: every figure is written with the row it counts.
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = Usage), (status = 400, body = ErrorBody)))]
pub async fn usage(
    p: Principal,
    raw: String,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let q: UsageQuery = query(&raw)?;
    let today = Utc::now().date_naive();
    let end = q.end_date.unwrap_or(today);
    let start = q
        .start_date
        .unwrap_or_else(|| end.with_day(1).unwrap_or(end));
    if start > end {
        return Err(ApiError::BadRequest(
            "query parameter `start_date` is after `end_date`".into(),
        )
        .into());
    }
    if end - start > Duration::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "the period from start_date to end_date is longer than {MAX_DAYS} days"
        ))
        .into());
    }
    let interval_text = q.interval.as_deref().unwrap_or("day");
    let interval = UsageInterval::parse(interval_text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "query parameter `interval`: `{}` is not day, week or month",
            interval_text.chars().take(20).collect::<String>()
        ))
    })?;
    let (totals, series) = store.usage(p.org_id, start, end, interval).await?;
    let cap = store.usage_cap(p.org_id).await?;
    Ok(warp::reply::json(&Usage {
        start_date: start,
        end_date: end,
        interval: interval_text.to_owned(),
        totals,
        series,
        ai_minutes_monthly_cap: cap,
    })
    .into_response())
}

/// The monthly cap of AI minutes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageCap {
    /// Minutes of calls the AI agent may take per calendar month (UTC); null: no cap. When
    /// reached, new calls get the fallback TwiML and a `usage.cap_reached` event (live calls
    /// finish).
    pub ai_minutes_monthly_cap: Option<i32>,
}

/// The organization's cap.
#[utoipa::path(get, path = "/api/v1/usage/cap", tag = "usage",
    responses((status = 200, body = UsageCap)))]
pub async fn cap(p: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    let cap = store.usage_cap(p.org_id).await?;
    Ok(warp::reply::json(&UsageCap {
        ai_minutes_monthly_cap: cap,
    })
    .into_response())
}

/// Sets or lifts the organization's cap.
#[utoipa::path(put, path = "/api/v1/usage/cap", tag = "usage", request_body = UsageCap,
    responses((status = 200, body = UsageCap), (status = 400, body = ErrorBody)))]
pub async fn set_cap(
    p: Principal,
    body: bytes::Bytes,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let cap: UsageCap = json_body(&body)?;
    if cap.ai_minutes_monthly_cap.is_some_and(|c| c < 0) {
        return Err(ApiError::BadRequest(
            "field `ai_minutes_monthly_cap`: must be 0 or more, or null".into(),
        )
        .into());
    }
    store
        .set_usage_cap(p.org_id, cap.ai_minutes_monthly_cap)
        .await?;
    Ok(warp::reply::json(&cap).into_response())
}
