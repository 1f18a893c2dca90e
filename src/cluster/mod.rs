//! The cluster: several engines behaving as one to Twilio, supervisors and dashboards.
//!
//! State is in PostgreSQL, messages between nodes go over NATS (PROTOCOLS.md §K):
//!
//! - **Nodes** ([`heartbeat`]): every node, clustered or not, writes a heartbeat with its load to
//!   `cluster_nodes` every `cluster.heartbeat_s`; a call's row names the node whose socket carries
//!   it (`calls.node`) and its lease is that node's heartbeat. Each node sweeps: a node silent for
//!   `cluster.node_lost_s` is marked lost (one `UPDATE`, so one sweeper wins) and its live calls
//!   are ended (`call_ended`, reason `node_lost`) with the same rows a call's own end writes,
//!   through the persistence actor, so events are published and analysis jobs queued as usual.
//!   A node that starts again ends what it left live and repairs their WAV files ([`wav_repair`]).
//! - **Admission** ([`admission`]): a node takes a call while its live calls plus the calls it
//!   has answered but not yet seen stream stay below `cluster.max_calls` and its runtime is not
//!   late (`cluster.max_loop_lag_ms`); otherwise the voice webhook points the stream at the least
//!   loaded node with room, or answers with the fallback. A draining node takes nothing.
//! - **Commands** ([`commands`], [`link`]): the owner node answers requests on
//!   `sb.call.{call_id}.cmd` for as long as the call's socket is open; any node sends supervisor
//!   actions there. NATS's "no responders" means the call is live nowhere (409).
//! - **Supervisor audio** ([`monitor`]): relayed over NATS subjects per listening session:
//!   `sb.mon.{session}` carries monitor frames to the listener's node, `sb.sup.{session}.in` the
//!   supervisor's audio (and keepalives) back. NATS rather than a socket of our own: the nodes
//!   already hold one authenticated connection each, subjects need no addressing or reconnect
//!   logic, and a 648-byte frame crosses loopback in well under the 5 ms budget.
//! - **Live events** ([`events`]): published onto the JetStream stream `SB_EVENTS`; every node
//!   reads the whole stream (an ordered consumer) into its event bus with the stream sequence as
//!   the event id, so ids are cluster-wide and `Last-Event-ID` resumes on any node. JetStream
//!   rather than PostgreSQL ids: the stream is the fan-out and the numbering at once, in publish
//!   order, without a write per event on the database the calls need.

pub mod admission;
pub mod bus;
pub mod commands;
pub mod events;
pub mod heartbeat;
pub mod link;
pub mod monitor;
pub mod orphans;
pub mod wav_repair;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use url::Url;
use uuid::Uuid;

use crate::config::Config;
use crate::store::cluster::NodeReport;
use switchboard_actors::call::CallRegistryHandle;

pub use admission::{Admission, Full, Load};
pub use bus::{Bus, BusError};

/// How long a call answered by the voice webhook counts against this node before its stream
/// starts (Twilio opens it within a second or two; a call that never streams stops counting).
const RESERVATION: Duration = Duration::from_secs(20);

/// This node: its name, capacity and load, whether it drains, and (in a cluster) its bus.
pub struct Node {
    pub id: String,
    pub url: Url,
    pub started_at: DateTime<Utc>,
    pub max_calls: u32,
    pub max_loop_lag_ms: u64,
    /// A node heard from within this long may be given calls.
    pub fresh_s: u64,
    pub drain_timeout: Duration,
    pub registry: CallRegistryHandle,
    pub bus: Option<Bus>,
    draining: AtomicBool,
    drain_requested: Notify,
    loop_lag_ms: AtomicU32,
    /// Calls answered here whose stream has not started yet, and when.
    reserved: Mutex<HashMap<Uuid, Instant>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("max_calls", &self.max_calls)
            .field("clustered", &self.bus.is_some())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

/// This node's name: `cluster.node_id`, else `HOST-PORT` (stable across restarts of one node,
/// distinct for nodes side by side on one host).
pub fn node_name(config: &Config, port: u16) -> String {
    if let Some(id) = &config.cluster.node_id {
        return id.clone();
    }
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let host = if host.is_empty() {
        "node".to_owned()
    } else {
        host
    };
    format!("{host}-{port}")
}

impl Node {
    pub fn new(
        config: &Config,
        id: String,
        registry: CallRegistryHandle,
        bus: Option<Bus>,
    ) -> Node {
        Node {
            id,
            url: config.http.public_url.clone(),
            started_at: Utc::now(),
            max_calls: config.cluster.max_calls,
            max_loop_lag_ms: config.cluster.max_loop_lag_ms,
            fresh_s: config.cluster.node_lost_s,
            drain_timeout: Duration::from_secs(config.cluster.drain_timeout_s),
            registry,
            bus,
            draining: AtomicBool::new(false),
            drain_requested: Notify::new(),
            loop_lag_ms: AtomicU32::new(0),
            reserved: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Stops taking calls and wakes whoever waits in [`Node::drain_requested`] (the server's
    /// shutdown). Calls already live go on.
    pub fn drain(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            tracing::info!(node = %self.id, "draining: no new calls");
        }
        self.drain_requested.notify_waiters();
        self.drain_requested.notify_one();
    }

    /// Resolves once [`Node::drain`] was called.
    pub async fn drain_requested(&self) {
        if self.is_draining() {
            return;
        }
        self.drain_requested.notified().await;
    }

    /// Waits until no call is live here or `drain_timeout` passed; the calls still live.
    pub async fn drained(&self) -> usize {
        let deadline = Instant::now() + self.drain_timeout;
        loop {
            let live = self.registry.live_calls();
            if live == 0 || Instant::now() >= deadline {
                return live;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The runtime's recent lateness on its timers (the load signal).
    pub fn loop_lag_ms(&self) -> u32 {
        self.loop_lag_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn set_loop_lag_ms(&self, ms: u32) {
        self.loop_lag_ms.store(ms, Ordering::Relaxed);
    }

    fn reserved(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Instant>> {
        self.reserved.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This node's load now.
    pub fn load(&self) -> Load {
        let now = Instant::now();
        let mut reserved = self.reserved();
        reserved.retain(|_, at| now.duration_since(*at) < RESERVATION);
        Load {
            live_calls: self.registry.live_calls() as u32,
            reserved_calls: reserved.len() as u32,
            max_calls: self.max_calls,
            loop_lag_ms: u64::from(self.loop_lag_ms()),
            max_loop_lag_ms: self.max_loop_lag_ms,
            draining: self.is_draining(),
        }
    }

    /// Whether this node takes `call_id` now; if so, it counts against its capacity until its
    /// stream starts ([`Node::streaming`]).
    pub fn reserve(&self, call_id: Uuid) -> Result<(), Full> {
        let load = self.load();
        let mut reserved = self.reserved();
        if reserved.contains_key(&call_id) {
            return Ok(());
        }
        load.room()?;
        reserved.insert(call_id, Instant::now());
        Ok(())
    }

    /// The call's stream started here: it counts as live now.
    pub fn streaming(&self, call_id: Uuid) {
        self.reserved().remove(&call_id);
    }

    /// The call's stream started on this node: its row names the node and, in a cluster, the
    /// node serves its commands (for as long as the returned server lives).
    pub async fn call_started(
        &self,
        store: &crate::store::Store,
        call: commands::ServedCall,
    ) -> Option<commands::CallServer> {
        self.streaming(call.call_id);
        if let Err(err) = store.set_call_node(call.call_id, &self.id).await {
            tracing::error!(%err, call_sid = %call.call_sid, "cannot record the call's node");
        }
        let bus = self.bus.as_ref()?;
        let call_sid = call.call_sid.clone();
        match commands::serve(bus, self.registry.clone(), call).await {
            Ok(server) => Some(server),
            Err(err) => {
                tracing::error!(%err, %call_sid, "other nodes cannot reach this call");
                None
            }
        }
    }

    /// What the heartbeat reports.
    pub fn report(&self) -> NodeReport {
        let load = self.load();
        NodeReport {
            id: self.id.clone(),
            url: self.url.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at,
            max_calls: self.max_calls,
            live_calls: load.live_calls + load.reserved_calls,
            loop_lag_ms: self.loop_lag_ms(),
            draining: self.is_draining(),
        }
    }
}

/// Shared handle.
pub type NodeHandle = Arc<Node>;

/// The subject a node takes drain requests on.
fn drain_subject(node: &str) -> String {
    format!("sb.node.{node}.drain")
}

/// Asks node `id` to drain.
pub async fn request_drain(bus: &Bus, id: &str) -> Result<(), link::LinkError> {
    use async_nats::RequestErrorKind;
    bus.client
        .request(drain_subject(id), bytes::Bytes::new())
        .await
        .map(|_| ())
        .map_err(|e| match e.kind() {
            RequestErrorKind::NoResponders => link::LinkError::NotLive,
            _ => link::LinkError::Unavailable(format!("the cluster bus is unavailable: {e}")),
        })
}

/// Answers drain requests for `node` until aborted.
pub async fn serve_drain(node: Arc<Node>) {
    use futures_util::StreamExt;
    let Some(bus) = node.bus.clone() else { return };
    let mut requests = match bus.client.subscribe(drain_subject(&node.id)).await {
        Ok(requests) => requests,
        Err(err) => {
            tracing::error!(%err, "cannot take drain requests");
            return;
        }
    };
    while let Some(message) = requests.next().await {
        tracing::info!(node = %node.id, "drain asked by another node");
        node.drain();
        if let Some(reply) = message.reply {
            let _ = bus
                .client
                .publish(reply, bytes::Bytes::from_static(b"ok"))
                .await;
        }
    }
}
