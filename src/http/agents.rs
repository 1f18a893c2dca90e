//! The organization's lines over REST (admins): agent profiles (an edit is a new version; a
//! profile in use cannot be deleted), webhook tools, IVR menus, phone numbers, and the tool
//! secret webhook calls are signed with (made by the engine, shown once). Every definition is
//! validated before it is stored: a 400 names the field.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::admin::json_status;
use super::auth::{AuthState, security_event};
use super::error::{ApiError, ErrorBody};
use super::params::json_body;
use crate::agents::routing::NumberConfig;
use crate::agents::{Invalid, Menu, ProfileConfig};
use crate::auth::Principal;
use crate::store::Store;
use crate::store::agents::{ConfigError, MenuRow, NumberRow, ProfileRow, ProfileVersion, ToolRow};
use crate::tools::WebhookTool;

type Answer = Result<warp::reply::Response, Rejection>;

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> ApiError {
        match e {
            ConfigError::Invalid(e) => e.into(),
            ConfigError::NotFound(what) => ApiError::NotFound(what),
            ConfigError::Conflict(why) | ConfigError::InUse(why) => ApiError::Conflict(why),
            ConfigError::Store(e) => e.into(),
        }
    }
}

fn id_of(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} `{raw}` is not a UUID")))
}

fn no_content() -> warp::reply::Response {
    StatusCode::NO_CONTENT.into_response()
}

// ---- profiles ---------------------------------------------------------------------------------

async fn valid_profile(
    store: &Store,
    p: &Principal,
    body: &[u8],
) -> Result<ProfileConfig, ApiError> {
    let config: ProfileConfig = json_body(body)?;
    config.validate(&store.webhook_tool_names(p.org_id).await?)?;
    Ok(config)
}

/// The organization's agent profiles, at their current versions.
#[utoipa::path(get, path = "/api/v1/agent-profiles", tag = "lines",
    responses((status = 200, body = [ProfileRow]), (status = 403, body = ErrorBody)))]
pub async fn list_profiles(p: Principal, store: Store) -> Answer {
    Ok(warp::reply::json(&store.profiles(p.org_id).await?).into_response())
}

/// A new agent profile (version 1).
#[utoipa::path(post, path = "/api/v1/agent-profiles", tag = "lines", request_body = ProfileConfig,
    responses((status = 201, body = ProfileRow), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create_profile(p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let config = valid_profile(&store, &p, &body).await?;
    let row = store
        .create_profile(p.org_id, &config, Some(p.subject_id()))
        .await
        .map_err(ApiError::from)?;
    Ok(json_status(&row, StatusCode::CREATED))
}

/// One profile, at its current version.
#[utoipa::path(get, path = "/api/v1/agent-profiles/{id}", tag = "lines",
    params(("id" = Uuid, Path, description = "the profile")),
    responses((status = 200, body = ProfileRow), (status = 404, body = ErrorBody)))]
pub async fn get_profile(id: String, p: Principal, store: Store) -> Answer {
    let id = id_of(&id, "profile id")?;
    let row = store
        .profile(p.org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("profile {id}")))?;
    Ok(warp::reply::json(&row).into_response())
}

/// An edit: the whole profile again, stored as its next version (new calls use it; live calls
/// keep theirs).
#[utoipa::path(put, path = "/api/v1/agent-profiles/{id}", tag = "lines", request_body = ProfileConfig,
    params(("id" = Uuid, Path, description = "the profile")),
    responses((status = 200, body = ProfileRow), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_profile(id: String, p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let id = id_of(&id, "profile id")?;
    let config = valid_profile(&store, &p, &body).await?;
    let row = store
        .update_profile(p.org_id, id, &config, Some(p.subject_id()))
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&row).into_response())
}

/// Every version of a profile, newest first.
#[utoipa::path(get, path = "/api/v1/agent-profiles/{id}/versions", tag = "lines",
    params(("id" = Uuid, Path, description = "the profile")),
    responses((status = 200, body = [ProfileVersion]), (status = 404, body = ErrorBody)))]
pub async fn profile_versions(id: String, p: Principal, store: Store) -> Answer {
    let id = id_of(&id, "profile id")?;
    let versions = store.profile_versions(p.org_id, id).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!("profile {id}")).into());
    }
    Ok(warp::reply::json(&versions).into_response())
}

/// Deletes a profile no number or menu uses (409 names who uses it); past calls keep showing
/// their version.
#[utoipa::path(delete, path = "/api/v1/agent-profiles/{id}", tag = "lines",
    params(("id" = Uuid, Path, description = "the profile")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn delete_profile(id: String, p: Principal, store: Store) -> Answer {
    let id = id_of(&id, "profile id")?;
    store
        .delete_profile(p.org_id, id)
        .await
        .map_err(ApiError::from)?;
    Ok(no_content())
}

// ---- tools ------------------------------------------------------------------------------------

/// The organization's webhook tools.
#[utoipa::path(get, path = "/api/v1/tools", tag = "lines",
    responses((status = 200, body = [ToolRow]), (status = 403, body = ErrorBody)))]
pub async fn list_tools(p: Principal, store: Store) -> Answer {
    Ok(warp::reply::json(&store.tools(p.org_id).await?).into_response())
}

/// Creates or replaces the webhook tool `name` (the body's `name` must be the same).
#[utoipa::path(put, path = "/api/v1/tools/{name}", tag = "lines",
    params(("name" = String, Path, description = "the tool")),
    responses((status = 200, body = ToolRow), (status = 400, body = ErrorBody)))]
pub async fn put_tool(name: String, p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let value: serde_json::Value = json_body(&body)?;
    let tool = WebhookTool::parse(&value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if tool.name != name {
        return Err(ApiError::BadRequest(format!(
            "name: the body names `{}`, the URL `{name}`",
            tool.name
        ))
        .into());
    }
    let row = store
        .put_tool(p.org_id, &tool)
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&row).into_response())
}

/// Deletes a webhook tool no profile lists.
#[utoipa::path(delete, path = "/api/v1/tools/{name}", tag = "lines",
    params(("name" = String, Path, description = "the tool")),
    responses((status = 204, description = "deleted"), (status = 409, body = ErrorBody)))]
pub async fn delete_tool(name: String, p: Principal, store: Store) -> Answer {
    store
        .delete_tool(p.org_id, &name)
        .await
        .map_err(ApiError::from)?;
    Ok(no_content())
}

/// The new tool secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolSecret {
    /// Verify `X-Switchboard-Signature` with it (see the README); the previous one stops
    /// working now.
    pub secret: String,
}

/// Makes a new tool secret (replacing the old one) and shows it once.
#[utoipa::path(post, path = "/api/v1/organization/tool-secret", tag = "lines",
    responses((status = 201, body = ToolSecret), (status = 403, body = ErrorBody)))]
pub async fn rotate_tool_secret(p: Principal, store: Store, auth: Arc<AuthState>) -> Answer {
    let (secret, _) = crate::auth::tokens::opaque("whsec_").map_err(ApiError::from)?;
    let sealed = auth
        .keys
        .sealer
        .seal(p.org_id, "tool_secret", &secret)
        .map_err(ApiError::from)?;
    store.set_tool_secret(p.org_id, &sealed).await?;
    security_event(
        &store,
        p.org_id,
        "tool_secret_rotated",
        &p.actor(),
        serde_json::json!({}),
    )
    .await;
    Ok(json_status(&ToolSecret { secret }, StatusCode::CREATED))
}

// ---- menus ------------------------------------------------------------------------------------

fn valid_menu(body: &[u8]) -> Result<Menu, ApiError> {
    let menu: Menu = json_body(body)?;
    menu.validate()?;
    Ok(menu)
}

/// The organization's IVR menus.
#[utoipa::path(get, path = "/api/v1/ivr-menus", tag = "lines",
    responses((status = 200, body = [MenuRow]), (status = 403, body = ErrorBody)))]
pub async fn list_menus(p: Principal, store: Store) -> Answer {
    Ok(warp::reply::json(&store.menus(p.org_id).await?).into_response())
}

/// A new menu (its options must lead to the organization's profiles and menus, and every menu
/// must have a way out).
#[utoipa::path(post, path = "/api/v1/ivr-menus", tag = "lines", request_body = Menu,
    responses((status = 201, body = MenuRow), (status = 400, body = ErrorBody)))]
pub async fn create_menu(p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let menu = valid_menu(&body)?;
    let row = store
        .put_menu(p.org_id, None, &menu)
        .await
        .map_err(ApiError::from)?;
    Ok(json_status(&row, StatusCode::CREATED))
}

/// Replaces a menu.
#[utoipa::path(put, path = "/api/v1/ivr-menus/{id}", tag = "lines", request_body = Menu,
    params(("id" = Uuid, Path, description = "the menu")),
    responses((status = 200, body = MenuRow), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_menu(id: String, p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let id = id_of(&id, "menu id")?;
    let menu = valid_menu(&body)?;
    let row = store
        .put_menu(p.org_id, Some(id), &menu)
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&row).into_response())
}

/// Deletes a menu no number or other menu leads to.
#[utoipa::path(delete, path = "/api/v1/ivr-menus/{id}", tag = "lines",
    params(("id" = Uuid, Path, description = "the menu")),
    responses((status = 204, description = "deleted"), (status = 409, body = ErrorBody)))]
pub async fn delete_menu(id: String, p: Principal, store: Store) -> Answer {
    let id = id_of(&id, "menu id")?;
    store
        .delete_menu(p.org_id, id)
        .await
        .map_err(ApiError::from)?;
    Ok(no_content())
}

// ---- numbers ----------------------------------------------------------------------------------

fn valid_number(body: &[u8]) -> Result<NumberConfig, ApiError> {
    let number: NumberConfig = json_body(body)?;
    number.validate()?;
    Ok(number)
}

/// The organization's phone numbers.
#[utoipa::path(get, path = "/api/v1/phone-numbers", tag = "lines",
    responses((status = 200, body = [NumberRow]), (status = 403, body = ErrorBody)))]
pub async fn list_numbers(p: Principal, store: Store) -> Answer {
    Ok(warp::reply::json(&store.numbers(p.org_id).await?).into_response())
}

/// Adds a number (409 when any organization has it already).
#[utoipa::path(post, path = "/api/v1/phone-numbers", tag = "lines", request_body = NumberConfig,
    responses((status = 201, body = NumberRow), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create_number(p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let number = valid_number(&body)?;
    let row = store
        .put_number(p.org_id, None, &number)
        .await
        .map_err(ApiError::from)?;
    Ok(json_status(&row, StatusCode::CREATED))
}

/// Replaces a number's configuration.
#[utoipa::path(put, path = "/api/v1/phone-numbers/{id}", tag = "lines", request_body = NumberConfig,
    params(("id" = Uuid, Path, description = "the number's id")),
    responses((status = 200, body = NumberRow), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn update_number(id: String, p: Principal, body: bytes::Bytes, store: Store) -> Answer {
    let id = id_of(&id, "number id")?;
    let number = valid_number(&body)?;
    let row = store
        .put_number(p.org_id, Some(id), &number)
        .await
        .map_err(ApiError::from)?;
    Ok(warp::reply::json(&row).into_response())
}

/// Removes a number (its calls then get the engine's default agent).
#[utoipa::path(delete, path = "/api/v1/phone-numbers/{id}", tag = "lines",
    params(("id" = Uuid, Path, description = "the number's id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_number(id: String, p: Principal, store: Store) -> Answer {
    let id = id_of(&id, "number id")?;
    store
        .delete_number(p.org_id, id)
        .await
        .map_err(ApiError::from)?;
    Ok(no_content())
}
