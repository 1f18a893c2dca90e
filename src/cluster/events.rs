//! Live events across the cluster: every node publishes its events onto the JetStream stream
//! `SB_EVENTS` (subject `sb.events.{org_id}`) and reads the whole stream back into its event bus,
//! the stream sequence as each event's id (see the module documentation of `crate::events`).
//!
//! Publishing never waits on the caller's path: the bus hands events to a bounded queue; one task
//! publishes them in order, each with a `Nats-Msg-Id`, awaiting each acknowledgement before the
//! next (so a call's events keep their order in the stream), and retries an unacknowledged one
//! with the same id (the stream drops the duplicate if the first attempt did land). While NATS is
//! away the queue holds up to [`QUEUE`] events; beyond that new events are dropped and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::bus::{Bus, BusError};
use crate::events::{EventBus, LiveEvent, NewLiveEvent};

/// The stream's name and subjects.
pub const STREAM: &str = "SB_EVENTS";
const SUBJECTS: &str = "sb.events.>";

/// Events kept in the stream (a day, at most a million): far more than any replay ring.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const MAX_MESSAGES: i64 = 1_000_000;

/// Events waiting for NATS before new ones are dropped.
pub const QUEUE: usize = 65_536;

/// Events dropped because the queue was full (NATS away too long).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The relay's tasks; aborted on drop.
pub struct EventRelay {
    publisher: JoinHandle<()>,
    consumer: JoinHandle<()>,
    queue: mpsc::Sender<NewLiveEvent>,
}

impl EventRelay {
    /// Waits (up to `limit`) until every queued event was handed to NATS.
    pub async fn settle(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            while self.queue.capacity() < self.queue.max_capacity() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

impl Drop for EventRelay {
    fn drop(&mut self) {
        self.publisher.abort();
        self.consumer.abort();
    }
}

/// The wire form of an event: a [`LiveEvent`] whose id the stream gives.
fn encode(event: NewLiveEvent) -> Vec<u8> {
    serde_json::to_vec(&event.numbered(0)).expect("an event serializes")
}

fn decode(payload: &[u8]) -> Option<NewLiveEvent> {
    serde_json::from_slice::<LiveEvent>(payload)
        .ok()
        .map(NewLiveEvent::from)
}

/// Makes sure the stream exists, routes `bus`'s events through it and feeds every node's events
/// back in, starting with the last `replay` of the stream (so every node's ring holds the same
/// recent events).
pub async fn start(bus: &Bus, events: &EventBus, replay: u64) -> Result<EventRelay, BusError> {
    let stream = bus
        .jetstream
        .get_or_create_stream(StreamConfig {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            max_age: MAX_AGE,
            max_messages: MAX_MESSAGES,
            storage: StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::JetStream(e.to_string()))?;
    let last = stream
        .get_info()
        .await
        .map_err(|e| BusError::JetStream(e.to_string()))?
        .state
        .last_sequence;
    let first = last.saturating_sub(replay) + 1;

    let (tx, rx) = mpsc::channel::<NewLiveEvent>(QUEUE);
    let queue = tx.clone();
    let outbox: crate::events::Outbox = Arc::new(move |event| {
        if tx.try_send(event).is_err() {
            let dropped = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::error!(dropped, "live events dropped: NATS has been away too long");
            }
        }
    });
    events.route_through(outbox);
    let publisher = tokio::spawn(publish(bus.clone(), rx));
    let consumer = tokio::spawn(consume(stream, events.clone(), first));
    Ok(EventRelay {
        publisher,
        consumer,
        queue,
    })
}

/// Publishes queued events in order, each acknowledged before the next.
async fn publish(bus: Bus, mut rx: mpsc::Receiver<NewLiveEvent>) {
    while let Some(event) = rx.recv().await {
        let subject = format!("sb.events.{}", event.org_id);
        let id = Uuid::now_v7().to_string();
        let payload = bytes::Bytes::from(encode(event));
        let mut backoff = Duration::from_millis(50);
        loop {
            let message = PublishMessage::build()
                .payload(payload.clone())
                .message_id(&id);
            let acked = match bus.jetstream.send_publish(subject.clone(), message).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match acked {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(%err, "live event not acknowledged by JetStream: retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Reads the stream from `first` on into the bus; the ordered consumer recreates itself after a
/// reconnect and resumes after the last sequence it delivered.
async fn consume(stream: async_nats::jetstream::stream::Stream, events: EventBus, first: u64) {
    let mut next = first;
    loop {
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: SUBJECTS.to_owned(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: next,
                },
                ..Default::default()
            })
            .await;
        let messages = match consumer {
            Ok(consumer) => consumer.messages().await,
            Err(err) => {
                tracing::warn!(%err, "cannot follow the events stream: retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut messages = match messages {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(%err, "cannot follow the events stream: retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(%err, "events stream interrupted");
                    break;
                }
            };
            let Ok(info) = message.info() else { continue };
            let seq = info.stream_sequence;
            next = seq + 1;
            match decode(&message.payload) {
                Some(event) => {
                    events.deliver(seq, event);
                }
                None => tracing::warn!(seq, "event on the stream not understood: skipped"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    #[test]
    fn an_event_crosses_the_wire_unchanged() {
        let event = NewLiveEvent::new(
            EventKind::CallStarted,
            Uuid::now_v7(),
            serde_json::json!({"text": "<b>hi</b>"}),
        )
        .conversation(Uuid::now_v7())
        .call(Some(Uuid::now_v7()));
        assert_eq!(decode(&encode(event.clone())), Some(event));
        assert_eq!(decode(b"{not json"), None);
    }
}
