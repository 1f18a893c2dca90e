//! What an [`OpenAiRestPeer`](super::OpenAiRestPeer) accepts: key, models, body size.

/// Configuration of an [`OpenAiRestPeer`](super::OpenAiRestPeer). Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPeerConfig {
    /// When set, every request must carry `Authorization: Bearer <this key>`; a missing or
    /// different key gets 401 `invalid_api_key`. Default: `None` (any key, or none).
    pub require_api_key: Option<String>,
    /// The models the peer serves; a request for another one gets 404 `model_not_found`, as
    /// the service answers for a model the key cannot use. Empty: any model. Default: empty.
    pub models: Vec<String>,
    /// Largest request body accepted, in bytes; a larger one gets 413. Default: 4 MiB.
    pub max_body_bytes: usize,
}

impl Default for RestPeerConfig {
    fn default() -> Self {
        RestPeerConfig {
            require_api_key: None,
            models: Vec::new(),
            max_body_bytes: 4 << 20,
        }
    }
}

impl RestPeerConfig {
    /// Defaults, but requests must carry `Authorization: Bearer <key>`.
    pub fn with_key(key: impl Into<String>) -> RestPeerConfig {
        RestPeerConfig {
            require_api_key: Some(key.into()),
            ..RestPeerConfig::default()
        }
    }

    /// Whether `model` is served.
    pub fn serves(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|served| served == model)
    }
}
