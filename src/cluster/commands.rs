//! Commands to a call from any node: the wire form of the requests on `sb.call.{call_id}.cmd`
//! and the owner node's server of them, alive while the call's socket is open on that node.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use switchboard_actors::call::{CallRegistryHandle, Supervisor, SupervisorCommand};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::bus::Bus;
use super::link::{self, LinkError};
use super::monitor;

/// The subject of `call_id`'s commands.
pub fn subject(call_id: Uuid) -> String {
    format!("sb.call.{call_id}.cmd")
}

/// A request to the call's node. Every request names the organization: a node answers only
/// for calls of that organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the call live there?
    Ping { org_id: Uuid },
    Supervise {
        org_id: Uuid,
        by_id: String,
        by_name: String,
        action: String,
        text: Option<String>,
    },
    /// Relay the call's monitor frames to `sb.mon.{session}` and the supervisor audio of
    /// `sb.sup.{session}.in` into the call (see [`monitor`]).
    Listen { org_id: Uuid, session: String },
}

/// The node's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    /// The call is not live on the node any more (or not of that organization).
    NotLive,
    /// The call did not take the command (e.g. `unbarge` when not barged in).
    Refused {
        message: String,
    },
}

impl Request {
    pub fn supervise(org_id: Uuid, by: &Supervisor, command: &SupervisorCommand) -> Request {
        Request::Supervise {
            org_id,
            by_id: by.id.clone(),
            by_name: by.name.clone(),
            action: command.action().to_owned(),
            text: match command {
                SupervisorCommand::Whisper(text) => Some(text.clone()),
                _ => None,
            },
        }
    }

    fn org_id(&self) -> Uuid {
        match self {
            Request::Ping { org_id }
            | Request::Supervise { org_id, .. }
            | Request::Listen { org_id, .. } => *org_id,
        }
    }
}

/// The command an action names (the sender checked it; a node checks again).
pub fn command(action: &str, text: Option<String>) -> Option<SupervisorCommand> {
    Some(match (action, text) {
        ("whisper", Some(text)) => SupervisorCommand::Whisper(text),
        ("barge", None) => SupervisorCommand::Barge,
        ("unbarge", None) => SupervisorCommand::Unbarge,
        ("takeover", None) => SupervisorCommand::Takeover,
        ("release", None) => SupervisorCommand::Release,
        ("hangup", None) => SupervisorCommand::Hangup,
        _ => return None,
    })
}

/// Serves a call's commands until dropped.
pub struct CallServer {
    task: JoinHandle<()>,
}

impl Drop for CallServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The call this node serves commands for.
#[derive(Debug, Clone)]
pub struct ServedCall {
    pub org_id: Uuid,
    pub call_id: Uuid,
    pub call_sid: String,
}

/// Subscribes to the call's subject (flushed: once this returns, other nodes reach it).
pub async fn serve(
    bus: &Bus,
    registry: CallRegistryHandle,
    call: ServedCall,
) -> Result<CallServer, String> {
    let mut requests = bus
        .client
        .subscribe(subject(call.call_id))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(Duration::from_secs(2), bus.client.flush()).await;
    let bus = bus.clone();
    let task = tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let reply = match serde_json::from_slice::<Request>(&message.payload) {
                Ok(request) => answer(&bus, &registry, &call, request).await,
                Err(err) => {
                    tracing::warn!(call_sid = %call.call_sid, %err, "cluster command not understood");
                    Reply::Refused {
                        message: format!("the command is not understood: {err}"),
                    }
                }
            };
            if let Some(to) = message.reply {
                let body = serde_json::to_vec(&reply).expect("a reply serializes");
                if let Err(err) = bus.client.publish(to, body.into()).await {
                    tracing::warn!(call_sid = %call.call_sid, %err, "cluster reply not sent");
                }
            }
        }
    });
    Ok(CallServer { task })
}

async fn answer(
    bus: &Bus,
    registry: &CallRegistryHandle,
    call: &ServedCall,
    request: Request,
) -> Reply {
    if request.org_id() != call.org_id {
        tracing::warn!(call_sid = %call.call_sid, "cluster command for another organization refused");
        return Reply::NotLive;
    }
    let Some(actor) = registry.lookup(&call.call_sid).await else {
        return Reply::NotLive;
    };
    let outcome = match request {
        Request::Ping { .. } => Ok(()),
        Request::Supervise {
            by_id,
            by_name,
            action,
            text,
            ..
        } => match command(&action, text) {
            Some(command) => {
                let by = Supervisor {
                    id: by_id,
                    name: by_name,
                };
                link::ask_local(&actor, by, command).await
            }
            None => Err(LinkError::Refused(format!(
                "`{action}` is not a supervisor action"
            ))),
        },
        Request::Listen { session, .. } => {
            monitor::serve_listener(bus, registry.clone(), actor, &call.call_sid, &session).await
        }
    };
    match outcome {
        Ok(()) => Reply::Ok,
        Err(LinkError::NotLive) => Reply::NotLive,
        Err(LinkError::Refused(message) | LinkError::Unavailable(message)) => {
            Reply::Refused { message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_crosses_the_wire() {
        let by = Supervisor {
            id: "user:1".into(),
            name: "ana@example.com".into(),
        };
        let org = Uuid::now_v7();
        for command in [
            SupervisorCommand::Whisper("offer <b>10%</b>".into()),
            SupervisorCommand::Barge,
            SupervisorCommand::Unbarge,
            SupervisorCommand::Takeover,
            SupervisorCommand::Release,
            SupervisorCommand::Hangup,
        ] {
            let wire = serde_json::to_vec(&Request::supervise(org, &by, &command)).unwrap();
            let Request::Supervise { action, text, .. } = serde_json::from_slice(&wire).unwrap()
            else {
                panic!("not a supervise request");
            };
            assert_eq!(super::command(&action, text), Some(command));
        }
        assert_eq!(super::command("barge", Some("x".into())), None);
        assert_eq!(super::command("explode", None), None);
    }
}
