//! `CallActor`: one live call, a thin shell over [`CallCore`].
//!
//! It receives the Twilio socket's text frames and the AI session's events, asks the core what they
//! mean, moves the audio with reused buffers (µ-law passes through untouched in `g711_ulaw`; PCM16
//! is decoded and resampled 8 kHz ⇄ 24 kHz), and carries out the core's events: frames to Twilio
//! (through the socket's writer task), frames to the AI session, rows to the persistence actor,
//! audio to the recorder thread, and (re)starts of the AI session, which is its supervised child.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SupervisionEvent};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use super::ai_session::{AiEndpoint, AiSession, AiSessionMessage};
use super::core::{AiCommand, CallConfig, CallCore, CallEvent, DeltaAction, MediaAction};
use super::metrics::CallMetrics;
use super::recording::RecorderThread;
use super::supervision::{
    AgentPlayout, FRAME_SAMPLES, MonitorFrame, SuperviseError, SupervisionMode, Supervisor,
    SupervisorCommand,
};
use crate::audio::{Resampler, g711};
use crate::domain::AudioFormat;
use crate::persistence::{NewRecording, PersistenceHandle};
use crate::realtime::{self, ServerEvent};
use crate::twilio::{self, Inbound};

/// A frame for the Twilio socket's writer task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioOut {
    Text(String),
    /// Close the stream (the call is hung up from our side).
    Close,
}

/// Where recordings go.
#[derive(Debug, Clone)]
pub struct RecordingTarget {
    pub dir: PathBuf,
    pub sample_rate: u32,
}

/// What every call shares.
#[derive(Clone)]
pub struct CallDeps {
    pub persistence: PersistenceHandle,
    pub ai: Arc<AiEndpoint>,
    pub recording: Option<RecordingTarget>,
    /// The process's call counters.
    pub metrics: Arc<CallMetrics>,
    /// The process's count of refused media-socket frames (the socket counts its own there too).
    pub rejected_frames: &'static AtomicU64,
}

/// What survives a restart of the call's actor: the call's logic and its recording.
pub struct CallShared {
    core: Mutex<CallCore>,
    recorder: Mutex<Option<RecorderThread>>,
    rejected_frames: AtomicU64,
}

impl CallShared {
    pub fn new(config: CallConfig) -> Arc<Self> {
        Arc::new(CallShared {
            core: Mutex::new(CallCore::new(config)),
            recorder: Mutex::new(None),
            rejected_frames: AtomicU64::new(0),
        })
    }

    /// A panic in the actor leaves the core between two complete operations (each `CallCore`
    /// method finishes its own mutation), so a poisoned lock is used as is.
    fn core(&self) -> MutexGuard<'_, CallCore> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn recorder(&self) -> MutexGuard<'_, Option<RecorderThread>> {
        self.recorder.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How to start (or restart) one call's actor.
#[derive(Clone)]
pub struct CallArgs {
    pub shared: Arc<CallShared>,
    pub call_sid: String,
    pub twilio: mpsc::UnboundedSender<TwilioOut>,
    pub deps: CallDeps,
}

/// Messages of a call.
#[derive(Debug)]
pub enum CallMessage {
    /// A text frame from Twilio, as the socket read it (shared bytes: handing it over copies
    /// nothing).
    FromTwilio(Utf8Bytes),
    /// The Twilio socket closed.
    TwilioClosed,
    /// A text frame from the AI session.
    FromAi(Utf8Bytes),
    /// A new AI session is up.
    AiUp(ActorRef<AiSessionMessage>),
    /// An AI session could not be started.
    AiFailed(String),
    /// A timer of the core may be due.
    Tick,
    /// A supervisor's command; the reply says whether it applied.
    Supervise {
        by: Supervisor,
        command: SupervisorCommand,
        reply: RpcReplyPort<Result<(), SuperviseError>>,
    },
    /// A listener joins: 20 ms frames of both sides from now on (a listener that falls more
    /// than [`MONITOR_BUFFER`] frames behind loses its oldest; the call never waits for it).
    Listen(RpcReplyPort<broadcast::Receiver<Arc<MonitorFrame>>>),
    /// 20 ms of a barging or speaking supervisor's audio, 8 kHz.
    SupervisorAudio(Box<[i16; FRAME_SAMPLES]>),
    /// The engine is shutting down: hang up and end the call (see `CallCore::on_shutdown`).
    Shutdown,
    /// Chaos hook for tests (feature `test-hooks`): the actor panics, as a bug in it would.
    #[cfg(feature = "test-hooks")]
    InjectPanic,
}

pub struct CallActor;

/// Caller audio held while the first AI session connects: 2 s of 20 ms frames.
const HELD_FRAMES_MAX: usize = 100;

/// Monitor frames a listener may fall behind before it loses the oldest (1 s).
pub const MONITOR_BUFFER: usize = 50;

/// Supervisor audio queued for the caller, in 20 ms frames: beyond it the oldest is dropped
/// (counted), so a burst from the supervisor's network never builds up delay.
const SUPERVISOR_QUEUE_MAX: usize = 3;

/// Slots in a row with a standing backlog of supervisor audio (two frames or more left after
/// the slot's) before one frame is dropped: a supervisor whose clock runs a little fast, or one
/// burst, would otherwise keep up to [`SUPERVISOR_QUEUE_MAX`] frames of delay for good.
const SUPERVISOR_BACKLOG_SLOTS: u32 = 25;

pub struct CallState {
    shared: Arc<CallShared>,
    call_sid: String,
    twilio: mpsc::UnboundedSender<TwilioOut>,
    deps: CallDeps,
    ai: Option<ActorRef<AiSessionMessage>>,
    /// Append frames held while the first AI session connects (at most [`HELD_FRAMES_MAX`]).
    held: std::collections::VecDeque<String>,
    next_tick: Option<Instant>,
    // Reused per-frame buffers.
    mulaw: Vec<u8>,
    pcm8k: Vec<i16>,
    pcm24k: Vec<i16>,
    pcm_bytes: Vec<u8>,
    b64: String,
    frame: String,
    mark: String,
    up: Option<Resampler>,
    down: Option<Resampler>,
    /// Listeners' feed, made when the first one joins.
    monitor: Option<broadcast::Sender<Arc<MonitorFrame>>>,
    /// Agent audio on the call clock, kept while someone listens or a supervisor speaks.
    playout: AgentPlayout,
    /// Supervisor audio waiting for its 20 ms slot.
    supervisor_audio: std::collections::VecDeque<[i16; FRAME_SAMPLES]>,
    /// Marks of agent audio sent by the pacer, by the call-clock ms where their audio ends.
    paced_marks: std::collections::VecDeque<(u64, String)>,
    /// Supervisor frames dropped because the queue was full, or to drain a standing backlog.
    supervisor_frames_dropped: u64,
    /// Slots in a row that left a backlog of supervisor audio.
    supervisor_backlog_slots: u32,
    agent_slot: [u8; FRAME_SAMPLES],
    mixed: [i16; FRAME_SAMPLES],
}

impl Actor for CallActor {
    type Msg = CallMessage;
    type State = CallState;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CallMessage>,
        args: CallArgs,
    ) -> Result<CallState, ActorProcessingErr> {
        let pcm16 = args.shared.core().config().audio_format == AudioFormat::Pcm16;
        let mut state = CallState {
            shared: args.shared,
            call_sid: args.call_sid,
            twilio: args.twilio,
            deps: args.deps,
            ai: None,
            held: std::collections::VecDeque::new(),
            next_tick: None,
            mulaw: Vec::with_capacity(1024),
            pcm8k: Vec::with_capacity(1024),
            pcm24k: Vec::with_capacity(4096),
            pcm_bytes: Vec::with_capacity(4096),
            b64: String::with_capacity(8192),
            frame: String::with_capacity(8192),
            mark: String::with_capacity(128),
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
            monitor: None,
            playout: AgentPlayout::default(),
            supervisor_audio: std::collections::VecDeque::new(),
            paced_marks: std::collections::VecDeque::new(),
            supervisor_frames_dropped: 0,
            supervisor_backlog_slots: 0,
            agent_slot: [0xFF; FRAME_SAMPLES],
            mixed: [0; FRAME_SAMPLES],
        };
        // A restart: the previous instance's AI session went with it (it stops once its call is
        // gone); open a new one and replay the conversation, as after any AI failure.
        if state.shared.core().stream_sid().is_some() && !state.shared.core().is_ended() {
            tracing::warn!(call_sid = %state.call_sid, "call actor restarted; reopening the AI session");
            state
                .shared
                .core()
                .on_ai_lost(Instant::now(), "call actor restarted");
            state.run_events(&myself);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMessage>,
        message: CallMessage,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        match message {
            CallMessage::FromTwilio(text) => state.on_twilio(now, &text),
            CallMessage::TwilioClosed => state.shared.core().on_stop(now, "stream closed"),
            CallMessage::FromAi(text) => state.on_ai(now, &text),
            CallMessage::AiUp(ai) => {
                if state.shared.core().is_ended() || state.ai.is_some() {
                    ai.stop(None);
                } else if !matches!(
                    ai.get_status(),
                    ActorStatus::Starting | ActorStatus::Running
                ) {
                    // It died between its start and this message: its termination reached us
                    // first (supervision events overtake messages) and was ignored, as it was not
                    // yet the current session. Without this the call would wait on a dead session.
                    tracing::warn!(call_sid = %state.call_sid, "AI session ended before it was up");
                    state
                        .shared
                        .core()
                        .on_ai_lost(now, "AI session closed as it started");
                } else {
                    state.ai = Some(ai);
                    let reconnected = {
                        let mut core = state.shared.core();
                        let before = core.counters().ai_reconnects;
                        core.on_ai_connected(now);
                        core.counters().ai_reconnects > before
                    };
                    if reconnected {
                        CallMetrics::add(&state.deps.metrics.ai_reconnects);
                    }
                    // session.update first, then the audio held while connecting.
                    state.run_events(&myself);
                    let held = std::mem::take(&mut state.held);
                    for frame in held {
                        state.send_ai(frame);
                    }
                }
            }
            CallMessage::AiFailed(cause) => {
                tracing::warn!(call_sid = %state.call_sid, %cause, "AI session could not start");
                state.shared.core().on_ai_lost(now, &cause);
            }
            CallMessage::Tick => {
                state.next_tick = None;
                state.shared.core().handle_timeout(now);
            }
            CallMessage::Supervise { by, command, reply } => {
                let before = state.shared.core().supervision_mode();
                let outcome = state.shared.core().on_supervisor(now, &by, command);
                let after = state.shared.core().supervision_mode();
                if before != after {
                    state.on_mode_change(after);
                }
                tracing::info!(call_sid = %state.call_sid, supervisor = %by.name, ?outcome, ?after, "supervisor command");
                let _ = reply.send(outcome);
            }
            CallMessage::Listen(reply) => {
                let monitor = state
                    .monitor
                    .get_or_insert_with(|| broadcast::channel(MONITOR_BUFFER).0);
                let _ = reply.send(monitor.subscribe());
            }
            CallMessage::SupervisorAudio(frame) => {
                if state.shared.core().supervision_mode() != SupervisionMode::Ai {
                    if state.supervisor_audio.len() == SUPERVISOR_QUEUE_MAX {
                        state.supervisor_audio.pop_front();
                        state.supervisor_frames_dropped += 1;
                    }
                    state.supervisor_audio.push_back(*frame);
                }
            }
            CallMessage::Shutdown => state.shared.core().on_shutdown(now),
            #[cfg(feature = "test-hooks")]
            CallMessage::InjectPanic => panic!("call actor: injected panic"),
        }
        state.run_events(&myself);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<CallMessage>,
        event: SupervisionEvent,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, cause) = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".into()))
            }
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("panicked: {err}")),
            _ => return Ok(()),
        };
        // Only the current session's end matters; ones we stopped on purpose are no longer current.
        if state
            .ai
            .as_ref()
            .is_some_and(|ai| ai.get_id() == cell.get_id())
        {
            state.ai = None;
            tracing::warn!(call_sid = %state.call_sid, %cause, "AI session lost");
            state.shared.core().on_ai_lost(Instant::now(), &cause);
            state.run_events(&myself);
        }
        Ok(())
    }
}

impl CallState {
    fn on_twilio(&mut self, now: Instant, text: &str) {
        let frame = match twilio::parse_inbound(text) {
            Ok(frame) => frame,
            Err(err) => {
                self.reject();
                tracing::warn!(call_sid = %self.call_sid, %err, "malformed Twilio frame ignored");
                return;
            }
        };
        match frame {
            Inbound::Connected { .. } => {}
            Inbound::Start(start) => {
                if self.shared.core().on_start(now, &start.stream_sid) {
                    CallMetrics::add(&self.deps.metrics.calls_started);
                    self.start_recorder();
                } else {
                    self.reject();
                    tracing::warn!(call_sid = %self.call_sid, "second start ignored");
                }
            }
            Inbound::Media(media) => {
                CallMetrics::add(&self.deps.metrics.media_frames_in);
                if let Err(err) = media.decode_payload(&mut self.mulaw) {
                    self.reject();
                    tracing::warn!(call_sid = %self.call_sid, %err, "media frame with bad payload ignored");
                    return;
                }
                let ms = self.mulaw.len() as u64 / 8;
                // Decoded once per frame, for the PCM16 session, the recorder and listeners.
                if self.up.is_some() || self.deps.recording.is_some() || self.listening() {
                    g711::decode_ulaw_into_vec(&self.mulaw, &mut self.pcm8k);
                }
                let action = self.shared.core().on_media(now, media.timestamp_ms, ms);
                let caller_at_ms = match action {
                    MediaAction::Reject => {
                        self.reject();
                        tracing::warn!(call_sid = %self.call_sid, "media outside the stream ignored");
                        return;
                    }
                    MediaAction::RecordOnly { caller_at_ms } => caller_at_ms,
                    MediaAction::Forward { caller_at_ms } | MediaAction::Hold { caller_at_ms } => {
                        if let Some(up) = &mut self.up {
                            let pcm24k = up.push(&self.pcm8k);
                            self.pcm_bytes.clear();
                            self.pcm_bytes
                                .extend(pcm24k.iter().flat_map(|s| s.to_le_bytes()));
                            self.b64.clear();
                            STANDARD.encode_string(&self.pcm_bytes, &mut self.b64);
                            realtime::encode_audio_append(&self.b64, &mut self.frame);
                        } else {
                            realtime::encode_audio_append(media.payload_b64, &mut self.frame);
                        }
                        if let MediaAction::Hold { .. } = action {
                            if self.held.len() == HELD_FRAMES_MAX {
                                self.held.pop_front();
                            }
                            self.held.push_back(self.frame.clone());
                        } else if let Some(ai) = &self.ai {
                            let _ = ai.cast(AiSessionMessage::Send(self.frame.clone()));
                        }
                        caller_at_ms
                    }
                };
                if let Some(recorder) = self.shared.recorder().as_mut() {
                    recorder.caller(caller_at_ms, &self.pcm8k);
                }
                self.supervised_slot(caller_at_ms);
            }
            Inbound::Mark { name, .. } => self.shared.core().on_mark(&name),
            Inbound::Dtmf { digit, .. } if crate::twilio::is_dtmf_digit(digit) => {
                self.shared.core().on_dtmf(now, digit)
            }
            Inbound::Dtmf { digit, .. } => {
                self.reject();
                tracing::warn!(call_sid = %self.call_sid, ?digit, "DTMF that is not a keypad key ignored");
            }
            Inbound::Stop { .. } => self.shared.core().on_stop(now, "caller hung up"),
            Inbound::Unknown { event } => {
                self.reject();
                tracing::warn!(call_sid = %self.call_sid, %event, "unknown Twilio event ignored");
            }
        }
    }

    fn on_ai(&mut self, now: Instant, text: &str) {
        let event = match realtime::parse_server_event(text) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(call_sid = %self.call_sid, %err, "malformed AI event ignored");
                return;
            }
        };
        match event {
            ServerEvent::AudioDelta {
                item_id, delta_b64, ..
            } => self.on_delta(&item_id, &delta_b64),
            ServerEvent::SpeechStarted {
                item_id,
                audio_start_ms,
            } => self
                .shared
                .core()
                .on_speech_started(now, &item_id, audio_start_ms),
            ServerEvent::SpeechStopped {
                item_id,
                audio_end_ms,
            } => self.shared.core().on_speech_stopped(&item_id, audio_end_ms),
            ServerEvent::InputTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => {
                let language = self.deps.ai.session.language.clone();
                self.shared.core().on_input_transcript(
                    now,
                    &item_id,
                    &transcript,
                    language.as_deref(),
                )
            }
            ServerEvent::TranscriptDone {
                item_id,
                transcript,
                ..
            } => self
                .shared
                .core()
                .on_output_transcript(now, &item_id, &transcript),
            ServerEvent::ResponseCreated { .. } => self.shared.core().on_response_created(),
            ServerEvent::ResponseDone { .. } => self.shared.core().on_response_done(),
            ServerEvent::FunctionCallDone {
                call_id,
                name,
                arguments,
                ..
            } => self.shared.core().on_function_call(
                now,
                &call_id,
                name.as_deref().unwrap_or_default(),
                &arguments,
            ),
            ServerEvent::Error(error) => {
                self.shared
                    .core()
                    .on_ai_error(now, error.code.as_deref(), &error.message);
                if error.is_fatal() {
                    let cause = format!(
                        "{}: {}",
                        error.code.as_deref().unwrap_or("error"),
                        error.message
                    );
                    if let Some(ai) = &self.ai {
                        ai.stop(Some(cause));
                    }
                }
            }
            _ => {}
        }
    }

    fn on_delta(&mut self, item_id: &str, delta_b64: &str) {
        self.mulaw.clear();
        if STANDARD.decode_vec(delta_b64, &mut self.mulaw).is_err() {
            tracing::warn!(call_sid = %self.call_sid, "AI audio delta with bad base64 ignored");
            return;
        }
        // In pcm16 the decoded bytes are 24 kHz PCM: bring them to 8 kHz µ-law.
        if let Some(down) = &mut self.down {
            self.pcm24k.clear();
            self.pcm24k.extend(
                self.mulaw
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
            self.pcm8k.clear();
            self.pcm8k.extend_from_slice(down.push(&self.pcm24k));
            g711::encode_ulaw_into_vec(&self.pcm8k, &mut self.mulaw);
        }
        let ms = self.mulaw.len() as u64 / 8;
        let DeltaAction::Forward { play_at_ms } = self.shared.core().on_audio_delta(item_id, ms)
        else {
            return;
        };
        if self.shared.core().supervision_mode() == SupervisionMode::Barged {
            // Mixed with the supervisor's audio and sent in real time by `supervised_slot`.
            self.playout.push(play_at_ms, &self.mulaw);
            let mark = self.shared.core().mark_name().to_owned();
            self.paced_marks.push_back((play_at_ms + ms, mark));
            return;
        }
        if self.listening() {
            self.playout.push(play_at_ms, &self.mulaw);
        }
        {
            let core = self.shared.core();
            let Some(stream_sid) = core.stream_sid() else {
                return;
            };
            if self.down.is_some() {
                twilio::encode_media(stream_sid, &self.mulaw, &mut self.frame);
            } else {
                twilio::encode_media_base64(stream_sid, delta_b64, &mut self.frame);
            }
            twilio::encode_mark(stream_sid, core.mark_name(), &mut self.mark);
        }
        let _ = self.twilio.send(TwilioOut::Text(self.frame.clone()));
        let _ = self.twilio.send(TwilioOut::Text(self.mark.clone()));
        CallMetrics::add(&self.deps.metrics.media_frames_out);
        if let Some(recorder) = self.shared.recorder().as_mut() {
            g711::decode_ulaw_into_vec(&self.mulaw, &mut self.pcm8k);
            recorder.agent(play_at_ms, &self.pcm8k);
        }
    }

    /// Someone listens to this call.
    fn listening(&self) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.receiver_count() > 0)
    }

    /// The supervisors' part of one 20 ms slot, paced by the caller's frames (Twilio sends one
    /// every 20 ms): the frame both sides heard goes to the listeners, and while a supervisor
    /// barges in or has the call, what the caller hears is built here — the agent audio of the
    /// slot mixed with the supervisor's next frame — and sent at once, with the marks of the agent
    /// audio it completes. With no supervisor the cost is one branch.
    fn supervised_slot(&mut self, at_ms: u64) {
        let mode = self.shared.core().supervision_mode();
        let listening = self.listening();
        if mode == SupervisionMode::Ai && !listening {
            return;
        }
        let agent_playing = self.playout.take(at_ms, &mut self.agent_slot);
        if listening && let Some(monitor) = &self.monitor {
            let mut frame = MonitorFrame {
                at_ms,
                caller: [0; FRAME_SAMPLES],
                agent: [0; FRAME_SAMPLES],
            };
            let n = self.pcm8k.len().min(FRAME_SAMPLES);
            frame.caller[..n].copy_from_slice(&self.pcm8k[..n]);
            g711::decode_ulaw(&self.agent_slot, &mut frame.agent);
            let _ = monitor.send(Arc::new(frame));
        }
        if mode == SupervisionMode::Ai {
            return;
        }
        let supervisor = self.supervisor_audio.pop_front();
        if self.supervisor_audio.len() >= 2 {
            self.supervisor_backlog_slots += 1;
            if self.supervisor_backlog_slots >= SUPERVISOR_BACKLOG_SLOTS {
                self.supervisor_audio.pop_front();
                self.supervisor_frames_dropped += 1;
                self.supervisor_backlog_slots = 0;
            }
        } else {
            self.supervisor_backlog_slots = 0;
        }
        if agent_playing || supervisor.is_some() {
            if agent_playing && mode == SupervisionMode::Barged {
                g711::decode_ulaw(&self.agent_slot, &mut self.mixed);
            } else {
                self.mixed.fill(0);
            }
            if let Some(supervisor) = &supervisor {
                for (out, s) in self.mixed.iter_mut().zip(supervisor) {
                    *out = out.saturating_add(*s);
                }
            }
            g711::encode_ulaw(&self.mixed, &mut self.agent_slot);
            let core = self.shared.core();
            if let Some(stream_sid) = core.stream_sid() {
                twilio::encode_media(stream_sid, &self.agent_slot, &mut self.frame);
                let _ = self.twilio.send(TwilioOut::Text(self.frame.clone()));
                CallMetrics::add(&self.deps.metrics.media_frames_out);
            }
            drop(core);
            if let Some(recorder) = self.shared.recorder().as_mut() {
                recorder.agent(at_ms, &self.mixed);
            }
        }
        self.send_paced_marks(at_ms + 20);
    }

    /// Sends the marks of paced agent audio that ends by `until_ms`.
    fn send_paced_marks(&mut self, until_ms: u64) {
        while self
            .paced_marks
            .front()
            .is_some_and(|(end, _)| *end <= until_ms)
        {
            let Some((_, name)) = self.paced_marks.pop_front() else {
                break;
            };
            if let Some(stream_sid) = self.shared.core().stream_sid() {
                twilio::encode_mark(stream_sid, &name, &mut self.mark);
                let _ = self.twilio.send(TwilioOut::Text(self.mark.clone()));
            }
        }
    }

    /// Who speaks to the caller changed. Back to the AI alone: agent audio still paced goes to
    /// Twilio at once (it queues it in order) with its marks, and supervisor audio is dropped.
    fn on_mode_change(&mut self, mode: SupervisionMode) {
        match mode {
            SupervisionMode::Ai => {
                self.supervisor_audio.clear();
                let clock = self.shared.core().clock_ms();
                let mut rest = Vec::with_capacity(self.playout.queued_ms() as usize * 8);
                let mut slot = [0xFF; FRAME_SAMPLES];
                let mut at = clock;
                while self.playout.queued_ms() > 0 {
                    self.playout.take(at, &mut slot);
                    rest.extend_from_slice(&slot);
                    at += 20;
                }
                if !rest.is_empty()
                    && let Some(stream_sid) = self.shared.core().stream_sid()
                {
                    twilio::encode_media(stream_sid, &rest, &mut self.frame);
                    let _ = self.twilio.send(TwilioOut::Text(self.frame.clone()));
                }
                self.send_paced_marks(u64::MAX);
            }
            // The audio in flight was cut (see `CallCore::on_supervisor`).
            SupervisionMode::Barged | SupervisionMode::TakenOver => {
                self.playout.clear();
                self.supervisor_audio.clear();
            }
        }
    }

    /// `session.update`; while a supervisor has the call the AI transcribes the caller but
    /// answers no turn of its own.
    fn session_update(&self) -> String {
        let dialect = self.deps.ai.dialect;
        if self.shared.core().supervision_mode() != SupervisionMode::TakenOver {
            return self.deps.ai.session.session_update(dialect);
        }
        let mut session = self.deps.ai.session.clone();
        session.vad.create_response = false;
        session.vad.interrupt_response = false;
        session.session_update(dialect)
    }

    fn start_recorder(&mut self) {
        let Some(target) = &self.deps.recording else {
            return;
        };
        // The file is named by the CallSid, which the media socket checked to be `CA` + 32 hex
        // digits; anything else (a path, a NUL) is never joined to the directory.
        if !crate::twilio::is_call_sid(&self.call_sid) {
            tracing::error!(call_sid = ?self.call_sid, "not a call SID: this call is not recorded");
            return;
        }
        let path = target.dir.join(format!("{}.wav", self.call_sid));
        match RecorderThread::start(path.clone(), target.sample_rate) {
            Ok(recorder) => *self.shared.recorder() = Some(recorder),
            Err(err) => {
                tracing::error!(call_sid = %self.call_sid, path = %path.display(), %err, "cannot record this call")
            }
        }
    }

    /// A frame refused: counted for this call's log and for the process.
    fn reject(&self) {
        self.shared.rejected_frames.fetch_add(1, Ordering::Relaxed);
        self.deps.rejected_frames.fetch_add(1, Ordering::Relaxed);
    }

    fn send_ai(&self, text: String) {
        if let Some(ai) = &self.ai {
            let _ = ai.cast(AiSessionMessage::Send(text));
        }
    }

    fn run_events(&mut self, myself: &ActorRef<CallMessage>) {
        let dialect = self.deps.ai.dialect;
        loop {
            // Taken in its own statement: the core's lock is not held while the event is handled.
            let event = self.shared.core().poll_event();
            let Some(event) = event else { break };
            match event {
                CallEvent::Persist(row) => {
                    if let Err(full) = self.deps.persistence.persist(row) {
                        // Counted by the persistence metrics; name what is at stake.
                        for row in full.rows {
                            tracing::error!(call_sid = %self.call_sid, id = %row.id(), table = row.table(), "persistence buffer full: row not accepted");
                        }
                    }
                }
                CallEvent::Ai(command) => self.send_ai(match command {
                    AiCommand::SessionUpdate => self.session_update(),
                    AiCommand::SystemText(text) => realtime::item_create_system_text(&text),
                    AiCommand::ReplayUser(text) => realtime::item_create_user_text(&text),
                    AiCommand::ReplayAssistant(text) => {
                        realtime::item_create_assistant_text(dialect, &text)
                    }
                    AiCommand::Truncate {
                        item_id,
                        audio_end_ms,
                    } => realtime::truncate(&item_id, audio_end_ms),
                    AiCommand::CancelResponse => realtime::response_cancel(None),
                    AiCommand::FunctionOutput { call_id, output } => {
                        realtime::item_create_function_output(&call_id, &output)
                    }
                    AiCommand::CreateResponse => realtime::response_create(),
                }),
                CallEvent::ClearTwilio => {
                    // The agent audio queued is gone for listeners and the pacer too.
                    self.playout.clear();
                    self.paced_marks.clear();
                    let core = self.shared.core();
                    if let Some(stream_sid) = core.stream_sid() {
                        twilio::encode_clear(stream_sid, &mut self.frame);
                        let _ = self.twilio.send(TwilioOut::Text(self.frame.clone()));
                    }
                }
                CallEvent::ConnectAi => {
                    let call = myself.clone();
                    let endpoint = self.deps.ai.clone();
                    tokio::spawn(async move {
                        let cell = call.get_cell();
                        match Actor::spawn_linked(None, AiSession, (endpoint, call.clone()), cell)
                            .await
                        {
                            Ok((ai, _)) => {
                                let _ = call.cast(CallMessage::AiUp(ai));
                            }
                            Err(err) => {
                                let _ = call.cast(CallMessage::AiFailed(err.to_string()));
                            }
                        }
                    });
                }
                CallEvent::RotateAi => {
                    if let Some(ai) = self.ai.take() {
                        ai.stop(Some("rotation".into()));
                    }
                }
                CallEvent::Hangup { reason } => {
                    tracing::info!(call_sid = %self.call_sid, %reason, "hanging up");
                    let _ = self.twilio.send(TwilioOut::Close);
                }
                CallEvent::Ended => {
                    CallMetrics::add(&self.deps.metrics.calls_ended);
                    if let Some(ai) = self.ai.take() {
                        let _ = ai.cast(AiSessionMessage::Finish("call ended".into()));
                    }
                    let recorder = self.shared.recorder().take();
                    let persistence = self.deps.persistence.clone();
                    let (org_id, call_id) = {
                        let core = self.shared.core();
                        (core.config().org_id, core.config().call_id)
                    };
                    let counters = self.shared.core().counters();
                    let rejected_frames = self.shared.rejected_frames.load(Ordering::Relaxed);
                    let call_sid = self.call_sid.clone();
                    let me = myself.clone();
                    tokio::spawn(async move {
                        if let Some(recorder) = recorder {
                            let finished = tokio::task::spawn_blocking(move || recorder.finish())
                                .await
                                .map_err(|e| e.to_string())
                                .and_then(|r| r.map_err(|e| e.to_string()));
                            match finished {
                                // The recording's row goes the way of every other row.
                                Ok(info) => {
                                    let row = NewRecording {
                                        id: Uuid::now_v7(),
                                        org_id,
                                        call_id,
                                        path: info.path.display().to_string(),
                                        sample_rate: info.sample_rate,
                                        channels: info.channels,
                                        duration_ms: info.duration_ms,
                                        bytes: info.bytes,
                                    };
                                    if let Err(err) = persistence.persist(row) {
                                        tracing::error!(%call_sid, %err, "cannot queue the recording row");
                                    }
                                }
                                Err(err) => tracing::error!(%call_sid, %err, "recording failed"),
                            }
                        }
                        // The actor stops once every row of the call, its recording's included,
                        // is durable: "no live call actors" also means "every call is written".
                        if let Err(err) = persistence.flush().await {
                            tracing::error!(%call_sid, %err, "flush at call end failed");
                        }
                        tracing::info!(%call_sid, ?counters, rejected_frames, "call ended");
                        me.stop(None);
                    });
                }
            }
        }
        let timeout = self.shared.core().poll_timeout();
        if let Some(at) = timeout
            && self.next_tick.is_none_or(|t| at < t)
        {
            self.next_tick = Some(at);
            myself.send_after(at.saturating_duration_since(Instant::now()), || {
                CallMessage::Tick
            });
        }
    }
}
