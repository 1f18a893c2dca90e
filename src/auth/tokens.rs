//! Tokens: short-lived access tokens (HS256 JWTs, verified without a database round trip for
//! the signature and expiry), and opaque random tokens for refresh and API keys, stored only as
//! their SHA-256.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuthError, Role};

/// The prefix of a refresh token.
pub const REFRESH_PREFIX: &str = "sbr_";
/// The prefix of an API key: a bearer token that starts with it is looked up as a key.
pub const API_KEY_PREFIX: &str = "sbk_";
/// How many characters of an API key are kept in the clear to recognize it in listings.
pub const API_KEY_SHOWN: usize = 12;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    pub org: Uuid,
    pub role: Role,
    /// The session (login) the token belongs to: logging out or a detected refresh-token theft
    /// revokes it, and with it every access token it issued.
    pub sid: Uuid,
    /// The token's own id.
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// `access`: only access tokens are accepted as bearer tokens.
    pub typ: String,
}

/// Signs and checks access tokens with the configured key.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A signed access token for these claims.
    pub fn issue(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Crypto(format!("cannot sign a token: {e}")))
    }

    /// The claims of a token this engine signed that has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                AuthError::Unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => "the access token has expired".into(),
                    ErrorKind::InvalidSignature => "the access token's signature is wrong".into(),
                    _ => "the bearer token is not a valid access token".into(),
                })
            })?
            .claims;
        if claims.typ != "access" {
            return Err(AuthError::Unauthenticated(
                "the bearer token is not an access token".into(),
            ));
        }
        Ok(claims)
    }
}

/// Claims for a new access token of `ttl_s` seconds.
pub fn access_claims(user: Uuid, org: Uuid, role: Role, session: Uuid, ttl_s: u64) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        sub: user,
        org,
        role,
        sid: session,
        jti: Uuid::new_v4(),
        iat: now,
        exp: now + ttl_s as i64,
        typ: "access".into(),
    }
}

/// A new opaque token: `prefix` + 256 random bits in base64url, and the SHA-256 it is stored as.
pub fn opaque(prefix: &str) -> Result<(String, [u8; 32]), AuthError> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    let token = format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = digest(&token);
    Ok((token, hash))
}

/// The SHA-256 an opaque token is stored and looked up as.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Crypto(format!("no randomness: {e}")))
}

/// Seconds from now until `at` (at least 1), for `expires_in` fields.
pub fn seconds_until(at: DateTime<Utc>) -> i64 {
    (at - Utc::now()).num_seconds().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_their_key_only_and_not_after_expiry() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let claims = access_claims(
            Uuid::new_v4(),
            Uuid::new_v4(),
            Role::Agent,
            Uuid::new_v4(),
            60,
        );
        let token = keys.issue(&claims).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), claims);

        let other = JwtKeys::new(b"another key, also 32 bytes long!");
        assert!(matches!(
            other.verify(&token),
            Err(AuthError::Unauthenticated(_))
        ));

        // Tampered: the payload changed (role raised), the signature kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut raised = claims.clone();
        raised.role = Role::Admin;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&raised).unwrap());
        assert!(keys.verify(&parts.join(".")).is_err());

        let mut expired = claims.clone();
        expired.exp = Utc::now().timestamp() - 60;
        let token = keys.issue(&expired).unwrap();
        let Err(AuthError::Unauthenticated(why)) = keys.verify(&token) else {
            panic!("an expired token verified");
        };
        assert!(why.contains("expired"), "{why}");

        let mut refresh_like = claims;
        refresh_like.typ = "refresh".into();
        assert!(keys.verify(&keys.issue(&refresh_like).unwrap()).is_err());
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let (a, hash_a) = opaque(API_KEY_PREFIX).unwrap();
        let (b, _) = opaque(API_KEY_PREFIX).unwrap();
        assert!(a.starts_with("sbk_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a), hash_a);
    }
}
