//! Accounts: organizations, users, login sessions with their rotating refresh tokens, API keys,
//! organizations' sealed provider credentials, and security events. Tokens and keys arrive here
//! already hashed and credentials already sealed: the store never sees a secret in the clear.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::rows::parse;
use super::{Store, StoreError};
use crate::auth::Role;

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
}

/// A user, as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An API key, as listings show it: its name, role and first characters, never the key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub role: Role,
    /// The key's first characters, to recognize it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An organization's provider credentials, sealed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SealedCredentials {
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Vec<u8>>,
    pub openai_api_key: Option<Vec<u8>>,
    /// The secret webhook tools are signed with.
    pub tool_secret: Option<Vec<u8>>,
}

/// A change to the credentials: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CredentialsChange {
    pub twilio_account_sid: Option<Option<String>>,
    pub twilio_auth_token: Option<Option<Vec<u8>>>,
    pub openai_api_key: Option<Option<Vec<u8>>>,
}

/// A security event (login, key, role, credentials).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SecurityEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// What happened and who did it (`action`, `actor`, and the action's own fields).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum Refreshed {
    /// The token was good: it is now used, and the new one is stored in its session.
    Rotated { session: Uuid, user: User },
    /// The token had been used before: its session is now revoked, every token of it with it.
    Reused { session: Uuid, user: User },
    /// Unknown, expired, of a revoked session, or of a disabled user.
    Invalid,
}

/// A user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for AccountError {
    fn from(e: tokio_postgres::Error) -> Self {
        AccountError::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for AccountError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        AccountError::Store(e.into())
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

macro_rules! user_columns {
    () => {
        "u.id, u.org_id, u.email, u.display_name, u.role, u.disabled, u.created_at, u.updated_at"
    };
}

fn user(row: &Row, at: usize) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get(at)?,
        org_id: row.try_get(at + 1)?,
        email: row.try_get(at + 2)?,
        display_name: row.try_get(at + 3)?,
        role: parse(row, at + 4)?,
        disabled: row.try_get(at + 5)?,
        created_at: row.try_get(at + 6)?,
        updated_at: row.try_get(at + 7)?,
    })
}

macro_rules! api_key_columns {
    () => {
        "id, org_id, name, role, prefix, created_at, revoked_at"
    };
}

fn api_key(row: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.try_get(0)?,
        org_id: row.try_get(1)?,
        name: row.try_get(2)?,
        role: parse(row, 3)?,
        prefix: row.try_get(4)?,
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

fn organization(row: &Row) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        slug: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

impl Store {
    /// A new organization; `Conflict` when the slug is taken.
    pub async fn create_organization(
        &self,
        name: &str,
        slug: &str,
    ) -> Result<Organization, AccountError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)
                 RETURNING id, name, slug, created_at",
                &[&Uuid::now_v7(), &name, &slug],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AccountError::Conflict(format!("an organization `{slug}` exists already"))
                } else {
                    e.into()
                }
            })?;
        Ok(organization(&row)?)
    }

    /// The organization with this slug or id.
    pub async fn find_organization(&self, key: &str) -> Result<Option<Organization>, StoreError> {
        let client = self.pool.get().await?;
        let id = key.parse::<Uuid>().ok();
        let row = client
            .query_opt(
                "SELECT id, name, slug, created_at FROM organizations WHERE slug = $1 OR id = $2",
                &[&key, &id],
            )
            .await?;
        row.as_ref().map(organization).transpose()
    }

    /// A new user; `Conflict` when the email is taken (by anyone: an email logs in to one account).
    pub async fn create_user(
        &self,
        org_id: Uuid,
        email: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, AccountError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                concat!(
                    "INSERT INTO users AS u (id, org_id, email, display_name, role, password_hash)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                    user_columns!()
                ),
                &[
                    &Uuid::now_v7(),
                    &org_id,
                    &email,
                    &display_name,
                    &role.as_str(),
                    &password_hash,
                ],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AccountError::Conflict(format!("a user with email `{email}` exists already"))
                } else {
                    e.into()
                }
            })?;
        Ok(user(&row, 0)?)
    }

    /// Replaces a user's password hash (the demo's admin gets a fresh password on every run).
    pub async fn set_password(
        &self,
        user_id: Uuid,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                &[&user_id, &password_hash],
            )
            .await?;
        Ok(n == 1)
    }

    /// The user an email logs in as, with the password hash to check.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<(User, String)>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT ",
                    user_columns!(),
                    ", u.password_hash FROM users u WHERE lower(u.email) = lower($1)"
                ),
                &[&email],
            )
            .await?;
        row.map(|r| Ok((user(&r, 0)?, r.try_get(8)?))).transpose()
    }

    /// The organization's users, oldest first.
    pub async fn list_users(&self, org_id: Uuid) -> Result<Vec<User>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users u WHERE u.org_id = $1 ORDER BY u.created_at, u.id"
                ),
                &[&org_id],
            )
            .await?;
        rows.iter().map(|r| user(r, 0)).collect()
    }

    /// Changes a user's role, display name or disabled flag; returns the user before and after.
    /// Disabling a user revokes its sessions.
    pub async fn update_user(
        &self,
        org_id: Uuid,
        id: Uuid,
        role: Option<Role>,
        display_name: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<Option<(User, User)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(before) = tx
            .query_opt(
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users u WHERE u.id = $1 AND u.org_id = $2 FOR UPDATE"
                ),
                &[&id, &org_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let before = user(&before, 0)?;
        let after = tx
            .query_one(
                concat!(
                    "UPDATE users AS u SET role = coalesce($3, role),
                            display_name = coalesce($4, display_name),
                            disabled = coalesce($5, disabled), updated_at = now()
                     WHERE u.id = $1 AND u.org_id = $2 RETURNING ",
                    user_columns!()
                ),
                &[
                    &id,
                    &org_id,
                    &role.map(Role::as_str),
                    &display_name,
                    &disabled,
                ],
            )
            .await?;
        let after = user(&after, 0)?;
        if after.disabled && !before.disabled {
            tx.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'user disabled'
                 WHERE user_id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some((before, after)))
    }

    /// Opens a session for `user` with its first refresh token.
    pub async fn open_session(
        &self,
        user: &User,
        refresh_hash: &[u8; 32],
        expires_at: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let session = Uuid::now_v7();
        tx.execute(
            "INSERT INTO sessions (id, org_id, user_id) VALUES ($1, $2, $3)",
            &[&session, &user.org_id, &user.id],
        )
        .await?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
            &[&refresh_hash.as_slice(), &session, &expires_at],
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Presents a refresh token (by hash): rotates it to `new_hash`, or, when it was already
    /// used, revokes its session. Concurrent presentations of one token are serialized by the
    /// row lock, so exactly one rotates and the other is a reuse.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8; 32],
        new_hash: &[u8; 32],
        new_expires_at: DateTime<Utc>,
    ) -> Result<Refreshed, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx
            .query_opt(
                concat!(
                    "SELECT r.session_id, r.expires_at, r.used_at, s.revoked_at, ",
                    user_columns!(),
                    "
                     FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
                     JOIN users u ON u.id = s.user_id
                     WHERE r.token_hash = $1 FOR UPDATE OF r, s"
                ),
                &[&hash.as_slice()],
            )
            .await?
        else {
            return Ok(Refreshed::Invalid);
        };
        let session: Uuid = row.try_get(0)?;
        let expires_at: DateTime<Utc> = row.try_get(1)?;
        let used_at: Option<DateTime<Utc>> = row.try_get(2)?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get(3)?;
        let user = user(&row, 4)?;
        if used_at.is_some() {
            tx.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh token reused'
                 WHERE id = $1 AND revoked_at IS NULL",
                &[&session],
            )
            .await?;
            tx.commit().await?;
            return Ok(Refreshed::Reused { session, user });
        }
        if revoked_at.is_some() || expires_at <= Utc::now() || user.disabled {
            return Ok(Refreshed::Invalid);
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
            &[&hash.as_slice()],
        )
        .await?;
        tx.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
            &[&new_hash.as_slice(), &session, &new_expires_at],
        )
        .await?;
        tx.commit().await?;
        Ok(Refreshed::Rotated { session, user })
    }

    /// Revokes a session (logout); true when it was live.
    pub async fn revoke_session(&self, session: Uuid, reason: &str) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = $2
                 WHERE id = $1 AND revoked_at IS NULL",
                &[&session, &reason],
            )
            .await?;
        Ok(n == 1)
    }

    /// The user of a live session (not revoked, user not disabled), as it is now.
    pub async fn session_user(
        &self,
        session: Uuid,
        user_id: Uuid,
    ) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!("SELECT ", user_columns!(), " FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND NOT u.disabled"),
                &[&session, &user_id],
            )
            .await?;
        row.map(|r| user(&r, 0)).transpose()
    }

    /// Stores a new API key (by hash).
    pub async fn create_api_key(
        &self,
        org_id: Uuid,
        name: &str,
        role: Role,
        prefix: &str,
        hash: &[u8; 32],
    ) -> Result<ApiKey, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                concat!(
                    "INSERT INTO api_keys (id, org_id, name, role, prefix, key_hash)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                    api_key_columns!()
                ),
                &[
                    &Uuid::now_v7(),
                    &org_id,
                    &name,
                    &role.as_str(),
                    &prefix,
                    &hash.as_slice(),
                ],
            )
            .await?;
        api_key(&row)
    }

    /// The live (unrevoked) key with this hash.
    pub async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
                ),
                &[&hash.as_slice()],
            )
            .await?;
        row.as_ref().map(api_key).transpose()
    }

    /// The organization's keys, revoked ones too, oldest first.
    pub async fn list_api_keys(&self, org_id: Uuid) -> Result<Vec<ApiKey>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                concat!(
                    "SELECT ",
                    api_key_columns!(),
                    " FROM api_keys WHERE org_id = $1 ORDER BY created_at, id"
                ),
                &[&org_id],
            )
            .await?;
        rows.iter().map(api_key).collect()
    }

    /// Revokes a key; `None` when the organization has no such key. Revoking twice keeps the
    /// first revocation time.
    pub async fn revoke_api_key(
        &self,
        org_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ApiKey>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
                     WHERE id = $1 AND org_id = $2 RETURNING ",
                    api_key_columns!()
                ),
                &[&id, &org_id],
            )
            .await?;
        row.as_ref().map(api_key).transpose()
    }

    /// The organization's sealed credentials (all `None` when it has none).
    pub async fn credentials(&self, org_id: Uuid) -> Result<SealedCredentials, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT twilio_account_sid, twilio_auth_token, openai_api_key, tool_secret
                 FROM org_credentials WHERE org_id = $1",
                &[&org_id],
            )
            .await?;
        Ok(match row {
            Some(r) => SealedCredentials {
                twilio_account_sid: r.try_get(0)?,
                twilio_auth_token: r.try_get(1)?,
                openai_api_key: r.try_get(2)?,
                tool_secret: r.try_get(3)?,
            },
            None => SealedCredentials::default(),
        })
    }

    /// Applies a change to the organization's credentials; `Conflict` when another organization
    /// has the Twilio account.
    pub async fn update_credentials(
        &self,
        org_id: Uuid,
        change: &CredentialsChange,
    ) -> Result<SealedCredentials, AccountError> {
        let client = self.pool.get().await?;
        let keep_sid = change.twilio_account_sid.is_none();
        let keep_token = change.twilio_auth_token.is_none();
        let keep_openai = change.openai_api_key.is_none();
        let sid = change.twilio_account_sid.clone().flatten();
        let token = change.twilio_auth_token.clone().flatten();
        let openai = change.openai_api_key.clone().flatten();
        let row = client
            .query_one(
                "INSERT INTO org_credentials (org_id, twilio_account_sid, twilio_auth_token, openai_api_key)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (org_id) DO UPDATE SET
                    twilio_account_sid = CASE WHEN $5 THEN org_credentials.twilio_account_sid ELSE $2 END,
                    twilio_auth_token = CASE WHEN $6 THEN org_credentials.twilio_auth_token ELSE $3 END,
                    openai_api_key = CASE WHEN $7 THEN org_credentials.openai_api_key ELSE $4 END,
                    updated_at = now()
                 RETURNING twilio_account_sid, twilio_auth_token, openai_api_key, tool_secret",
                &[&org_id, &sid, &token, &openai, &keep_sid, &keep_token, &keep_openai],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AccountError::Conflict(
                        "that Twilio account belongs to another organization".into(),
                    )
                } else {
                    e.into()
                }
            })?;
        Ok(SealedCredentials {
            twilio_account_sid: row.try_get(0)?,
            twilio_auth_token: row.try_get(1)?,
            openai_api_key: row.try_get(2)?,
            tool_secret: row.try_get(3)?,
        })
    }

    /// The organization that owns a Twilio account, and its sealed auth token.
    pub async fn org_for_twilio_account(
        &self,
        account_sid: &str,
    ) -> Result<Option<(Uuid, Option<Vec<u8>>)>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT org_id, twilio_auth_token FROM org_credentials WHERE twilio_account_sid = $1",
                &[&account_sid],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Writes a security event: `action` plus `details` (an object), by `actor`.
    pub async fn record_security_event(
        &self,
        org_id: Uuid,
        action: &str,
        actor: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut details = match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        details.insert("action".into(), action.into());
        details.insert("actor".into(), actor.into());
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO events (id, org_id, event_type, details, occurred_at)
                 VALUES ($1, $2, 'security', $3, now())",
                &[
                    &Uuid::now_v7(),
                    &org_id,
                    &serde_json::Value::Object(details),
                ],
            )
            .await?;
        Ok(())
    }

    /// The organization's newest security events.
    pub async fn security_events(
        &self,
        org_id: Uuid,
        limit: i64,
    ) -> Result<Vec<SecurityEvent>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, occurred_at, details FROM events
                 WHERE org_id = $1 AND event_type = 'security'
                 ORDER BY occurred_at DESC, id DESC LIMIT $2",
                &[&org_id, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SecurityEvent {
                    id: r.try_get(0)?,
                    occurred_at: r.try_get(1)?,
                    details: r.try_get(2)?,
                })
            })
            .collect()
    }
}
