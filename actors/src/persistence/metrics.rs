//! Counters of the persistence path, shared (lock-free) between the actor, its producers, the
//! `/metrics` endpoint and the benches.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Power-of-two buckets: bucket `i` counts values in `[2^(i-1), 2^i)` (bucket 0 counts 0), and
/// the sum of the values recorded (for the `/metrics` exposition).
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; 32],
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, value: u64) {
        let bucket = (64 - value.leading_zeros() as usize).min(31);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    /// The sum of every value recorded.
    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    /// Counts per bucket, with each bucket's upper bound (exclusive).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (1u64 << i, b.load(Relaxed)))
            .collect()
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1); 0 when empty.
    pub fn quantile_upper_bound(&self, q: f64) -> u64 {
        let counts: Vec<(u64, u64)> = self.buckets();
        let total: u64 = counts.iter().map(|(_, c)| c).sum();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bound, count) in counts {
            seen += count;
            if seen >= target {
                return bound;
            }
        }
        u64::MAX
    }
}

/// What the persistence actor has done. All counts are since start.
#[derive(Debug, Default)]
pub struct PersistenceMetrics {
    pub rows_accepted: AtomicU64,
    pub rows_written: AtomicU64,
    pub batches_written: AtomicU64,
    pub retries: AtomicU64,
    pub rows_rejected: AtomicU64,
    /// Rows producers offered while the buffer was full (handed back to them, not lost).
    pub rows_refused: AtomicU64,
    /// Rows accepted and not yet durable (a gauge).
    pub pending_rows: AtomicU64,
    pub actor_restarts: AtomicU64,
    /// Rows per written batch.
    pub batch_size: Histogram,
    /// Microseconds per batch write (successful ones).
    pub write_latency_us: Histogram,
}

impl PersistenceMetrics {
    pub(crate) fn record_accepted(&self, rows: usize) {
        self.rows_accepted.fetch_add(rows as u64, Relaxed);
    }

    pub(crate) fn record_refused(&self, rows: usize) {
        self.rows_refused.fetch_add(rows as u64, Relaxed);
    }

    pub(crate) fn record_batch(&self, rows: usize, latency: Duration) {
        self.rows_written.fetch_add(rows as u64, Relaxed);
        self.batches_written.fetch_add(1, Relaxed);
        self.batch_size.record(rows as u64);
        self.write_latency_us.record(latency.as_micros() as u64);
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_rejected(&self) {
        self.rows_rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn set_pending(&self, rows: usize) {
        self.pending_rows.store(rows as u64, Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> PersistenceStats {
        PersistenceStats {
            rows_accepted: self.rows_accepted.load(Relaxed),
            rows_written: self.rows_written.load(Relaxed),
            batches_written: self.batches_written.load(Relaxed),
            retries: self.retries.load(Relaxed),
            rows_rejected: self.rows_rejected.load(Relaxed),
            rows_refused: self.rows_refused.load(Relaxed),
            pending_rows: self.pending_rows.load(Relaxed),
            actor_restarts: self.actor_restarts.load(Relaxed),
            batch_size_p50: self.batch_size.quantile_upper_bound(0.5),
            write_latency_p99_us: self.write_latency_us.quantile_upper_bound(0.99),
        }
    }
}

/// A snapshot of [`PersistenceMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistenceStats {
    pub rows_accepted: u64,
    pub rows_written: u64,
    pub batches_written: u64,
    pub retries: u64,
    pub rows_rejected: u64,
    pub rows_refused: u64,
    pub pending_rows: u64,
    pub actor_restarts: u64,
    /// Upper bound of the median batch size's bucket.
    pub batch_size_p50: u64,
    /// Upper bound of the 99th percentile write latency's bucket, in µs.
    pub write_latency_p99_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_land_in_the_right_bucket() {
        let h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.quantile_upper_bound(0.5), 64); // 50 is in [32, 64)
        assert_eq!(h.quantile_upper_bound(1.0), 128); // 100 is in [64, 128)
        h.record(0);
        assert_eq!(h.buckets()[0].1, 1);
        assert_eq!(h.sum(), 5050);
    }
}
