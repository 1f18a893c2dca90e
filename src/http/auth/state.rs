//! What the gate and the auth routes share ([`AuthState`]): the keys, the token lifetimes, the
//! login throttle, the rate limits, the `GET /metrics` token, and the cache of callers seen
//! recently ([`PrincipalCache`]).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::auth::keys::AuthKeys;
use crate::auth::throttle::{LoginPolicy, LoginThrottle, RateLimits};
use crate::auth::{Principal, Subject};
use crate::config::{Config, Secret};

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
pub(super) enum CacheKey {
    ApiKey([u8; 32]),
    Session { session: Uuid, user: Uuid },
}

/// Entries kept before expired ones are swept.
const CACHE_SWEEP_AT: usize = 10_000;

impl PrincipalCache {
    pub(super) fn get(&self, key: &CacheKey) -> Option<Principal> {
        let entries = self.entries.lock().expect("principal cache lock");
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < PRINCIPAL_TTL)
            .map(|(p, _)| *p)
    }

    pub(super) fn put(&self, key: CacheKey, principal: Principal) {
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
