//! Twilio, service side, in one place: request signatures (`X-Twilio-Signature`), the voice and
//! status webhooks, and the Media Streams socket that hands each call to its actor. The frame codec
//! itself (and the SID shapes) is sans-IO and lives in the actors crate (`switchboard_actors::twilio`);
//! `http` only routes here.

pub mod answer;
pub mod fallback;
pub mod ivr;
pub mod media;
pub mod signature;
pub mod webhooks;

use crate::config::Secret;

/// How Twilio's requests are checked and answered.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// The base URL Twilio calls (signatures are computed over it) and the media socket's base.
    pub public_url: url::Url,
    pub auth_token: Secret,
    pub validate_signatures: bool,
}
