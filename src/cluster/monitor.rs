//! Supervisor audio between nodes: a listener on one node hears a call carried by another.
//!
//! Per listening session (a random id): the call's node publishes each monitor frame to
//! `sb.mon.{session}` and an empty message when the call ends; the listener's node publishes the
//! supervisor's audio (320 bytes: 160 samples PCM16 LE, 8 kHz), a keepalive (`k`) every
//! [`KEEPALIVE`], and `bye` when it leaves, to `sb.sup.{session}.in`. The call's node stops
//! relaying on `bye`, when the call ends, or after [`LEASE`] without a keepalive (a listener's
//! node that died). A frame is 656 bytes: when it was sent (µs of the wall clock; the listener
//! keeps the relay's latency from it), its call-clock ms, then the caller's and the agent's 160
//! samples, all little-endian.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::Serialize;
use switchboard_actors::call::{CallMessage, CallRegistryHandle, FRAME_SAMPLES, MonitorFrame};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use utoipa::ToSchema;
use uuid::Uuid;

use super::bus::Bus;
use super::commands::Request;
use super::link::{LinkError, listen_local, request};

/// How often a listener's node says it still listens.
pub const KEEPALIVE: Duration = Duration::from_secs(5);
/// How long the call's node relays without hearing from the listener's node.
pub const LEASE: Duration = Duration::from_secs(20);

/// The size of a frame on the wire.
pub const FRAME_BYTES: usize = 16 + 4 * FRAME_SAMPLES;

fn monitor_subject(session: &str) -> String {
    format!("sb.mon.{session}")
}

fn uplink_subject(session: &str) -> String {
    format!("sb.sup.{session}.in")
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A frame as sent at `sent_us`.
pub fn encode(frame: &MonitorFrame, sent_us: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_BYTES);
    out.extend_from_slice(&sent_us.to_le_bytes());
    out.extend_from_slice(&frame.at_ms.to_le_bytes());
    for sample in frame.caller.iter().chain(frame.agent.iter()) {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// A frame and when it was sent; `None` for anything but [`FRAME_BYTES`] bytes.
pub fn decode(bytes: &[u8]) -> Option<(MonitorFrame, u64)> {
    if bytes.len() != FRAME_BYTES {
        return None;
    }
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let mut frame = MonitorFrame {
        at_ms: u64_at(8),
        caller: [0; FRAME_SAMPLES],
        agent: [0; FRAME_SAMPLES],
    };
    let samples = bytes[16..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]));
    for (slot, sample) in frame
        .caller
        .iter_mut()
        .chain(frame.agent.iter_mut())
        .zip(samples)
    {
        *slot = sample;
    }
    Some((frame, u64_at(0)))
}

/// The relay's latency as this node's listeners measured it (the last 10,000 frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct RelayLatency {
    pub frames: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

struct Samples {
    frames: u64,
    recent: VecDeque<u64>,
}

static LATENCY: Mutex<Samples> = Mutex::new(Samples {
    frames: 0,
    recent: VecDeque::new(),
});

fn record_latency(us: u64) {
    let mut samples = LATENCY.lock().unwrap_or_else(PoisonError::into_inner);
    samples.frames += 1;
    if samples.recent.len() == 10_000 {
        samples.recent.pop_front();
    }
    samples.recent.push_back(us);
}

/// See [`RelayLatency`].
pub fn relay_latency() -> RelayLatency {
    let samples = LATENCY.lock().unwrap_or_else(PoisonError::into_inner);
    let frames = samples.frames;
    let mut sorted: Vec<u64> = samples.recent.iter().copied().collect();
    drop(samples);
    sorted.sort_unstable();
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    RelayLatency {
        frames,
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: sorted.last().copied().unwrap_or(0),
    }
}

/// On the call's node: relays `session`'s frames and audio (see the module documentation).
pub async fn serve_listener(
    bus: &Bus,
    registry: CallRegistryHandle,
    actor: ractor::ActorRef<CallMessage>,
    call_sid: &str,
    session: &str,
) -> Result<(), LinkError> {
    if session.is_empty()
        || session.len() > 64
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(LinkError::Refused("not a session id".into()));
    }
    let frames = listen_local(&actor).await.ok_or(LinkError::NotLive)?;
    let uplink = bus
        .client
        .subscribe(uplink_subject(session))
        .await
        .map_err(|e| LinkError::Unavailable(e.to_string()))?;
    let relay = Relay {
        bus: bus.clone(),
        registry,
        call_sid: call_sid.to_owned(),
        subject: monitor_subject(session),
        actor,
    };
    tokio::spawn(relay.run(frames, uplink));
    Ok(())
}

struct Relay {
    bus: Bus,
    registry: CallRegistryHandle,
    call_sid: String,
    subject: String,
    actor: ractor::ActorRef<CallMessage>,
}

impl Relay {
    async fn run(
        mut self,
        mut frames: tokio::sync::broadcast::Receiver<Arc<MonitorFrame>>,
        mut uplink: async_nats::Subscriber,
    ) {
        let mut heard = Instant::now();
        let mut lease = tokio::time::interval(KEEPALIVE);
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Ok(frame) => {
                        let bytes = encode(&frame, now_us());
                        if self.bus.client.publish(self.subject.clone(), bytes.into()).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        // The call ended, or its actor was restarted: listen again if it lives.
                        let again = match self.registry.lookup(&self.call_sid).await {
                            Some(actor) => {
                                self.actor = actor;
                                listen_local(&self.actor).await
                            }
                            None => None,
                        };
                        match again {
                            Some(next) => frames = next,
                            None => break,
                        }
                    }
                },
                message = uplink.next() => match message {
                    Some(message) => {
                        heard = Instant::now();
                        let payload = &message.payload[..];
                        if payload == b"bye" {
                            let _ = uplink.unsubscribe().await;
                            return;
                        }
                        if payload.len() == 2 * FRAME_SAMPLES {
                            let mut frame = Box::new([0i16; FRAME_SAMPLES]);
                            for (slot, b) in frame.iter_mut().zip(payload.chunks_exact(2)) {
                                *slot = i16::from_le_bytes([b[0], b[1]]);
                            }
                            let _ = self.actor.cast(CallMessage::SupervisorAudio(frame));
                        }
                    }
                    None => break,
                },
                _ = lease.tick() => {
                    if heard.elapsed() > LEASE {
                        tracing::info!(call_sid = %self.call_sid, "remote listener silent: relay stopped");
                        break;
                    }
                }
            }
        }
        // The listener hears that the call ended (or the relay stopped).
        let _ = self
            .bus
            .client
            .publish(self.subject.clone(), bytes::Bytes::new())
            .await;
        let _ = uplink.unsubscribe().await;
    }
}

/// On the listener's node: the frames of a call carried by another node.
pub struct RemoteFrames {
    session: String,
    frames: async_nats::Subscriber,
    keepalive: JoinHandle<()>,
    bus: Bus,
}

impl RemoteFrames {
    pub fn session(&self) -> &str {
        &self.session
    }

    pub async fn recv(&mut self) -> Result<Arc<MonitorFrame>, RecvError> {
        loop {
            let message = self.frames.next().await.ok_or(RecvError::Closed)?;
            if message.payload.is_empty() {
                return Err(RecvError::Closed);
            }
            if let Some((frame, sent_us)) = decode(&message.payload) {
                record_latency(now_us().saturating_sub(sent_us));
                return Ok(Arc::new(frame));
            }
        }
    }
}

impl Drop for RemoteFrames {
    fn drop(&mut self) {
        self.keepalive.abort();
        let bus = self.bus.clone();
        let subject = uplink_subject(&self.session);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = bus
                    .client
                    .publish(subject, bytes::Bytes::from_static(b"bye"))
                    .await;
            });
        }
    }
}

/// Opens a listening session on the call's node.
pub async fn listen_remote(
    bus: &Bus,
    org_id: Uuid,
    call_id: Uuid,
) -> Result<RemoteFrames, LinkError> {
    let session = Uuid::new_v4().simple().to_string();
    let frames = bus
        .client
        .subscribe(monitor_subject(&session))
        .await
        .map_err(|e| LinkError::Unavailable(e.to_string()))?;
    request(
        bus,
        call_id,
        &Request::Listen {
            org_id,
            session: session.clone(),
        },
    )
    .await?;
    let keepalive = {
        let bus = bus.clone();
        let subject = uplink_subject(&session);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(KEEPALIVE);
            loop {
                every.tick().await;
                let _ = bus
                    .client
                    .publish(subject.clone(), bytes::Bytes::from_static(b"k"))
                    .await;
            }
        })
    };
    Ok(RemoteFrames {
        session,
        frames,
        keepalive,
        bus: bus.clone(),
    })
}

/// Sends 20 ms of supervisor audio to the session's call.
pub async fn send_audio(bus: &Bus, session: &str, frame: &[i16; FRAME_SAMPLES]) {
    let mut bytes = Vec::with_capacity(2 * FRAME_SAMPLES);
    for sample in frame {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    let _ = bus
        .client
        .publish(uplink_subject(session), bytes.into())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_crosses_the_wire_unchanged() {
        let mut frame = MonitorFrame {
            at_ms: 123_456,
            caller: [0; FRAME_SAMPLES],
            agent: [0; FRAME_SAMPLES],
        };
        for i in 0..FRAME_SAMPLES {
            frame.caller[i] = (i as i16) * 100 - 8000;
            frame.agent[i] = -(i as i16) * 7;
        }
        let bytes = encode(&frame, 42);
        assert_eq!(bytes.len(), FRAME_BYTES);
        assert_eq!(decode(&bytes), Some((frame, 42)));
        assert_eq!(decode(&bytes[1..]), None);
        assert_eq!(decode(b""), None);
    }
}
