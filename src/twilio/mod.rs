//! Twilio, service side: request signatures (`X-Twilio-Signature`) for webhooks and media sockets.
//! The Media Streams frame codec itself is sans-IO and lives in the actors crate.

pub mod signature;
