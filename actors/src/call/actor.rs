//! `CallActor`: one live call, a thin shell over [`CallPipeline`].
//!
//! It owns its pipeline (no lock: nothing else touches it), hands it what arrives — Twilio's
//! frames, the AI session's frames and lifecycle, supervisors, timers — with the time, and
//! carries out its transmits: frames written into the Twilio and AI sockets themselves (a
//! [`SocketWriter`] each, flushed once per message handled), rows to the persistence actor, AI
//! sessions (its supervised children) opened and closed, the recording opened and finalized.
//!
//! Restarts: after every message the pipeline's facts (stream, conversation, marks in flight,
//! row versions) are copied into [`CallShared`], which outlives the actor. A call actor that
//! panics is restarted by the [`CallRegistry`](super::CallRegistry) on a new pipeline built
//! from those facts — never on the state that panicked; a second panic of the same call within
//! [`REPEAT_PANIC_WINDOW`] ends the call (`engine_error`) instead of looping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SupervisionEvent};
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::ai_protocol::RealtimeProtocol;
use super::ai_session::{AiEndpoint, AiSession, AiSessionMessage};
use super::metrics::CallMetrics;
use super::pipeline::{CallPipeline, PipelineEvent, Transmit};
use super::shared::{CallShared, REPEAT_PANIC_WINDOW, RecordingTarget};
use super::socket_writer::{SocketWriter, normal_close};
use super::supervision::{
    FRAME_SAMPLES, MonitorFrame, SuperviseError, Supervisor, SupervisorCommand,
};
use super::tools::{ToolReport, ToolRequest, ToolRunner};
use crate::persistence::{PersistItem, PersistenceHandle};

pub use super::pipeline::MONITOR_BUFFER;

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
    /// Runs the call's tools (webhooks, service built-ins); `None`: the call has none.
    pub tools: Option<Arc<dyn ToolRunner>>,
}

/// How to start (or restart) one call's actor.
#[derive(Clone)]
pub struct CallArgs {
    pub shared: Arc<CallShared>,
    pub call_sid: String,
    pub twilio: SocketWriter,
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
    /// A new AI session is up, with the writer of its socket.
    AiUp(ActorRef<AiSessionMessage>, SocketWriter),
    /// An AI session could not be started.
    AiFailed(String),
    /// A timer of the pipeline may be due.
    Tick,
    /// A supervisor's command; the reply says whether it applied.
    Supervise {
        by: Supervisor,
        command: SupervisorCommand,
        reply: RpcReplyPort<Result<(), SuperviseError>>,
    },
    /// A listener joins (see [`CallPipeline::listen`]).
    Listen(RpcReplyPort<broadcast::Receiver<Arc<MonitorFrame>>>),
    /// 20 ms of a barging or speaking supervisor's audio, 8 kHz.
    SupervisorAudio(Box<[i16; FRAME_SAMPLES]>),
    /// A tool the call asked for has run.
    ToolDone(Box<(ToolRequest, ToolReport)>),
    /// The engine is shutting down: hang up and end the call.
    Shutdown,
    /// Chaos hook for tests (feature `test-hooks`): the actor panics, as a bug in it would.
    #[cfg(feature = "test-hooks")]
    InjectPanic,
}

pub struct CallActor;

/// The call's current AI session and its socket's writer. Dropping it (the session is replaced,
/// the call is over, or the actor holding it panicked) closes the socket behind what was written.
struct CurrentAi {
    session: ActorRef<AiSessionMessage>,
    writer: SocketWriter,
}

impl Drop for CurrentAi {
    fn drop(&mut self) {
        self.writer.close(None);
    }
}

pub struct CallState {
    shared: Arc<CallShared>,
    call_sid: String,
    twilio: SocketWriter,
    deps: CallDeps,
    pipeline: CallPipeline,
    ai: Option<CurrentAi>,
    next_tick: Option<Instant>,
    /// The pipeline's refused frames already added to the process's count.
    rejected_counted: u64,
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
        let now = Instant::now();
        let protocol = Box::new(RealtimeProtocol {
            dialect: args.deps.ai.dialect,
            session: args.deps.ai.session.clone(),
        });
        let config = args.shared.config.clone();
        let metrics = args.deps.metrics.clone();
        args.shared.frames_dropped_with_actor();
        let facts = args.shared.facts().clone();
        let resumed = facts.started() && !facts.ended();
        let pipeline = if resumed {
            tracing::warn!(call_sid = %args.call_sid, "call actor restarted; resuming the call from its facts");
            let mut pipeline = CallPipeline::resume(
                config,
                &facts,
                protocol,
                metrics,
                now,
                "call actor restarted",
            )?;
            pipeline.set_recorder(args.shared.recording());
            if args.shared.is_ending() {
                tracing::error!(call_sid = %args.call_sid, "the call's actor failed twice within {REPEAT_PANIC_WINDOW:?}: ending the call");
                pipeline.on_engine_error(now);
            }
            pipeline
        } else {
            CallPipeline::new(config, protocol, metrics)?
        };
        let mut state = CallState {
            shared: args.shared,
            call_sid: args.call_sid,
            twilio: args.twilio,
            deps: args.deps,
            pipeline,
            ai: None,
            next_tick: None,
            rejected_counted: 0,
        };
        state.carry_out(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMessage>,
        message: CallMessage,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let pipeline = &mut state.pipeline;
        match message {
            CallMessage::FromTwilio(text) => {
                state.shared.frame_taken();
                pipeline.on_twilio(now, &text)
            }
            CallMessage::TwilioClosed => pipeline.on_twilio_closed(now),
            CallMessage::FromAi(text) => pipeline.on_ai(now, &text),
            CallMessage::AiUp(ai, writer) => {
                if pipeline.is_ended() || state.ai.is_some() {
                    ai.stop(None);
                } else if !matches!(
                    ai.get_status(),
                    ActorStatus::Starting | ActorStatus::Running
                ) {
                    // It died between its start and this message: its termination reached us
                    // first (supervision events overtake messages) and was ignored, as it was not
                    // yet the current session. Without this the call would wait on a dead session.
                    tracing::warn!(call_sid = %state.call_sid, "AI session ended before it was up");
                    pipeline.on_ai_lost(now, "AI session closed as it started");
                } else {
                    state.ai = Some(CurrentAi {
                        session: ai,
                        writer,
                    });
                    pipeline.on_ai_up(now);
                }
            }
            CallMessage::AiFailed(cause) => {
                tracing::warn!(call_sid = %state.call_sid, %cause, "AI session could not start");
                pipeline.on_ai_lost(now, &cause);
            }
            CallMessage::Tick => {
                state.next_tick = None;
                pipeline.handle_timeout(now);
            }
            CallMessage::Supervise { by, command, reply } => {
                let outcome = pipeline.on_supervisor(now, &by, command);
                tracing::info!(call_sid = %state.call_sid, supervisor = %by.name, ?outcome, mode = ?pipeline.supervision_mode(), "supervisor command");
                let _ = reply.send(outcome);
            }
            CallMessage::Listen(reply) => {
                let _ = reply.send(pipeline.listen());
            }
            CallMessage::SupervisorAudio(frame) => pipeline.on_supervisor_audio(&frame),
            CallMessage::ToolDone(done) => {
                let (request, report) = *done;
                tracing::info!(call_sid = %state.call_sid, tool = %request.name, status = %report.status, latency_ms = report.latency_ms, "tool call");
                pipeline.on_tool_result(now, &request, report);
            }
            CallMessage::Shutdown => pipeline.on_shutdown(now),
            #[cfg(feature = "test-hooks")]
            CallMessage::InjectPanic => panic!("call actor: injected panic"),
        }
        state.carry_out(&myself);
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
            .is_some_and(|ai| ai.session.get_id() == cell.get_id())
        {
            state.ai = None;
            tracing::warn!(call_sid = %state.call_sid, %cause, "AI session lost");
            state.pipeline.on_ai_lost(Instant::now(), &cause);
            state.carry_out(&myself);
        }
        Ok(())
    }
}

impl CallState {
    /// Carries out what the pipeline asks (each socket flushed once), keeps its facts, and sets
    /// its next timer.
    fn carry_out(&mut self, myself: &ActorRef<CallMessage>) {
        let (mut twilio_written, mut ai_written) = (false, false);
        while let Some(transmit) = self.pipeline.poll_transmit() {
            match transmit {
                Transmit::Twilio(text) => {
                    let _ = self.twilio.send(text);
                    twilio_written = true;
                }
                Transmit::TwilioClose { reason } => {
                    tracing::info!(call_sid = %self.call_sid, %reason, "hanging up");
                    self.twilio.close(Some(normal_close()));
                }
                Transmit::Ai(text) => {
                    if let Some(ai) = &self.ai {
                        let _ = ai.writer.send(text);
                        ai_written = true;
                    }
                }
                Transmit::Row(row) => self.persist(row),
                Transmit::Event(event) => self.on_event(myself, event),
            }
        }
        if twilio_written {
            self.twilio.flush();
        }
        if ai_written && let Some(ai) = &self.ai {
            ai.writer.flush();
        }
        self.pipeline.save_facts(&mut self.shared.facts());
        let rejected = self.pipeline.rejected();
        if rejected > self.rejected_counted {
            self.deps
                .rejected_frames
                .fetch_add(rejected - self.rejected_counted, Ordering::Relaxed);
            self.rejected_counted = rejected;
        }
        if let Some(at) = self.pipeline.poll_timeout()
            && self.next_tick.is_none_or(|t| at < t)
        {
            self.next_tick = Some(at);
            myself.send_after(at.saturating_duration_since(Instant::now()), || {
                CallMessage::Tick
            });
        }
    }

    fn persist(&self, row: PersistItem) {
        if let Err(full) = self.deps.persistence.persist(row) {
            // Counted by the persistence metrics; name what is at stake.
            for row in full.rows {
                tracing::error!(call_sid = %self.call_sid, id = %row.id(), table = row.table(), "persistence buffer full: row not accepted");
            }
        }
    }

    fn on_event(&mut self, myself: &ActorRef<CallMessage>, event: PipelineEvent) {
        match event {
            PipelineEvent::Started => self.start_recorder(),
            PipelineEvent::ConnectAi => {
                let call = myself.clone();
                let endpoint = self.deps.ai.clone();
                tokio::spawn(async move {
                    let cell = call.get_cell();
                    // The session hands its socket's writer over as it starts.
                    let (writer_tx, writer) = oneshot::channel();
                    match Actor::spawn_linked(
                        None,
                        AiSession,
                        (endpoint, call.clone(), writer_tx),
                        cell,
                    )
                    .await
                    {
                        Ok((ai, _)) => match writer.await {
                            Ok(writer) => {
                                let _ = call.cast(CallMessage::AiUp(ai, writer));
                            }
                            Err(_) => {
                                let _ = call.cast(CallMessage::AiFailed(
                                    "AI session started without a socket".to_owned(),
                                ));
                            }
                        },
                        Err(err) => {
                            let _ = call.cast(CallMessage::AiFailed(err.to_string()));
                        }
                    }
                });
            }
            PipelineEvent::RotateAi => {
                if let Some(ai) = self.ai.take() {
                    ai.session.stop(Some("rotation".into()));
                }
            }
            PipelineEvent::CloseAi { cause } => {
                if let Some(ai) = &self.ai {
                    ai.session.stop(Some(cause));
                }
            }
            PipelineEvent::Ended => self.end(myself),
            PipelineEvent::RunTool(request) => self.run_tool(myself, request),
        }
    }

    /// The call is over: the AI session writes what it was sent and closes (dropping its
    /// [`CurrentAi`] closes the socket), the recording is finalized and the call's rows made
    /// durable (see [`CallShared::finish`]); then the actor stops.
    fn end(&mut self, myself: &ActorRef<CallMessage>) {
        self.ai = None;
        let shared = self.shared.clone();
        let persistence = self.deps.persistence.clone();
        let counters = self.pipeline.counters();
        let rejected_frames = self.pipeline.rejected();
        let supervisor_frames_dropped = self.pipeline.supervisor_frames_dropped();
        let call_sid = self.call_sid.clone();
        let me = myself.clone();
        tokio::spawn(async move {
            shared.finish(&persistence, &call_sid).await;
            tracing::info!(%call_sid, ?counters, rejected_frames, supervisor_frames_dropped, "call ended");
            me.stop(None);
        });
    }

    /// Runs a tool on its own task (several run at once); its report comes back as a message.
    /// Without a runner the model hears that the tool is unavailable.
    fn run_tool(&self, myself: &ActorRef<CallMessage>, request: ToolRequest) {
        let me = myself.clone();
        match self.deps.tools.clone() {
            Some(runner) => {
                tokio::spawn(async move {
                    let report = runner.run(request.clone()).await;
                    let _ = me.cast(CallMessage::ToolDone(Box::new((request, report))));
                });
            }
            None => {
                let report = ToolReport {
                    output: serde_json::json!({"ok": false, "error": "unavailable",
                        "message": "this tool cannot be run on this call"})
                    .to_string(),
                    status: "unavailable".to_owned(),
                    latency_ms: 0,
                    result_bytes: 0,
                    arguments: serde_json::Value::Null,
                };
                let _ = me.cast(CallMessage::ToolDone(Box::new((request, report))));
            }
        }
    }

    fn start_recorder(&mut self) {
        if let Some(target) = &self.deps.recording
            && let Some(sink) = self.shared.start_recording(target, &self.call_sid)
        {
            self.pipeline.set_recorder(sink);
        }
    }
}
