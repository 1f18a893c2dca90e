//! The two keys of the auth layer: the access tokens' signing key (`auth.jwt_secret`) and the
//! credentials' sealing key (`auth.encryption_key`). Either may be left empty, and then the engine
//! creates a random one on first start and keeps it in `<data_dir>/keys/` (mode 0600), so that a
//! single node works securely with no set-up; several nodes must share configured keys.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;

use super::AuthError;
use super::seal::Sealer;
use super::tokens::JwtKeys;
use crate::config::Config;

/// The keys in use.
#[derive(Clone, Debug)]
pub struct AuthKeys {
    pub jwt: JwtKeys,
    pub sealer: Sealer,
}

impl AuthKeys {
    /// From the configuration, or from (new) key files under the data directory.
    pub fn load(config: &Config) -> Result<AuthKeys, AuthError> {
        let dir = config.storage.data_dir.join("keys");
        let jwt = match config.auth.jwt_secret.expose() {
            "" => key_file(&dir.join("jwt.key"))?,
            secret => secret.as_bytes().to_vec(),
        };
        let sealing = match config.auth.encryption_key.expose() {
            "" => key_file(&dir.join("credentials.key"))?,
            key => decode_key(key).map_err(AuthError::Crypto)?,
        };
        let sealing: [u8; 32] = sealing
            .try_into()
            .map_err(|_| AuthError::Crypto("the credentials key is not 32 bytes".into()))?;
        Ok(AuthKeys {
            jwt: JwtKeys::new(&jwt),
            sealer: Sealer::new(&sealing),
        })
    }

    /// Keys for tests and tools that need no persistence.
    pub fn ephemeral() -> AuthKeys {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        super::tokens::fill_random(&mut a).expect("randomness");
        super::tokens::fill_random(&mut b).expect("randomness");
        AuthKeys {
            jwt: JwtKeys::new(&a),
            sealer: Sealer::new(&b),
        }
    }
}

/// `auth.encryption_key`: 32 bytes in standard base64.
pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err("must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)".into()),
    }
}

/// The key in `path`, created (32 random bytes, base64) when the file does not exist.
fn key_file(path: &Path) -> Result<Vec<u8>, AuthError> {
    let failed = |what: &str, e: std::io::Error| {
        AuthError::Crypto(format!(
            "cannot {what} the key file {}: {e}",
            path.display()
        ))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return decode_key(&text).map_err(|why| {
                AuthError::Crypto(format!("the key file {}: {why}", path.display()))
            });
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed("read", e)),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed("create the directory of", e))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut key = [0u8; 32];
    super::tokens::fill_random(&mut key)?;
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    // create_new: two engines starting at once on one data directory agree on the first key.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| failed("write", e))?;
            tracing::warn!(
                path = %path.display(),
                "created a random key; set it in the configuration to share it between nodes"
            );
            Ok(key.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => key_file(path),
        Err(e) => Err(failed("create", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_file_is_created_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("jwt.key");
        let first = key_file(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(key_file(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "not base64!").unwrap();
        assert!(key_file(&path).is_err());
    }
}
