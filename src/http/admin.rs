//! Administration of an organization (admins only, by the route × role table): users and their
//! roles, API keys, the organization's own Twilio and OpenAI credentials (write-only: the API
//! says whether they are set, never what they are), and the security events.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::auth::{AuthState, security_event};
use super::error::{ApiError, ErrorBody};
use super::params::{json_body, query};
use crate::accounts::{self, CreatedApiKey, CreatedUser};
use crate::auth::{Principal, Role};
use crate::store::Store;
use crate::store::accounts::{ApiKey, CredentialsChange, SealedCredentials, SecurityEvent, User};

/// `POST /api/v1/users`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    pub role: Role,
    /// At least 12 characters; omitted: one is generated and returned once.
    pub password: Option<String>,
}

/// `PATCH /api/v1/users/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    /// A disabled user cannot log in, and its sessions end.
    pub disabled: Option<bool>,
}

/// `POST /api/v1/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub role: Role,
}

/// The organization's provider credentials as the API shows them: which are set.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsView {
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token_set: bool,
    pub openai_api_key_set: bool,
}

/// `PUT /api/v1/organization/credentials`: a field left out stays as it is, `null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsUpdate {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub twilio_account_sid: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub twilio_auth_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub openai_api_key: Option<Option<String>>,
}

/// A field that is present (`Some`), possibly `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `GET /api/v1/security-events`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SecurityEventsQuery {
    /// Newest first, at most this many (default 100, max 1000).
    pub limit: Option<i64>,
}

impl CredentialsView {
    fn of(sealed: &SealedCredentials) -> CredentialsView {
        CredentialsView {
            twilio_account_sid: sealed.twilio_account_sid.clone(),
            twilio_auth_token_set: sealed.twilio_auth_token.is_some(),
            openai_api_key_set: sealed.openai_api_key.is_some(),
        }
    }
}

fn id_of(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("{what} `{raw}` is not a UUID")))
}

/// `value` as JSON with `status`.
pub(super) fn json_status<T: Serialize>(value: &T, status: StatusCode) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// The organization's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = [User]), (status = 403, body = ErrorBody)))]
pub async fn list_users(p: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    Ok(warp::reply::json(&store.list_users(p.org_id).await?).into_response())
}

/// Creates a user in the organization.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn create_user(
    p: Principal,
    body: bytes::Bytes,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let new: NewUser = json_body(&body)?;
    let created = accounts::create_user(
        &store,
        p.org_id,
        &new.email,
        &new.display_name,
        new.role,
        new.password,
    )
    .await?;
    let user = &created.user;
    security_event(
        &store,
        p.org_id,
        "user_created",
        &p.actor(),
        serde_json::json!({ "user": user.id, "role": user.role }),
    )
    .await;
    Ok(json_status(&created, StatusCode::CREATED))
}

/// Changes a user's role, display name or disabled flag.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin", request_body = UserChange,
    params(("id" = Uuid, Path, description = "the user")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    id: String,
    p: Principal,
    body: bytes::Bytes,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let id = id_of(&id, "user id")?;
    let change: UserChange = json_body(&body)?;
    if let Some(name) = &change.display_name {
        accounts::check_name("display_name", name.trim())?;
    }
    let changed = store
        .update_user(
            p.org_id,
            id,
            change.role,
            change.display_name.as_deref().map(str::trim),
            change.disabled,
        )
        .await?;
    // Live tokens of the user are checked again on their next request.
    auth.principals.forget(id);
    let Some((before, after)) = changed else {
        return Err(ApiError::NotFound(format!("user {id}")).into());
    };
    if before.role != after.role {
        security_event(
            &store,
            p.org_id,
            "role_changed",
            &p.actor(),
            serde_json::json!({ "user": id, "from": before.role, "to": after.role }),
        )
        .await;
    }
    if before.disabled != after.disabled {
        let action = if after.disabled {
            "user_disabled"
        } else {
            "user_enabled"
        };
        security_event(
            &store,
            p.org_id,
            action,
            &p.actor(),
            serde_json::json!({ "user": id }),
        )
        .await;
    }
    Ok(warp::reply::json(&after).into_response())
}

/// The organization's API keys (revoked ones too), never the keys themselves.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "admin",
    responses((status = 200, body = [ApiKey]), (status = 403, body = ErrorBody)))]
pub async fn list_api_keys(p: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    Ok(warp::reply::json(&store.list_api_keys(p.org_id).await?).into_response())
}

/// Creates an API key; the key is in this answer only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "admin", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody)))]
pub async fn create_api_key(
    p: Principal,
    body: bytes::Bytes,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let new: NewApiKey = json_body(&body)?;
    let created = accounts::issue_api_key(&store, p.org_id, &new.name, new.role).await?;
    let name = &created.api_key.name;
    security_event(
        &store,
        p.org_id,
        "api_key_created",
        &p.actor(),
        serde_json::json!({ "api_key": created.api_key.id, "name": name, "role": new.role }),
    )
    .await;
    Ok(json_status(&created, StatusCode::CREATED))
}

/// Revokes an API key at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "admin",
    params(("id" = Uuid, Path, description = "the key")),
    responses((status = 204, description = "revoked"), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    id: String,
    p: Principal,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let id = id_of(&id, "API key id")?;
    let revoked = store.revoke_api_key(p.org_id, id).await?;
    auth.principals.forget(id);
    if revoked.is_none() {
        return Err(ApiError::NotFound(format!("API key {id}")).into());
    }
    security_event(
        &store,
        p.org_id,
        "api_key_revoked",
        &p.actor(),
        serde_json::json!({ "api_key": id }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Which of the organization's own provider credentials are set.
#[utoipa::path(get, path = "/api/v1/organization/credentials", tag = "admin",
    responses((status = 200, body = CredentialsView)))]
pub async fn credentials(p: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    let sealed = store.credentials(p.org_id).await?;
    Ok(warp::reply::json(&CredentialsView::of(&sealed)).into_response())
}

/// Sets (or clears) the organization's Twilio account and auth token and its OpenAI key; they are
/// sealed before they reach the database and never shown again.
#[utoipa::path(put, path = "/api/v1/organization/credentials", tag = "admin",
    request_body = CredentialsUpdate,
    responses((status = 200, body = CredentialsView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn update_credentials(
    p: Principal,
    body: bytes::Bytes,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let update: CredentialsUpdate = json_body(&body)?;
    if let Some(Some(sid)) = &update.twilio_account_sid
        && !(sid.len() == 34
            && sid.starts_with("AC")
            && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ApiError::BadRequest(
            "body field `twilio_account_sid`: AC followed by 32 hexadecimal digits".into(),
        )
        .into());
    }
    let sealer = &auth.keys.sealer;
    let seal = |field: &str,
                value: &Option<Option<String>>|
     -> Result<Option<Option<Vec<u8>>>, ApiError> {
        match value {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(v)) if v.trim().is_empty() => Err(ApiError::BadRequest(format!(
                "body field `{field}`: empty (use null to clear it)"
            ))),
            Some(Some(v)) => Ok(Some(Some(sealer.seal(p.org_id, field, v.trim())?))),
        }
    };
    let change = CredentialsChange {
        twilio_account_sid: update.twilio_account_sid.clone(),
        twilio_auth_token: seal("twilio_auth_token", &update.twilio_auth_token)?,
        openai_api_key: seal("openai_api_key", &update.openai_api_key)?,
    };
    let sealed = store.update_credentials(p.org_id, &change).await?;
    let changed: Vec<&str> = [
        ("twilio_account_sid", update.twilio_account_sid.is_some()),
        ("twilio_auth_token", update.twilio_auth_token.is_some()),
        ("openai_api_key", update.openai_api_key.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    security_event(
        &store,
        p.org_id,
        "credentials_updated",
        &p.actor(),
        serde_json::json!({ "fields": changed }),
    )
    .await;
    Ok(warp::reply::json(&CredentialsView::of(&sealed)).into_response())
}

/// The organization's security events, newest first.
#[utoipa::path(get, path = "/api/v1/security-events", tag = "admin", params(SecurityEventsQuery),
    responses((status = 200, body = [SecurityEvent])))]
pub async fn security_events(
    p: Principal,
    raw: String,
    store: Store,
) -> Result<warp::reply::Response, Rejection> {
    let q: SecurityEventsQuery = query(&raw)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest("query parameter `limit`: 1 to 1000".into()).into());
    }
    Ok(warp::reply::json(&store.security_events(p.org_id, limit).await?).into_response())
}
