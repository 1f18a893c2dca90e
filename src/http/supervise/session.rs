//! One supervisor's socket on one live call: the frames it hears, the call's events it is told,
//! the actions and audio it sends, until the call ends, the supervisor leaves or the server stops.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchboard_actors::audio::{MonitorEncoder, SupervisorInput};
use switchboard_actors::call::{MonitorFrame, Supervisor};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;
use warp::ws::{Message, WebSocket};

use super::{ActionBody, SessionFormat, ask, command};
use crate::auth::Principal;
use crate::cluster::link::{CallLink, Frames};
use crate::events::Delivery;
use crate::http::deps::{Calls, Events};
use crate::http::error::ApiError;
use crate::http::metrics::HttpMetrics;
use crate::store::history::CallRef;

/// One supervisor's socket on one call.
pub(super) struct Session {
    pub calls: Calls,
    pub events: Events,
    pub metrics: Arc<HttpMetrics>,
    pub principal: Principal,
    pub call: CallRef,
    pub link: CallLink,
    pub by: Supervisor,
    pub format: SessionFormat,
    pub encoder: MonitorEncoder,
    pub input: SupervisorInput,
}

/// Whether `event` is of the call (id, conversation id).
fn is_ours((call_id, conversation_id): (Uuid, Uuid), event: &crate::events::LiveEvent) -> bool {
    event.call_id == Some(call_id) || event.conversation_id == Some(conversation_id)
}

/// Why a session ends.
enum End {
    CallEnded,
    Closed,
    ShuttingDown,
}

impl Session {
    pub async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let present = self
            .calls
            .supervisors
            .join(&self.call.call_sid, self.by.clone());
        let mut events = self.events.bus.subscribe(self.principal.org_id, None);
        let mut last_event = self.events.bus.last_id();
        let mut dropped: u64 = 0;
        let mut ignored_audio: u64 = 0;
        let shutdown = self.events.sse.shutdown.clone();
        let mut monitor = self.listen().await;
        let ready = json!({
            "type": "ready",
            "call_id": self.call.id,
            "call_sid": self.call.call_sid,
            "session": present.session(),
            "audio": self.format.describe_output(),
            "input": self.format.describe_input(),
        });
        let end = if sink.send(Message::text(ready.to_string())).await.is_err() {
            End::Closed
        } else {
            loop {
                let Some(frames) = monitor.as_mut() else {
                    break End::CallEnded;
                };
                tokio::select! {
                    () = shutdown.cancelled() => break End::ShuttingDown,
                    frame = frames.recv() => match frame {
                        Ok(frame) => {
                            if !self.send_audio(&mut sink, &frame).await {
                                break End::Closed;
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            dropped += n;
                            self.metrics.supervisor_frames_dropped(n);
                        }
                        // The call ended, or its actor was restarted: listen again if it lives.
                        Err(RecvError::Closed) => monitor = self.listen().await,
                    },
                    delivery = events.next() => match delivery {
                        Some(Delivery::Event(event)) => {
                            last_event = event.id;
                            if is_ours((self.call.id, self.call.conversation_id), &event) {
                                let text = json!({ "type": "event", "event": event.kind.as_str(), "data": &*event });
                                if sink.send(Message::text(text.to_string())).await.is_err() {
                                    break End::Closed;
                                }
                            }
                        }
                        Some(Delivery::Gap(_)) => {}
                        // Behind the bus: resume from the replay buffer.
                        Some(Delivery::CutOff { .. }) | None => {
                            events = self.events.bus.subscribe(self.principal.org_id, Some(last_event));
                        }
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(message)) if message.is_text() => {
                            let reply = self.on_text(message.to_str().unwrap_or_default()).await;
                            if sink.send(Message::text(reply.to_string())).await.is_err() {
                                break End::Closed;
                            }
                        }
                        Some(Ok(message)) if message.is_binary() => {
                            if !self.on_audio(message.as_bytes()).await {
                                ignored_audio += 1;
                            }
                        }
                        Some(Ok(message)) if message.is_close() => break End::Closed,
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break End::Closed,
                    },
                }
            }
        };
        if matches!(end, End::CallEnded) {
            // The call's last events (its end among them) are published once durable, which
            // may be just after its actor stopped: pass them on before saying goodbye.
            let call = (self.call.id, self.call.conversation_id);
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(Delivery::Event(event)) = events.next().await {
                    if is_ours(call, &event) {
                        let text = json!({ "type": "event", "event": event.kind.as_str(), "data": &*event });
                        if sink.send(Message::text(text.to_string())).await.is_err() {
                            break;
                        }
                        if event.kind == crate::events::EventKind::CallEnded {
                            break;
                        }
                    }
                }
            })
            .await;
        }
        if !matches!(end, End::Closed) {
            let reason = match end {
                End::ShuttingDown => "server shutting down",
                _ => "call ended",
            };
            let bye = json!({ "type": "ended", "reason": reason, "frames_dropped": dropped });
            let _ = sink.send(Message::text(bye.to_string())).await;
            let _ = sink.send(Message::close()).await;
        }
        let _ = sink.close().await;
        tracing::info!(call_sid = %self.call.call_sid, supervisor = %self.by.name, frames_dropped = dropped, ignored_audio, "supervisor session ended");
        drop(present);
    }

    /// Subscribes to the call's frames (`None` once the call is live nowhere).
    async fn listen(&mut self) -> Option<Frames> {
        self.link.listen().await
    }

    async fn send_audio(
        &mut self,
        sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
        frame: &MonitorFrame,
    ) -> bool {
        match self.encoder.encode(&frame.caller, &frame.agent) {
            Ok(bytes) => sink.send(Message::binary(bytes.to_vec())).await.is_ok(),
            Err(err) => {
                tracing::warn!(call_sid = %self.call.call_sid, %err, "monitor frame not encoded");
                true
            }
        }
    }

    /// An action from the socket; the answer to send back.
    async fn on_text(&mut self, text: &str) -> serde_json::Value {
        let body = serde_json::from_str::<ActionBody>(text)
            .map_err(|e| ApiError::BadRequest(format!("message: {e}")));
        let action = body
            .as_ref()
            .ok()
            .and_then(|b| b.action.clone())
            .unwrap_or_default();
        let outcome = async {
            let body = body?;
            let action = body
                .action
                .ok_or_else(|| ApiError::BadRequest("message field `action` is missing".into()))?;
            let command = command(&action, body.text)?;
            ask(&self.link, self.by.clone(), command, &self.call.call_sid).await
        }
        .await;
        match outcome {
            Ok(()) => json!({ "type": "ack", "action": action }),
            Err(err) => {
                tracing::info!(call_sid = %self.call.call_sid, %err, "supervisor action refused");
                json!({ "type": "error", "action": action,
                        "error": { "code": err.code(), "message": err.to_string() } })
            }
        }
    }

    /// Supervisor audio: decoded to 8 kHz and handed to the call 20 ms at a time (the call drops
    /// it unless barged in or taken over). `false` when the packet could not be decoded.
    async fn on_audio(&mut self, packet: &[u8]) -> bool {
        if let Err(err) = self.input.push(packet) {
            tracing::debug!(call_sid = %self.call.call_sid, %err, "supervisor audio not decoded");
            return false;
        }
        let mut frame = [0i16; 160];
        while self.input.pop_frame(&mut frame) {
            self.link.audio(Box::new(frame)).await;
        }
        true
    }
}
