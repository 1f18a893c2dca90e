//! Twilio, service side, in one place: request signatures (`X-Twilio-Signature`), the voice and
//! status webhooks, and the Media Streams socket that hands each call to its actor. The frame codec
//! itself (and the SID shapes) is sans-IO and lives in the actors crate (`switchboard_actors::twilio`);
//! `http` only routes here.

pub mod media;
pub mod signature;
pub mod webhooks;
