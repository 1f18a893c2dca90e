//! `PersistenceCore`: the persistence actor's logic with no I/O and no clock of its own.
//!
//! Rows are accepted in order and numbered (their *sequence*). The core cuts them into batches (full
//! at `batch_max_rows`, or when the oldest waiting row is `batch_max_delay` old, or at once when a
//! flush waits for them), keeps every batch until the database has taken it, retries batches that
//! failed for transient reasons with capped exponential backoff, and isolates rows the database
//! rejects by splitting their batch until the culprit stands alone. Flush waiters are released when
//! every row accepted before them is durable (written, or rejected and reported).
//!
//! Inputs: [`submit`](PersistenceCore::submit), [`add_flush_waiter`](PersistenceCore::add_flush_waiter),
//! [`on_write_result`](PersistenceCore::on_write_result), [`recover_in_flight`](PersistenceCore::recover_in_flight).
//! Outputs: [`poll_write`](PersistenceCore::poll_write), [`poll_timeout`](PersistenceCore::poll_timeout),
//! [`take_released_waiters`](PersistenceCore::take_released_waiters),
//! [`take_durable`](PersistenceCore::take_durable) (written rows, in acceptance order, once each).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::metrics::PersistenceMetrics;
use super::rows::PersistItem;

/// How the persistence actor batches, bounds and retries.
#[derive(Debug, Clone)]
pub struct PersistenceConfig {
    /// A batch is written once it holds this many rows.
    pub batch_max_rows: usize,
    /// … or once its oldest row has waited this long.
    pub batch_max_delay: Duration,
    /// Rows accepted but not yet durable, at most; beyond, producers are told `Full`.
    pub max_pending_rows: usize,
    /// Batches being written at once.
    pub max_in_flight: usize,
    /// First retry delay after a transient failure; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long a graceful shutdown may spend draining.
    pub shutdown_timeout: Duration,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig {
            batch_max_rows: 500,
            batch_max_delay: Duration::from_millis(20),
            max_pending_rows: 1_000_000,
            max_in_flight: 4,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_secs(2),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The rows could not be accepted: accepting them would pass `max_pending_rows`. The rows are handed
/// back so that the producer decides (keep, retry later, count).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the persistence buffer is full ({pending} rows pending, limit {limit}); {} rows refused", .rows.len())]
pub struct Full {
    pub rows: Vec<PersistItem>,
    pub pending: usize,
    pub limit: usize,
}

/// How a batch write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The database could not be reached or the outcome is uncertain (connection lost, shutdown,
    /// timeout): write the same batch again later; ids make that idempotent.
    Transient(String),
    /// The database refused the rows themselves (a constraint, a bad value): some row is poison.
    Rejected(String),
}

/// A row the database refused, isolated and given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub id: Uuid,
    pub table: &'static str,
    pub reason: String,
}

/// A batch to write: a run of consecutive rows.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Unique among this core's batches; identifies the write's result.
    pub id: u64,
    /// Sequence of the first row.
    pub first_seq: u64,
    pub rows: Arc<[PersistItem]>,
    /// Failed transient attempts so far.
    pub attempts: u32,
}

/// The most recent rejections kept for inspection.
const REJECTIONS_KEPT: usize = 1000;

/// See the module documentation. `W` is whatever the shell uses to answer a flush.
pub struct PersistenceCore<W> {
    config: PersistenceConfig,
    metrics: Arc<PersistenceMetrics>,
    /// Accepted rows not yet in a batch; the first has sequence `pending_first_seq`.
    pending: VecDeque<PersistItem>,
    pending_first_seq: u64,
    /// When the oldest row in `pending` arrived (as far as the batch deadline is concerned).
    oldest_pending_at: Option<Instant>,
    /// Being written.
    in_flight: BTreeMap<u64, Batch>,
    /// To write again (transient failure, or halves of a rejected batch), before new rows.
    retry: VecDeque<Batch>,
    /// No retry (nor new batch) before this instant; set whenever `retry` is not empty.
    retry_at: Option<Instant>,
    backoff: Duration,
    next_batch_id: u64,
    /// Flush waiters: released once every row with a sequence below theirs is durable.
    waiters: Vec<(u64, W)>,
    /// Written batches by first sequence, held until every row before them is durable too, so
    /// that [`take_durable`](Self::take_durable) hands them out in acceptance order.
    written: BTreeMap<u64, Arc<[PersistItem]>>,
    rejections: VecDeque<Rejection>,
}

impl<W> PersistenceCore<W> {
    pub fn new(config: PersistenceConfig, metrics: Arc<PersistenceMetrics>) -> Self {
        let backoff = config.retry_initial;
        PersistenceCore {
            config,
            metrics,
            pending: VecDeque::new(),
            pending_first_seq: 0,
            oldest_pending_at: None,
            in_flight: BTreeMap::new(),
            retry: VecDeque::new(),
            retry_at: None,
            backoff,
            next_batch_id: 0,
            waiters: Vec::new(),
            written: BTreeMap::new(),
            rejections: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &PersistenceConfig {
        &self.config
    }

    /// Rows accepted and not yet durable.
    pub fn unfinished_rows(&self) -> usize {
        self.pending.len()
            + self.in_flight.values().map(|b| b.rows.len()).sum::<usize>()
            + self.retry.iter().map(|b| b.rows.len()).sum::<usize>()
    }

    /// Accepts rows (all or none).
    pub fn submit(&mut self, now: Instant, rows: Vec<PersistItem>) -> Result<(), Full> {
        if rows.is_empty() {
            return Ok(());
        }
        let pending = self.unfinished_rows();
        if pending + rows.len() > self.config.max_pending_rows {
            self.metrics.record_refused(rows.len());
            return Err(Full {
                rows,
                pending,
                limit: self.config.max_pending_rows,
            });
        }
        self.metrics.record_accepted(rows.len());
        self.oldest_pending_at.get_or_insert(now);
        self.pending.extend(rows);
        self.metrics.set_pending(self.unfinished_rows());
        Ok(())
    }

    /// The sequence one past the last accepted row.
    fn next_seq(&self) -> u64 {
        self.pending_first_seq + self.pending.len() as u64
    }

    /// Every row below this sequence is durable.
    fn durable_below(&self) -> u64 {
        let batches = self.in_flight.values().chain(self.retry.iter());
        let oldest_batch = batches.map(|b| b.first_seq).min();
        let oldest_pending = (!self.pending.is_empty()).then_some(self.pending_first_seq);
        match (oldest_batch, oldest_pending) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => self.next_seq(),
        }
    }

    /// Registers a flush: `waiter` is released once every row accepted so far is durable. Rows
    /// waiting for their batch deadline are written at once.
    pub fn add_flush_waiter(&mut self, waiter: W) {
        self.waiters.push((self.next_seq(), waiter));
    }

    /// Waiters whose rows are all durable; the shell answers them.
    pub fn take_released_waiters(&mut self) -> Vec<W> {
        let durable = self.durable_below();
        let (released, waiting): (Vec<_>, Vec<_>) =
            self.waiters.drain(..).partition(|(seq, _)| *seq <= durable);
        self.waiters = waiting;
        released.into_iter().map(|(_, w)| w).collect()
    }

    /// Rows written since the last call, in the order they were accepted, each row once (a batch
    /// written twice — after a restart of the shell — is handed out once; rejected rows never).
    /// A batch written early is held back until every row accepted before it is durable.
    pub fn take_durable(&mut self) -> Vec<Arc<[PersistItem]>> {
        let durable = self.durable_below();
        let mut out = Vec::new();
        while let Some(entry) = self.written.first_entry() {
            if *entry.key() >= durable {
                break;
            }
            out.push(entry.remove());
        }
        out
    }

    fn flush_wanted(&self) -> bool {
        self.waiters
            .iter()
            .any(|(seq, _)| *seq > self.pending_first_seq)
    }

    /// The next batch to write now, if any: retries first (once their backoff is over), then new rows
    /// when a batch is full, its deadline has come, or a flush waits.
    pub fn poll_write(&mut self, now: Instant) -> Option<Batch> {
        if self.in_flight.len() >= self.config.max_in_flight {
            return None;
        }
        if let Some(at) = self.retry_at {
            if now < at {
                return None;
            }
            if let Some(batch) = self.retry.pop_front() {
                if self.retry.is_empty() {
                    self.retry_at = None;
                }
                self.in_flight.insert(batch.id, batch.clone());
                return Some(batch);
            }
            self.retry_at = None;
        }
        let due = self.pending.len() >= self.config.batch_max_rows
            || self
                .oldest_pending_at
                .is_some_and(|at| now >= at + self.config.batch_max_delay)
            || self.flush_wanted();
        if self.pending.is_empty() || !due {
            return None;
        }
        let take = self.pending.len().min(self.config.batch_max_rows);
        let rows: Arc<[PersistItem]> = self.pending.drain(..take).collect();
        let batch = Batch {
            id: self.next_batch_id,
            first_seq: self.pending_first_seq,
            rows,
            attempts: 0,
        };
        self.next_batch_id += 1;
        self.pending_first_seq += take as u64;
        if self.pending.is_empty() {
            self.oldest_pending_at = None;
        }
        self.in_flight.insert(batch.id, batch.clone());
        Some(batch)
    }

    /// When the shell should call [`poll_write`](Self::poll_write) next even if nothing else happens.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.len() >= self.config.max_in_flight {
            return None; // a write result will come first
        }
        // Retries wait for `retry_at`, and new rows wait behind them.
        if self.retry_at.is_some() {
            return self.retry_at;
        }
        self.oldest_pending_at
            .map(|at| at + self.config.batch_max_delay)
    }

    /// Records how the write of batch `id` went. Unknown ids (a result from before a restart) are
    /// ignored.
    pub fn on_write_result(
        &mut self,
        now: Instant,
        id: u64,
        result: Result<(), WriteError>,
        latency: Duration,
    ) {
        let Some(mut batch) = self.in_flight.remove(&id) else {
            return;
        };
        match result {
            Ok(()) => {
                self.metrics.record_batch(batch.rows.len(), latency);
                self.backoff = self.config.retry_initial;
                self.written.insert(batch.first_seq, batch.rows);
            }
            Err(WriteError::Transient(why)) => {
                batch.attempts += 1;
                self.metrics.record_retry();
                tracing::warn!(
                    batch = batch.id,
                    rows = batch.rows.len(),
                    attempts = batch.attempts,
                    retry_in_ms = self.backoff.as_millis() as u64,
                    error = %why,
                    "batch write failed; keeping it and retrying"
                );
                self.retry.push_front(batch);
                self.retry_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(self.config.retry_max);
            }
            Err(WriteError::Rejected(why)) if batch.rows.len() == 1 => {
                let row = &batch.rows[0];
                tracing::error!(id = %row.id(), table = row.table(), reason = %why, "row rejected by the database; skipped");
                self.metrics.record_rejected();
                if self.rejections.len() == REJECTIONS_KEPT {
                    self.rejections.pop_front();
                }
                self.rejections.push_back(Rejection {
                    id: row.id(),
                    table: row.table(),
                    reason: why,
                });
            }
            Err(WriteError::Rejected(_)) => {
                // Split to find the poison row; the halves go first, ahead of other retries.
                let mid = batch.rows.len() / 2;
                let (left, right) = batch.rows.split_at(mid);
                let right = Batch {
                    id: self.next_batch_id,
                    first_seq: batch.first_seq + mid as u64,
                    rows: right.into(),
                    attempts: 0,
                };
                let left = Batch {
                    id: self.next_batch_id + 1,
                    first_seq: batch.first_seq,
                    rows: left.into(),
                    attempts: 0,
                };
                self.next_batch_id += 2;
                self.retry.push_front(right);
                self.retry.push_front(left);
                self.retry_at.get_or_insert(now);
            }
        }
        self.metrics.set_pending(self.unfinished_rows());
    }

    /// After a restart of the shell: batches that were being written may or may not have landed;
    /// write them again (idempotently).
    pub fn recover_in_flight(&mut self, now: Instant) {
        let batches: Vec<Batch> = std::mem::take(&mut self.in_flight).into_values().collect();
        if batches.is_empty() {
            return;
        }
        for batch in batches.into_iter().rev() {
            self.retry.push_front(batch);
        }
        self.retry_at = Some(self.retry_at.map_or(now, |at| at.min(now)));
    }

    /// The ids of every row not yet durable (for the log when a shutdown runs out of time).
    pub fn unfinished_ids(&self) -> Vec<Uuid> {
        let batched = self.in_flight.values().chain(self.retry.iter());
        batched
            .flat_map(|b| b.rows.iter())
            .chain(self.pending.iter())
            .map(PersistItem::id)
            .collect()
    }

    /// The most recent rejections, oldest first.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.rejections.iter().cloned().collect()
    }

    /// Whether any row is not yet durable.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_empty() && self.retry.is_empty()
    }

    #[cfg(test)]
    fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests;
