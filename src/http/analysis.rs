//! Post-call analysis over REST: a call's analysis job (see it, run it again) and the
//! organization's own analysis fields.

use serde::Deserialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::admin::json_status;
use super::calls::resolve;
use super::error::{ApiError, ErrorBody};
use super::params::json_body;
use crate::analysis::fields::{self, AnalysisField, FieldType, MAX_FIELDS};
use crate::auth::Principal;
use crate::store::Store;
use crate::store::analysis::{AnalysisJob, RerunRefused};

/// The call's analysis job: queued, running, done (with the model and its latency) or failed
/// (with the reason).
#[utoipa::path(get, path = "/api/v1/calls/{id}/analysis", tag = "analysis",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    responses((status = 200, body = AnalysisJob),
              (status = 404, body = ErrorBody, description = "No such call, or no analysis job (the call has not ended)")))]
pub async fn job(
    id: String,
    p: Principal,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let call = resolve(&store, p.org_id, &id).await?;
    let job = store
        .analysis_job(p.org_id, call.conversation_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "analysis of call `{id}` (none is queued: the call has not ended)"
            ))
        })?;
    Ok(warp::reply::json(&job).into_response())
}

/// Runs the call's analysis again (queued now, attempts from zero); its summary message and
/// conversation fields are replaced when it is done.
#[utoipa::path(post, path = "/api/v1/calls/{id}/analysis", tag = "analysis",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    responses((status = 202, body = AnalysisJob), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The call is live, or its analysis is running")))]
pub async fn rerun(
    id: String,
    p: Principal,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let call = resolve(&store, p.org_id, &id).await?;
    match store.rerun_analysis(p.org_id, call.conversation_id).await? {
        Ok(job) => Ok(json_status(&job, StatusCode::ACCEPTED)),
        Err(RerunRefused::Active) => Err(ApiError::Conflict(format!(
            "call `{id}` is still live: it is analysed when it ends"
        ))
        .into()),
        Err(RerunRefused::Running) => Err(ApiError::Conflict(format!(
            "the analysis of call `{id}` is running now; ask again when it is done"
        ))
        .into()),
    }
}

/// The organization's analysis fields.
#[utoipa::path(get, path = "/api/v1/analysis/fields", tag = "analysis",
    responses((status = 200, body = [AnalysisField])))]
pub async fn list_fields(p: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    Ok(warp::reply::json(&store.analysis_fields(p.org_id).await?).into_response())
}

/// A field definition without its name (the name is in the path).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldBody {
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: Vec<String>,
}

/// Defines (or redefines) the field `name`: from the next analysis on, the model answers it and
/// its value is stored under `name` in the conversation's `analysis`.
#[utoipa::path(put, path = "/api/v1/analysis/fields/{name}", tag = "analysis",
    request_body = FieldBody,
    params(("name" = String, Path, description = "`[a-z][a-z0-9_]*`, at most 40 characters")),
    responses((status = 200, body = AnalysisField),
              (status = 400, body = ErrorBody, description = "The definition breaks a rule (the message names the field)"),
              (status = 409, body = ErrorBody, description = "The organization already has 20 fields")))]
pub async fn put_field(
    name: String,
    p: Principal,
    body: bytes::Bytes,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let body: FieldBody = json_body(&body)?;
    let field = AnalysisField {
        name,
        field_type: body.field_type,
        description: body.description,
        options: body.options,
    }
    .validated()
    .map_err(|err: fields::FieldError| ApiError::BadRequest(err.to_string()))?;
    if !store.put_analysis_field(p.org_id, &field).await? {
        return Err(ApiError::Conflict(format!(
            "analysis field `{}`: an organization defines at most {MAX_FIELDS} fields",
            field.name
        ))
        .into());
    }
    Ok(warp::reply::json(&field).into_response())
}

/// Removes a field from future analyses (values already stored stay).
#[utoipa::path(delete, path = "/api/v1/analysis/fields/{name}", tag = "analysis",
    params(("name" = String, Path, description = "The field")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_field(
    name: String,
    p: Principal,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    if store.delete_analysis_field(p.org_id, &name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!(
            "analysis field `{}`",
            name.chars().take(60).collect::<String>()
        ))
        .into())
    }
}
