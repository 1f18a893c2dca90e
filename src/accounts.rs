//! Account operations, shared by the REST API (`http::admin`), the command line and the demo:
//! creating a user (checked email and name, a strong or a generated password, hashed with
//! argon2id off the async threads) and issuing an API key (random, stored as a hash, shown once).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::tokens::{self, API_KEY_PREFIX, API_KEY_SHOWN};
use crate::auth::{AuthError, Role, password};
use crate::store::Store;
use crate::store::accounts::{AccountError, ApiKey, User};

/// Longest display name or key name, in characters.
pub const NAME_CHARS: usize = 200;

/// Longest email address (RFC 5321's path limit), in bytes.
pub const EMAIL_BYTES: usize = 254;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// A value given is not acceptable; `field` names it.
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("password hashing failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A created key: the key itself is shown this once and stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    pub key: String,
}

/// A created user, with the generated password when none was given (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: User,
    pub password: Option<String>,
}

/// `local@domain`, no spaces (the schema's CHECK, said here first with a clear error).
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// A name (of a user or a key): no NUL, at most [`NAME_CHARS`] characters.
pub fn check_name(field: &'static str, name: &str) -> Result<(), AccountsError> {
    let invalid = |why: String| AccountsError::Invalid { field, why };
    if name.contains('\0') {
        return Err(invalid("contains a NUL character".into()));
    }
    if name.chars().count() > NAME_CHARS {
        return Err(invalid(format!("longer than {NAME_CHARS} characters")));
    }
    Ok(())
}

/// Creates a user of `org_id`; without a password, one is generated and returned.
pub async fn create_user(
    store: &Store,
    org_id: Uuid,
    email: &str,
    display_name: &str,
    role: Role,
    password: Option<String>,
) -> Result<CreatedUser, AccountsError> {
    let email = email.trim();
    if email.len() > EMAIL_BYTES || email.contains('\0') || !is_email(email) {
        return Err(AccountsError::Invalid {
            field: "email",
            why: format!(
                "`{}` is not an email address",
                email
                    .chars()
                    .take(64)
                    .flat_map(char::escape_debug)
                    .collect::<String>()
            ),
        });
    }
    let display_name = display_name.trim();
    check_name("display_name", display_name)?;
    let (password, generated) = match password {
        Some(given) => {
            password::check_strength(&given).map_err(|why| AccountsError::Invalid {
                field: "password",
                why,
            })?;
            (given, None)
        }
        None => {
            let generated = password::generate()?;
            (generated.clone(), Some(generated))
        }
    };
    let phc = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
    let user = store
        .create_user(org_id, email, display_name, role, &phc)
        .await?;
    Ok(CreatedUser {
        user,
        password: generated,
    })
}

/// A new key of `org_id`, stored by hash.
pub async fn issue_api_key(
    store: &Store,
    org_id: Uuid,
    name: &str,
    role: Role,
) -> Result<CreatedApiKey, AccountsError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccountsError::Invalid {
            field: "name",
            why: format!("1 to {NAME_CHARS} characters"),
        });
    }
    check_name("name", name)?;
    let (key, hash) = tokens::opaque(API_KEY_PREFIX)?;
    let api_key = store
        .create_api_key(org_id, name, role, &key[..API_KEY_SHOWN], &hash)
        .await?;
    Ok(CreatedApiKey { api_key, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names_are_checked() {
        assert!(is_email("ada@example.com"));
        assert!(!is_email("ada example.com"));
        assert!(!is_email("a@b@c"));
        assert!(check_name("name", "Ada").is_ok());
        assert!(check_name("name", "A\0").is_err());
        assert!(check_name("name", &"x".repeat(201)).is_err());
        assert!(check_name("name", &"é".repeat(200)).is_ok());
    }
}
