//! Authentication and authorization at the edge of the API: the one gate every authenticated
//! `/api/v1` route goes through ([`principal`]: bearer token → [`Principal`], rate limit, then the
//! route × role table of [`crate::auth::policy`]), and the auth routes themselves: login, refresh
//! (rotating, with reuse detection), logout and me.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::AppState;
use super::api::params::json_body;
use super::error::ApiError;
use crate::auth::keys::AuthKeys;
use crate::auth::throttle::{LoginPolicy, LoginThrottle, RateLimits};
use crate::auth::tokens::{self, API_KEY_PREFIX, REFRESH_PREFIX};
use crate::auth::{AuthError, Principal, Role, Subject, password, policy};
use crate::config::{Config, Secret};
use crate::store::accounts::{ApiKey, Refreshed, User};

/// How long an authenticated caller is remembered: a request within this time of the last
/// database check of the same token skips the check. Changes made through this engine (revoking a
/// key, logging out, a role change, a disabled user, a refresh-token reuse) apply at once here;
/// made through another node, they reach this one within this time.
pub const PRINCIPAL_TTL: Duration = Duration::from_secs(5);

/// Callers seen recently, by API key hash or by session and user.
#[derive(Debug, Default)]
pub struct PrincipalCache {
    entries: Mutex<HashMap<CacheKey, (Principal, Instant)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CacheKey {
    ApiKey([u8; 32]),
    Session { session: Uuid, user: Uuid },
}

/// Entries kept before expired ones are swept.
const CACHE_SWEEP_AT: usize = 10_000;

impl PrincipalCache {
    fn get(&self, key: &CacheKey) -> Option<Principal> {
        let entries = self.entries.lock().expect("principal cache lock");
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < PRINCIPAL_TTL)
            .map(|(p, _)| *p)
    }

    fn put(&self, key: CacheKey, principal: Principal) {
        let mut entries = self.entries.lock().expect("principal cache lock");
        if entries.len() >= CACHE_SWEEP_AT {
            entries.retain(|_, (_, at)| at.elapsed() < PRINCIPAL_TTL);
        }
        entries.insert(key, (principal, Instant::now()));
    }

    /// Forgets every entry of this user or key (after a change to it).
    pub fn forget(&self, subject_id: Uuid) {
        self.entries
            .lock()
            .expect("principal cache lock")
            .retain(|_, (p, _)| p.subject_id() != subject_id);
    }

    /// Forgets a session (logout, refresh-token reuse).
    pub fn forget_session(&self, session: Uuid) {
        self.entries.lock().expect("principal cache lock").retain(
            |_, (p, _)| !matches!(p.subject, Subject::User { session: s, .. } if s == session),
        );
    }
}

/// What the gate and the auth routes share.
#[derive(Debug)]
pub struct AuthState {
    pub keys: AuthKeys,
    pub principals: PrincipalCache,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub logins: Mutex<LoginThrottle>,
    pub rate: RateLimits,
    pub metrics_token: Secret,
}

impl AuthState {
    pub fn new(keys: AuthKeys, config: &Config) -> AuthState {
        let auth = &config.auth;
        let nonzero = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        AuthState {
            keys,
            principals: PrincipalCache::default(),
            access_ttl_s: auth.access_token_ttl_s,
            refresh_ttl_s: auth.refresh_token_ttl_s,
            logins: Mutex::new(LoginThrottle::new(LoginPolicy {
                max_failures: auth.login_max_failures,
                lockout: Duration::from_secs(auth.login_lockout_s),
                max_lockout: Duration::from_secs(auth.login_max_lockout_s),
            })),
            rate: RateLimits::new(
                nonzero(auth.rate_limit_per_s),
                nonzero(auth.rate_limit_burst),
            ),
            metrics_token: auth.metrics_token.clone(),
        }
    }

    /// Defaults with fresh random keys (tests, tools).
    pub fn ephemeral() -> AuthState {
        AuthState::new(AuthKeys::ephemeral(), &Config::defaults())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        match err {
            AuthError::Unauthenticated(why) => ApiError::Unauthorized(why),
            AuthError::Forbidden(why) => ApiError::Forbidden(why),
            AuthError::Throttled {
                what,
                retry_after_s,
            } => ApiError::TooManyRequests {
                message: what,
                retry_after_s,
            },
            AuthError::Crypto(why) => ApiError::Internal(why),
        }
    }
}

/// The caller of an authenticated route, checked against the route × role table. Runs once per
/// request, after the route's path and method matched.
pub fn principal(
    state: &AppState,
) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone + use<> {
    let state = state.clone();
    warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and_then(
            move |method: warp::http::Method,
                  path: warp::path::FullPath,
                  header: Option<String>,
                  query: String| {
                let state = state.clone();
                async move {
                    authorize(&state, method.as_str(), path.as_str(), header, &query)
                        .await
                        .map_err(warp::reject::custom)
                }
            },
        )
}

async fn authorize(
    state: &AppState,
    method: &str,
    path: &str,
    header: Option<String>,
    query: &str,
) -> Result<Principal, ApiError> {
    let token = match header {
        Some(value) => bearer(&value)?,
        // Browsers' EventSource and WebSocket cannot set headers: the event stream and the
        // supervisor socket also take the (short-lived) access token from the query.
        None if path == "/api/v1/events"
            || (path.starts_with("/api/v1/calls/") && path.ends_with("/supervise")) =>
        {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(missing)?
        }
        None => return Err(missing()),
    };
    let principal = authenticate(state, &token).await?;
    if let Err(wait) = state.auth.rate.check(principal.subject_id()) {
        return Err(AuthError::Throttled {
            what: "rate limit exceeded".into(),
            retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
        .into());
    }
    if let Some(rule) = policy::rule_for(method, path)
        && !rule.allows(principal.role)
    {
        return Err(ApiError::Forbidden(format!(
            "the {} role may not {} {}",
            principal.role, rule.method, rule.path
        )));
    }
    Ok(principal)
}

fn missing() -> ApiError {
    ApiError::Unauthorized("this route needs `Authorization: Bearer <token>`".into())
}

fn bearer(value: &str) -> Result<String, ApiError> {
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`".into(),
        )),
    }
}

/// The principal a bearer token stands for: an API key (by its prefix) or an access token whose
/// session is live and whose user is enabled; the role is the one stored now.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let cache = &state.auth.principals;
    if token.starts_with(API_KEY_PREFIX) {
        let hash = tokens::digest(token);
        if let Some(principal) = cache.get(&CacheKey::ApiKey(hash)) {
            return Ok(principal);
        }
        let key = state
            .store
            .api_key_by_hash(&hash)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))?;
        let principal = Principal {
            org_id: key.org_id,
            role: key.role,
            subject: Subject::ApiKey { id: key.id },
        };
        cache.put(CacheKey::ApiKey(hash), principal);
        return Ok(principal);
    }
    let claims = state.auth.keys.jwt.verify(token)?;
    let cache_key = CacheKey::Session {
        session: claims.sid,
        user: claims.sub,
    };
    if let Some(principal) = cache.get(&cache_key) {
        return Ok(principal);
    }
    let user = state
        .store
        .session_user(claims.sid, claims.sub)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized("the session has ended (logged out, revoked or disabled)".into())
        })?;
    let principal = Principal {
        org_id: user.org_id,
        role: user.role,
        subject: Subject::User {
            id: user.id,
            session: claims.sid,
        },
    };
    cache.put(cache_key, principal);
    Ok(principal)
}

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

/// The auth routes.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let with_state = {
        let state = state.clone();
        warp::any().map(move || state.clone())
    };
    let body = super::api::body_filter(state.max_body_bytes);
    let login = warp::path!("api" / "v1" / "auth" / "login")
        .and(warp::post())
        .and(with_state.clone())
        .and(warp::addr::remote())
        .and(body.clone())
        .and_then(login);
    let refresh = warp::path!("api" / "v1" / "auth" / "refresh")
        .and(warp::post())
        .and(with_state.clone())
        .and(body)
        .and_then(refresh);
    let logout = warp::path!("api" / "v1" / "auth" / "logout")
        .and(warp::post())
        .and(with_state.clone())
        .and(principal(&state))
        .and_then(logout);
    let me = warp::path!("api" / "v1" / "auth" / "me")
        .and(warp::get())
        .and(with_state)
        .and(principal(&state))
        .and_then(me);
    login
        .or(refresh)
        .unify()
        .or(logout)
        .unify()
        .or(me)
        .unify()
        .boxed()
}

/// Logs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::models::ErrorBody),
              (status = 429, description = "too many failed logins", body = super::models::ErrorBody)),
    security(()))]
pub async fn login(
    state: AppState,
    remote: Option<SocketAddr>,
    body: bytes::Bytes,
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
        let logins = state.auth.logins.lock().expect("login throttle lock");
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
    let found = state.store.user_for_login(request.email.trim()).await?;
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
                let mut logins = state.auth.logins.lock().expect("login throttle lock");
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
                    &state,
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
    state
        .auth
        .logins
        .lock()
        .expect("login throttle lock")
        .succeeded(&email_key);
    let (refresh_token, refresh_hash) = tokens::opaque(REFRESH_PREFIX).map_err(ApiError::from)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(state.auth.refresh_ttl_s as i64);
    let session = state
        .store
        .open_session(&user, &refresh_hash, expires_at)
        .await?;
    security_event(
        &state,
        user.org_id,
        "login_succeeded",
        &format!("user:{}", user.id),
        serde_json::json!({ "session": session, "client": ip_key }),
    )
    .await;
    Ok(token_pair(&state, user, session, refresh_token)?.into_response())
}

fn token_pair(
    state: &AppState,
    user: User,
    session: Uuid,
    refresh_token: String,
) -> Result<warp::reply::Json, ApiError> {
    let claims = tokens::access_claims(
        user.id,
        user.org_id,
        user.role,
        session,
        state.auth.access_ttl_s,
    );
    let access_token = state.auth.keys.jwt.issue(&claims)?;
    Ok(warp::reply::json(&TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.auth.access_ttl_s,
        refresh_token,
        refresh_expires_in: state.auth.refresh_ttl_s,
        user,
    }))
}

/// Trades a refresh token for a new pair. The token is then used up; presenting it again revokes
/// the session and every token it issued.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::models::ErrorBody)),
    security(()))]
pub async fn refresh(
    state: AppState,
    body: bytes::Bytes,
) -> Result<warp::reply::Response, Rejection> {
    let request: RefreshRequest = json_body(&body)?;
    let (new_token, new_hash) = tokens::opaque(REFRESH_PREFIX).map_err(ApiError::from)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(state.auth.refresh_ttl_s as i64);
    let outcome = state
        .store
        .rotate_refresh(
            &tokens::digest(&request.refresh_token),
            &new_hash,
            expires_at,
        )
        .await?;
    match outcome {
        Refreshed::Rotated { session, user } => {
            Ok(token_pair(&state, user, session, new_token)?.into_response())
        }
        Refreshed::Reused { session, user } => {
            state.auth.principals.forget_session(session);
            tracing::warn!(%session, user = %user.id, "a used refresh token was presented again: session revoked");
            security_event(
                &state,
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
    responses((status = 204, description = "logged out"), (status = 400, body = super::models::ErrorBody),
              (status = 401, body = super::models::ErrorBody)))]
pub async fn logout(
    state: AppState,
    principal: Principal,
) -> Result<warp::reply::Response, Rejection> {
    let Subject::User { id, session } = principal.subject else {
        return Err(ApiError::BadRequest(
            "an API key has no session; revoke it with DELETE /api/v1/api-keys/{id}".into(),
        )
        .into());
    };
    state.store.revoke_session(session, "logged out").await?;
    state.auth.principals.forget_session(session);
    security_event(
        &state,
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
    responses((status = 200, body = Me), (status = 401, body = super::models::ErrorBody)))]
pub async fn me(state: AppState, principal: Principal) -> Result<warp::reply::Response, Rejection> {
    let (user, api_key) = match principal.subject {
        Subject::User { id, session } => (state.store.session_user(session, id).await?, None),
        Subject::ApiKey { id } => (
            None,
            state
                .store
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
    state: &AppState,
    org_id: Uuid,
    action: &str,
    actor: &str,
    details: serde_json::Value,
) {
    tracing::info!(target: "switchboard::security", %org_id, action, actor, "security event");
    if let Err(err) = state
        .store
        .record_security_event(org_id, action, actor, details)
        .await
    {
        tracing::error!(%err, action, "cannot write a security event");
    }
}
