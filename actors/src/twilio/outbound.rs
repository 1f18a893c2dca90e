//! Server → Twilio frames: the hot-path encoders the engine uses, and
//! [`parse_outbound`] for a Twilio caller simulator to read them back.

use std::borrow::Cow;

use super::CodecError;
use super::json::{push_base64, push_str};
use super::wire::{Parsed, decode_base64, need, parse_envelope};

/// Events [`parse_outbound`] understands; anything else is [`Outbound::Unknown`].
const KNOWN: &[&str] = &["media", "mark", "clear"];

/// One parsed server → Twilio frame, borrowing from the frame text where the
/// JSON had no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// Audio for Twilio to play.
    Media {
        /// `streamSid`.
        stream_sid: Cow<'a, str>,
        /// `media.payload`: base64 mu-law 8 kHz, a slice of the frame (an
        /// escaped payload is rejected, as for [`Media`](super::Media)).
        payload_b64: &'a str,
    },
    /// Ask Twilio to echo `name` once the audio before it has played.
    Mark {
        /// `streamSid`.
        stream_sid: Cow<'a, str>,
        /// `mark.name`.
        name: Cow<'a, str>,
    },
    /// Drop all audio Twilio has buffered (barge-in).
    Clear {
        /// `streamSid`.
        stream_sid: Cow<'a, str>,
    },
    /// An event this codec does not know: counted, not an error.
    Unknown {
        /// The frame's `event` value.
        event: String,
    },
}

impl Outbound<'_> {
    /// For [`Outbound::Media`], clears `out` and decodes the payload into it
    /// (reusing capacity); `Ok(false)` for any other variant, leaving `out` as is.
    pub fn decode_payload(&self, out: &mut Vec<u8>) -> Result<bool, CodecError> {
        match self {
            Outbound::Media { payload_b64, .. } => decode_base64(payload_b64, out).map(|()| true),
            _ => Ok(false),
        }
    }
}

/// Parses one server → Twilio text frame (the simulator's side).
///
/// Same rules as [`parse_inbound`](super::parse_inbound): size limit first,
/// unknown fields ignored, unknown events give [`Outbound::Unknown`].
pub fn parse_outbound(text: &str) -> Result<Outbound<'_>, CodecError> {
    let (event, env) = match parse_envelope(text, KNOWN)? {
        Parsed::Frame(event, env) => (event, env),
        Parsed::Unknown(event) => return Ok(Outbound::Unknown { event }),
    };
    if !KNOWN.contains(&event.as_ref()) {
        return Ok(Outbound::Unknown {
            event: event.into_owned(),
        });
    }
    let stream_sid = need(env.stream_sid, "streamSid")?.text("streamSid")?;
    Ok(match event.as_ref() {
        "media" => Outbound::Media {
            stream_sid,
            payload_b64: need(need(env.media, "media")?.payload, "media.payload")?
                .borrowed("media.payload")?,
        },
        "mark" => Outbound::Mark {
            stream_sid,
            name: need(need(env.mark, "mark")?.name, "mark.name")?.text("mark.name")?,
        },
        // Only "clear" remains after the KNOWN check.
        _ => Outbound::Clear { stream_sid },
    })
}

/// Writes `{"event":"media","streamSid":…,"media":{"payload":…}}` into `out`
/// (cleared first), base64-encoding `mulaw` straight into it. No allocation
/// once `out` has capacity for the frame.
pub fn encode_media(stream_sid: &str, mulaw: &[u8], out: &mut String) {
    out.clear();
    out.push_str("{\"event\":\"media\",\"streamSid\":");
    push_str(out, stream_sid);
    out.push_str(",\"media\":{\"payload\":");
    push_base64(out, mulaw);
    out.push_str("}}");
}

/// Like [`encode_media`] for audio that is already base64 mu-law (an AI delta in `g711_ulaw`,
/// passed through untouched). `payload_b64` must be base64 (it is written without escaping).
pub fn encode_media_base64(stream_sid: &str, payload_b64: &str, out: &mut String) {
    out.clear();
    out.push_str("{\"event\":\"media\",\"streamSid\":");
    push_str(out, stream_sid);
    out.push_str(",\"media\":{\"payload\":\"");
    out.push_str(payload_b64);
    out.push_str("\"}}");
}

/// Writes `{"event":"mark","streamSid":…,"mark":{"name":…}}` into `out` (cleared first).
pub fn encode_mark(stream_sid: &str, name: &str, out: &mut String) {
    out.clear();
    out.push_str("{\"event\":\"mark\",\"streamSid\":");
    push_str(out, stream_sid);
    out.push_str(",\"mark\":{\"name\":");
    push_str(out, name);
    out.push_str("}}");
}

/// Writes `{"event":"clear","streamSid":…}` into `out` (cleared first).
pub fn encode_clear(stream_sid: &str, out: &mut String) {
    out.clear();
    out.push_str("{\"event\":\"clear\",\"streamSid\":");
    push_str(out, stream_sid);
    out.push('}');
}
