//! Sealing provider credentials at rest: ChaCha20-Poly1305 with a 256-bit key from the
//! configuration. A sealed value is `nonce (12 bytes) || ciphertext || tag`; the associated data
//! names the organization and the field, so a value moved to another row or column does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use uuid::Uuid;

use super::AuthError;

const NONCE_BYTES: usize = 12;

/// Seals and opens credentials.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// `plaintext` sealed for organization `org`'s field `field`.
    pub fn seal(&self, org: Uuid, field: &str, plaintext: &str) -> Result<Vec<u8>, AuthError> {
        let mut nonce = [0u8; NONCE_BYTES];
        super::tokens::fill_random(&mut nonce)?;
        let aad = associated_data(org, field);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| AuthError::Crypto("cannot seal a credential".into()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a value sealed for `org`'s `field`.
    pub fn open(&self, org: Uuid, field: &str, sealed: &[u8]) -> Result<String, AuthError> {
        let refused = || {
            AuthError::Crypto(format!(
                "organization {org}'s {field} does not open with the configured auth.encryption_key"
            ))
        };
        if sealed.len() < NONCE_BYTES {
            return Err(refused());
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let aad = associated_data(org, field);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

fn associated_data(org: Uuid, field: &str) -> Vec<u8> {
    let mut aad = org.as_bytes().to_vec();
    aad.extend_from_slice(field.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_org_field_and_key() {
        let sealer = Sealer::new(&[7; 32]);
        let org = Uuid::new_v4();
        let sealed = sealer
            .seal(org, "twilio_auth_token", "s3cr3t-token")
            .unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"s3cr3t"),
            "the clear text is not in it"
        );
        assert_eq!(
            sealer.open(org, "twilio_auth_token", &sealed).unwrap(),
            "s3cr3t-token"
        );
        assert!(
            sealer
                .open(Uuid::new_v4(), "twilio_auth_token", &sealed)
                .is_err()
        );
        assert!(sealer.open(org, "openai_api_key", &sealed).is_err());
        assert!(
            Sealer::new(&[8; 32])
                .open(org, "twilio_auth_token", &sealed)
                .is_err()
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(sealer.open(org, "twilio_auth_token", &flipped).is_err());
        assert_ne!(
            sealed,
            sealer
                .seal(org, "twilio_auth_token", "s3cr3t-token")
                .unwrap()
        );
    }
}
