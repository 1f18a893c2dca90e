//! `CallRegistry`: the root supervisor of live calls. It spawns one `CallActor` per stream, linked
//! to itself, finds calls by CallSid, and restarts a call actor that failed while its Twilio socket
//! is still open — from the call's facts (see [`CallShared`](super::CallShared)), so the call goes
//! on (its AI session is reopened and the conversation replayed); a second failure within 30 s
//! ends the call (`engine_error`) instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};

use super::actor::{CallActor, CallArgs, CallMessage};
use super::error::CallError;

/// Requests to the registry.
pub enum RegistryMessage {
    /// Start a call's actor; refused while the engine stops or the call already streams.
    Start(
        CallArgs,
        RpcReplyPort<Result<ActorRef<CallMessage>, CallError>>,
    ),
    /// The current actor of a call, by CallSid.
    Lookup(String, RpcReplyPort<Option<ActorRef<CallMessage>>>),
    /// The CallSids of the live calls.
    List(RpcReplyPort<Vec<String>>),
    /// The engine is shutting down: start no more calls and end the live ones.
    EndAll,
}

pub struct CallRegistry;

pub struct RegistryState {
    calls: HashMap<ActorId, (CallArgs, ActorRef<CallMessage>)>,
    by_sid: HashMap<String, ActorId>,
    counts: Arc<RegistryCounts>,
    /// Set by `EndAll`: new calls are refused, failed call actors are not restarted.
    closing: bool,
}

/// What the registry counts, readable without asking it.
#[derive(Debug, Default)]
pub struct RegistryCounts {
    /// Call actors restarted after a failure.
    restarts: AtomicU64,
    /// Call actors alive now.
    live: AtomicUsize,
}

impl Actor for CallRegistry {
    type Msg = RegistryMessage;
    type State = RegistryState;
    type Arguments = Arc<RegistryCounts>;

    async fn pre_start(
        &self,
        _: ActorRef<RegistryMessage>,
        counts: Arc<RegistryCounts>,
    ) -> Result<RegistryState, ActorProcessingErr> {
        Ok(RegistryState {
            calls: HashMap::new(),
            by_sid: HashMap::new(),
            counts,
            closing: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<RegistryMessage>,
        message: RegistryMessage,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMessage::Start(args, reply) => {
                let started = if state.closing {
                    Err(CallError::ShuttingDown)
                } else if state.by_sid.contains_key(&args.call_sid) {
                    Err(CallError::AlreadyStreaming(args.call_sid.clone()))
                } else {
                    state
                        .spawn(&myself, args)
                        .await
                        .map_err(|e| CallError::Spawn(e.to_string()))
                };
                let _ = reply.send(started);
            }
            RegistryMessage::Lookup(call_sid, reply) => {
                let actor = state
                    .by_sid
                    .get(&call_sid)
                    .and_then(|id| state.calls.get(id))
                    .map(|(_, actor)| actor.clone());
                let _ = reply.send(actor);
            }
            RegistryMessage::List(reply) => {
                let _ = reply.send(state.by_sid.keys().cloned().collect());
            }
            RegistryMessage::EndAll => {
                state.closing = true;
                tracing::info!(calls = state.calls.len(), "ending the live calls");
                for (_, actor) in state.calls.values() {
                    let _ = actor.cast(CallMessage::Shutdown);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RegistryMessage>,
        event: SupervisionEvent,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some((args, _)) = state.forget(cell.get_id()) else {
                    return Ok(());
                };
                if args.twilio.is_closed() || state.closing {
                    tracing::error!(call_sid = %args.call_sid, %err, closing = state.closing, "call actor failed after its stream closed or during shutdown; not restarted");
                    return Ok(());
                }
                if args.shared.is_ending() {
                    // The actor that was to end the call failed too: give up on it (its
                    // recording is closed as its state is dropped; the socket's close ends
                    // the stream).
                    tracing::error!(call_sid = %args.call_sid, %err, "call actor failed while ending its call; not restarted");
                    args.twilio
                        .close(Some(super::socket_writer::normal_close()));
                    return Ok(());
                }
                if args.shared.panicked(std::time::Instant::now()) {
                    tracing::error!(call_sid = %args.call_sid, %err, "call actor failed again within 30 s; restarting it to end the call");
                } else {
                    tracing::error!(call_sid = %args.call_sid, %err, "call actor failed; restarting it");
                }
                state.counts.restarts.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = state.spawn(&myself, args).await {
                    tracing::error!(%err, "cannot restart the call actor");
                }
            }
            SupervisionEvent::ActorTerminated(cell, ..) => {
                state.forget(cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

impl RegistryState {
    async fn spawn(
        &mut self,
        registry: &ActorRef<RegistryMessage>,
        args: CallArgs,
    ) -> Result<ActorRef<CallMessage>, SpawnErr> {
        let (actor, _) =
            Actor::spawn_linked(None, CallActor, args.clone(), registry.get_cell()).await?;
        self.by_sid.insert(args.call_sid.clone(), actor.get_id());
        self.calls.insert(actor.get_id(), (args, actor.clone()));
        self.counts.live.store(self.calls.len(), Ordering::Relaxed);
        Ok(actor)
    }

    fn forget(&mut self, id: ActorId) -> Option<(CallArgs, ActorRef<CallMessage>)> {
        let entry = self.calls.remove(&id)?;
        self.counts.live.store(self.calls.len(), Ordering::Relaxed);
        if self.by_sid.get(&entry.0.call_sid) == Some(&id) {
            self.by_sid.remove(&entry.0.call_sid);
        }
        Some(entry)
    }
}

/// What the service holds: starts calls, finds them, counts restarts.
#[derive(Clone)]
pub struct CallRegistryHandle {
    actor: ActorRef<RegistryMessage>,
    counts: Arc<RegistryCounts>,
}

impl CallRegistryHandle {
    pub async fn start() -> Result<Self, SpawnErr> {
        let counts = Arc::new(RegistryCounts::default());
        let (actor, _) = Actor::spawn(None, CallRegistry, counts.clone()).await?;
        Ok(CallRegistryHandle { actor, counts })
    }

    /// Starts a call's actor (one per CallSid at a time).
    pub async fn start_call(&self, args: CallArgs) -> Result<ActorRef<CallMessage>, CallError> {
        self.actor
            .call(|reply| RegistryMessage::Start(args, reply), None)
            .await
            .map_err(|_| CallError::RegistryGone)?
            .success_or(CallError::RegistryGone)?
    }

    /// The current actor of a live call.
    pub async fn lookup(&self, call_sid: &str) -> Option<ActorRef<CallMessage>> {
        let sid = call_sid.to_owned();
        self.actor
            .call(|reply| RegistryMessage::Lookup(sid, reply), None)
            .await
            .ok()?
            .success_or(())
            .ok()
            .flatten()
    }

    /// The CallSids of the calls live on this node.
    pub async fn live_call_sids(&self) -> Vec<String> {
        self.actor
            .call(RegistryMessage::List, None)
            .await
            .ok()
            .and_then(|r| r.success_or(()).ok())
            .unwrap_or_default()
    }

    /// Call actors restarted after a failure.
    pub fn restarts(&self) -> u64 {
        self.counts.restarts.load(Ordering::Relaxed)
    }

    /// Call actors alive now (a call's actor stops once the call has ended and its rows are
    /// durable). Read without a round trip to the registry, for `/metrics`.
    pub fn live_calls(&self) -> usize {
        self.counts.live.load(Ordering::Relaxed)
    }

    /// Makes a call's actor panic (tests of supervision; feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub async fn inject_panic(&self, call_sid: &str) -> bool {
        match self.lookup(call_sid).await {
            Some(actor) => actor.cast(CallMessage::InjectPanic).is_ok(),
            None => false,
        }
    }

    /// Ends every live call (`call_ended` with reason `engine_shutdown`, recording finished,
    /// rows flushed) and refuses new ones; waits until their actors have stopped, at most
    /// `grace`. Answers how many were still running when it gave up.
    pub async fn end_all(&self, grace: std::time::Duration) -> usize {
        if self.actor.cast(RegistryMessage::EndAll).is_err() {
            return self.live_calls();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.live_calls() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.live_calls()
    }

    pub fn stop(&self) {
        self.actor.stop(None);
    }
}
