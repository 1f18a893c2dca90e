//! One connection's protocol state, sans IO: client frames in, [`Out`] actions out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use switchboard_actors::realtime::{
    AudioFormat, ClientEvent, ConversationItem, Dialect, RealtimeError, ServerEncoder,
    SessionUpdate, TokenUsage, parse_client_event,
};
use tokio::time::Instant;

use super::config::PeerConfig;
use super::control::{Failure, Moment, PeerControl};
use super::log::{
    CancelLog, ConnectionLog, CreatedItem, Logs, ResponseOutcome, SentError, TruncateLog, Utterance,
};
use super::probe::{ConnectionProbe, PeerProbe};
use super::vad::{Vad, VadEvent, decode};
use crate::stamp;

mod reply;

pub use reply::DELTA_LAST;

/// Name of the function the peer calls when
/// [`PeerConfig::end_call_on_utterance`] says so.
pub const END_CALL: &str = "end_call";

/// What the IO loop must do.
#[derive(Debug)]
pub(super) enum Out {
    /// Send a text frame.
    Text(String),
    /// Send a close frame and end the connection.
    Close { code: u16, reason: String },
    /// Drop the socket without a close frame.
    Drop,
    /// Neither read nor write for this long.
    Stall(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Turn {
    create_response: bool,
    interrupt_response: bool,
}

/// An audio response being streamed.
#[derive(Debug)]
struct Streaming {
    response_id: String,
    item_id: String,
    transcript: String,
    audio: Vec<u8>,
    bytes_per_ms: usize,
    chunk: usize,
    offset: usize,
    deltas: u32,
    words: VecDeque<String>,
    spoken: String,
    next_at: Instant,
    log_index: usize,
    /// Stamp stream of its deltas (the connection's response number).
    stamp_stream: u16,
}

/// Protocol state of one connection.
pub(super) struct Session {
    id: usize,
    config: Arc<PeerConfig>,
    control: PeerControl,
    logs: Logs,
    probe: Arc<PeerProbe>,
    /// This connection's probe figures, when [`PeerConfig::stamps`] is on.
    stamps: Option<ConnectionProbe>,
    /// Reused buffer for a stamped delta.
    scratch: Vec<u8>,
    enc: ServerEncoder,
    session_id: String,
    model: String,
    input: AudioFormat,
    output: AudioFormat,
    turn: Option<Turn>,
    vad: Vad,
    pcm: Vec<i16>,
    vad_events: Vec<VadEvent>,
    audio_us: u64,
    buffer_start_ms: u64,
    speech_item: Option<String>,
    seq: u64,
    last_item: Option<String>,
    audio_items: HashMap<String, u64>,
    calls: HashSet<String>,
    end_call_fired: bool,
    end_call_id: Option<String>,
    goodbye_pending: bool,
    /// Scripted function calls already made (by utterance).
    scripted_fired: HashSet<u32>,
    /// The last function output the client sent (quoted by the next reply).
    last_output: Option<String>,
    utterances: u32,
    replies: u32,
    responses: usize,
    active: Option<Streaming>,
    closed: bool,
}

impl Session {
    pub(super) fn new(
        id: usize,
        config: Arc<PeerConfig>,
        control: PeerControl,
        logs: Logs,
        probe: Arc<PeerProbe>,
        model: Option<String>,
    ) -> Session {
        // The service's default session: PCM16 both ways, server VAD with auto-response and
        // barge-in.
        let input = AudioFormat::Pcm16;
        Session {
            id,
            enc: ServerEncoder::new(config.dialect),
            vad: Vad::new(
                config.vad_threshold,
                config.silence_ms_to_stop,
                input.sample_rate(),
            ),
            stamps: config.stamps.then(ConnectionProbe::default),
            scratch: Vec::new(),
            config,
            control,
            logs,
            probe,
            session_id: format!("sess_peer{id}"),
            model: model.unwrap_or_else(|| "gpt-realtime".to_owned()),
            input,
            output: AudioFormat::Pcm16,
            turn: Some(Turn {
                create_response: true,
                interrupt_response: true,
            }),
            pcm: Vec::new(),
            vad_events: Vec::new(),
            audio_us: 0,
            buffer_start_ms: 0,
            speech_item: None,
            seq: 0,
            last_item: None,
            audio_items: HashMap::new(),
            calls: HashSet::new(),
            end_call_fired: false,
            end_call_id: None,
            goodbye_pending: false,
            scripted_fired: HashSet::new(),
            last_output: None,
            utterances: 0,
            replies: 0,
            responses: 0,
            active: None,
            closed: false,
        }
    }

    /// Sends `session.created`, then applies failures already waiting.
    pub(super) fn start(&mut self, out: &mut Vec<Out>) {
        let created = self.enc.session_created(&self.session_id, &self.model);
        out.push(Out::Text(created));
        self.on_control(out);
    }

    /// When the next paced delta is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.active.as_ref().map(|s| s.next_at)
    }

    /// Sends the delta that is due, if any.
    pub(super) fn on_tick(&mut self, now: Instant, out: &mut Vec<Out>) {
        if !self.closed && self.deadline().is_some_and(|due| due <= now) {
            self.emit_delta(out);
        }
    }

    /// Takes the failures that apply at once.
    pub(super) fn on_control(&mut self, out: &mut Vec<Out>) {
        while !self.closed {
            let Some(failure) = self.control.take(self.id, Moment::Now) else {
                break;
            };
            self.took(failure.clone());
            match failure {
                Failure::SessionExpired => self.expire(out),
                Failure::Stall(duration) => out.push(Out::Stall(duration)),
                _ => {}
            }
        }
    }

    /// After a stall: the paced reply goes on from now rather than catching up.
    pub(super) fn resume(&mut self, now: Instant) {
        if let Some(s) = self.active.as_mut() {
            s.next_at = s.next_at.max(now);
        }
    }

    /// The connection ended: a reply still streaming never finished.
    pub(super) fn abort(&mut self) {
        self.closed = true;
        if let Some(stamps) = self.stamps.take() {
            self.probe.add(stamps);
        }
        if let Some(s) = self.active.take() {
            self.set_outcome(s.log_index, ResponseOutcome::Aborted);
        }
    }

    /// A binary frame: refused like any unparseable event.
    pub(super) fn on_binary(&mut self, out: &mut Vec<Out>) {
        self.error(
            "invalid_value",
            "Binary frames are not supported: send client events as JSON text frames.".into(),
            out,
        );
    }

    /// A text frame from the client.
    pub(super) fn on_text(&mut self, text: &str, now: Instant, out: &mut Vec<Out>) {
        if self.closed {
            return;
        }
        let event = match parse_client_event(text) {
            Ok(event) => event,
            Err(err) => {
                let (code, message) = match err {
                    RealtimeError::InvalidJson(detail) => (
                        "invalid_json",
                        format!("The client event is not valid JSON: {detail}."),
                    ),
                    RealtimeError::MissingField(field) => (
                        "missing_required_parameter",
                        format!("Missing required parameter: '{field}'."),
                    ),
                    RealtimeError::InvalidField { field, value } => (
                        "invalid_value",
                        format!("Invalid value for '{field}': {value}."),
                    ),
                };
                self.error(code, message, out);
                return;
            }
        };
        match event {
            ClientEvent::SessionUpdate(update) => self.session_update(*update, out),
            ClientEvent::AudioAppend { audio_b64 } => self.append(&audio_b64, now, out),
            ClientEvent::AudioCommit => self.commit(now, out),
            ClientEvent::AudioClear => {
                self.vad.forget_speech();
                self.speech_item = None;
                self.buffer_start_ms = self.audio_ms();
                let cleared = self.enc.cleared();
                out.push(Out::Text(cleared));
            }
            ClientEvent::ItemCreate {
                previous_item_id,
                item,
            } => self.item_create(previous_item_id.map(|id| id.into_owned()), item, out),
            ClientEvent::Truncate {
                item_id,
                content_index,
                audio_end_ms,
            } => self.truncate(&item_id, content_index, audio_end_ms, out),
            ClientEvent::ResponseCreate { .. } => match &self.active {
                Some(active) => {
                    let message = format!(
                        "Conversation already has an active response in progress: {}. Wait \
                         until the response is finished before creating a new one.",
                        active.response_id
                    );
                    self.error("conversation_already_has_active_response", message, out);
                }
                None => self.respond(now, out),
            },
            ClientEvent::ResponseCancel { response_id } => {
                self.response_cancel(response_id.map(|id| id.into_owned()), out)
            }
            ClientEvent::Other { event_type } => {
                let message = format!(
                    "Invalid value: '{event_type}'. Supported values are: 'session.update', \
                     'input_audio_buffer.append', 'input_audio_buffer.commit', \
                     'input_audio_buffer.clear', 'conversation.item.create', \
                     'conversation.item.truncate', 'response.create' and 'response.cancel'."
                );
                self.error("invalid_value", message, out);
            }
        }
    }

    fn session_update(&mut self, update: SessionUpdate, out: &mut Vec<Out>) {
        if let Some(stamps) = &mut self.stamps {
            stamps.ready_us.get_or_insert_with(stamp::now_us);
        }
        if let Some(format) = update.input_format
            && format != self.input
        {
            self.input = format;
            self.vad.set_rate(format.sample_rate(), self.audio_ms());
        }
        if let Some(format) = update.output_format {
            self.output = format;
        }
        if let Some(turn) = turn_detection(&update) {
            if turn.is_none() {
                self.vad.forget_speech();
                self.speech_item = None;
            }
            self.turn = turn;
        }
        let updated = self.enc.session_updated(&self.session_id, &update.raw);
        self.log(|log| {
            if let Some(dialect) = update.dialect {
                log.dialect = Some(dialect);
            }
            log.session_updates.push(update);
        });
        out.push(Out::Text(updated));
    }

    fn append(&mut self, audio_b64: &str, now: Instant, out: &mut Vec<Out>) {
        let Ok(bytes) = BASE64.decode(audio_b64.as_bytes()) else {
            self.error(
                "invalid_value",
                "Invalid 'audio'. Expected base64-encoded audio.".into(),
                out,
            );
            return;
        };
        self.probe.count_append();
        if let Some(stamps) = &mut self.stamps
            && self.input == AudioFormat::G711Ulaw
        {
            stamps.caller_audio(&bytes, stamp::now_us());
        }
        self.pcm.clear();
        decode(self.input, &bytes, &mut self.pcm);
        self.audio_us += self.pcm.len() as u64 * 1_000_000 / u64::from(self.input.sample_rate());
        let audio_ms = self.audio_ms();
        self.log(|log| {
            log.audio_appends += 1;
            log.audio_bytes += bytes.len() as u64;
            log.audio_ms = audio_ms;
        });
        let mut events = std::mem::take(&mut self.vad_events);
        events.clear();
        self.vad.push(&self.pcm, &mut events);
        if self.turn.is_none() {
            self.vad.forget_speech();
            events.clear();
        }
        for event in events.drain(..) {
            if self.closed {
                break;
            }
            match event {
                VadEvent::Started { at_ms } => self.speech_started(at_ms, out),
                VadEvent::Stopped { start_ms, end_ms } => {
                    let item_id = match self.speech_item.take() {
                        Some(item_id) => item_id,
                        None => self.next_id("item"),
                    };
                    let stopped = self.enc.speech_stopped(end_ms, &item_id);
                    out.push(Out::Text(stopped));
                    self.commit_utterance(item_id, start_ms, end_ms, Some(now), out);
                }
            }
        }
        self.vad_events = events;
    }

    fn speech_started(&mut self, at_ms: u64, out: &mut Vec<Out>) {
        if let Some(failure) = self.control.take(self.id, Moment::SpeechStarted) {
            self.took(failure);
            self.expire(out);
            return;
        }
        let item_id = self.next_id("item");
        let started = self.enc.speech_started(at_ms, &item_id);
        out.push(Out::Text(started));
        self.speech_item = Some(item_id);
        if self.turn.is_some_and(|turn| turn.interrupt_response) {
            self.cancel("turn_detected", out);
        }
    }

    /// Manual `input_audio_buffer.commit`: never starts a response by itself.
    fn commit(&mut self, _now: Instant, out: &mut Vec<Out>) {
        if let Some((start_ms, end_ms)) = self.vad.force_stop() {
            let item_id = match self.speech_item.take() {
                Some(item_id) => item_id,
                None => self.next_id("item"),
            };
            self.commit_utterance(item_id, start_ms, end_ms, None, out);
            return;
        }
        let now_ms = self.audio_ms();
        let buffered = now_ms.saturating_sub(self.buffer_start_ms);
        if buffered < 100 {
            let message = format!(
                "Error committing input audio buffer: buffer too small. Expected at least \
                 100ms of audio, but buffer only has {buffered}.00ms of audio."
            );
            self.error("input_audio_buffer_commit_empty", message, out);
            return;
        }
        let item_id = self.next_id("item");
        let start_ms = self.buffer_start_ms;
        self.commit_utterance(item_id, start_ms, now_ms, None, out);
    }

    /// `committed`, the user item, its transcription, then (when `auto_at` is set and the
    /// session says so) a response.
    fn commit_utterance(
        &mut self,
        item_id: String,
        start_ms: u64,
        end_ms: u64,
        auto_at: Option<Instant>,
        out: &mut Vec<Out>,
    ) {
        self.utterances += 1;
        let transcript = match &self.config.caller_transcript {
            Some(text) => text.clone(),
            None => format!(
                "Caller utterance {} ({} ms)",
                self.utterances,
                end_ms.saturating_sub(start_ms)
            ),
        };
        let committed = self.enc.committed(&item_id, self.last_item.as_deref());
        out.push(Out::Text(committed));
        let item = json!({
            "id": item_id, "object": "realtime.item", "type": "message",
            "status": "completed", "role": "user",
            "content": [{ "type": "input_audio", "transcript": null }],
        });
        let previous = self.last_item.replace(item_id.clone());
        self.item_added(previous.as_deref(), &item, out);
        let completed = self
            .enc
            .input_transcription_completed(&item_id, 0, &transcript);
        out.push(Out::Text(completed));
        self.buffer_start_ms = self.audio_ms();
        self.log(|log| {
            log.utterances.push(Utterance {
                item_id,
                start_ms,
                end_ms,
                transcript,
            })
        });
        if let Some(now) = auto_at
            && self.turn.is_some_and(|turn| turn.create_response)
            && self.active.is_none()
        {
            self.respond(now, out);
        }
    }

    fn item_create(
        &mut self,
        previous_item_id: Option<String>,
        item: ConversationItem,
        out: &mut Vec<Out>,
    ) {
        let item_id = self.next_id("item");
        let mut refused = None;
        match &item {
            ConversationItem::FunctionCall { call_id, .. } => {
                self.calls.insert(call_id.clone());
            }
            ConversationItem::FunctionCallOutput { call_id, .. } => {
                if !self.calls.contains(call_id) {
                    refused = Some(format!(
                        "Tool call ID '{call_id}' not found in conversation."
                    ));
                } else if self.end_call_id.as_deref() == Some(call_id) {
                    self.goodbye_pending = true;
                } else if let ConversationItem::FunctionCallOutput { output, .. } = &item
                    && !self.config.function_calls.is_empty()
                {
                    self.last_output = Some(output.clone());
                }
            }
            _ => {}
        }
        let json = item_json(&item_id, &item);
        self.log(|log| {
            log.items_created.push(CreatedItem {
                item_id: item_id.clone(),
                item,
                accepted: refused.is_none(),
            })
        });
        if let Some(message) = refused {
            self.error("invalid_value", message, out);
            return;
        }
        let previous = previous_item_id.or_else(|| self.last_item.clone());
        self.item_added(previous.as_deref(), &json, out);
        self.last_item = Some(item_id);
    }

    /// `conversation.item.created` (beta) or `conversation.item.added` + `.done` (GA).
    fn item_added(&mut self, previous: Option<&str>, item: &Value, out: &mut Vec<Out>) {
        match self.enc.dialect() {
            Dialect::Beta => out.push(Out::Text(self.enc.item_created(previous, item))),
            Dialect::Ga => {
                out.push(Out::Text(self.enc.item_added(previous, item)));
                out.push(Out::Text(self.enc.item_done(previous, item)));
            }
        }
    }

    fn truncate(
        &mut self,
        item_id: &str,
        content_index: u32,
        audio_end_ms: u64,
        out: &mut Vec<Out>,
    ) {
        let verdict = match self.audio_items.get(item_id).copied() {
            None => Err(format!(
                "Item '{item_id}' is not an assistant audio item of this conversation."
            )),
            Some(_) if content_index != 0 => Err(format!(
                "Invalid 'content_index': {content_index}. The item has one audio part, 0."
            )),
            Some(sent) if audio_end_ms > sent => Err(format!(
                "Audio content of {sent}ms is already shorter than {audio_end_ms}ms"
            )),
            Some(_) => Ok(()),
        };
        self.log(|log| {
            log.truncates.push(TruncateLog {
                item_id: item_id.to_owned(),
                content_index,
                audio_end_ms,
                valid: verdict.is_ok(),
            })
        });
        match verdict {
            Ok(()) => {
                self.audio_items.insert(item_id.to_owned(), audio_end_ms);
                let truncated = self
                    .enc
                    .item_truncated(item_id, content_index, audio_end_ms);
                out.push(Out::Text(truncated));
            }
            Err(message) => self.error("invalid_value", message, out),
        }
    }

    fn response_cancel(&mut self, response_id: Option<String>, out: &mut Vec<Out>) {
        let cancelled = self
            .active
            .as_ref()
            .filter(|s| response_id.as_ref().is_none_or(|id| *id == s.response_id))
            .map(|s| s.response_id.clone());
        let found = cancelled.is_some();
        self.log(|log| {
            log.cancels.push(CancelLog {
                response_id,
                cancelled,
            })
        });
        if found {
            self.cancel("client_cancelled", out);
        } else {
            self.error(
                "response_cancel_not_active",
                "Cancellation failed: no active response found.".into(),
                out,
            );
        }
    }

    /// `session_expired`, then close 1001.
    fn expire(&mut self, out: &mut Vec<Out>) {
        let minutes = self.config.session_max_minutes;
        let expired = self.enc.session_expired(minutes);
        self.log(|log| {
            log.errors_sent.push(SentError {
                error_type: "invalid_request_error".to_owned(),
                code: Some("session_expired".to_owned()),
                message: format!("Your session hit the maximum duration of {minutes} minutes."),
            })
        });
        out.push(Out::Text(expired));
        self.abort();
        out.push(Out::Close {
            code: 1001,
            reason: "session expired".to_owned(),
        });
    }

    fn error(&mut self, code: &str, message: String, out: &mut Vec<Out>) {
        let text = self
            .enc
            .error("invalid_request_error", Some(code), &message);
        tracing::debug!(connection = self.id, code, %message, "realtime peer: error event");
        self.log(|log| {
            log.errors_sent.push(SentError {
                error_type: "invalid_request_error".to_owned(),
                code: Some(code.to_owned()),
                message,
            })
        });
        out.push(Out::Text(text));
    }

    fn took(&self, failure: Failure) {
        tracing::debug!(
            connection = self.id,
            ?failure,
            "realtime peer: injected failure"
        );
        self.log(|log| log.failures.push(failure));
    }

    fn set_outcome(&self, index: usize, outcome: ResponseOutcome) {
        self.log(|log| {
            if let Some(response) = log.responses.get_mut(index) {
                response.outcome = outcome;
            }
        });
    }

    fn set_usage(&self, index: usize, usage: TokenUsage) {
        self.log(|log| {
            if let Some(response) = log.responses.get_mut(index) {
                response.usage = Some(usage);
            }
        });
    }

    fn log(&self, change: impl FnOnce(&mut ConnectionLog)) {
        self.logs.update(self.id, change);
    }

    fn audio_ms(&self) -> u64 {
        self.audio_us / 1000
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_peer{}x{:04}", self.id, self.seq)
    }
}

/// `None`: the update does not mention turn detection; `Some(None)`: it turns it off;
/// `Some(Some(turn))`: server (or semantic) VAD with these flags.
fn turn_detection(update: &SessionUpdate) -> Option<Option<Turn>> {
    let raw = update
        .raw
        .pointer("/audio/input/turn_detection")
        .or_else(|| update.raw.get("turn_detection"))?;
    if !raw.is_object() {
        return Some(None);
    }
    Some(Some(match &update.vad {
        Some(vad) => Turn {
            create_response: vad.create_response,
            interrupt_response: vad.interrupt_response,
        },
        None => {
            let flag = |key: &str| raw.get(key).and_then(Value::as_bool).unwrap_or(true);
            Turn {
                create_response: flag("create_response"),
                interrupt_response: flag("interrupt_response"),
            }
        }
    }))
}

/// The item the server echoes for a client `conversation.item.create`.
fn item_json(item_id: &str, item: &ConversationItem) -> Value {
    match item {
        ConversationItem::Message { role, content } => json!({
            "id": item_id, "object": "realtime.item", "type": "message",
            "status": "completed", "role": role,
            "content": content
                .iter()
                .map(|part| json!({ "type": part.part_type, "text": part.text }))
                .collect::<Vec<_>>(),
        }),
        ConversationItem::FunctionCall {
            call_id,
            name,
            arguments,
        } => json!({
            "id": item_id, "object": "realtime.item", "type": "function_call",
            "status": "completed", "call_id": call_id, "name": name, "arguments": arguments,
        }),
        ConversationItem::FunctionCallOutput { call_id, output } => json!({
            "id": item_id, "object": "realtime.item", "type": "function_call_output",
            "call_id": call_id, "output": output,
        }),
        ConversationItem::Other(raw) => {
            let mut raw = raw.clone();
            if let Some(map) = raw.as_object_mut() {
                map.insert("id".to_owned(), item_id.into());
            }
            raw
        }
    }
}
