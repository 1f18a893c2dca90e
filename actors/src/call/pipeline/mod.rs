//! `CallPipeline`: the whole 20 ms path of one call as one sans-IO struct.
//!
//! Inputs are the raw socket payloads with the time they arrived ([`CallPipeline::on_twilio`],
//! [`CallPipeline::on_ai`]), the AI link's lifecycle, supervisors' commands and audio, and
//! timeouts; outputs are [`Transmit`]s taken with [`CallPipeline::poll_transmit`] (frames for
//! Twilio and the AI, rows, and things for the shell to do) and the next timer,
//! [`CallPipeline::poll_timeout`]. It owns the call's decisions ([`CallCore`]: the AI link,
//! barge-in and marks, supervision, the ledger of rows), the codec buffers, the agent playout
//! and supervisor mixer ([`Mixer`]), and the caller audio held while the first AI session
//! connects. The AI's wire format is behind [`AiProtocol`].
//!
//! What it does not own is IO: sockets, the recorder's file (audio goes to a [`RecordSink`]),
//! the AI session's task, timers. The actor around it ([`CallActor`](super::CallActor)) is a
//! shell that feeds it and carries its transmits out. Nothing here reads a clock.
//!
//! Per frame nothing is copied but what must leave: a frame for Twilio or the AI is encoded once
//! into the `String` that is handed over (no encode-then-clone), and the µ-law of a
//! pass-through call keeps its base64 from the frame it came in.

mod mixer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::sync::broadcast;

use super::ai_protocol::{AiEvent, AiProtocol};
use super::core::MediaAction;
use super::core::{CallConfig, CallCore, CallCounters, CallEvent, CallFacts, DeltaAction};
use super::metrics::CallMetrics;
use super::recording::RecorderThread;
use super::supervision::{
    FRAME_SAMPLES, MonitorFrame, SuperviseError, SupervisionMode, Supervisor, SupervisorCommand,
};
use super::tools::{ToolReport, ToolRequest};
use crate::audio::{AudioError, Resampler, g711};
use crate::domain::AudioFormat;
use crate::persistence::PersistItem;
use crate::twilio::{self, Inbound};
pub use mixer::{Mixer, SUPERVISOR_BACKLOG_SLOTS, SUPERVISOR_QUEUE_MAX};

/// Caller audio held while the first AI session connects: 2 s of 20 ms frames.
pub const HELD_FRAMES_MAX: usize = 100;

/// Monitor frames a listener may fall behind before it loses the oldest (1 s).
pub const MONITOR_BUFFER: usize = 50;

/// What the pipeline asks of the world, in order.
// A row is the largest; boxing it would allocate once more per row for a queue the shell drains
// at once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Transmit {
    /// A text frame for the Twilio socket.
    Twilio(String),
    /// Close the Twilio stream: the engine hangs up (`reason` is for the log).
    TwilioClose { reason: String },
    /// A text frame for the AI session.
    Ai(String),
    /// A row for the persistence actor.
    Row(PersistItem),
    /// Something only the shell can do.
    Event(PipelineEvent),
}

/// See [`Transmit::Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineEvent {
    /// The stream started: open the recording (and give its sink with
    /// [`CallPipeline::set_recorder`]).
    Started,
    /// Open an AI session now (its success is [`CallPipeline::on_ai_up`], its failure
    /// [`CallPipeline::on_ai_lost`]).
    ConnectAi,
    /// Close the current AI session: it is being rotated (a `ConnectAi` follows).
    RotateAi,
    /// The AI said the session is over (a fatal error): close it; its loss comes back as
    /// [`CallPipeline::on_ai_lost`].
    CloseAi { cause: String },
    /// The call is over: stop the AI session (after what was sent), finalize the recording,
    /// flush the rows, stop.
    Ended,
    /// Run a function for the model; report with [`CallPipeline::on_tool_result`].
    RunTool(ToolRequest),
}

/// Where a call's audio is recorded (both sides on the call clock, 8 kHz PCM).
pub trait RecordSink: Send {
    fn caller(&mut self, at_ms: u64, pcm8k: &[i16]);
    fn agent(&mut self, at_ms: u64, pcm8k: &[i16]);
}

impl RecordSink for RecorderThread {
    fn caller(&mut self, at_ms: u64, pcm8k: &[i16]) {
        RecorderThread::caller(self, at_ms, pcm8k);
    }
    fn agent(&mut self, at_ms: u64, pcm8k: &[i16]) {
        RecorderThread::agent(self, at_ms, pcm8k);
    }
}

/// Reused audio buffers and the resamplers of a PCM16 session.
struct Codec {
    mulaw: Vec<u8>,
    pcm8k: Vec<i16>,
    pcm24k: Vec<i16>,
    pcm_bytes: Vec<u8>,
    b64: String,
    /// 8 → 24 kHz for the AI and back (PCM16 sessions only).
    up: Option<Resampler>,
    down: Option<Resampler>,
    /// Agent audio of one slot, and its PCM.
    slot: [u8; FRAME_SAMPLES],
    slot_pcm: [i16; FRAME_SAMPLES],
    /// Agent audio still paced when a supervisor leaves.
    rest: Vec<u8>,
}

impl Codec {
    fn new(format: AudioFormat) -> Result<Self, AudioError> {
        let pcm16 = format == AudioFormat::Pcm16;
        Ok(Codec {
            mulaw: Vec::with_capacity(1024),
            pcm8k: Vec::with_capacity(1024),
            pcm24k: Vec::with_capacity(4096),
            pcm_bytes: Vec::with_capacity(4096),
            b64: String::with_capacity(8192),
            up: if pcm16 {
                Some(Resampler::new(8000, 24000)?)
            } else {
                None
            },
            down: if pcm16 {
                Some(Resampler::new(24000, 8000)?)
            } else {
                None
            },
            slot: [0xFF; FRAME_SAMPLES],
            slot_pcm: [0; FRAME_SAMPLES],
            rest: Vec::new(),
        })
    }
}

/// See the module documentation.
pub struct CallPipeline {
    core: CallCore,
    ai: Box<dyn AiProtocol>,
    metrics: Arc<CallMetrics>,
    codec: Codec,
    mixer: Mixer,
    /// Appends held while the first AI session connects (at most [`HELD_FRAMES_MAX`]).
    held: VecDeque<String>,
    /// Listeners' feed, made when the first one joins.
    monitor: Option<broadcast::Sender<Arc<MonitorFrame>>>,
    recorder: Option<Box<dyn RecordSink>>,
    transmits: VecDeque<Transmit>,
    /// Frames refused (malformed, out of place), for the call's log.
    rejected: u64,
}

impl CallPipeline {
    /// A new call, before its `start`.
    pub fn new(
        config: CallConfig,
        ai: Box<dyn AiProtocol>,
        metrics: Arc<CallMetrics>,
    ) -> Result<Self, AudioError> {
        Self::with_core(CallCore::new(config), ai, metrics)
    }

    /// A call whose actor was restarted: a new pipeline from the facts the previous one kept
    /// (see [`CallCore::resume`]); the AI session is reopened and the conversation replayed.
    pub fn resume(
        config: CallConfig,
        facts: &CallFacts,
        ai: Box<dyn AiProtocol>,
        metrics: Arc<CallMetrics>,
        now: Instant,
        cause: &str,
    ) -> Result<Self, AudioError> {
        let mut pipeline =
            Self::with_core(CallCore::resume(config, facts, now, cause), ai, metrics)?;
        pipeline.pump();
        Ok(pipeline)
    }

    fn with_core(
        core: CallCore,
        ai: Box<dyn AiProtocol>,
        metrics: Arc<CallMetrics>,
    ) -> Result<Self, AudioError> {
        Ok(CallPipeline {
            codec: Codec::new(core.config().audio_format)?,
            core,
            ai,
            metrics,
            mixer: Mixer::default(),
            held: VecDeque::new(),
            monitor: None,
            recorder: None,
            transmits: VecDeque::new(),
            rejected: 0,
        })
    }

    pub fn config(&self) -> &CallConfig {
        self.core.config()
    }

    pub fn counters(&self) -> CallCounters {
        self.core.counters()
    }

    /// Frames refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Supervisor frames dropped (queue full, or a standing backlog trimmed).
    pub fn supervisor_frames_dropped(&self) -> u64 {
        self.mixer.supervisor_frames_dropped
    }

    pub fn is_ended(&self) -> bool {
        self.core.is_ended()
    }

    pub fn supervision_mode(&self) -> SupervisionMode {
        self.core.supervision_mode()
    }

    /// See [`CallCore::save_facts`].
    pub fn save_facts(&self, facts: &mut CallFacts) {
        self.core.save_facts(facts);
    }

    /// The next thing to send or do.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`CallPipeline::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
        self.pump();
    }

    /// Where the call's audio is recorded from now on.
    pub fn set_recorder(&mut self, recorder: Box<dyn RecordSink>) {
        self.recorder = Some(recorder);
    }

    /// A listener joins: 20 ms frames of both sides from now on (one that falls more than
    /// [`MONITOR_BUFFER`] frames behind loses its oldest; the call never waits for it).
    pub fn listen(&mut self) -> broadcast::Receiver<Arc<MonitorFrame>> {
        self.monitor
            .get_or_insert_with(|| broadcast::channel(MONITOR_BUFFER).0)
            .subscribe()
    }

    fn listening(&self) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.receiver_count() > 0)
    }

    // ---- Twilio side -------------------------------------------------------------------------

    /// One text frame from the Twilio socket, arrived at `now`.
    pub fn on_twilio(&mut self, now: Instant, text: &str) {
        let frame = match twilio::parse_inbound(text) {
            Ok(frame) => frame,
            Err(err) => {
                self.rejected += 1;
                tracing::warn!(%err, "malformed Twilio frame ignored");
                return;
            }
        };
        match frame {
            Inbound::Connected { .. } => {}
            Inbound::Start(start) => {
                if self.core.on_start(now, &start.stream_sid) {
                    CallMetrics::add(&self.metrics.calls_started);
                    self.transmits
                        .push_back(Transmit::Event(PipelineEvent::Started));
                } else {
                    self.rejected += 1;
                    tracing::warn!("second start ignored");
                }
            }
            Inbound::Media(media) => {
                self.on_media(now, media.timestamp_ms, media.payload_b64, |out| {
                    media.decode_payload(out)
                })
            }
            Inbound::Mark { name, .. } => self.core.on_mark(&name),
            Inbound::Dtmf { digit, .. } if twilio::is_dtmf_digit(digit) => {
                self.core.on_dtmf(now, digit)
            }
            Inbound::Dtmf { digit, .. } => {
                self.rejected += 1;
                tracing::warn!(?digit, "DTMF that is not a keypad key ignored");
            }
            Inbound::Stop { .. } => self.core.on_stop(now, "caller hung up"),
            Inbound::Unknown { event } => {
                self.rejected += 1;
                tracing::warn!(%event, "unknown Twilio event ignored");
            }
        }
        self.pump();
    }

    fn on_media(
        &mut self,
        now: Instant,
        timestamp_ms: u64,
        payload_b64: &str,
        decode: impl FnOnce(&mut Vec<u8>) -> Result<(), twilio::CodecError>,
    ) {
        CallMetrics::add(&self.metrics.media_frames_in);
        let listening = self.listening();
        let codec = &mut self.codec;
        if let Err(err) = decode(&mut codec.mulaw) {
            self.rejected += 1;
            tracing::warn!(%err, "media frame with bad payload ignored");
            return;
        }
        let ms = codec.mulaw.len() as u64 / 8;
        // Decoded once per frame, for the PCM16 session, the recorder and listeners.
        if codec.up.is_some() || self.recorder.is_some() || listening {
            g711::decode_ulaw_into_vec(&codec.mulaw, &mut codec.pcm8k);
        }
        let action = self.core.on_media(now, timestamp_ms, ms);
        let caller_at_ms = match action {
            MediaAction::Reject => {
                self.rejected += 1;
                tracing::warn!("media outside the stream ignored");
                return;
            }
            MediaAction::RecordOnly { caller_at_ms } => caller_at_ms,
            MediaAction::Forward { caller_at_ms } | MediaAction::Hold { caller_at_ms } => {
                let audio_b64 = if let Some(up) = &mut codec.up {
                    let pcm24k = up.push(&codec.pcm8k);
                    codec.pcm_bytes.clear();
                    codec
                        .pcm_bytes
                        .extend(pcm24k.iter().flat_map(|s| s.to_le_bytes()));
                    codec.b64.clear();
                    STANDARD.encode_string(&codec.pcm_bytes, &mut codec.b64);
                    codec.b64.as_str()
                } else {
                    payload_b64
                };
                // Sized for the append's JSON around the audio: the one allocation of a frame.
                let mut append = String::with_capacity(audio_b64.len() + 64);
                self.ai.encode_audio_append(audio_b64, &mut append);
                if let MediaAction::Hold { .. } = action {
                    if self.held.len() == HELD_FRAMES_MAX {
                        self.held.pop_front();
                    }
                    self.held.push_back(append);
                } else {
                    self.transmits.push_back(Transmit::Ai(append));
                }
                caller_at_ms
            }
        };
        if let Some(recorder) = &mut self.recorder {
            recorder.caller(caller_at_ms, &self.codec.pcm8k);
        }
        self.supervised_slot(caller_at_ms, listening);
    }

    /// The Twilio socket closed.
    pub fn on_twilio_closed(&mut self, now: Instant) {
        self.core.on_stop(now, "stream closed");
        self.pump();
    }

    // ---- AI side -----------------------------------------------------------------------------

    /// The AI session is up: configure it, replay the conversation if it replaces a lost one,
    /// then send the caller audio held meanwhile.
    pub fn on_ai_up(&mut self, now: Instant) {
        let before = self.core.counters().ai_reconnects;
        self.core.on_ai_connected(now);
        if self.core.counters().ai_reconnects > before {
            CallMetrics::add(&self.metrics.ai_reconnects);
        }
        self.pump();
        while let Some(frame) = self.held.pop_front() {
            self.transmits.push_back(Transmit::Ai(frame));
        }
    }

    /// The AI session failed or could not be opened.
    pub fn on_ai_lost(&mut self, now: Instant, cause: &str) {
        self.core.on_ai_lost(now, cause);
        self.pump();
    }

    /// One text frame from the AI session, arrived at `now`.
    pub fn on_ai(&mut self, now: Instant, text: &str) {
        let event = match self.ai.parse(text) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(%err, "malformed AI event ignored");
                return;
            }
        };
        match event {
            AiEvent::AudioDelta { item_id, audio_b64 } => self.on_delta(&item_id, &audio_b64),
            AiEvent::SpeechStarted {
                item_id,
                audio_start_ms,
            } => self.core.on_speech_started(now, &item_id, audio_start_ms),
            AiEvent::SpeechStopped {
                item_id,
                audio_end_ms,
            } => self.core.on_speech_stopped(&item_id, audio_end_ms),
            AiEvent::InputTranscript {
                item_id,
                transcript,
            } => {
                let language = self.ai.language().map(str::to_owned);
                self.core
                    .on_input_transcript(now, &item_id, &transcript, language.as_deref())
            }
            AiEvent::OutputTranscript {
                item_id,
                transcript,
            } => self.core.on_output_transcript(now, &item_id, &transcript),
            AiEvent::ResponseStarted => self.core.on_response_created(),
            AiEvent::ResponseDone(usage) => self.core.on_response_done(usage),
            AiEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => self.core.on_function_call(now, &call_id, &name, &arguments),
            AiEvent::Error {
                code,
                message,
                fatal,
            } => {
                self.core.on_ai_error(now, code.as_deref(), &message);
                if fatal {
                    let cause = format!("{}: {}", code.as_deref().unwrap_or("error"), message);
                    self.transmits
                        .push_back(Transmit::Event(PipelineEvent::CloseAi { cause }));
                }
            }
            AiEvent::Other => {}
        }
        self.pump();
    }

    fn on_delta(&mut self, item_id: &str, audio_b64: &str) {
        let listening = self.listening();
        let codec = &mut self.codec;
        codec.mulaw.clear();
        if STANDARD.decode_vec(audio_b64, &mut codec.mulaw).is_err() {
            tracing::warn!("AI audio delta with bad base64 ignored");
            return;
        }
        // In pcm16 the decoded bytes are 24 kHz PCM: bring them to 8 kHz µ-law.
        if let Some(down) = &mut codec.down {
            codec.pcm24k.clear();
            codec.pcm24k.extend(
                codec
                    .mulaw
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
            codec.pcm8k.clear();
            codec.pcm8k.extend_from_slice(down.push(&codec.pcm24k));
            g711::encode_ulaw_into_vec(&codec.pcm8k, &mut codec.mulaw);
        }
        let ms = codec.mulaw.len() as u64 / 8;
        let DeltaAction::Forward { play_at_ms } = self.core.on_audio_delta(item_id, ms) else {
            return;
        };
        if self.core.supervision_mode() == SupervisionMode::Barged {
            // Mixed with the supervisor's audio and sent in real time by `supervised_slot`.
            self.mixer
                .pace(play_at_ms, &codec.mulaw, self.core.mark_name());
            return;
        }
        if listening {
            self.mixer.playout.push(play_at_ms, &codec.mulaw);
        }
        let Some(stream_sid) = self.core.stream_sid() else {
            return;
        };
        let mut media = String::with_capacity(audio_b64.len() * 3 / 2 + 128);
        if codec.down.is_some() {
            twilio::encode_media(stream_sid, &codec.mulaw, &mut media);
        } else {
            twilio::encode_media_base64(stream_sid, audio_b64, &mut media);
        }
        let mut mark = String::with_capacity(128);
        twilio::encode_mark(stream_sid, self.core.mark_name(), &mut mark);
        self.transmits.push_back(Transmit::Twilio(media));
        self.transmits.push_back(Transmit::Twilio(mark));
        CallMetrics::add(&self.metrics.media_frames_out);
        if let Some(recorder) = &mut self.recorder {
            g711::decode_ulaw_into_vec(&codec.mulaw, &mut codec.pcm8k);
            recorder.agent(play_at_ms, &codec.pcm8k);
        }
    }

    // ---- Supervisors -------------------------------------------------------------------------

    /// A supervisor's command; whether it applied.
    pub fn on_supervisor(
        &mut self,
        now: Instant,
        by: &Supervisor,
        command: SupervisorCommand,
    ) -> Result<(), SuperviseError> {
        let before = self.core.supervision_mode();
        let outcome = self.core.on_supervisor(now, by, command);
        let after = self.core.supervision_mode();
        if before != after {
            self.on_mode_change(after);
        }
        self.pump();
        outcome
    }

    /// 20 ms of a barging or speaking supervisor's audio, 8 kHz: mixed into the next slot.
    pub fn on_supervisor_audio(&mut self, frame: &[i16; FRAME_SAMPLES]) {
        if self.core.supervision_mode() != SupervisionMode::Ai {
            self.mixer.push_supervisor(*frame);
        }
    }

    /// A tool the shell ran has its report.
    pub fn on_tool_result(&mut self, now: Instant, request: &ToolRequest, report: ToolReport) {
        self.core.on_tool_result(now, request, report);
        self.pump();
    }

    /// The engine is shutting down: hang up and end the call.
    pub fn on_shutdown(&mut self, now: Instant) {
        self.core.on_shutdown(now);
        self.pump();
    }

    /// The call's actor keeps failing: end the call (`engine_error`).
    pub fn on_engine_error(&mut self, now: Instant) {
        self.core.on_engine_error(now);
        self.pump();
    }

    /// The supervisors' part of one 20 ms slot, paced by the caller's frames (Twilio sends one
    /// every 20 ms): the frame both sides heard goes to the listeners, and while a supervisor
    /// barges in or has the call, what the caller hears is built here — the agent audio of the
    /// slot mixed with the supervisor's next frame — and sent at once, with the marks of the agent
    /// audio it completes. With no supervisor the cost is one branch.
    fn supervised_slot(&mut self, at_ms: u64, listening: bool) {
        let mode = self.core.supervision_mode();
        if mode == SupervisionMode::Ai && !listening {
            return;
        }
        let codec = &mut self.codec;
        let agent_playing = self.mixer.take(at_ms, &mut codec.slot);
        if listening && let Some(monitor) = &self.monitor {
            let mut frame = MonitorFrame {
                at_ms,
                caller: [0; FRAME_SAMPLES],
                agent: [0; FRAME_SAMPLES],
            };
            let n = codec.pcm8k.len().min(FRAME_SAMPLES);
            frame.caller[..n].copy_from_slice(&codec.pcm8k[..n]);
            g711::decode_ulaw(&codec.slot, &mut frame.agent);
            let _ = monitor.send(Arc::new(frame));
        }
        if mode == SupervisionMode::Ai {
            return;
        }
        if self.mixer.mix(mode, agent_playing, &mut codec.slot) {
            if let Some(stream_sid) = self.core.stream_sid() {
                let mut media = String::with_capacity(400);
                twilio::encode_media(stream_sid, &codec.slot, &mut media);
                self.transmits.push_back(Transmit::Twilio(media));
                CallMetrics::add(&self.metrics.media_frames_out);
            }
            if let Some(recorder) = &mut self.recorder {
                g711::decode_ulaw(&codec.slot, &mut codec.slot_pcm);
                recorder.agent(at_ms, &codec.slot_pcm);
            }
        }
        self.send_paced_marks(at_ms + 20);
    }

    /// Sends the marks of paced agent audio that ends by `until_ms`.
    fn send_paced_marks(&mut self, until_ms: u64) {
        while let Some(name) = self.mixer.next_mark(until_ms) {
            if let Some(stream_sid) = self.core.stream_sid() {
                let mut mark = String::with_capacity(128);
                twilio::encode_mark(stream_sid, &name, &mut mark);
                self.transmits.push_back(Transmit::Twilio(mark));
            }
        }
    }

    /// Who speaks to the caller changed. Back to the AI alone: agent audio still paced goes to
    /// Twilio at once (it queues it in order) with its marks, and supervisor audio is dropped.
    /// A supervisor speaking: what was queued for the old mode is stale.
    fn on_mode_change(&mut self, mode: SupervisionMode) {
        match mode {
            SupervisionMode::Ai => {
                let codec = &mut self.codec;
                self.mixer.drain_to_ai(&mut codec.rest);
                if !codec.rest.is_empty()
                    && let Some(stream_sid) = self.core.stream_sid()
                {
                    let mut media = String::with_capacity(codec.rest.len() * 3 / 2 + 128);
                    twilio::encode_media(stream_sid, &codec.rest, &mut media);
                    self.transmits.push_back(Transmit::Twilio(media));
                }
                self.send_paced_marks(u64::MAX);
            }
            // The audio in flight was cut (see `CallCore::on_supervisor`).
            SupervisionMode::Barged | SupervisionMode::TakenOver => self.mixer.reset_supervisor(),
        }
    }

    // ---- the core's events -------------------------------------------------------------------

    /// Turns what the core decided into transmits.
    fn pump(&mut self) {
        while let Some(event) = self.core.poll_event() {
            let transmit = match event {
                CallEvent::Persist(row) => Transmit::Row(row),
                CallEvent::Ai(command) => {
                    let taken_over = self.core.supervision_mode() == SupervisionMode::TakenOver;
                    Transmit::Ai(self.ai.encode(&command, taken_over))
                }
                CallEvent::ClearTwilio => {
                    // The agent audio queued is gone for listeners and the pacer too.
                    self.mixer.cut();
                    let Some(stream_sid) = self.core.stream_sid() else {
                        continue;
                    };
                    let mut clear = String::with_capacity(96);
                    twilio::encode_clear(stream_sid, &mut clear);
                    Transmit::Twilio(clear)
                }
                CallEvent::ConnectAi => Transmit::Event(PipelineEvent::ConnectAi),
                CallEvent::RunTool(request) => Transmit::Event(PipelineEvent::RunTool(request)),
                CallEvent::RotateAi => Transmit::Event(PipelineEvent::RotateAi),
                CallEvent::Hangup { reason } => Transmit::TwilioClose { reason },
                CallEvent::Ended => {
                    CallMetrics::add(&self.metrics.calls_ended);
                    Transmit::Event(PipelineEvent::Ended)
                }
            };
            self.transmits.push_back(transmit);
        }
    }
}
