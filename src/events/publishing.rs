//! [`PublishingBackend`]: the persistence backend that also tells the live event bus what became
//! durable. It wraps any [`PersistenceBackend`] (the [`Store`](crate::store::Store) in the engine):
//! writes go through untouched, and the persistence actor's [`PersistenceBackend::durable`] report —
//! rows in the order they were accepted, each once, never a rejected one — becomes events:
//!
//! - every message: `message.created` (the message as JSON);
//! - a system message whose `metadata.system_event_type` is `call_started`, `call_answered`,
//!   `call_ended`, `barge_in`, `ai_reconnected` or `ai_unavailable`: also the matching `call.*`
//!   event (data: the message's metadata and its id);
//! - a call update with a status: `call.updated`.
//!
//! Rows do not all say which call or organization they belong to: a transcript names its
//! conversation, a call update only its call. Call system messages name both (their metadata
//! carries `call_id`), so a small index learnt from them fills the gaps; it forgets a call at its
//! final status and never holds more than [`CALLS_INDEXED`] calls.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};
use switchboard_actors::persistence::{
    CallUpdate, NewMessage, PersistItem, PersistenceBackend, WriteError,
};
use uuid::Uuid;

use super::{EventBus, EventKind, NewLiveEvent};

/// Calls the index remembers at most (the oldest is forgotten first).
pub const CALLS_INDEXED: usize = 65_536;

/// See the module documentation.
pub struct PublishingBackend<B> {
    inner: B,
    bus: EventBus,
    calls: Mutex<CallIndex>,
}

impl<B: PersistenceBackend> PublishingBackend<B> {
    pub fn new(inner: B, bus: EventBus) -> Self {
        PublishingBackend {
            inner,
            bus,
            calls: Mutex::new(CallIndex::default()),
        }
    }

    /// The events `rows` stand for, in order.
    fn events(&self, rows: &[PersistItem]) -> Vec<NewLiveEvent> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let mut events = Vec::new();
        for row in rows {
            match row {
                PersistItem::Message(message) => message_events(&mut calls, message, &mut events),
                PersistItem::CallUpdate(update) => {
                    if let Some(event) = call_update_event(&mut calls, update) {
                        events.push(event);
                    }
                }
                PersistItem::Event(_)
                | PersistItem::ConversationUpdate(_)
                | PersistItem::Recording(_) => {}
            }
        }
        events
    }
}

impl<B: PersistenceBackend> PersistenceBackend for PublishingBackend<B> {
    async fn write(&self, rows: &[PersistItem]) -> Result<(), WriteError> {
        self.inner.write(rows).await
    }

    fn durable(&self, rows: &[PersistItem]) {
        self.inner.durable(rows);
        let events = self.events(rows);
        self.bus.publish_all(events);
    }
}

fn message_events(calls: &mut CallIndex, message: &NewMessage, events: &mut Vec<NewLiveEvent>) {
    let system_event = message.system_event;
    let named_call = system_event.map(|event| event.call_id);
    if let Some(call_id) = named_call {
        calls.learn(call_id, message.org_id, message.conversation_id);
    }
    let call_id = named_call.or_else(|| calls.call_of(message.conversation_id));
    events.push(
        NewLiveEvent::new(
            EventKind::MessageCreated,
            message.org_id,
            json!({
                "id": message.id,
                "conversation_id": message.conversation_id,
                "message_type": message.message_type,
                "direction": message.direction,
                "sender": message.sender,
                "content": message.content,
                "timestamp": message.timestamp,
                "metadata": message.metadata,
            }),
        )
        .conversation(message.conversation_id)
        .call(call_id)
        .at(message.timestamp),
    );
    if let Some(kind) = system_event.and_then(|event| EventKind::for_system_event(event.kind)) {
        let mut data = message.metadata.clone();
        if let Value::Object(fields) = &mut data {
            fields.insert("message_id".to_owned(), json!(message.id));
        }
        events.push(
            NewLiveEvent::new(kind, message.org_id, data)
                .conversation(message.conversation_id)
                .call(call_id)
                .at(message.timestamp),
        );
    }
}

fn call_update_event(calls: &mut CallIndex, update: &CallUpdate) -> Option<NewLiveEvent> {
    let status = update.status?;
    let Some((org_id, conversation_id)) = calls.scope_of(update.call_id) else {
        // Not a call this process has seen start: its organization is unknown, so nobody may see it.
        tracing::debug!(call_id = %update.call_id, %status, "call update of an unknown call not published");
        return None;
    };
    if status.is_final() {
        calls.forget(update.call_id);
    }
    let mut data = json!({ "call_id": update.call_id, "status": status });
    if let Some(at) = update.answered_at {
        data["answered_at"] = json!(at);
    }
    if let Some(at) = update.ended_at {
        data["ended_at"] = json!(at);
    }
    if let Some(seconds) = update.duration_seconds {
        data["duration_seconds"] = json!(seconds);
    }
    Some(
        NewLiveEvent::new(EventKind::CallUpdated, org_id, data)
            .conversation(conversation_id)
            .call(Some(update.call_id)),
    )
}

/// Which organization and conversation a call belongs to, and a conversation's call.
#[derive(Default)]
struct CallIndex {
    calls: HashMap<Uuid, (Uuid, Uuid)>,
    by_conversation: HashMap<Uuid, Uuid>,
    /// Calls in the order they were learnt (may name calls already forgotten).
    order: VecDeque<Uuid>,
}

impl CallIndex {
    fn learn(&mut self, call_id: Uuid, org_id: Uuid, conversation_id: Uuid) {
        if self
            .calls
            .insert(call_id, (org_id, conversation_id))
            .is_some()
        {
            return;
        }
        self.by_conversation.insert(conversation_id, call_id);
        self.order.push_back(call_id);
        while self.calls.len() > CALLS_INDEXED || self.order.len() > 2 * CALLS_INDEXED {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.forget(oldest);
        }
    }

    fn scope_of(&self, call_id: Uuid) -> Option<(Uuid, Uuid)> {
        self.calls.get(&call_id).copied()
    }

    fn call_of(&self, conversation_id: Uuid) -> Option<Uuid> {
        self.by_conversation.get(&conversation_id).copied()
    }

    fn forget(&mut self, call_id: Uuid) {
        if let Some((_, conversation_id)) = self.calls.remove(&call_id)
            && self.by_conversation.get(&conversation_id) == Some(&call_id)
        {
            self.by_conversation.remove(&conversation_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_actors::domain::{
        CallStatus, MessageDirection, MessageType, SenderType, SystemEvent,
    };
    use switchboard_actors::persistence::{DEFAULT_ORG, Sender};

    fn message(conversation_id: Uuid, message_type: MessageType, metadata: Value) -> NewMessage {
        NewMessage {
            id: Uuid::now_v7(),
            org_id: DEFAULT_ORG,
            conversation_id,
            message_type,
            direction: MessageDirection::Internal,
            sender: Sender {
                identifier: "system".into(),
                name: None,
                sender_type: SenderType::System,
                phone_number: None,
            },
            content: "x".into(),
            timestamp: chrono::Utc::now(),
            system_event: metadata
                .get("system_event_type")
                .and_then(Value::as_str)
                .map(|kind| SystemEvent {
                    kind: kind.parse().unwrap(),
                    call_id: metadata["call_id"].as_str().unwrap().parse().unwrap(),
                }),
            metadata,
        }
    }

    fn events_of(index: &mut CallIndex, rows: &[PersistItem]) -> Vec<NewLiveEvent> {
        let mut out = Vec::new();
        for row in rows {
            match row {
                PersistItem::Message(m) => message_events(index, m, &mut out),
                PersistItem::CallUpdate(u) => out.extend(call_update_event(index, u)),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_calls_rows_become_its_events_with_its_ids() {
        let (call, conversation) = (Uuid::now_v7(), Uuid::now_v7());
        let status = |status| {
            PersistItem::CallUpdate(CallUpdate {
                call_id: call,
                version: 1,
                status: Some(status),
                ..Default::default()
            })
        };
        let system = |kind: &str| {
            PersistItem::Message(message(
                conversation,
                MessageType::System,
                json!({ "system_event_type": kind, "call_id": call, "reason": "r" }),
            ))
        };
        let transcript =
            PersistItem::Message(message(conversation, MessageType::Transcript, json!({})));
        let rows = [
            // Before the call is known: its organization is not, so it is not published.
            status(CallStatus::Ringing),
            system("call_started"),
            status(CallStatus::InProgress),
            transcript.clone(),
            system("dtmf"),
            system("call_ended"),
            status(CallStatus::Completed),
            // After the final status the call is forgotten.
            status(CallStatus::Completed),
            transcript,
        ];
        let mut index = CallIndex::default();
        let events = events_of(&mut index, &rows);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "message.created",
                "call.started",
                "call.updated",
                "message.created",
                "message.created",
                "message.created",
                "call.ended",
                "call.updated",
                "message.created",
            ]
        );
        assert!(events.iter().all(|e| e.org_id == DEFAULT_ORG));
        assert!(
            events
                .iter()
                .all(|e| e.conversation_id == Some(conversation))
        );
        assert!(events[..8].iter().all(|e| e.call_id == Some(call)));
        assert_eq!(events[8].call_id, None, "the call was forgotten");
        assert_eq!(events[2].data["status"], "in-progress");
        assert_eq!(events[6].data["reason"], "r");
        assert_eq!(events[3].data["message_type"], "transcript");
        let PersistItem::Message(started) = &rows[1] else {
            unreachable!()
        };
        assert_eq!(events[0].data["id"], json!(started.id));
        assert_eq!(events[1].data["message_id"], json!(started.id));
        assert!(index.calls.is_empty() && index.by_conversation.is_empty());
    }
}
