//! Authentication at the edge of the API: the auth routes (`POST /api/v1/auth/login`, `refresh`
//! (rotating, with reuse detection) and `logout`, `GET /api/v1/auth/me`) with their JSON models
//! here; the [`Gate`] every authenticated route goes through in [`gate`]; what both share
//! ([`AuthState`]: keys, lifetimes, throttles, the cache of callers) in [`state`].

pub mod gate;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::error::{ApiError, ErrorBody};
use super::params::json_body;
use crate::auth::tokens::{self, REFRESH_PREFIX};
use crate::auth::{AuthError, Principal, Role, Subject, password};
use crate::store::Store;
use crate::store::accounts::{ApiKey, Refreshed, User};

pub use gate::Gate;
pub use state::AuthState;

/// `POST /api/v1/auth/login`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /api/v1/auth/refresh`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A new access token and the refresh token to get the next one with (used once).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub user: User,
}

/// `GET /api/v1/auth/me`
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub org_id: Uuid,
    pub role: Role,
    /// The user, for a user's token.
    pub user: Option<User>,
    /// The key, for an API key.
    pub api_key: Option<ApiKey>,
}

/// Logs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody),
              (status = 429, description = "too many failed logins", body = ErrorBody)),
    security(()))]
pub async fn login(
    remote: Option<SocketAddr>,
    body: bytes::Bytes,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let request: LoginRequest = json_body(&body)?;
    if request.email.len() > crate::accounts::EMAIL_BYTES {
        return Err(ApiError::BadRequest(format!(
            "body field `email`: longer than {} bytes",
            crate::accounts::EMAIL_BYTES
        ))
        .into());
    }
    let email_key = format!("email:{}", request.email.trim().to_lowercase());
    let ip_key = format!(
        "ip:{}",
        remote.map(|a| a.ip().to_string()).unwrap_or_default()
    );
    let now = Instant::now();
    {
        let logins = auth.logins.lock().expect("login throttle lock");
        for key in [&email_key, &ip_key] {
            if let Err(wait) = logins.check(key, now) {
                return Err(ApiError::from(AuthError::Throttled {
                    what: "too many failed logins".into(),
                    retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
                .into());
            }
        }
    }
    let found = store.user_for_login(request.email.trim()).await?;
    let phc = found
        .as_ref()
        .map(|(_, phc)| phc.clone())
        .unwrap_or_else(|| password::decoy().to_owned());
    let given = request.password;
    // argon2 takes tens of milliseconds: off the async workers.
    let matches = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = match found {
        Some((user, _)) if matches && !user.disabled => user,
        other => {
            {
                let mut logins = auth.logins.lock().expect("login throttle lock");
                logins.failed(&email_key, now);
                logins.failed(&ip_key, now);
            }
            if let Some((user, _)) = other {
                let reason = if user.disabled {
                    "user disabled"
                } else {
                    "wrong password"
                };
                security_event(
                    &store,
                    user.org_id,
                    "login_failed",
                    &format!("user:{}", user.id),
                    serde_json::json!({ "reason": reason, "client": ip_key }),
                )
                .await;
            } else {
                tracing::warn!(client = %ip_key, "login for an unknown email refused");
            }
            return Err(ApiError::Unauthorized("wrong email or password".into()).into());
        }
    };
    auth.logins
        .lock()
        .expect("login throttle lock")
        .succeeded(&email_key);
    let (refresh_token, refresh_hash) = tokens::opaque(REFRESH_PREFIX).map_err(ApiError::from)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(auth.refresh_ttl_s as i64);
    let session = store.open_session(&user, &refresh_hash, expires_at).await?;
    security_event(
        &store,
        user.org_id,
        "login_succeeded",
        &format!("user:{}", user.id),
        serde_json::json!({ "session": session, "client": ip_key }),
    )
    .await;
    Ok(token_pair(&auth, user, session, refresh_token)?.into_response())
}

fn token_pair(
    auth: &AuthState,
    user: User,
    session: Uuid,
    refresh_token: String,
) -> Result<warp::reply::Json, ApiError> {
    let claims = tokens::access_claims(user.id, user.org_id, user.role, session, auth.access_ttl_s);
    let access_token = auth.keys.jwt.issue(&claims)?;
    Ok(warp::reply::json(&TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: auth.access_ttl_s,
        refresh_token,
        refresh_expires_in: auth.refresh_ttl_s,
        user,
    }))
}

/// Trades a refresh token for a new pair. The token is then used up; presenting it again revokes
/// the session and every token it issued.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)),
    security(()))]
pub async fn refresh(
    body: bytes::Bytes,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let request: RefreshRequest = json_body(&body)?;
    let (new_token, new_hash) = tokens::opaque(REFRESH_PREFIX).map_err(ApiError::from)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(auth.refresh_ttl_s as i64);
    let outcome = store
        .rotate_refresh(
            &tokens::digest(&request.refresh_token),
            &new_hash,
            expires_at,
        )
        .await?;
    match outcome {
        Refreshed::Rotated { session, user } => {
            Ok(token_pair(&auth, user, session, new_token)?.into_response())
        }
        Refreshed::Reused { session, user } => {
            auth.principals.forget_session(session);
            tracing::warn!(%session, user = %user.id, "a used refresh token was presented again: session revoked");
            security_event(
                &store,
                user.org_id,
                "refresh_token_reused",
                &format!("user:{}", user.id),
                serde_json::json!({ "session": session, "outcome": "session revoked" }),
            )
            .await;
            Err(ApiError::Unauthorized(
                "this refresh token was already used; the session is revoked, log in again".into(),
            )
            .into())
        }
        Refreshed::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is unknown, expired or revoked".into(),
        )
        .into()),
    }
}

/// Ends the caller's session: its refresh token and every access token it issued stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub async fn logout(
    principal: Principal,
    store: Store,
    auth: Arc<AuthState>,
) -> Result<warp::reply::Response, Rejection> {
    let Subject::User { id, session } = principal.subject else {
        return Err(ApiError::BadRequest(
            "an API key has no session; revoke it with DELETE /api/v1/api-keys/{id}".into(),
        )
        .into());
    };
    store.revoke_session(session, "logged out").await?;
    auth.principals.forget_session(session);
    security_event(
        &store,
        principal.org_id,
        "logout",
        &format!("user:{id}"),
        serde_json::json!({ "session": session }),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who the token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(principal: Principal, store: Store) -> Result<warp::reply::Response, Rejection> {
    let (user, api_key) = match principal.subject {
        Subject::User { id, session } => (store.session_user(session, id).await?, None),
        Subject::ApiKey { id } => (
            None,
            store
                .list_api_keys(principal.org_id)
                .await?
                .into_iter()
                .find(|k| k.id == id),
        ),
    };
    Ok(warp::reply::json(&Me {
        org_id: principal.org_id,
        role: principal.role,
        user,
        api_key,
    })
    .into_response())
}

/// Writes a security event; a failure is logged, never the request's failure.
pub async fn security_event(
    store: &Store,
    org_id: Uuid,
    action: &str,
    actor: &str,
    details: serde_json::Value,
) {
    tracing::info!(target: "switchboard::security", %org_id, action, actor, "security event");
    if let Err(err) = store
        .record_security_event(org_id, action, actor, details)
        .await
    {
        tracing::error!(%err, action, "cannot write a security event");
    }
}
