//! `TwilioCaller`: a faithful simulation of Twilio placing an inbound call into the engine, for
//! tests and demos.
//!
//! What Twilio does, in order, and what this module does the same way:
//!
//! 1. `POST` the voice webhook (`application/x-www-form-urlencoded`: `CallSid`, `AccountSid`,
//!    `From`, `To`, `CallStatus=ringing`, `ApiVersion=2010-04-01`, `Direction=inbound`), signed
//!    with `X-Twilio-Signature` over the engine's *public* URL + path and the sorted parameters.
//!    Anything but 200 with XML is an error ([`CallerError::Webhook`], [`CallerError::BadTwiml`]).
//! 2. Read `<Response><Connect><Stream url>` and its `<Parameter>`s out of the TwiML ([`Twiml`]).
//! 3. Open the websocket to the stream URL (`ws://` accepted for tests) with `X-Twilio-Signature`
//!    over that exact URL and no parameters ([`MediaSession::connect`]).
//! 4. Send `connected`, then `start` (`MZ…` streamSid, `tracks: ["inbound"]`, the TwiML parameters
//!    as `customParameters`, `audio/x-mulaw` 8000 Hz mono), then a 160-byte `media` frame every
//!    20 ms for the whole call (tone for [`Step::Speak`], mu-law silence `0xFF` otherwise): `chunk`
//!    from 1, `timestamp` = ms since start, `sequenceNumber` over every message from 1.
//! 5. Meanwhile play the engine's audio on a simulated buffer (8 bytes per ms on the same paced
//!    clock), echo each `mark` once the audio before it has played (at once if nothing is
//!    buffered), and on `clear` drop the buffer and echo every pending mark at once.
//! 6. At hang-up send `stop` and close the socket (code 1000).
//!
//! [`TwilioCaller::place`] does all of it from a [`CallerConfig`] and returns a [`CallReport`];
//! [`TwilioCaller::post_webhook`] and [`MediaSession`] expose the steps for tests that need to
//! misbehave in between (raw frames, unsigned sockets, no `start`, …).
//!
//! When the engine answers with more than a stream (IVR menus, voicemail, fallback verbs after
//! `</Connect>`), [`follow`] runs the TwiML as Twilio does, with a scripted [`CallerInput`] at
//! each `<Gather>`, until the call ends or reaches a `<Connect><Stream>` ([`IvrEnd::Stream`]),
//! and [`continue_after`] runs the verbs Twilio plays once the engine closes that stream.
//!
//! Time: [`Pace::RealTime`] streams like Twilio; [`Pace::Fast`]`(n)` runs the same call clock `n`
//! times faster (frames, playback and mark echoes alike), so a 3 s script takes about 300 ms at
//! `Fast(10)`. Every wait is bounded: webhook and connect by their timeouts, each step by its
//! length (or `max_ms`), the closing handshake by `close_timeout`.

mod ivr;
mod playback;
mod report;
mod session;
mod twiml;

#[cfg(test)]
mod fake_engine;
#[cfg(test)]
mod ivr_tests;
#[cfg(test)]
mod tests;

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use url::Url;

use switchboard::twilio::signature;

pub use ivr::{
    Answer, CallerInput, IvrEnd, IvrRun, IvrStep, MAX_DOCUMENTS, RecordEnd, continue_after, follow,
};
pub use playback::Playback;
pub use report::{AgentStamps, CallReport, Event, ReplyReceived};
pub use session::MediaSession;
pub use twiml::{Method, Twiml, Verb, verbs};

/// Peak level of [`Step::Speak`] tones: -12 dBFS.
pub const TONE_DBFS: f64 = -12.0;
/// Length of one media frame, in ms.
pub const FRAME_MS: u64 = 20;
/// mu-law bytes in one 20 ms frame.
pub const FRAME_BYTES: usize = 160;
/// mu-law silence.
pub const SILENCE: u8 = 0xFF;
/// `WaitForAgent` also waits until no agent audio has arrived for this long (call-clock ms), so a
/// reply streamed slower than real time is not taken as finished at its first underrun.
pub const WAIT_SETTLE_MS: u64 = 200;

/// One thing the caller does. Audio keeps flowing through every step, as it does on a real call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A sine tone of `hz` at -12 dBFS for `ms` (rounded up to whole 20 ms frames; the rest of
    /// the last frame is silence).
    Speak {
        /// Length in ms.
        ms: u32,
        /// Frequency in Hz.
        hz: u32,
    },
    /// Silence (mu-law `0xFF`) for `ms`, rounded up to whole frames.
    Silence {
        /// Length in ms.
        ms: u32,
    },
    /// A key press: a `dtmf` frame at the current point of the stream (takes no stream time).
    Dtmf(char),
    /// Silence until the agent has spoken and its audio has played out with every mark echoed
    /// (and [`WAIT_SETTLE_MS`] passed since its last audio), or `max_ms` of stream time passed
    /// ([`Event::WaitTimedOut`], counted in [`CallReport::wait_timeouts`]). "Spoken" means agent
    /// audio arrived during the wait or was still playing when it began.
    WaitForAgent {
        /// Longest wait in ms.
        max_ms: u32,
    },
    /// `stop`, then close the socket. Steps after it are not run.
    HangUp,
}

/// How fast the call clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pace {
    /// One frame every 20 ms of wall time, as Twilio streams.
    #[default]
    RealTime,
    /// The same call, `n` times faster (`Fast(0)` is taken as 1).
    Fast(u32),
}

impl Pace {
    /// Call-clock ms per wall-clock ms.
    pub fn factor(self) -> u32 {
        match self {
            Pace::RealTime => 1,
            Pace::Fast(n) => n.max(1),
        }
    }
}

/// Why a simulated call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// The webhook request could not be made (connection refused, …).
    #[error("voice webhook request to {url} failed: {message}")]
    WebhookRequest {
        /// The URL posted to.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The webhook answered with a status other than 200.
    #[error("voice webhook answered HTTP {status}: {body}")]
    Webhook {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The webhook's answer is not usable TwiML for a media stream.
    #[error("bad TwiML: {0}")]
    BadTwiml(String),
    /// The media websocket could not be opened.
    #[error("media websocket connect to {url} failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Connect {
        /// The URL dialled.
        url: String,
        /// The HTTP status, if the upgrade was refused with one.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// Something on the media socket went wrong.
    #[error("media stream protocol error: {0}")]
    Protocol(String),
    /// A bounded wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The configuration cannot work.
    #[error("invalid caller configuration: {0}")]
    Config(String),
    /// A call asked for more TwiML documents than [`MAX_DOCUMENTS`] (a `<Redirect>` or
    /// `<Gather>` loop, most likely).
    #[error("more than {limit} TwiML documents in one call; the last asked for was {url}")]
    DocumentLimit {
        /// The limit.
        limit: usize,
        /// The URL that would have been one document too many.
        url: String,
    },
}

impl CallerError {
    /// The HTTP status involved, for a refused webhook or websocket upgrade.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallerError::Webhook { status, .. } => Some(*status),
            CallerError::Connect { status, .. } => *status,
            _ => None,
        }
    }
}

/// A call to place.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// Where the engine really listens, e.g. `http://127.0.0.1:PORT`.
    pub engine: Url,
    /// Path of the voice webhook under `engine` (and `public_url`).
    pub voice_path: String,
    /// The URL the engine believes is its public one; signatures are computed over
    /// `public_url` + path, as Twilio computes them over the URL it was configured with. When the
    /// TwiML's stream URL is on this host, the socket is dialled on `engine`'s host instead (the
    /// signature still covers the TwiML URL).
    pub public_url: Url,
    /// The Twilio auth token that keys `X-Twilio-Signature`.
    pub auth_token: String,
    /// Send `X-Twilio-Signature` on the webhook and the websocket upgrade.
    pub sign: bool,
    /// `CallSid` (`CA` + 32 hex).
    pub call_sid: String,
    /// `AccountSid` (`AC` + 32 hex).
    pub account_sid: String,
    /// `From` (the caller).
    pub from: String,
    /// `To` (the number called).
    pub to: String,
    /// Webhook parameters added after the standard ones (Twilio sends many more; they are signed).
    pub extra_params: Vec<(String, String)>,
    /// What the caller does once the stream has started. [`Step::HangUp`] is implied at the end.
    pub script: Vec<Step>,
    /// How fast the call clock runs.
    pub pace: Pace,
    /// Bound on the webhook request (Twilio's is 15 s).
    pub http_timeout: Duration,
    /// Bound on opening the websocket.
    pub connect_timeout: Duration,
    /// Bound on the closing handshake after `stop`, and on any single frame send.
    pub close_timeout: Duration,
    /// Load-test probes: with `Some(n)`, every media frame carries a [`stamp`](crate::stamp)
    /// of stream `n` (sequence = `chunk`), and stamped agent audio is checked for order and
    /// timed ([`CallReport::agent_stamps`]). Default: `None`.
    pub stamps: Option<u16>,
    /// Keep no timeline and no copy of the agent's audio (for long or many calls). Default: false.
    pub lean: bool,
}

impl Default for CallerConfig {
    fn default() -> Self {
        let engine = Url::parse("http://127.0.0.1:8080").expect("a valid URL");
        CallerConfig {
            public_url: engine.clone(),
            engine,
            voice_path: "/twilio/voice".into(),
            auth_token: String::new(),
            sign: true,
            call_sid: new_sid("CA"),
            account_sid: new_sid("AC"),
            from: "+15005550006".into(),
            to: "+15005550001".into(),
            extra_params: Vec::new(),
            script: Vec::new(),
            pace: Pace::RealTime,
            http_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            stamps: None,
            lean: false,
        }
    }
}

impl CallerConfig {
    /// A call into `engine` (also taken as the public URL) signed with `auth_token`, with a fresh
    /// `CallSid` and `AccountSid`, no script, in real time.
    pub fn new(engine: Url, auth_token: impl Into<String>) -> Self {
        CallerConfig {
            public_url: engine.clone(),
            engine,
            auth_token: auth_token.into(),
            ..CallerConfig::default()
        }
    }

    /// Sets the URL the engine believes is its public one.
    pub fn public_url(mut self, url: Url) -> Self {
        self.public_url = url;
        self
    }

    /// Sets the voice webhook path.
    pub fn voice_path(mut self, path: impl Into<String>) -> Self {
        self.voice_path = path.into();
        self
    }

    /// Signs (or not) the webhook and the websocket upgrade.
    pub fn sign(mut self, sign: bool) -> Self {
        self.sign = sign;
        self
    }

    /// Sets the auth token.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = token.into();
        self
    }

    /// Sets `CallSid`.
    pub fn call_sid(mut self, sid: impl Into<String>) -> Self {
        self.call_sid = sid.into();
        self
    }

    /// Sets `AccountSid`.
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = sid.into();
        self
    }

    /// Sets `From`.
    pub fn from(mut self, number: impl Into<String>) -> Self {
        self.from = number.into();
        self
    }

    /// Sets `To`.
    pub fn to(mut self, number: impl Into<String>) -> Self {
        self.to = number.into();
        self
    }

    /// Adds a webhook parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((key.into(), value.into()));
        self
    }

    /// Sets the script.
    pub fn script(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.script = steps.into_iter().collect();
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> Self {
        self.script.push(step);
        self
    }

    /// Sets the pace.
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// The webhook's form parameters, in the order they are sent.
    pub fn webhook_params(&self) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("CallSid", self.call_sid.as_str()),
            ("AccountSid", &self.account_sid),
            ("From", &self.from),
            ("To", &self.to),
            ("CallStatus", "ringing"),
            ("ApiVersion", "2010-04-01"),
            ("Direction", "inbound"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        params.extend(self.extra_params.iter().cloned());
        params
    }

    /// The URL the webhook is posted to (`engine` + `voice_path`).
    pub fn webhook_url(&self) -> String {
        join(&self.engine, &self.voice_path)
    }

    /// The URL the webhook signature covers (`public_url` + `voice_path`).
    pub fn signed_webhook_url(&self) -> String {
        join(&self.public_url, &self.voice_path)
    }

    /// Where to dial the stream URL from the TwiML: on `engine`'s host when the TwiML names
    /// `public_url`'s host (the engine only knows its public name), else as given.
    pub fn dial_url(&self, stream_url: &str) -> Result<Url, CallerError> {
        let url = Url::parse(stream_url)
            .map_err(|e| CallerError::BadTwiml(format!("stream url {stream_url:?}: {e}")))?;
        let secure = match url.scheme() {
            "wss" => true,
            "ws" => false,
            other => {
                return Err(CallerError::BadTwiml(format!(
                    "stream url {stream_url:?} has scheme {other}, not wss or ws"
                )));
            }
        };
        let public_secure = self.public_url.scheme() == "https";
        let on_public_host = secure == public_secure
            && url.host_str() == self.public_url.host_str()
            && url.port_or_known_default() == self.public_url.port_or_known_default();
        if !on_public_host || self.engine == self.public_url {
            return Ok(url);
        }
        let mut dial = url.clone();
        let scheme = if self.engine.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        let bad =
            |what: &str| CallerError::Config(format!("cannot dial {what} of {}", self.engine));
        dial.set_scheme(scheme).map_err(|()| bad("the scheme"))?;
        dial.set_host(self.engine.host_str())
            .map_err(|_| bad("the host"))?;
        dial.set_port(self.engine.port())
            .map_err(|()| bad("the port"))?;
        Ok(dial)
    }
}

/// Places simulated Twilio calls.
#[derive(Debug, Clone, Copy)]
pub struct TwilioCaller;

impl TwilioCaller {
    /// Places the call: webhook, TwiML, media socket, the script with playback running alongside,
    /// then `stop` and close. Returns what happened; errors only when the call could not be set up
    /// (a call the engine hangs up is a report with [`CallReport::engine_hung_up`]).
    pub async fn place(config: CallerConfig) -> Result<CallReport, CallerError> {
        let began = std::time::Instant::now();
        let twiml = Self::post_webhook(&config).await?;
        let mut session = MediaSession::open(&config, &twiml).await?;
        for step in &config.script {
            if !session.is_open() {
                break;
            }
            session.run(step).await?;
        }
        let mut report = session.finish().await?;
        report.wall_duration = began.elapsed();
        Ok(report)
    }

    /// Posts the voice webhook as Twilio does and parses the TwiML it answers.
    pub async fn post_webhook(config: &CallerConfig) -> Result<Twiml, CallerError> {
        let target = config.webhook_url();
        let client = http_client(config).map_err(|e| request_error("voice webhook", &target, e))?;
        tracing::debug!(url = %target, call_sid = %config.call_sid, "posting voice webhook");
        let answer = send_signed(
            &client,
            config,
            SignedRequest {
                what: "voice webhook",
                method: Method::Post,
                target: &target,
                signed_url: &config.signed_webhook_url(),
                params: &config.webhook_params(),
            },
        )
        .await?;
        Twiml::parse(&answer.twiml()?)
    }
}

/// One HTTP request as Twilio makes it: form-encoded, signed with `X-Twilio-Signature`.
struct SignedRequest<'a> {
    /// What the request is, for errors ("voice webhook", "Gather action", …).
    what: &'a str,
    /// POST: `params` as a form body, signed over `signed_url` + the sorted params. GET: `params`
    /// are already in both URLs' query, and the signature covers `signed_url` alone.
    method: Method,
    /// Where the request is sent.
    target: &'a str,
    /// The URL as Twilio knows it (the engine's public one), which the signature covers.
    signed_url: &'a str,
    /// The form parameters (POST; ignored for GET).
    params: &'a [(String, String)],
}

/// What came back.
struct HttpAnswer {
    status: u16,
    content_type: String,
    body: String,
}

impl HttpAnswer {
    /// The body, if it is TwiML as Twilio requires it: HTTP 200 with an XML content type.
    fn twiml(self) -> Result<String, CallerError> {
        if self.status != 200 {
            return Err(CallerError::Webhook {
                status: self.status,
                body: self.body,
            });
        }
        if !self.content_type.contains("xml") {
            return Err(CallerError::BadTwiml(format!(
                "content-type {:?} is not XML",
                self.content_type
            )));
        }
        Ok(self.body)
    }
}

/// The client every simulated Twilio request goes through (no proxy, `http_timeout`).
fn http_client(config: &CallerConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(config.http_timeout)
        .build()
}

fn request_error(what: &str, target: &str, e: reqwest::Error) -> CallerError {
    if e.is_timeout() {
        CallerError::Timeout(format!("{what} {target}: {e}"))
    } else {
        CallerError::WebhookRequest {
            url: target.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Sends `request` with Twilio's headers, signed when `config.sign`, and reads the answer.
async fn send_signed(
    client: &reqwest::Client,
    config: &CallerConfig,
    request: SignedRequest<'_>,
) -> Result<HttpAnswer, CallerError> {
    let SignedRequest {
        what,
        method,
        target,
        signed_url,
        params,
    } = request;
    let failed = |e| request_error(what, target, e);
    let mut builder = match method {
        Method::Post => client
            .post(target)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter())
                    .finish(),
            ),
        Method::Get => client.get(target),
    }
    .header("accept", "*/*")
    .header("user-agent", "TwilioProxy/1.1");
    if config.sign {
        let pairs: Vec<(&str, &str)> = match method {
            Method::Post => params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            Method::Get => Vec::new(),
        };
        let sig = signature::compute(&config.auth_token, signed_url, &pairs);
        builder = builder.header("x-twilio-signature", sig);
    }
    let response = builder.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = response.text().await.map_err(failed)?;
    Ok(HttpAnswer {
        status,
        content_type,
        body,
    })
}

/// `base` (without a trailing slash) + `path` (with a leading one).
fn join(base: &Url, path: &str) -> String {
    let base = base.as_str().trim_end_matches('/');
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// A Twilio-style SID: `prefix` + 32 lowercase hex digits, unique within the process and very
/// likely across processes.
pub fn new_sid(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hi = RandomState::new().build_hasher();
    hi.write_u64(n);
    hi.write_u128(nanos);
    let mut lo = RandomState::new().build_hasher();
    lo.write_u64(n ^ 0x9e37_79b9_7f4a_7c15);
    lo.write_u32(std::process::id());
    format!("{prefix}{:016x}{:016x}", hi.finish(), lo.finish())
}
