//! The one gate every authenticated route goes through: bearer token → [`Principal`] (an API key,
//! or an access token of a live session), the caller's rate limit, then the route × role table of
//! [`crate::auth::policy`]. A route adds it after its path and method matched: a request for an
//! unknown route is a 404 or 405, never a 401, and the gate (with its rate limit) only runs for
//! the routes a request may be for.

use std::sync::Arc;

use uuid::Uuid;
use warp::{Filter, Rejection};

use super::state::{AuthState, CacheKey};
use crate::auth::tokens::{self, API_KEY_PREFIX};
use crate::auth::{AuthError, Principal, Subject, policy};
use crate::http::error::ApiError;
use crate::store::Store;

/// The gate: the auth layer's keys and caches, and the store that knows the keys and sessions.
#[derive(Clone, Debug)]
pub struct Gate {
    auth: Arc<AuthState>,
    store: Store,
}

impl Gate {
    pub fn new(auth: &Arc<AuthState>, store: &Store) -> Gate {
        Gate {
            auth: Arc::clone(auth),
            store: store.clone(),
        }
    }

    /// The authenticated caller, allowed by the route × role table.
    pub fn caller(&self) -> impl Filter<Extract = (Principal,), Error = Rejection> + Clone + use<> {
        let gate = self.clone();
        warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and_then(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      header: Option<String>,
                      query: String| {
                    let gate = gate.clone();
                    async move {
                        gate.authorize(method.as_str(), path.as_str(), header, &query)
                            .await
                            .map_err(warp::reject::custom)
                    }
                },
            )
    }

    /// The organization the caller acts for: every query is scoped by it.
    pub fn org(&self) -> impl Filter<Extract = (Uuid,), Error = Rejection> + Clone + use<> {
        self.caller().map(|p: Principal| p.org_id)
    }

    async fn authorize(
        &self,
        method: &str,
        path: &str,
        header: Option<String>,
        query: &str,
    ) -> Result<Principal, ApiError> {
        let token = match header {
            Some(value) => bearer(&value)?,
            // Browsers' EventSource, WebSocket and <audio src> cannot set headers: the event
            // stream, the supervisor socket and a call's recording also take the (short-lived)
            // access token from the query.
            None if takes_query_token(path) => url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(missing)?,
            None => return Err(missing()),
        };
        let principal = self.authenticate(&token).await?;
        if let Err(wait) = self.auth.rate.check(principal.subject_id()) {
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

    /// The principal a bearer token stands for: an API key (by its prefix) or an access token
    /// whose session is live and whose user is enabled; the role is the one stored now.
    async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        let cache = &self.auth.principals;
        if token.starts_with(API_KEY_PREFIX) {
            let hash = tokens::digest(token);
            if let Some(principal) = cache.get(&CacheKey::ApiKey(hash)) {
                return Ok(principal);
            }
            let key = self
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
        let claims = self.auth.keys.jwt.verify(token)?;
        let cache_key = CacheKey::Session {
            session: claims.sid,
            user: claims.sub,
        };
        if let Some(principal) = cache.get(&cache_key) {
            return Ok(principal);
        }
        let user = self
            .store
            .session_user(claims.sid, claims.sub)
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the session has ended (logged out, revoked or disabled)".into(),
                )
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
}

/// The routes a browser reaches without setting headers: `GET /api/v1/events`,
/// `/api/v1/calls/{id}/supervise` and `/api/v1/calls/{id}/recording`.
fn takes_query_token(path: &str) -> bool {
    path == "/api/v1/events"
        || (path.starts_with("/api/v1/calls/")
            && (path.ends_with("/supervise") || path.ends_with("/recording")))
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

#[cfg(test)]
mod tests {
    use super::takes_query_token;

    #[test]
    fn only_the_browser_routes_take_a_token_from_the_query() {
        for path in [
            "/api/v1/events",
            "/api/v1/calls/CA0123/supervise",
            "/api/v1/calls/0190a0b8-0000-7000-8000-000000000000/recording",
        ] {
            assert!(takes_query_token(path), "{path}");
        }
        for path in [
            "/api/v1/calls",
            "/api/v1/calls/CA0123",
            "/api/v1/calls/CA0123/transcript",
            "/api/v1/calls/CA0123/recording/x",
            "/api/v1/users",
            "/api/v1/events/x",
        ] {
            assert!(!takes_query_token(path), "{path}");
        }
    }
}
