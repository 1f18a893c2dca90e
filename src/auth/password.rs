//! Passwords: argon2id in the PHC string format, with the crate's default (OWASP-recommended)
//! cost. Hashing takes tens of milliseconds on purpose, so callers run it on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::AuthError;

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 12;

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    super::tokens::fill_random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Crypto(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Crypto(format!("cannot hash a password: {e}")))
}

/// Whether `password` matches the stored PHC string (false for a malformed one).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash that matches no password, verified against when the email is unknown so that the
/// answer takes as long as for a known one.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that is never anyone's").expect("argon2 hashes"))
}

/// Why a new password is refused, if it is.
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("password must be at least {MIN_LENGTH} characters"));
    }
    if password.len() > 1024 {
        return Err("password must be at most 1024 bytes".into());
    }
    Ok(())
}

/// A random password for a user created without one (printed once): 24 characters of base64url.
pub fn generate() -> Result<String, AuthError> {
    let mut bytes = [0u8; 18];
    super::tokens::fill_random(&mut bytes)?;
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapler", &phc));
        assert!(!verify("anything", "not a phc string"));
        assert_ne!(phc, hash("correct horse battery staple").unwrap(), "salted");
        assert!(!verify("", decoy()));
    }

    #[test]
    fn short_passwords_are_refused_and_generated_ones_are_long_enough() {
        assert!(check_strength("short").is_err());
        let generated = generate().unwrap();
        assert_eq!(generated.len(), 24);
        assert!(check_strength(&generated).is_ok());
    }
}
