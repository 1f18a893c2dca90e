//! The media websocket from Twilio's side: one [`MediaSession`] per call.
//!
//! Sending and receiving share one task: while the session waits for the next frame's send time it
//! reads the engine's frames and fires mark echoes as the simulated playback buffer drains, so a
//! test that drives the session step by step sees the same behaviour as [`super::TwilioCaller::place`].

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::SinkExt;
use switchboard_actors::audio::{g711, tone};
use switchboard_actors::twilio::{self as codec, Start};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::playback::{BYTES_PER_MS, Playback};
use super::report::{CallReport, Event};
use super::{
    CallerConfig, CallerError, FRAME_BYTES, FRAME_MS, SILENCE, Step, TONE_DBFS, Twiml,
    WAIT_SETTLE_MS,
};
use crate::stamp::{self, Stamp};
use switchboard::twilio::signature;

mod inbound;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SILENT_FRAME: [u8; FRAME_BYTES] = [SILENCE; FRAME_BYTES];

/// The paced call clock: call-clock ms = wall ms since `origin` × `factor`.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: Instant,
    factor: f64,
}

impl Clock {
    fn now_ms(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1000.0 * self.factor
    }

    /// The wall-clock instant at which the call clock reads `ms`.
    fn at(&self, ms: f64) -> Instant {
        self.origin + Duration::from_secs_f64((ms / self.factor / 1000.0).max(0.0))
    }
}

/// Twilio's end of one media websocket.
///
/// [`MediaSession::open`] connects and sends `connected` + `start`; [`MediaSession::run`] plays a
/// [`Step`] in paced time; the `send_*` methods send single frames at once (no pacing) for tests
/// that need precise control or malformed input; [`MediaSession::next_event`] /
/// [`MediaSession::wait_for`] read the [`CallReport::timeline`] as it grows; and
/// [`MediaSession::finish`] hangs up (if still open) and returns the report.
pub struct MediaSession {
    ws: Socket,
    clock: Clock,
    account_sid: String,
    custom_parameters: BTreeMap<String, String>,
    seq: u64,
    chunk: u64,
    caller_bytes: u64,
    playback: Playback,
    report: CallReport,
    cursor: usize,
    steps_run: usize,
    /// Frames may still be sent: no `stop` or close sent, no close received, no socket error.
    writable: bool,
    close_sent: bool,
    /// Nothing more will arrive: the socket returned its end or an error.
    ended: bool,
    last_agent_media_ms: Option<f64>,
    close_timeout: Duration,
    out: String,
    payload: Vec<u8>,
    /// Stamp stream of the caller's audio ([`CallerConfig::stamps`]).
    stamps: Option<u16>,
    lean: bool,
    stamped: Vec<u8>,
}

impl MediaSession {
    /// Opens the websocket for `twiml`'s stream (signed over the TwiML URL when `config.sign`)
    /// and sends nothing yet. As Twilio does, a query string in `<Stream url>` is dropped: the
    /// socket is dialled, and signed, without it (what the engine must carry rides in the path or
    /// in `<Parameter>`s).
    pub async fn connect(config: &CallerConfig, twiml: &Twiml) -> Result<Self, CallerError> {
        let stream_url = without_query(&twiml.stream_url);
        let dial = config.dial_url(stream_url)?;
        let refused = |status: Option<u16>, message: String| CallerError::Connect {
            url: dial.to_string(),
            status,
            message,
        };
        let mut request = dial
            .as_str()
            .into_client_request()
            .map_err(|e| refused(None, e.to_string()))?;
        if config.sign {
            let sig = signature::compute(&config.auth_token, stream_url, &[]);
            let value = HeaderValue::from_str(&sig).map_err(|e| refused(None, e.to_string()))?;
            request.headers_mut().insert("x-twilio-signature", value);
        }
        request
            .headers_mut()
            .insert("user-agent", HeaderValue::from_static("Twilio.TmeWs/1.0"));
        tracing::debug!(url = %dial, %stream_url, "opening media websocket");
        // Small frames every 20 ms: without TCP_NODELAY, Nagle + delayed ACKs hold them ~40 ms.
        // A small read buffer, as the engine's realtime socket has: thousands of simulated calls
        // need not each zero and keep 128 KiB.
        let socket = Some(switchboard_actors::call::ai_socket_config());
        let connecting = tokio_tungstenite::connect_async_with_config(request, socket, true);
        let ws = match tokio::time::timeout(config.connect_timeout, connecting).await {
            Err(_) => {
                return Err(CallerError::Timeout(format!(
                    "media websocket {dial} did not open within {:?}",
                    config.connect_timeout
                )));
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                return Err(refused(Some(response.status().as_u16()), body));
            }
            Ok(Err(e)) => return Err(refused(None, e.to_string())),
            Ok(Ok((ws, _response))) => ws,
        };
        let custom_parameters = twiml.custom_parameters();
        let report = CallReport {
            call_sid: config.call_sid.clone(),
            account_sid: config.account_sid.clone(),
            stream_sid: super::new_sid("MZ"),
            call_id: twiml.parameter("call_id").map(str::to_owned),
            custom_parameters: custom_parameters.clone(),
            twiml_status: 200,
            ..CallReport::default()
        };
        Ok(MediaSession {
            ws,
            clock: Clock {
                origin: Instant::now(),
                factor: f64::from(config.pace.factor()),
            },
            account_sid: config.account_sid.clone(),
            custom_parameters,
            seq: 0,
            chunk: 0,
            caller_bytes: 0,
            playback: Playback::default(),
            report,
            cursor: 0,
            steps_run: 0,
            writable: true,
            close_sent: false,
            ended: false,
            last_agent_media_ms: None,
            close_timeout: config.close_timeout,
            out: String::with_capacity(512),
            payload: Vec::with_capacity(FRAME_BYTES),
            stamps: config.stamps,
            lean: config.lean,
            stamped: Vec::with_capacity(FRAME_BYTES),
        })
    }

    /// [`MediaSession::connect`], then `connected` and `start`, as Twilio opens a stream.
    pub async fn open(config: &CallerConfig, twiml: &Twiml) -> Result<Self, CallerError> {
        let mut session = Self::connect(config, twiml).await?;
        session.send_connected().await?;
        session.send_start().await?;
        Ok(session)
    }

    // ---- accessors ----

    /// The `streamSid` (`MZ…`).
    pub fn stream_sid(&self) -> &str {
        &self.report.stream_sid
    }

    /// The `CallSid`.
    pub fn call_sid(&self) -> &str {
        &self.report.call_sid
    }

    /// The TwiML parameters sent as `start.customParameters`.
    pub fn custom_parameters(&self) -> &BTreeMap<String, String> {
        &self.custom_parameters
    }

    /// Whether frames can still be sent (no hang-up, no close from the engine, no socket error).
    pub fn is_open(&self) -> bool {
        self.writable
    }

    /// The report so far.
    pub fn report(&self) -> &CallReport {
        &self.report
    }

    /// The playback buffer.
    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    /// The paced call clock, in ms since `start`.
    pub fn now_ms(&self) -> f64 {
        self.clock.now_ms()
    }

    /// Caller audio sent so far, in ms: the `timestamp` of the next media frame.
    pub fn stream_ms(&self) -> u64 {
        self.caller_bytes / 8
    }

    // ---- single frames (sent at once, not paced) ----

    /// Sends Twilio's `connected` frame.
    pub async fn send_connected(&mut self) -> Result<(), CallerError> {
        codec::encode_connected(&mut self.out);
        self.transmit_out().await?;
        self.record(Event::ConnectedSent);
        Ok(())
    }

    /// Sends `start` (sequence number 1 if it is the first sequenced frame) and restarts the
    /// call clock: stream time 0 is this frame.
    pub async fn send_start(&mut self) -> Result<(), CallerError> {
        let start = Start {
            sequence_number: self.next_seq(),
            custom_parameters: self.custom_parameters.clone(),
            ..Start::inbound_mulaw(
                &self.report.stream_sid,
                &self.account_sid,
                &self.report.call_sid,
            )
        };
        codec::encode_start(&start, &mut self.out);
        self.clock.origin = Instant::now();
        self.transmit_out().await?;
        let stream_sid = self.report.stream_sid.clone();
        self.record(Event::StartSent { stream_sid });
        Ok(())
    }

    /// Sends one `media` frame carrying `mulaw` (normally 160 bytes) at once; its `timestamp` is
    /// the caller audio sent before it, in ms.
    pub async fn send_media(&mut self, mulaw: &[u8]) -> Result<(), CallerError> {
        self.media_frame(mulaw)
            .await?
            .then_some(())
            .ok_or_else(|| self.gone())
    }

    /// Sends a `dtmf` frame.
    pub async fn send_dtmf(&mut self, digit: char) -> Result<(), CallerError> {
        let seq = self.next_seq();
        codec::encode_dtmf(&self.report.stream_sid, seq, digit, &mut self.out);
        self.transmit_out().await?;
        self.report.dtmf_sent += 1;
        self.record(Event::DtmfSent { digit });
        Ok(())
    }

    /// Sends any text frame as is (for malformed-frame tests). Does not use a sequence number.
    pub async fn send_text(&mut self, text: &str) -> Result<(), CallerError> {
        self.out.clear();
        self.out.push_str(text);
        self.transmit_out().await?;
        self.record(Event::RawSent { len: text.len() });
        Ok(())
    }

    /// Sends a binary frame (which Twilio never does).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), CallerError> {
        let len = bytes.len();
        self.transmit(Message::binary(bytes))
            .await?
            .then_some(())
            .ok_or_else(|| self.gone())?;
        self.record(Event::RawSent { len });
        Ok(())
    }

    // ---- reading ----

    /// The next timeline event not yet returned by this method, reading the socket (and firing
    /// mark echoes) for up to `timeout` of wall time if there is none yet. `None` on timeout or
    /// once the socket has ended and every event was returned.
    pub async fn next_event(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<(u64, Event)>, CallerError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(entry) = self.report.timeline.get(self.cursor) {
                self.cursor += 1;
                return Ok(Some(entry.clone()));
            }
            if self.ended || Instant::now() >= deadline {
                return Ok(None);
            }
            self.pump_once(deadline).await?;
        }
    }

    /// The next timeline event matching `pred` (skipping others), within `timeout` of wall time.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<(u64, Event), CallerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await? {
                Some(entry) if pred(&entry.1) => return Ok(entry),
                Some(_) => {}
                None => {
                    return Err(CallerError::Timeout(format!(
                        "no matching event within {timeout:?}{}",
                        if self.ended { " (socket ended)" } else { "" }
                    )));
                }
            }
        }
    }

    /// Reads the engine's frames and fires mark echoes for `duration` of wall time without
    /// sending audio (a gap Twilio itself never leaves; for step-by-step tests).
    pub async fn listen(&mut self, duration: Duration) -> Result<(), CallerError> {
        let deadline = Instant::now() + duration;
        while !self.ended && Instant::now() < deadline {
            self.pump_once(deadline).await?;
        }
        Ok(())
    }

    // ---- paced steps ----

    /// Plays one script step in paced time, reading the engine's frames meanwhile. Returns early
    /// (`Ok`) if the engine closes the socket during the step; errors if the stream had already
    /// ended before it (except for [`Step::HangUp`], which is then a no-op).
    pub async fn run(&mut self, step: &Step) -> Result<(), CallerError> {
        if !self.writable {
            return match step {
                Step::HangUp => self.hang_up().await,
                _ => Err(self.gone()),
            };
        }
        let index = self.steps_run;
        self.steps_run += 1;
        self.record(Event::StepBegan {
            index,
            step: step.clone(),
        });
        tracing::trace!(index, ?step, stream_ms = self.stream_ms(), "step");
        match *step {
            Step::Speak { ms, hz } => {
                let audio = tone_audio(ms, hz);
                for frame in audio.chunks(FRAME_BYTES) {
                    if !self.paced_frame(frame).await? {
                        break;
                    }
                }
            }
            Step::Silence { ms } => {
                for _ in 0..frames_for(ms) {
                    if !self.paced_frame(&SILENT_FRAME).await? {
                        break;
                    }
                }
            }
            Step::Dtmf(digit) => {
                self.pump_until(Instant::now()).await?;
                if self.writable {
                    self.send_dtmf(digit).await?;
                }
            }
            Step::WaitForAgent { max_ms } => self.wait_for_agent(u64::from(max_ms)).await?,
            Step::HangUp => self.hang_up().await?,
        }
        Ok(())
    }

    /// Sends `stop`, closes the socket (1000) and waits (bounded) for the engine's close. A no-op
    /// for the sending part if the stream has already ended.
    pub async fn hang_up(&mut self) -> Result<(), CallerError> {
        if self.writable {
            self.pump_until(Instant::now()).await?;
        }
        if self.writable {
            let seq = self.next_seq();
            codec::encode_stop(
                &self.report.stream_sid,
                seq,
                &self.account_sid,
                &self.report.call_sid,
                &mut self.out,
            );
            let sent = self.transmit_out_raw().await?;
            if sent {
                self.record(Event::StopSent);
            }
            self.stop_writing();
            let close = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            match tokio::time::timeout(self.close_timeout, self.ws.close(Some(close))).await {
                Ok(Ok(())) => self.close_sent = true,
                Ok(Err(e)) => self.socket_failed(&e),
                Err(_) => self.record(Event::CloseTimedOut),
            }
        }
        self.drain().await
    }

    /// Hangs up if the stream is still open, waits for the socket to end (bounded) and returns
    /// the report.
    pub async fn finish(mut self) -> Result<CallReport, CallerError> {
        self.hang_up().await?;
        self.report.marks_unechoed += self.playback.pending_marks() as u64;
        self.report.last_sequence_number = self.seq;
        Ok(self.report)
    }

    // ---- internals ----

    fn record(&mut self, event: Event) {
        if self.lean {
            return;
        }
        let at = self.clock.now_ms().round().max(0.0) as u64;
        self.report.timeline.push((at, event));
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn gone(&self) -> CallerError {
        CallerError::Protocol(match &self.report.socket_error {
            Some(e) => format!("the media stream has ended: {e}"),
            None => "the media stream has ended".to_owned(),
        })
    }

    /// The stream is over for sending: note how much agent audio was left unplayed.
    fn stop_writing(&mut self) {
        if self.writable {
            self.writable = false;
            let now = self.clock.now_ms();
            self.report.duration_ms = now.round() as u64;
            self.report.agent_audio_unplayed_bytes = self.playback.buffered_bytes(now);
        }
    }

    fn socket_failed(&mut self, error: &tungstenite::Error) {
        self.stop_writing();
        self.ended = true;
        if !matches!(
            error,
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed
        ) {
            let error = error.to_string();
            tracing::debug!(%error, "media websocket failed");
            self.report.socket_error = Some(error.clone());
            self.record(Event::SocketError { error });
        }
    }

    /// Sends `self.out` as a text frame; errors if the socket is gone.
    async fn transmit_out(&mut self) -> Result<(), CallerError> {
        if self.transmit_out_raw().await? {
            Ok(())
        } else {
            Err(self.gone())
        }
    }

    async fn transmit_out_raw(&mut self) -> Result<bool, CallerError> {
        let text = std::mem::take(&mut self.out);
        let message = Message::text(text.as_str());
        self.out = text;
        self.transmit(message).await
    }

    /// Sends one message: `Ok(false)` if the socket is closed or failed (recorded), an error only
    /// if the send did not complete in time.
    async fn transmit(&mut self, message: Message) -> Result<bool, CallerError> {
        if !self.writable {
            return Ok(false);
        }
        let is_text = message.is_text();
        match tokio::time::timeout(self.close_timeout, self.ws.send(message)).await {
            Err(_) => Err(CallerError::Timeout(format!(
                "sending a frame took over {:?}",
                self.close_timeout
            ))),
            Ok(Err(e)) => {
                self.socket_failed(&e);
                Ok(false)
            }
            Ok(Ok(())) => {
                if is_text {
                    self.report.frames_sent += 1;
                }
                Ok(true)
            }
        }
    }

    async fn media_frame(&mut self, mulaw: &[u8]) -> Result<bool, CallerError> {
        let seq = self.next_seq();
        let chunk = self.chunk + 1;
        let timestamp = self.caller_bytes / 8;
        let mulaw = match self.stamps {
            Some(stream) => {
                self.stamped.clear();
                self.stamped.extend_from_slice(mulaw);
                Stamp {
                    stream,
                    seq: chunk as u32,
                    sent_us: stamp::now_us(),
                }
                .write(&mut self.stamped);
                &self.stamped[..]
            }
            None => mulaw,
        };
        codec::encode_inbound_media(
            &self.report.stream_sid,
            seq,
            chunk,
            timestamp,
            mulaw,
            &mut self.out,
        );
        let bytes = mulaw.len() as u64;
        let sent = self.transmit_out_raw().await?;
        if sent {
            self.chunk = chunk;
            self.caller_bytes += bytes;
            self.report.media_frames_sent += 1;
            self.report.caller_audio_ms = self.caller_bytes / 8;
        }
        Ok(sent)
    }

    /// Waits (reading) until the frame's send time — the end of the 20 ms it carries — and sends
    /// it. `Ok(false)` once the stream has ended.
    async fn paced_frame(&mut self, mulaw: &[u8]) -> Result<bool, CallerError> {
        let due = (self.caller_bytes + mulaw.len() as u64) as f64 / BYTES_PER_MS;
        self.pump_until(self.clock.at(due)).await?;
        if !self.writable {
            return Ok(false);
        }
        self.media_frame(mulaw).await
    }

    async fn wait_for_agent(&mut self, max_ms: u64) -> Result<(), CallerError> {
        let began = self.stream_ms();
        let playing_already = !self.playback.is_idle(self.clock.now_ms());
        let received_before = self.report.media_frames_received;
        loop {
            let now = self.clock.now_ms();
            let heard = playing_already || self.report.media_frames_received > received_before;
            let settled = self
                .last_agent_media_ms
                .is_none_or(|t| now - t >= WAIT_SETTLE_MS as f64);
            if heard && settled && self.playback.is_idle(now) {
                self.record(Event::AgentFinished);
                return Ok(());
            }
            let waited_ms = self.stream_ms() - began;
            if waited_ms >= max_ms {
                self.report.wait_timeouts += 1;
                self.record(Event::WaitTimedOut { waited_ms });
                return Ok(());
            }
            if !self.paced_frame(&SILENT_FRAME).await? {
                return Ok(());
            }
        }
    }

    /// Reads and fires mark echoes until `deadline` (wall), or until the stream can no longer be
    /// written.
    async fn pump_until(&mut self, deadline: Instant) -> Result<(), CallerError> {
        loop {
            self.fire_due_marks().await?;
            if !self.writable || self.ended || Instant::now() >= deadline {
                return Ok(());
            }
            self.pump_once(deadline).await?;
        }
    }
}

/// Whole frames covering `ms`.
fn frames_for(ms: u32) -> u64 {
    u64::from(ms).div_ceil(FRAME_MS)
}

/// `ms` of a `hz` sine at [`TONE_DBFS`], mu-law, padded with silence to whole frames.
fn tone_audio(ms: u32, hz: u32) -> Vec<u8> {
    let samples = ms as usize * 8;
    let amplitude = f64::from(i16::MAX) * 10f64.powf(TONE_DBFS / 20.0);
    let pcm = tone::sine(f64::from(hz), 8000, samples, amplitude);
    let mut mulaw = Vec::with_capacity(samples);
    g711::encode_ulaw_into_vec(&pcm, &mut mulaw);
    mulaw.resize(frames_for(ms) as usize * FRAME_BYTES, SILENCE);
    mulaw
}

/// `url` without its query string (and fragment): what Twilio dials for a `<Stream url>`.
pub fn without_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |cut| &url[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_loses_its_query_as_on_twilio() {
        assert_eq!(
            without_query("wss://h/twilio/media?org=1&x=2"),
            "wss://h/twilio/media"
        );
        assert_eq!(
            without_query("wss://h/twilio/media#f"),
            "wss://h/twilio/media"
        );
        assert_eq!(
            without_query("wss://h/twilio/media/abc"),
            "wss://h/twilio/media/abc"
        );
    }

    #[test]
    fn tone_is_minus_12_dbfs_and_padded_to_whole_frames() {
        let audio = tone_audio(1010, 440);
        assert_eq!(audio.len(), 51 * FRAME_BYTES);
        assert!(audio[8080..].iter().all(|&b| b == SILENCE));
        let mut pcm = Vec::new();
        g711::decode_ulaw_into_vec(&audio[..8000], &mut pcm);
        let peak = tone::tone_amplitude(&pcm, 440.0, 8000);
        let dbfs = tone::db(peak, f64::from(i16::MAX));
        assert!((dbfs - TONE_DBFS).abs() < 0.3, "{dbfs} dBFS");
        assert!((tone::dominant_frequency(&pcm, 8000) - 440.0).abs() <= 1.0);
        assert_eq!(frames_for(0), 0);
        assert_eq!(frames_for(20), 1);
        assert_eq!(frames_for(21), 2);
    }

    #[test]
    fn the_paced_clock_maps_both_ways() {
        let clock = Clock {
            origin: Instant::now(),
            factor: 10.0,
        };
        assert_eq!(clock.at(1000.0) - clock.origin, Duration::from_millis(100));
        assert_eq!(clock.at(-5.0), clock.origin);
        assert!(clock.now_ms() >= 0.0);
    }
}
