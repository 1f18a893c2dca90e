//! The live event bus: what dashboards follow on `GET /api/v1/events` (calls created, started,
//! answered and ended, every new message, barge-ins, AI reconnects).
//!
//! [`EventBus::publish`] numbers each event (ids from 1, monotonic within a process), keeps the
//! last N in a replay ring and hands it to every subscriber through a bounded
//! `tokio::sync::broadcast` channel. Publishing never waits: it takes a short lock, pushes to the
//! ring and sends on the channel, which overwrites what its slowest receiver has not read yet.
//! [`EventBus::subscribe`] returns a [`Subscription`]: first the ring's events after the client's
//! `Last-Event-ID`, then the live ones, race-free (ring snapshot and channel subscription happen
//! under the lock `publish` holds), filtered to one organization. A subscriber that falls further
//! behind than the channel holds is cut off ([`Delivery::CutOff`]); it reconnects with its last
//! id and resumes from the ring.
//!
//! In a cluster (`cluster.nats_url`), ids are cluster-wide: [`EventBus::route_through`] hands
//! every published event to the cluster's relay instead, which puts it on a JetStream stream; each
//! node's consumer of that stream [`EventBus::deliver`]s every event, the stream sequence as its id,
//! so the ring and the ids are the same on every node and `Last-Event-ID` resumes on any of them.
//!
//! Who publishes: [`PublishingBackend`] (messages, call lifecycle and status changes, once they are
//! durable) and the Twilio voice webhook (`call.created`).

pub mod breakers;
mod publishing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_actors::domain::SystemEventKind;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

pub use publishing::PublishingBackend;

/// What happened; its dotted name is the SSE `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// The voice webhook created a call (and its conversation).
    #[serde(rename = "call.created")]
    CallCreated,
    /// Its media stream started.
    #[serde(rename = "call.started")]
    CallStarted,
    /// The AI agent is on the line.
    #[serde(rename = "call.answered")]
    CallAnswered,
    #[serde(rename = "call.ended")]
    CallEnded,
    /// The caller talked over the agent; its audio was cut.
    #[serde(rename = "call.barge_in")]
    CallBargeIn,
    /// The AI session was reopened and the conversation replayed.
    #[serde(rename = "call.ai_reconnected")]
    CallAiReconnected,
    /// The AI session could not be reopened; the call is being hung up.
    #[serde(rename = "call.ai_unavailable")]
    CallAiUnavailable,
    /// A supervisor whispered, barged in, took over, released or hung up.
    #[serde(rename = "call.supervisor_action")]
    CallSupervisorAction,
    /// The call's status changed.
    #[serde(rename = "call.updated")]
    CallUpdated,
    /// The agent ran a tool (name, masked arguments, status, latency, result size).
    #[serde(rename = "call.tool_called")]
    CallToolCalled,
    /// The agent transferred the caller to a person.
    #[serde(rename = "call.transferred")]
    CallTransferred,
    /// The caller chose in an IVR menu.
    #[serde(rename = "call.ivr_choice")]
    CallIvrChoice,
    /// The call came while its line was closed.
    #[serde(rename = "call.after_hours")]
    CallAfterHours,
    /// The caller left a voicemail.
    #[serde(rename = "call.voicemail")]
    CallVoicemail,
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.updated")]
    MessageUpdated,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    /// A conversation's post-call analysis was written (summary, scores, outcome, fields).
    #[serde(rename = "conversation.analyzed")]
    ConversationAnalyzed,
    /// An AI service's circuit breaker opened: new work stops going to it.
    #[serde(rename = "ai.breaker_opened")]
    AiBreakerOpened,
    /// It closed again (a probe succeeded).
    #[serde(rename = "ai.breaker_closed")]
    AiBreakerClosed,
    /// The organization reached its monthly cap of AI minutes: new calls get the fallback.
    #[serde(rename = "usage.cap_reached")]
    UsageCapReached,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [EventKind] = &[
        EventKind::CallCreated,
        EventKind::CallStarted,
        EventKind::CallAnswered,
        EventKind::CallEnded,
        EventKind::CallBargeIn,
        EventKind::CallAiReconnected,
        EventKind::CallAiUnavailable,
        EventKind::CallSupervisorAction,
        EventKind::CallUpdated,
        EventKind::CallToolCalled,
        EventKind::CallTransferred,
        EventKind::CallIvrChoice,
        EventKind::CallAfterHours,
        EventKind::CallVoicemail,
        EventKind::MessageCreated,
        EventKind::MessageUpdated,
        EventKind::MessageDeleted,
        EventKind::ConversationAnalyzed,
        EventKind::AiBreakerOpened,
        EventKind::AiBreakerClosed,
        EventKind::UsageCapReached,
    ];

    /// The dotted name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::CallCreated => "call.created",
            EventKind::CallStarted => "call.started",
            EventKind::CallAnswered => "call.answered",
            EventKind::CallEnded => "call.ended",
            EventKind::CallBargeIn => "call.barge_in",
            EventKind::CallAiReconnected => "call.ai_reconnected",
            EventKind::CallAiUnavailable => "call.ai_unavailable",
            EventKind::CallSupervisorAction => "call.supervisor_action",
            EventKind::CallUpdated => "call.updated",
            EventKind::CallToolCalled => "call.tool_called",
            EventKind::CallTransferred => "call.transferred",
            EventKind::CallIvrChoice => "call.ivr_choice",
            EventKind::CallAfterHours => "call.after_hours",
            EventKind::CallVoicemail => "call.voicemail",
            EventKind::MessageCreated => "message.created",
            EventKind::MessageUpdated => "message.updated",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ConversationAnalyzed => "conversation.analyzed",
            EventKind::AiBreakerOpened => "ai.breaker_opened",
            EventKind::AiBreakerClosed => "ai.breaker_closed",
            EventKind::UsageCapReached => "usage.cap_reached",
        }
    }

    /// The call event a call's system event is published as, if any (a key press is only its
    /// message).
    pub fn for_system_event(kind: SystemEventKind) -> Option<EventKind> {
        Some(match kind {
            SystemEventKind::CallStarted => EventKind::CallStarted,
            SystemEventKind::CallAnswered => EventKind::CallAnswered,
            SystemEventKind::CallEnded => EventKind::CallEnded,
            SystemEventKind::BargeIn => EventKind::CallBargeIn,
            SystemEventKind::AiReconnected => EventKind::CallAiReconnected,
            SystemEventKind::AiUnavailable => EventKind::CallAiUnavailable,
            SystemEventKind::SupervisorAction => EventKind::CallSupervisorAction,
            SystemEventKind::ToolCalled => EventKind::CallToolCalled,
            SystemEventKind::Transferred => EventKind::CallTransferred,
            SystemEventKind::IvrChoice => EventKind::CallIvrChoice,
            SystemEventKind::AfterHours => EventKind::CallAfterHours,
            SystemEventKind::Voicemail => EventKind::CallVoicemail,
            SystemEventKind::Dtmf => return None,
        })
    }
}

/// One published event: the SSE `data:` JSON (its `id` and `kind` are also the SSE `id:` and
/// `event:` fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// From 1, one more for each event published by this process.
    pub id: u64,
    pub kind: EventKind,
    /// Only this organization's subscribers see the event.
    pub org_id: Uuid,
    pub conversation_id: Option<Uuid>,
    pub call_id: Option<Uuid>,
    /// When it happened (for messages: the message's timestamp).
    pub at: DateTime<Utc>,
    /// Kind-specific details (a `message.created` carries the message).
    pub data: serde_json::Value,
}

/// An event to publish: a [`LiveEvent`] before the bus gives it its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLiveEvent {
    pub kind: EventKind,
    pub org_id: Uuid,
    pub conversation_id: Option<Uuid>,
    pub call_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl NewLiveEvent {
    /// An event of `org_id` happening now, about no particular conversation or call yet.
    pub fn new(kind: EventKind, org_id: Uuid, data: serde_json::Value) -> Self {
        NewLiveEvent {
            kind,
            org_id,
            conversation_id: None,
            call_id: None,
            at: Utc::now(),
            data,
        }
    }

    pub fn conversation(mut self, conversation_id: Uuid) -> Self {
        self.conversation_id = Some(conversation_id);
        self
    }

    pub fn call(mut self, call_id: Option<Uuid>) -> Self {
        self.call_id = call_id;
        self
    }

    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The event as published with `id`.
    pub fn numbered(self, id: u64) -> LiveEvent {
        LiveEvent {
            id,
            kind: self.kind,
            org_id: self.org_id,
            conversation_id: self.conversation_id,
            call_id: self.call_id,
            at: self.at,
            data: self.data,
        }
    }
}

impl From<LiveEvent> for NewLiveEvent {
    /// The event without its id (to be numbered again, e.g. by the cluster's stream).
    fn from(event: LiveEvent) -> Self {
        NewLiveEvent {
            kind: event.kind,
            org_id: event.org_id,
            conversation_id: event.conversation_id,
            call_id: event.call_id,
            at: event.at,
            data: event.data,
        }
    }
}

/// The replay ring's size when not configured (`http.sse_replay_events`' default).
pub const DEFAULT_REPLAY_EVENTS: usize = 4096;

/// The most events a subscriber may be behind before it is cut off (the broadcast channel's
/// size), unless the replay ring is smaller.
pub const LIVE_BUFFER_MAX: usize = 1024;

/// The bus; clones share it. See the module documentation.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<LiveEvent>>,
    /// In a cluster: where published events go to be numbered (see the module documentation).
    outbox: OnceLock<Outbox>,
}

/// The cluster's relay, as the bus hands it events: never waits (a full relay drops the event,
/// counted and logged by whoever owns the relay).
pub type Outbox = Arc<dyn Fn(NewLiveEvent) + Send + Sync>;

struct Ring {
    /// The id the next event gets.
    next_id: u64,
    events: VecDeque<Arc<LiveEvent>>,
    capacity: usize,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.ring();
        f.debug_struct("EventBus")
            .field("last_id", &(ring.next_id - 1))
            .field("replay_capacity", &ring.capacity)
            .field("subscribers", &self.inner.live.receiver_count())
            .finish()
    }
}

impl EventBus {
    /// A bus replaying the last `replay` events (at least 1); subscribers may fall up to
    /// `min(replay, LIVE_BUFFER_MAX)` events behind.
    pub fn new(replay: usize) -> Self {
        Self::with_live_buffer(replay, replay.min(LIVE_BUFFER_MAX))
    }

    /// A bus replaying the last `replay` events whose subscribers are cut off once more than
    /// `live_buffer` events behind (both at least 1).
    pub fn with_live_buffer(replay: usize, live_buffer: usize) -> Self {
        let capacity = replay.max(1);
        let (live, _) = broadcast::channel(live_buffer.max(1));
        EventBus {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    next_id: 1,
                    events: VecDeque::with_capacity(capacity),
                    capacity,
                }),
                live,
                outbox: OnceLock::new(),
            }),
        }
    }

    /// From now on, published events go to `outbox` and come back numbered through
    /// [`EventBus::deliver`]. Set once; `false` if it was already set.
    pub fn route_through(&self, outbox: Outbox) -> bool {
        self.inner.outbox.set(outbox).is_ok()
    }

    /// An event numbered by the cluster (its stream sequence): kept and handed to subscribers
    /// like a published one. Ids must grow; one at or below the last is a repeat and is dropped
    /// (`false`).
    pub fn deliver(&self, id: u64, event: NewLiveEvent) -> bool {
        let mut ring = self.ring();
        if id < ring.next_id {
            return false;
        }
        ring.next_id = id;
        self.push(&mut ring, event);
        true
    }

    /// Nothing is left half-done while the lock is held (push, then send), so a poisoned lock
    /// is used as is.
    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes one event and returns its id (0 in a cluster, where the relay numbers it).
    /// Never waits for subscribers.
    pub fn publish(&self, event: NewLiveEvent) -> u64 {
        if let Some(outbox) = self.inner.outbox.get() {
            outbox(event);
            return 0;
        }
        let mut ring = self.ring();
        self.push(&mut ring, event)
    }

    /// Publishes events with consecutive ids, in order, under one lock; returns the last id (0
    /// when there was nothing to publish, or in a cluster).
    pub fn publish_all(&self, events: impl IntoIterator<Item = NewLiveEvent>) -> u64 {
        let mut events = events.into_iter().peekable();
        if events.peek().is_none() {
            return 0;
        }
        if let Some(outbox) = self.inner.outbox.get() {
            events.for_each(|event| outbox(event));
            return 0;
        }
        let mut ring = self.ring();
        let mut last = 0;
        for event in events {
            last = self.push(&mut ring, event);
        }
        last
    }

    fn push(&self, ring: &mut Ring, event: NewLiveEvent) -> u64 {
        let id = ring.next_id;
        ring.next_id += 1;
        let event = Arc::new(event.numbered(id));
        if ring.events.len() == ring.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // Fails only when nobody listens, which is fine.
        let _ = self.inner.live.send(event);
        id
    }

    /// Follows `org_id`'s events: those after `last_event_id` still in the ring, then every new
    /// one. Without `last_event_id`, only new ones.
    pub fn subscribe(&self, org_id: Uuid, last_event_id: Option<u64>) -> Subscription {
        let ring = self.ring();
        let live = self.inner.live.subscribe();
        let mut gap = None;
        let mut replay = VecDeque::new();
        if let Some(after) = last_event_id {
            let first = ring.events.front().map_or(ring.next_id, |e| e.id);
            let (from, reason) = if after >= ring.next_id {
                (first, Some(GapReason::UnknownId))
            } else if after + 1 < first {
                (first, Some(GapReason::Expired))
            } else {
                (after + 1, None)
            };
            gap = reason.map(|reason| Gap {
                after,
                resumed_at: first,
                reason,
            });
            let skip = ring.events.partition_point(|e| e.id < from);
            replay.extend(
                ring.events
                    .iter()
                    .skip(skip)
                    .filter(|e| e.org_id == org_id)
                    .cloned(),
            );
        }
        drop(ring);
        Subscription {
            org_id,
            gap,
            replay,
            live,
            ended: false,
        }
    }

    /// The id of the last event published (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.ring().next_id - 1
    }

    /// Subscriptions alive now.
    pub fn subscribers(&self) -> usize {
        self.inner.live.receiver_count()
    }
}

/// Why a resumed subscription could not continue exactly where the client left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The events after the client's id have left the replay ring.
    Expired,
    /// The id was never issued by this process (e.g. it is from before a restart): everything
    /// the ring holds follows.
    UnknownId,
}

/// Events were missed between the client's `Last-Event-ID` and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The id the client asked to resume after.
    pub after: u64,
    /// The id delivery resumes at (the ring's oldest; the next id when the ring is empty).
    pub resumed_at: u64,
    pub reason: GapReason,
}

/// What a subscription delivers next.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Arc<LiveEvent>),
    /// First, and only when resuming could not be exact.
    Gap(Gap),
    /// Last: the subscriber fell more than the live buffer behind (`missed` events overwritten)
    /// and is cut off.
    CutOff {
        missed: u64,
    },
}

/// One subscriber's view of the bus; see [`EventBus::subscribe`].
pub struct Subscription {
    org_id: Uuid,
    gap: Option<Gap>,
    replay: VecDeque<Arc<LiveEvent>>,
    live: broadcast::Receiver<Arc<LiveEvent>>,
    ended: bool,
}

impl Subscription {
    /// The next delivery; `None` once cut off or when the bus is gone. Cancel-safe.
    pub async fn next(&mut self) -> Option<Delivery> {
        if self.ended {
            return None;
        }
        if let Some(gap) = self.gap.take() {
            return Some(Delivery::Gap(gap));
        }
        if let Some(event) = self.replay.pop_front() {
            return Some(Delivery::Event(event));
        }
        loop {
            match self.live.recv().await {
                Ok(event) if event.org_id == self.org_id => return Some(Delivery::Event(event)),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    self.ended = true;
                    return Some(Delivery::CutOff { missed });
                }
                Err(RecvError::Closed) => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }
}
