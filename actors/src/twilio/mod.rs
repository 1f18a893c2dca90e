//! Sans-IO codec for Twilio Media Streams websocket frames.
//!
//! Text in, typed values out; values in, text out. No sockets, no async, no
//! IO: the transport hands this module each websocket *text* frame and sends
//! what it writes. (Binary frames are invalid in this protocol — Twilio warns
//! 31950 — so the transport should count and drop them without calling here.)
//!
//! * Twilio → server: [`parse_inbound`] gives an [`Inbound`]. The hot path,
//!   [`Inbound::Media`] at ~50 frames/s, borrows the base64 payload from the
//!   frame and [`Media::decode_payload`] decodes into a reused `Vec<u8>`.
//! * Server → Twilio: [`encode_media`], [`encode_mark`], [`encode_clear`]
//!   write JSON by hand into a reused `String`.
//! * The mirror image for a Twilio caller simulator: [`encode_connected`],
//!   [`encode_start`], [`encode_inbound_media`], [`encode_dtmf`],
//!   [`encode_mark_echo`], [`encode_stop`] and [`parse_outbound`].
//!
//! Once the buffers are warm, parsing a media frame, decoding its payload and
//! encoding an outbound media frame allocate nothing (`tests/alloc.rs` proves
//! it with a counting allocator).
//!
//! ```
//! use switchboard_actors::twilio::{Inbound, encode_media, parse_inbound};
//!
//! let frame = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1",
//!     "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/w=="}}"#;
//! let (mut mulaw, mut reply) = (Vec::new(), String::new());
//! if let Inbound::Media(m) = parse_inbound(frame)? {
//!     m.decode_payload(&mut mulaw)?;
//!     encode_media(&m.stream_sid, &mulaw, &mut reply);
//! }
//! assert_eq!(reply, r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/w=="}}"#);
//! # Ok::<(), switchboard_actors::twilio::CodecError>(())
//! ```
//!
//! Parsing rules: frames over [`MAX_FRAME_BYTES`] are rejected before parsing;
//! unknown fields are ignored (Twilio adds fields without notice); unknown
//! events are values (`Unknown { event }`), not errors; numbers Twilio sends
//! as strings (`"3"`) must be ASCII digits (a JSON integer is accepted too);
//! missing or unusable fields are errors naming the field's wire path.
//! Base64 payloads must be unescaped JSON strings (base64 needs no escapes;
//! Twilio never sends any): an escaped payload is an
//! [`CodecError::InvalidField`] rather than a silent copy.

mod error;
mod inbound;
mod json;
mod outbound;
mod sid;
mod wire;

#[cfg(test)]
mod tests;

pub use error::CodecError;
pub use inbound::{
    Inbound, Media, MediaFormat, Start, encode_connected, encode_dtmf, encode_inbound_media,
    encode_mark_echo, encode_start, encode_stop, parse_inbound,
};
pub use outbound::{
    Outbound, encode_clear, encode_mark, encode_media, encode_media_base64, parse_outbound,
};
pub use sid::{is_account_sid, is_call_sid, is_dtmf_digit, is_sid};
pub use wire::decode_base64;

/// Largest text frame accepted by the parsers, in bytes (64 KiB). A 20 ms
/// media frame is about 400 bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
