//! The node's background work: its heartbeat (with its load), the sweep for lost nodes, the
//! load signal (how late the runtime runs on its timers), and, at start, the recovery of what
//! the node left behind when it last ran.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_actors::persistence::{NewRecording, PersistenceHandle};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{Node, orphans, wav_repair};
use crate::store::Store;

/// Calls ended per sweep at most (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 500;

/// How often the load signal is sampled.
const LAG_SAMPLE: Duration = Duration::from_millis(100);

/// The node's tasks; aborted on drop.
pub struct Heartbeat {
    beat: JoinHandle<()>,
    lag: JoinHandle<()>,
    drain: JoinHandle<()>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.beat.abort();
        self.lag.abort();
        self.drain.abort();
    }
}

/// Starts beating every `every` (the first at once) and sweeping for nodes silent `lost_after`.
pub fn start(
    node: Arc<Node>,
    store: Store,
    persistence: PersistenceHandle,
    every: Duration,
    lost_after: Duration,
) -> Heartbeat {
    let beat = {
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A node judges others only after its own heartbeats have held for as long as a
            // node may stay silent: after a database outage, every node's heartbeat is late, and
            // none may end the others' calls before they had the time to beat again.
            let mut healthy_since: Option<Instant> = None;
            loop {
                ticks.tick().await;
                let now = Instant::now();
                if !heartbeat(&node, &store).await {
                    healthy_since = None;
                    continue;
                }
                let since = *healthy_since.get_or_insert(now);
                if now.duration_since(since) >= lost_after {
                    sweep(&node, &store, &persistence, lost_after).await;
                }
            }
        })
    };
    let drain = tokio::spawn(super::serve_drain(Arc::clone(&node)));
    let lag = tokio::spawn(measure_lag(node));
    Heartbeat { beat, lag, drain }
}

/// Writes the node's heartbeat; whether it was written.
pub async fn heartbeat(node: &Node, store: &Store) -> bool {
    match store.node_heartbeat(&node.report()).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(%err, node = %node.id, "heartbeat not written");
            false
        }
    }
}

/// Marks lost the nodes silent for `lost_after` and ends the live calls of nodes that are gone.
pub async fn sweep(
    node: &Node,
    store: &Store,
    persistence: &PersistenceHandle,
    lost_after: Duration,
) {
    match store.mark_lost_nodes(&node.id, lost_after.as_secs()).await {
        Ok(lost) => {
            for id in lost {
                tracing::warn!(lost = %id, by = %node.id, "node lost: ending its calls");
            }
        }
        Err(err) => tracing::warn!(%err, "lost-node sweep failed"),
    }
    match store.orphaned_calls(&node.id, SWEEP_BATCH).await {
        Ok(calls) => {
            orphans::end(&calls, persistence).await;
        }
        Err(err) => tracing::warn!(%err, "lost-node sweep failed"),
    }
}

/// Samples how late a 100 ms sleep wakes; keeps the worst of the last second (decaying).
async fn measure_lag(node: Arc<Node>) {
    let mut worst_recent = 0u32;
    let mut samples = 0u32;
    loop {
        let asked = Instant::now();
        tokio::time::sleep(LAG_SAMPLE).await;
        let late = asked.elapsed().saturating_sub(LAG_SAMPLE).as_millis() as u32;
        worst_recent = worst_recent.max(late);
        samples += 1;
        node.set_loop_lag_ms(node.loop_lag_ms().max(late));
        if samples == 10 {
            node.set_loop_lag_ms(worst_recent);
            worst_recent = 0;
            samples = 0;
        }
    }
}

/// At start, before taking calls: the calls this node left live when it last ran (killed, or
/// its machine lost) are ended (`node_lost`) unless another node did so already, and the
/// recordings it was writing are repaired and stored, so they play.
pub async fn recover(
    node: &str,
    store: &Store,
    persistence: &PersistenceHandle,
    recordings_dir: &Path,
) -> usize {
    let calls = match store.calls_to_recover(node).await {
        Ok(calls) => calls,
        Err(err) => {
            tracing::error!(%err, "cannot read the calls this node left behind");
            return 0;
        }
    };
    for (call, _) in &calls {
        if !switchboard_actors::twilio::is_call_sid(&call.call_sid) {
            continue;
        }
        let path = recordings_dir.join(format!("{}.wav", call.call_sid));
        if !path.is_file() {
            continue;
        }
        let repair_at = path.clone();
        let repaired = tokio::task::spawn_blocking(move || wav_repair::repair(&repair_at)).await;
        match repaired {
            Ok(Ok(info)) => {
                tracing::info!(call_sid = %call.call_sid, duration_ms = info.duration_ms, "recording repaired");
                let row = NewRecording {
                    id: Uuid::new_v5(&call.call_id, b"recording:repaired"),
                    org_id: call.org_id,
                    call_id: call.call_id,
                    path: path.display().to_string(),
                    sample_rate: info.sample_rate,
                    channels: info.channels,
                    duration_ms: info.duration_ms,
                    bytes: info.bytes,
                };
                if let Err(err) = persistence.persist(row) {
                    tracing::error!(%err, "cannot queue a repaired recording's row");
                }
            }
            Ok(Err(err)) => {
                tracing::error!(call_sid = %call.call_sid, %err, "recording not repaired")
            }
            Err(err) => tracing::error!(%err, "recording repair failed"),
        }
    }
    let live: Vec<_> = calls
        .into_iter()
        .filter(|(_, ended)| !ended)
        .map(|(call, _)| call)
        .collect();
    // Ending the calls flushes (the repaired recordings' rows with them); with none to end,
    // the rows are flushed here.
    if live.is_empty()
        && let Err(err) = persistence.flush().await
    {
        tracing::error!(%err, "repaired recordings not written yet");
    }
    orphans::end(&live, persistence).await
}
