//! Accounts and access: who a request is ([`Principal`]), what each role may do ([`policy`]), and
//! the cryptography behind it, all from well-kept crates: passwords hashed with argon2id
//! ([`password`]), access tokens as HS256 JWTs and opaque refresh tokens and API keys
//! ([`tokens`]), provider credentials sealed with ChaCha20-Poly1305 ([`seal`]), and the limits
//! on logins and requests ([`throttle`]). Nothing here does network or database I/O; the HTTP
//! gate (`http::auth::gate`) and the store (`store::accounts`) do.

pub mod keys;
pub mod password;
pub mod policy;
pub mod seal;
pub mod throttle;
pub mod tokens;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's or an API key's role in its organization.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in the organization, users, keys and credentials included.
    Admin,
    /// Reads every call and conversation, adds notes, supervises live calls.
    Supervisor,
    /// Reads calls and adds notes.
    Agent,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Supervisor, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role (admin, supervisor or agent)"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: a logged-in user (with the session its token belongs to) or an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    User { id: Uuid, session: Uuid },
    ApiKey { id: Uuid },
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub org_id: Uuid,
    pub role: Role,
    pub subject: Subject,
}

impl Principal {
    /// The id the caller's rate limit and audit trail are kept under.
    pub fn subject_id(&self) -> Uuid {
        match self.subject {
            Subject::User { id, .. } | Subject::ApiKey { id } => id,
        }
    }

    /// `user:<id>` or `api_key:<id>`, as security events name the actor.
    pub fn actor(&self) -> String {
        match self.subject {
            Subject::User { id, .. } => format!("user:{id}"),
            Subject::ApiKey { id } => format!("api_key:{id}"),
        }
    }
}

/// The errors of the auth layer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or credentials that do not hold (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but the role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests or failed logins; try again after this many seconds (429).
    #[error("{what}; retry after {retry_after_s} s")]
    Throttled { what: String, retry_after_s: u64 },
    /// A key or sealed value that cannot be used (500: a configuration or data problem).
    #[error("{0}")]
    Crypto(String),
}
