//! Twilio → server frames: typed values, [`parse_inbound`], and the
//! Twilio-side encoders a caller simulator uses to produce them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::CodecError;
use super::json::{push_base64, push_str, push_u64, push_u64_str};
use super::wire::{MediaBody, Parsed, Scalar, StartBody, decode_base64, need, parse_envelope};

/// Events [`parse_inbound`] understands; anything else is [`Inbound::Unknown`].
const KNOWN: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];

/// One parsed Twilio → server frame. Borrows from the frame text only for
/// [`Inbound::Media`], the ~50 frames/s hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// First message on the socket.
    Connected {
        /// Always `"Call"` today.
        protocol: String,
        /// Protocol version, e.g. `"1.0.0"`.
        version: String,
    },
    /// Stream metadata, sent once.
    Start(Start),
    /// 20 ms of caller audio.
    Media(Media<'a>),
    /// A key press.
    Dtmf {
        /// Top-level `streamSid`.
        stream_sid: String,
        /// `sequenceNumber`.
        sequence_number: u64,
        /// `dtmf.digit`: exactly one character (`0-9`, `*`, `#`, …).
        digit: char,
    },
    /// Echo of a mark we sent: audio queued before it has played (or was cleared). Borrowed
    /// from the frame (one arrives per agent delta: parsing it allocates nothing).
    Mark {
        /// Top-level `streamSid`.
        stream_sid: Cow<'a, str>,
        /// `sequenceNumber`.
        sequence_number: u64,
        /// `mark.name`, as we sent it.
        name: Cow<'a, str>,
    },
    /// The stream ended.
    Stop {
        /// Top-level `streamSid`.
        stream_sid: String,
        /// `sequenceNumber`.
        sequence_number: u64,
        /// `stop.accountSid`.
        account_sid: String,
        /// `stop.callSid`.
        call_sid: String,
    },
    /// An event this codec does not know: a routine outcome to count, not an error.
    Unknown {
        /// The frame's `event` value.
        event: String,
    },
}

/// The `start` event (owned; arrives once per call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `sequenceNumber` (normally 1).
    pub sequence_number: u64,
    /// `streamSid` (`MZ…`); top-level and `start.streamSid` must agree.
    pub stream_sid: String,
    /// `start.accountSid` (`AC…`).
    pub account_sid: String,
    /// `start.callSid` (`CA…`).
    pub call_sid: String,
    /// `start.tracks`, e.g. `["inbound"]`.
    pub tracks: Vec<String>,
    /// `start.customParameters` from TwiML `<Parameter>`; empty if absent.
    pub custom_parameters: BTreeMap<String, String>,
    /// `start.mediaFormat`.
    pub media_format: MediaFormat,
}

impl Start {
    /// What Twilio sends for a `<Connect><Stream>` of the caller's audio: sequence 1, the
    /// inbound track, 8 kHz mono µ-law, no custom parameters.
    pub fn inbound_mulaw(stream_sid: &str, account_sid: &str, call_sid: &str) -> Start {
        Start {
            sequence_number: 1,
            stream_sid: stream_sid.to_owned(),
            account_sid: account_sid.to_owned(),
            call_sid: call_sid.to_owned(),
            tracks: vec!["inbound".to_owned()],
            custom_parameters: BTreeMap::new(),
            media_format: MediaFormat {
                encoding: "audio/x-mulaw".to_owned(),
                sample_rate: 8000,
                channels: 1,
            },
        }
    }
}

/// `start.mediaFormat`: the only numeric (non-string) values Twilio sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFormat {
    /// `encoding`, e.g. `"audio/x-mulaw"`.
    pub encoding: String,
    /// `sampleRate` in Hz, e.g. 8000.
    pub sample_rate: u32,
    /// `channels`, e.g. 1.
    pub channels: u16,
}

/// The `media` event, borrowing from the frame: parsing it allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media<'a> {
    /// Top-level `streamSid` (borrowed unless the JSON escaped it).
    pub stream_sid: Cow<'a, str>,
    /// `sequenceNumber`.
    pub sequence_number: u64,
    /// `media.track`, e.g. `"inbound"` (borrowed unless escaped).
    pub track: Cow<'a, str>,
    /// `media.chunk`: 1-based chunk counter.
    pub chunk: u64,
    /// `media.timestamp`: milliseconds since the stream started.
    pub timestamp_ms: u64,
    /// `media.payload`: base64 of raw mu-law 8 kHz, a slice of the frame.
    ///
    /// Base64 never needs JSON escapes, so a payload containing any (even a
    /// legal `\/`) is rejected with [`CodecError::InvalidField`] for
    /// `media.payload` rather than copied.
    pub payload_b64: &'a str,
}

impl Media<'_> {
    /// Clears `out` and decodes the payload into it, reusing its capacity
    /// (no allocation once `out` has held a frame). On error `out` is empty.
    pub fn decode_payload(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        decode_base64(self.payload_b64, out)
    }
}

/// Parses one Twilio → server text frame.
///
/// Frames over [`MAX_FRAME_BYTES`](super::MAX_FRAME_BYTES) are rejected
/// unparsed. Unknown fields are ignored; unknown events give
/// [`Inbound::Unknown`]. String numbers (`"3"`) must be plain ASCII digits.
pub fn parse_inbound(text: &str) -> Result<Inbound<'_>, CodecError> {
    let (event, env) = match parse_envelope(text, KNOWN)? {
        Parsed::Frame(event, env) => (event, env),
        Parsed::Unknown(event) => return Ok(Inbound::Unknown { event }),
    };
    if !KNOWN.contains(&event.as_ref()) {
        return Ok(Inbound::Unknown {
            event: event.into_owned(),
        });
    }
    if event == "connected" {
        return Ok(Inbound::Connected {
            protocol: need(env.protocol, "protocol")?.string("protocol")?,
            version: need(env.version, "version")?.string("version")?,
        });
    }
    let sequence_number =
        need(env.sequence_number.as_ref(), "sequenceNumber")?.number("sequenceNumber")?;
    let stream_sid = need(env.stream_sid, "streamSid")?.text("streamSid")?;
    Ok(match event.as_ref() {
        "media" => Inbound::Media(media(env.media, stream_sid, sequence_number)?),
        "start" => Inbound::Start(start(env.start, stream_sid.into_owned(), sequence_number)?),
        "dtmf" => {
            let digit = need(need(env.dtmf, "dtmf")?.digit, "dtmf.digit")?.text("dtmf.digit")?;
            let mut chars = digit.chars();
            let (Some(d), None) = (chars.next(), chars.next()) else {
                return Err(CodecError::invalid("dtmf.digit", &digit));
            };
            Inbound::Dtmf {
                stream_sid: stream_sid.into_owned(),
                sequence_number,
                digit: d,
            }
        }
        "mark" => Inbound::Mark {
            stream_sid,
            sequence_number,
            name: need(need(env.mark, "mark")?.name, "mark.name")?.text("mark.name")?,
        },
        // Only "stop" remains after the KNOWN check.
        _ => {
            let stop = need(env.stop, "stop")?;
            Inbound::Stop {
                stream_sid: stream_sid.into_owned(),
                sequence_number,
                account_sid: need(stop.account_sid, "stop.accountSid")?
                    .string("stop.accountSid")?,
                call_sid: need(stop.call_sid, "stop.callSid")?.string("stop.callSid")?,
            }
        }
    })
}

fn media<'a>(
    body: Option<MediaBody<'a>>,
    stream_sid: Cow<'a, str>,
    sequence_number: u64,
) -> Result<Media<'a>, CodecError> {
    let m = need(body, "media")?;
    Ok(Media {
        stream_sid,
        sequence_number,
        track: need(m.track, "media.track")?.text("media.track")?,
        chunk: need(m.chunk, "media.chunk")?.number("media.chunk")?,
        timestamp_ms: need(m.timestamp, "media.timestamp")?.number("media.timestamp")?,
        payload_b64: need(m.payload, "media.payload")?.borrowed("media.payload")?,
    })
}

fn num<T: TryFrom<u64>>(v: Option<Scalar<'_>>, field: &'static str) -> Result<T, CodecError> {
    need(v, field)?.number(field)
}

fn start(
    body: Option<StartBody<'_>>,
    stream_sid: String,
    sequence_number: u64,
) -> Result<Start, CodecError> {
    let s = need(body, "start")?;
    if let Some(inner) = s.stream_sid {
        let inner = inner.text("start.streamSid")?;
        if inner != stream_sid {
            return Err(CodecError::invalid("start.streamSid", &inner));
        }
    }
    let f = need(s.media_format, "start.mediaFormat")?;
    Ok(Start {
        sequence_number,
        stream_sid,
        account_sid: need(s.account_sid, "start.accountSid")?.string("start.accountSid")?,
        call_sid: need(s.call_sid, "start.callSid")?.string("start.callSid")?,
        tracks: need(s.tracks, "start.tracks")?,
        custom_parameters: s.custom_parameters.unwrap_or_default(),
        media_format: MediaFormat {
            encoding: need(f.encoding, "start.mediaFormat.encoding")?
                .string("start.mediaFormat.encoding")?,
            sample_rate: num(f.sample_rate, "start.mediaFormat.sampleRate")?,
            channels: num(f.channels, "start.mediaFormat.channels")?,
        },
    })
}

// ---- Twilio-side encoders (for a caller simulator) ----

/// Writes common `{"event":E,"sequenceNumber":"N","streamSid":S` prefix.
fn head(out: &mut String, event: &str, stream_sid: &str, seq: u64) {
    out.clear();
    out.push_str("{\"event\":\"");
    out.push_str(event);
    out.push_str("\",\"sequenceNumber\":");
    push_u64_str(out, seq);
    out.push_str(",\"streamSid\":");
    push_str(out, stream_sid);
}

/// Writes Twilio's `connected` frame into `out` (cleared first).
pub fn encode_connected(out: &mut String) {
    out.clear();
    out.push_str(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#);
}

/// Writes a `start` frame for `start` into `out` (cleared first).
pub fn encode_start(start: &Start, out: &mut String) {
    head(out, "start", &start.stream_sid, start.sequence_number);
    out.push_str(",\"start\":{\"streamSid\":");
    push_str(out, &start.stream_sid);
    out.push_str(",\"accountSid\":");
    push_str(out, &start.account_sid);
    out.push_str(",\"callSid\":");
    push_str(out, &start.call_sid);
    out.push_str(",\"tracks\":[");
    for (i, t) in start.tracks.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, t);
    }
    out.push_str("],\"customParameters\":{");
    for (i, (k, v)) in start.custom_parameters.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
        push_str(out, v);
    }
    out.push_str("},\"mediaFormat\":{\"encoding\":");
    push_str(out, &start.media_format.encoding);
    out.push_str(",\"sampleRate\":");
    push_u64(out, start.media_format.sample_rate.into());
    out.push_str(",\"channels\":");
    push_u64(out, start.media_format.channels.into());
    out.push_str("}}}");
}

/// Writes an inbound (`track: "inbound"`) `media` frame carrying `mulaw`,
/// base64-encoded straight into `out` (cleared first).
pub fn encode_inbound_media(
    stream_sid: &str,
    seq: u64,
    chunk: u64,
    timestamp_ms: u64,
    mulaw: &[u8],
    out: &mut String,
) {
    head(out, "media", stream_sid, seq);
    out.push_str(",\"media\":{\"track\":\"inbound\",\"chunk\":");
    push_u64_str(out, chunk);
    out.push_str(",\"timestamp\":");
    push_u64_str(out, timestamp_ms);
    out.push_str(",\"payload\":");
    push_base64(out, mulaw);
    out.push_str("}}");
}

/// Writes a `dtmf` frame (`track: "inbound_track"`) into `out` (cleared first).
pub fn encode_dtmf(stream_sid: &str, seq: u64, digit: char, out: &mut String) {
    head(out, "dtmf", stream_sid, seq);
    out.push_str(",\"dtmf\":{\"track\":\"inbound_track\",\"digit\":");
    push_str(out, digit.encode_utf8(&mut [0u8; 4]));
    out.push_str("}}");
}

/// Writes Twilio's echo of mark `name` into `out` (cleared first).
pub fn encode_mark_echo(stream_sid: &str, seq: u64, name: &str, out: &mut String) {
    head(out, "mark", stream_sid, seq);
    out.push_str(",\"mark\":{\"name\":");
    push_str(out, name);
    out.push_str("}}");
}

/// Writes a `stop` frame into `out` (cleared first).
pub fn encode_stop(
    stream_sid: &str,
    seq: u64,
    account_sid: &str,
    call_sid: &str,
    out: &mut String,
) {
    head(out, "stop", stream_sid, seq);
    out.push_str(",\"stop\":{\"accountSid\":");
    push_str(out, account_sid);
    out.push_str(",\"callSid\":");
    push_str(out, call_sid);
    out.push_str("}}");
}
