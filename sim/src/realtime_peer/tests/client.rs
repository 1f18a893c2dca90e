//! A small Realtime client for driving the peer: tokio-tungstenite plus the actors crate's
//! client encoders; every server frame is also checked against the codec's parser.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard_actors::audio::{g711, tone};
use switchboard_actors::realtime::{
    AudioFormat, Dialect, SessionConfig, Tool, connect_headers, connect_url, encode_audio_append,
    parse_server_event,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::realtime_peer::RealtimePeer;

/// Longest wait for any one expected frame.
pub const STEP: Duration = Duration::from_secs(5);

/// What the socket gave.
#[derive(Debug)]
pub enum Got {
    /// A text frame, decoded as JSON.
    Event(Value),
    /// A close frame and its code.
    Close(Option<u16>),
    /// The stream ended or failed without a close frame.
    Gone(String),
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub dialect: Dialect,
    pub format: AudioFormat,
    append: String,
}

/// Connects like the engine: `connect_url` + `connect_headers` (no key when `key` is None).
pub async fn try_connect(
    peer: &RealtimePeer,
    dialect: Dialect,
    key: Option<&str>,
) -> Result<Client, WsError> {
    let model = SessionConfig::for_dialect(dialect).model;
    try_connect_to(&connect_url(&peer.url(), &model), dialect, key).await
}

pub async fn try_connect_to(
    url: &str,
    dialect: Dialect,
    key: Option<&str>,
) -> Result<Client, WsError> {
    let mut request = url.into_client_request()?;
    let headers = match key {
        Some(key) => connect_headers(dialect, key),
        None => connect_headers(dialect, "")
            .into_iter()
            .filter(|(name, _)| *name != "Authorization")
            .collect(),
    };
    for (name, value) in headers {
        let value = HeaderValue::from_str(&value).expect("header value");
        request.headers_mut().insert(name, value);
    }
    let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect timed out")?;
    Ok(Client {
        ws,
        dialect,
        format: AudioFormat::Pcm16,
        append: String::new(),
    })
}

pub async fn connect(peer: &RealtimePeer, dialect: Dialect) -> Client {
    try_connect(peer, dialect, Some("sk-test"))
        .await
        .expect("connect")
}

/// The HTTP status of a refused upgrade.
pub fn refused_status(result: Result<Client, WsError>) -> u16 {
    match result {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
    }
}

/// A session config in `dialect` with `format` both ways and an `end_call` tool.
pub fn session_config(dialect: Dialect, format: AudioFormat) -> SessionConfig {
    SessionConfig {
        instructions: "You are a test agent.".to_owned(),
        audio_format: format,
        tools: vec![Tool::new(
            "end_call",
            "Hang up.",
            serde_json::json!({"type": "object", "properties": {"reason": {"type": "string"}}}),
        )],
        ..SessionConfig::for_dialect(dialect)
    }
}

impl Client {
    pub async fn send(&mut self, text: String) {
        timeout(STEP, self.ws.send(Message::text(text)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        timeout(STEP, self.ws.send(Message::binary(bytes)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// Next frame (pings and pongs skipped); panics after [`STEP`] of silence.
    pub async fn recv(&mut self) -> Got {
        self.recv_within(STEP)
            .await
            .unwrap_or_else(|| panic!("no frame within {STEP:?}"))
    }

    /// Next frame, or `None` when nothing came within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Got> {
        let deadline = Instant::now() + limit;
        loop {
            let frame = timeout_at(deadline, self.ws.next()).await.ok()?;
            return Some(match frame {
                None => Got::Gone("end of stream".to_owned()),
                Some(Err(err)) => Got::Gone(err.to_string()),
                Some(Ok(Message::Text(text))) => {
                    if let Err(err) = parse_server_event(text.as_str()) {
                        panic!("the codec cannot parse {text}: {err}");
                    }
                    Got::Event(serde_json::from_str(text.as_str()).expect("JSON event"))
                }
                Some(Ok(Message::Close(frame))) => Got::Close(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
            });
        }
    }

    /// Next event; panics on anything else.
    pub async fn event(&mut self) -> Value {
        match self.recv().await {
            Got::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Events up to and including the first of type `kind`.
    pub async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let event = self.event().await;
            let done = event["type"] == kind;
            events.push(event);
            if done {
                return events;
            }
        }
    }

    /// Events received during `window` (ends early if the socket closes).
    pub async fn collect_for(&mut self, window: Duration) -> Vec<Value> {
        let deadline = Instant::now() + window;
        let mut events = Vec::new();
        while let Some(got) = self
            .recv_within(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            match got {
                Got::Event(event) => events.push(event),
                other => panic!("unexpected {other:?}"),
            }
        }
        events
    }

    /// `session.update` from `config` (its format becomes the client's); returns the events
    /// up to `session.updated`.
    pub async fn configure(&mut self, config: &SessionConfig) -> Vec<Value> {
        self.format = config.audio_format;
        self.send(config.session_update(self.dialect)).await;
        self.until("session.updated").await
    }

    /// `ms` of a sine at `hz` (0 = silence), in 20 ms appends, as fast as possible.
    pub async fn send_audio(&mut self, hz: f64, ms: u32) {
        let rate = self.format.sample_rate();
        let frame = rate as usize / 50;
        let samples = if hz == 0.0 {
            vec![0i16; rate as usize * ms as usize / 1000]
        } else {
            tone::sine(hz, rate, rate as usize * ms as usize / 1000, 8_000.0)
        };
        for chunk in samples.chunks(frame) {
            let bytes = encode(self.format, chunk);
            let b64 = BASE64.encode(bytes);
            encode_audio_append(&b64, &mut self.append);
            let text = self.append.clone();
            self.send(text).await;
        }
    }

    pub async fn close(mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        let _ = timeout(STEP, self.ws.close(Some(frame))).await;
    }
}

fn encode(format: AudioFormat, samples: &[i16]) -> Vec<u8> {
    let mut bytes = Vec::new();
    match format {
        AudioFormat::G711Ulaw => {
            // µ-law silence is 0xFF, which is what encoding zeros gives.
            g711::encode_ulaw_into_vec(samples, &mut bytes)
        }
        AudioFormat::G711Alaw => g711::encode_alaw_into_vec(samples, &mut bytes),
        AudioFormat::Pcm16 => bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes())),
    }
    bytes
}

/// Decodes base64 audio deltas of `format` into PCM.
pub fn decode_audio(format: AudioFormat, deltas: &[&str]) -> Vec<i16> {
    let mut bytes = Vec::new();
    for delta in deltas {
        bytes.extend(BASE64.decode(delta).expect("base64 delta"));
    }
    let mut pcm = Vec::new();
    match format {
        AudioFormat::G711Ulaw => g711::decode_ulaw_into_vec(&bytes, &mut pcm),
        AudioFormat::G711Alaw => g711::decode_alaw_into_vec(&bytes, &mut pcm),
        AudioFormat::Pcm16 => pcm.extend(
            bytes
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
        ),
    }
    pcm
}

/// Types of `events`, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap_or(""))
        .collect()
}

/// The first event of type `kind`.
pub fn find<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|event| event["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", types(events)))
}

/// Position of the first event of type `kind`.
pub fn position(events: &[Value], kind: &str) -> usize {
    events
        .iter()
        .position(|event| event["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", types(events)))
}
