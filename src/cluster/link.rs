//! A live call as supervisors reach it: its actor on this node, or its node over NATS. The
//! supervisor routes and socket use a [`CallLink`] and never ask where the call is.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use switchboard_actors::call::{
    CallMessage, CallRegistryHandle, FRAME_SAMPLES, MonitorFrame, SuperviseError, Supervisor,
    SupervisorCommand,
};
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::bus::Bus;
use super::commands::{self, Reply, Request};
use super::monitor::{self, RemoteFrames};

/// How long a call may take to answer a command.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a command did not reach or change the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Live on no node (NATS: no responders).
    #[error("the call is not live")]
    NotLive,
    /// The call did not take it.
    #[error("{0}")]
    Refused(String),
    /// The call's node could not be asked (the bus is down, or the node did not answer).
    #[error("{0}")]
    Unavailable(String),
}

/// See the module documentation.
pub enum CallLink {
    Local {
        registry: CallRegistryHandle,
        call_sid: String,
        actor: ActorRef<CallMessage>,
    },
    Remote(Box<RemoteCall>),
}

/// A call on another node.
pub struct RemoteCall {
    bus: Bus,
    org_id: Uuid,
    call_id: Uuid,
    /// The listening session, once [`CallLink::listen`] opened one: where audio goes.
    session: Option<String>,
}

/// The call's frames, from its actor or relayed from its node.
pub enum Frames {
    Local(broadcast::Receiver<Arc<MonitorFrame>>),
    Remote(Box<RemoteFrames>),
}

impl Frames {
    /// The next frame; `Lagged` when frames were lost, `Closed` when the call ended (or its
    /// actor was restarted: listen again).
    pub async fn recv(&mut self) -> Result<Arc<MonitorFrame>, RecvError> {
        match self {
            Frames::Local(frames) => frames.recv().await,
            Frames::Remote(frames) => frames.recv().await,
        }
    }
}

/// Asks a call's actor on this node.
pub async fn ask_local(
    actor: &ActorRef<CallMessage>,
    by: Supervisor,
    command: SupervisorCommand,
) -> Result<(), LinkError> {
    let answer = actor
        .call(
            |reply| CallMessage::Supervise { by, command, reply },
            Some(ACTION_TIMEOUT),
        )
        .await
        .map_err(|e| LinkError::Refused(format!("the call did not take the action: {e}")))?;
    match answer.success_or(()) {
        Ok(outcome) => outcome.map_err(|e: SuperviseError| LinkError::Refused(e.to_string())),
        Err(()) => Err(LinkError::Refused("the call did not answer in time".into())),
    }
}

/// Starts hearing a call's actor on this node (`None`: the actor is gone or did not answer).
pub async fn listen_local(
    actor: &ActorRef<CallMessage>,
) -> Option<broadcast::Receiver<Arc<MonitorFrame>>> {
    actor
        .call(CallMessage::Listen, Some(ACTION_TIMEOUT))
        .await
        .ok()?
        .success_or(())
        .ok()
}

/// Sends `request` to the call's node.
pub async fn request(bus: &Bus, call_id: Uuid, request: &Request) -> Result<(), LinkError> {
    use async_nats::RequestErrorKind;
    let body = serde_json::to_vec(request).expect("a request serializes");
    let answer = bus
        .client
        .request(commands::subject(call_id), body.into())
        .await
        .map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => LinkError::NotLive,
            RequestErrorKind::TimedOut => {
                LinkError::Unavailable("the call's node did not answer in time".into())
            }
            _ => LinkError::Unavailable(format!("the cluster bus is unavailable: {e}")),
        })?;
    match serde_json::from_slice::<Reply>(&answer.payload) {
        Ok(Reply::Ok) => Ok(()),
        Ok(Reply::NotLive) => Err(LinkError::NotLive),
        Ok(Reply::Refused { message }) => Err(LinkError::Refused(message)),
        Err(err) => Err(LinkError::Unavailable(format!(
            "the call's node answered something else: {err}"
        ))),
    }
}

impl CallLink {
    /// The live call: here if its actor is, else on whichever node answers for it.
    pub async fn find(
        registry: Option<&CallRegistryHandle>,
        bus: Option<&Bus>,
        org_id: Uuid,
        call_id: Uuid,
        call_sid: &str,
    ) -> Result<CallLink, LinkError> {
        if let Some(registry) = registry
            && let Some(actor) = registry.lookup(call_sid).await
        {
            return Ok(CallLink::Local {
                registry: registry.clone(),
                call_sid: call_sid.to_owned(),
                actor,
            });
        }
        let Some(bus) = bus else {
            return Err(LinkError::NotLive);
        };
        request(bus, call_id, &Request::Ping { org_id }).await?;
        Ok(CallLink::Remote(Box::new(RemoteCall {
            bus: bus.clone(),
            org_id,
            call_id,
            session: None,
        })))
    }

    /// Whether the call's actor is on this node.
    pub fn is_local(&self) -> bool {
        matches!(self, CallLink::Local { .. })
    }

    pub async fn supervise(
        &self,
        by: Supervisor,
        command: SupervisorCommand,
    ) -> Result<(), LinkError> {
        match self {
            CallLink::Local { actor, .. } => ask_local(actor, by, command).await,
            CallLink::Remote(remote) => {
                let request_ = Request::supervise(remote.org_id, &by, &command);
                request(&remote.bus, remote.call_id, &request_).await
            }
        }
    }

    /// Starts hearing the call (`None` once it is live nowhere).
    pub async fn listen(&mut self) -> Option<Frames> {
        match self {
            CallLink::Local {
                registry,
                call_sid,
                actor,
            } => {
                for attempt in 0..2 {
                    if attempt > 0 {
                        *actor = registry.lookup(call_sid).await?;
                    }
                    if let Some(frames) = listen_local(actor).await {
                        return Some(Frames::Local(frames));
                    }
                }
                None
            }
            CallLink::Remote(remote) => {
                let frames = monitor::listen_remote(&remote.bus, remote.org_id, remote.call_id)
                    .await
                    .ok()?;
                remote.session = Some(frames.session().to_owned());
                Some(Frames::Remote(Box::new(frames)))
            }
        }
    }

    /// 20 ms of the supervisor's audio (8 kHz) for the caller (the call drops it unless barged
    /// in or taken over).
    pub async fn audio(&self, frame: Box<[i16; FRAME_SAMPLES]>) {
        match self {
            CallLink::Local { actor, .. } => {
                let _ = actor.cast(CallMessage::SupervisorAudio(frame));
            }
            CallLink::Remote(remote) => {
                if let Some(session) = &remote.session {
                    monitor::send_audio(&remote.bus, session, &frame).await;
                }
            }
        }
    }
}
