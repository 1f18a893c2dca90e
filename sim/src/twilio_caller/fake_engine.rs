//! A minimal engine for the caller's tests, on 127.0.0.1:0 with warp (the project's HTTP server):
//!
//! * `POST /twilio/voice`: 403 unless `X-Twilio-Signature` is right (checked with the project's
//!   signature module over the public URL + path and the form); else TwiML connecting the call to
//!   `/twilio/media` with `call_id` and `tenant` (entity-escaped) parameters.
//! * `GET /twilio/media`: 403 unless the upgrade's signature is right over the stream URL; then it
//!   checks every frame the caller sends (order, sequence numbers, chunks, timestamps, start
//!   fields) and talks back: after 1 s of caller tone it sends 1 s of agent audio as ten 100 ms
//!   frames each followed by a mark; DTMF `9` sends `clear`, `5` sends junk frames and a lone
//!   mark, `0` closes the socket (the engine hangs up).
//!
//! Each socket's observations arrive as a [`SocketLog`] when it ends.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_actors::audio::{g711, tone};
use switchboard_actors::twilio::{self as codec, Inbound, Start};
use tokio::sync::mpsc;
use tokio::time::Instant;
use url::Url;
use warp::Filter;
use warp::Reply;
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket, Ws};

use switchboard::twilio::signature;

pub const TOKEN: &str = "test-auth-token";
/// Caller tone frames (20 ms) after which the agent answers.
pub const TONE_FRAMES_BEFORE_REPLY: u64 = 50;
/// Agent reply: this many frames…
pub const AGENT_FRAMES: usize = 10;
/// …of this many bytes (100 ms) each, each followed by mark `agent-{i}`.
pub const AGENT_FRAME_BYTES: usize = 800;
/// The `tenant` parameter, as decoded.
pub const TENANT: &str = "A&B <x> \"q\"";

/// One media frame as the engine saw it.
#[derive(Debug, Clone)]
pub struct MediaSeen {
    pub seq: u64,
    pub chunk: u64,
    pub timestamp_ms: u64,
    pub len: usize,
    pub tone: bool,
    pub at: Instant,
}

/// What one media socket saw.
#[derive(Debug, Default)]
pub struct SocketLog {
    /// Event names of every parsed frame, in order.
    pub events: Vec<String>,
    pub start: Option<Start>,
    pub media: Vec<MediaSeen>,
    pub dtmf: Vec<(u64, char)>,
    /// (name, delay from sending the mark to receiving its echo, sequence number).
    pub echoes: Vec<(String, Duration, u64)>,
    pub clear_sent_at: Option<Instant>,
    /// (name, when its echo arrived).
    pub echo_at: Vec<(String, Instant)>,
    pub stop: Option<(String, String)>,
    pub malformed: usize,
    pub unknown: usize,
    pub binary: usize,
    pub close_code: Option<u16>,
    /// Protocol rules the caller broke.
    pub violations: Vec<String>,
}

#[derive(Default)]
struct Shared {
    /// call_id → (CallSid, AccountSid) from the webhook.
    calls: Mutex<HashMap<String, (String, String)>>,
    webhooks: Mutex<Vec<Vec<(String, String)>>>,
}

pub struct FakeEngine {
    /// Where it listens: `http://127.0.0.1:PORT`.
    pub base: Url,
    /// The URL it believes is its public one.
    pub public: Url,
    logs: mpsc::UnboundedReceiver<SocketLog>,
    shared: Arc<Shared>,
}

impl FakeEngine {
    /// Starts an engine whose public URL is its own address.
    pub async fn start() -> FakeEngine {
        Self::start_with_public(None).await
    }

    /// Starts an engine that believes its public URL is `public` (default: its own address).
    pub async fn start_with_public(public: Option<Url>) -> FakeEngine {
        // TCP_NODELAY on the listener is inherited by accepted sockets (Linux); warp does not set
        // it, and without it Nagle holds back all but the first of a burst of agent frames until
        // the caller's next frame ACKs it (~20 ms), which at Fast(10) is 200 ms of call clock.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_nodelay(true).expect("nodelay");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let listener = socket.listen(64).expect("listen");
        let port = listener.local_addr().expect("local addr").port();
        let base = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
        let public = public.unwrap_or_else(|| base.clone());
        let shared = Arc::new(Shared::default());
        let (log_tx, logs) = mpsc::unbounded_channel();

        let voice_public = public.clone();
        let voice_shared = shared.clone();
        let media_shared = shared.clone();
        let voice = warp::post()
            .and(warp::path!("twilio" / "voice"))
            .and(warp::header::optional::<String>("x-twilio-signature"))
            .and(warp::header::optional::<String>("content-type"))
            .and(warp::body::bytes())
            .map(
                move |sig: Option<String>, content_type: Option<String>, body: bytes::Bytes| {
                    voice_webhook(&voice_public, &voice_shared, sig, content_type, &body)
                },
            );
        let media_public = public.clone();
        let media = warp::path!("twilio" / "media")
            .and(warp::header::optional::<String>("x-twilio-signature"))
            .and(warp::ws())
            .map(move |sig: Option<String>, ws: Ws| {
                let url = signature::websocket_url(&media_public, "twilio/media");
                let ok = sig.is_some_and(|s| signature::is_valid(TOKEN, &url, &[], &s));
                if !ok {
                    return warp::reply::with_status(
                        "X-Twilio-Signature does not match this media stream",
                        StatusCode::FORBIDDEN,
                    )
                    .into_response();
                }
                let (shared, log_tx) = (media_shared.clone(), log_tx.clone());
                ws.on_upgrade(move |socket| async move {
                    let log = media_socket(socket, shared).await;
                    let _ = log_tx.send(log);
                })
                .into_response()
            });
        tokio::spawn(warp::serve(voice.or(media)).incoming(listener).run());
        FakeEngine {
            base,
            public,
            logs,
            shared,
        }
    }

    /// The log of the next media socket to end.
    pub async fn next_log(&mut self) -> SocketLog {
        tokio::time::timeout(Duration::from_secs(10), self.logs.recv())
            .await
            .expect("a media socket log within 10 s")
            .expect("the engine is running")
    }

    /// The form parameters of every webhook accepted so far.
    pub fn webhooks(&self) -> Vec<Vec<(String, String)>> {
        self.shared.webhooks.lock().expect("lock").clone()
    }
}

fn voice_webhook(
    public: &Url,
    shared: &Shared,
    sig: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> warp::reply::Response {
    if content_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return warp::reply::with_status("not a form", StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .into_response();
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let params: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let url = format!("{}/twilio/voice", public.as_str().trim_end_matches('/'));
    let Some(sig) = sig else {
        return warp::reply::with_status("missing X-Twilio-Signature", StatusCode::FORBIDDEN)
            .into_response();
    };
    if !signature::is_valid(TOKEN, &url, &params, &sig) {
        return warp::reply::with_status(
            "X-Twilio-Signature does not match this request",
            StatusCode::FORBIDDEN,
        )
        .into_response();
    }
    let get = |key: &str| {
        form.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut webhooks = shared.webhooks.lock().expect("lock");
    let call_id = format!("call-{}", webhooks.len() + 1);
    shared
        .calls
        .lock()
        .expect("lock")
        .insert(call_id.clone(), (get("CallSid"), get("AccountSid")));
    webhooks.push(form.clone());
    let stream_url = signature::websocket_url(public, "twilio/media");
    // Deliberately varied: single quotes, attribute order, whitespace, entities.
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Connect>\n    \
         <Stream url=\"{stream_url}\">\n      <Parameter name=\"call_id\" value=\"{call_id}\"/>\n      \
         <Parameter value='A&amp;B &lt;x&gt; &quot;q&quot;' name='tenant' />\n    </Stream>\n  \
         </Connect>\n</Response>\n"
    );
    warp::reply::with_header(twiml, "content-type", "text/xml").into_response()
}

/// Protocol state of one socket.
struct Socket {
    log: SocketLog,
    shared: Arc<Shared>,
    stream_sid: String,
    last_seq: u64,
    last_chunk: u64,
    tone_frames: u64,
    replied: bool,
    sent_marks: HashMap<String, Instant>,
    /// Close the socket after this message.
    hang_up: bool,
}

async fn media_socket(mut ws: WebSocket, shared: Arc<Shared>) -> SocketLog {
    let mut socket = Socket {
        log: SocketLog::default(),
        shared,
        stream_sid: String::new(),
        last_seq: 0,
        last_chunk: 0,
        tone_frames: 0,
        replied: false,
        sent_marks: HashMap::new(),
        hang_up: false,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => {
                socket.violation("socket still open after 30 s".into());
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                socket.violation(format!("socket error: {e}"));
                break;
            }
            Ok(Some(Ok(m))) => m,
        };
        if message.is_close() {
            socket.log.close_code = message.close_frame().map(|(code, _)| code);
            continue;
        }
        if message.is_binary() {
            socket.log.binary += 1;
            continue;
        }
        let Ok(text) = message.to_str() else {
            continue; // ping / pong
        };
        let replies = socket.on_text(text);
        for reply in replies {
            if ws.send(reply).await.is_err() {
                break;
            }
        }
        if socket.hang_up {
            socket.hang_up = false;
            let _ = ws
                .send(Message::close_with(1000u16, "engine hangs up"))
                .await;
        }
    }
    socket.log
}

impl Socket {
    fn violation(&mut self, what: String) {
        self.log.violations.push(what);
    }

    fn text(&self, f: impl FnOnce(&str, &mut String)) -> Message {
        let mut out = String::new();
        f(&self.stream_sid, &mut out);
        Message::text(out)
    }

    fn on_text(&mut self, text: &str) -> Vec<Message> {
        let frame = match codec::parse_inbound(text) {
            Ok(frame) => frame,
            Err(_) => {
                self.log.malformed += 1;
                return Vec::new();
            }
        };
        let (event, seq) = match &frame {
            Inbound::Connected { .. } => ("connected", None),
            Inbound::Start(s) => ("start", Some(s.sequence_number)),
            Inbound::Media(m) => ("media", Some(m.sequence_number)),
            Inbound::Dtmf {
                sequence_number, ..
            } => ("dtmf", Some(*sequence_number)),
            Inbound::Mark {
                sequence_number, ..
            } => ("mark", Some(*sequence_number)),
            Inbound::Stop {
                sequence_number, ..
            } => ("stop", Some(*sequence_number)),
            Inbound::Unknown { .. } => {
                self.log.unknown += 1;
                return Vec::new();
            }
        };
        let position = self.log.events.len();
        self.log.events.push(event.to_owned());
        if self.log.stop.is_some() {
            self.violation(format!("{event} after stop"));
        }
        match (position, event) {
            (0, "connected") | (1, "start") => {}
            (0, _) => self.violation(format!("first frame is {event}, not connected")),
            (1, _) => self.violation(format!("second frame is {event}, not start")),
            (_, "connected" | "start") => self.violation(format!("{event} again")),
            _ => {}
        }
        if let Some(seq) = seq {
            if seq != self.last_seq + 1 {
                self.violation(format!(
                    "{event} has sequenceNumber {seq} after {}",
                    self.last_seq
                ));
            }
            self.last_seq = seq;
        }
        match frame {
            Inbound::Connected { protocol, version } => {
                if (protocol.as_str(), version.as_str()) != ("Call", "1.0.0") {
                    self.violation(format!("connected {protocol} {version}"));
                }
                Vec::new()
            }
            Inbound::Start(start) => {
                self.check_start(&start);
                self.stream_sid = start.stream_sid.clone();
                self.log.start = Some(start);
                Vec::new()
            }
            Inbound::Media(m) => {
                let mut audio = Vec::new();
                if m.decode_payload(&mut audio).is_err() {
                    self.violation("media payload is not base64".into());
                }
                if m.stream_sid != self.stream_sid || m.track != "inbound" {
                    self.violation(format!("media for {} track {}", m.stream_sid, m.track));
                }
                if m.chunk != self.last_chunk + 1 {
                    self.violation(format!("chunk {} after {}", m.chunk, self.last_chunk));
                }
                self.last_chunk = m.chunk;
                if m.timestamp_ms != (m.chunk - 1) * 20 {
                    self.violation(format!("chunk {} at {} ms", m.chunk, m.timestamp_ms));
                }
                let tone = audio.iter().any(|&b| b != 0xFF);
                self.log.media.push(MediaSeen {
                    seq: m.sequence_number,
                    chunk: m.chunk,
                    timestamp_ms: m.timestamp_ms,
                    len: audio.len(),
                    tone,
                    at: Instant::now(),
                });
                if tone {
                    self.tone_frames += 1;
                }
                if self.tone_frames >= TONE_FRAMES_BEFORE_REPLY && !self.replied {
                    self.replied = true;
                    return self.agent_reply();
                }
                Vec::new()
            }
            Inbound::Dtmf {
                sequence_number,
                digit,
                ..
            } => {
                self.log.dtmf.push((sequence_number, digit));
                match digit {
                    '9' => {
                        self.log.clear_sent_at = Some(Instant::now());
                        vec![self.text(codec::encode_clear)]
                    }
                    '5' => self.junk(),
                    '0' => {
                        self.hang_up = true;
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
            Inbound::Mark {
                name,
                sequence_number,
                ..
            } => {
                let name = name.into_owned();
                let now = Instant::now();
                match self.sent_marks.get(&name) {
                    Some(sent) => {
                        let delay = now - *sent;
                        self.log.echoes.push((name.clone(), delay, sequence_number));
                    }
                    None => self.violation(format!("echo of unknown mark {name}")),
                }
                if self.log.echo_at.iter().any(|(n, _)| *n == name) {
                    self.violation(format!("mark {name} echoed twice"));
                }
                self.log.echo_at.push((name, now));
                Vec::new()
            }
            Inbound::Stop {
                stream_sid,
                account_sid,
                call_sid,
                ..
            } => {
                if stream_sid != self.stream_sid {
                    self.violation(format!("stop for {stream_sid}"));
                }
                self.log.stop = Some((account_sid, call_sid));
                Vec::new()
            }
            Inbound::Unknown { .. } => Vec::new(),
        }
    }

    fn check_start(&mut self, start: &Start) {
        let sid_ok = |sid: &str, prefix: &str| {
            sid.len() == 34
                && sid.starts_with(prefix)
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
        };
        if !sid_ok(&start.stream_sid, "MZ") {
            self.violation(format!("streamSid {}", start.stream_sid));
        }
        if start.tracks != ["inbound"] {
            self.violation(format!("tracks {:?}", start.tracks));
        }
        let f = &start.media_format;
        if (f.encoding.as_str(), f.sample_rate, f.channels) != ("audio/x-mulaw", 8000, 1) {
            self.violation(format!("mediaFormat {f:?}"));
        }
        let call_id = start.custom_parameters.get("call_id").cloned();
        let expected: BTreeMap<String, String> = [
            ("call_id".to_owned(), call_id.clone().unwrap_or_default()),
            ("tenant".to_owned(), TENANT.to_owned()),
        ]
        .into();
        if start.custom_parameters != expected {
            self.violation(format!("customParameters {:?}", start.custom_parameters));
        }
        let known =
            call_id.and_then(|id| self.shared.calls.lock().expect("lock").get(&id).cloned());
        match known {
            Some((call_sid, account_sid)) => {
                if start.call_sid != call_sid || start.account_sid != account_sid {
                    self.violation(format!(
                        "start for {} / {}, webhook had {call_sid} / {account_sid}",
                        start.call_sid, start.account_sid
                    ));
                }
            }
            None => self.violation("start names no call the webhook created".into()),
        }
    }

    /// One second of a 1 kHz agent tone in 100 ms frames, each followed by a mark.
    fn agent_reply(&mut self) -> Vec<Message> {
        let pcm = tone::sine(1000.0, 8000, AGENT_FRAMES * AGENT_FRAME_BYTES, 8000.0);
        let mut mulaw = Vec::new();
        g711::encode_ulaw_into_vec(&pcm, &mut mulaw);
        let mut replies = Vec::new();
        for (i, frame) in mulaw.chunks(AGENT_FRAME_BYTES).enumerate() {
            replies.push(self.text(|sid, out| codec::encode_media(sid, frame, out)));
            let name = format!("agent-{i}");
            replies.push(self.text(|sid, out| codec::encode_mark(sid, &name, out)));
            self.sent_marks.insert(name, Instant::now());
        }
        replies
    }

    /// Frames Twilio must count and ignore, then a mark with nothing buffered before it.
    fn junk(&mut self) -> Vec<Message> {
        let sid = self.stream_sid.clone();
        self.sent_marks.insert("lonely".into(), Instant::now());
        vec![
            Message::text(format!(r#"{{"event":"bogus","streamSid":"{sid}"}}"#)),
            Message::text(format!(r#"{{"event":"media","streamSid":"{sid}"}}"#)),
            Message::binary(vec![1u8, 2, 3]),
            Message::text({
                let mut out = String::new();
                codec::encode_media("MZ-some-other-call", &[0xFF; 160], &mut out);
                out
            }),
            self.text(|sid, out| codec::encode_mark(sid, "lonely", out)),
        ]
    }
}
