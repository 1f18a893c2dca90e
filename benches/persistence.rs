//! Persistence bench: how many messages per second the persistence actor writes to the managed
//! local PostgreSQL, and how long a message takes from send to durable.
//!
//! `cargo bench --bench persistence` (release). Knobs (environment): `BENCH_PRODUCERS` (1000),
//! `BENCH_RATE` offered messages/s for the throughput phase (100000), `BENCH_SECONDS` (30),
//! `BENCH_LATENCY_RATE` (10000), `BENCH_LATENCY_SECONDS` (10); `BENCH_IN_FLIGHT`, `BENCH_BATCH_ROWS`
//! override the actor's batching; `BENCH_COMPARE=1` runs the throughput phase with UNNEST and then
//! COPY message writes on the same cluster; `BENCH_COPY=0` leaves out the plain `COPY` phase.
//!
//! Throughput: producers are paced to the offered rate (each sends its share every 10 ms) with
//! realistic rows (≈150-byte content, sender and metadata JSON); the figure is rows durable per
//! second over the run, including the drain at the end. "Producers never blocked" is shown by the
//! time each `persist` call took (it never awaits the database) and by zero refused rows.
//! Latency: 100 producers each send a message and await `flush()`, at the given total rate.
//!
//! Plain `COPY` (after the throughput phase, same run, same cluster): the same number of rows, made
//! by the same generator and spread over as many fresh conversations, written with the statement
//! and column types the actor's store uses (`src/store/messages.rs`) by a bare
//! `BinaryCopyInWriter`: no actor, no buffer, one autocommitted `COPY` per `batch_max_rows` rows,
//! `max_in_flight` connections each with one `COPY` at a time (the actor's own limits). Its rate
//! is what PostgreSQL takes on this machine; the bench prints engine ÷ plain `COPY`.
//!
//! Every phase starts from the same state (`VACUUM (ANALYZE) messages` and a `CHECKPOINT`, not
//! timed), and the rows a throughput phase wrote are counted in the table afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchboard::store::messages::MessageWrite;
use switchboard::store::{ManagedCluster, PgBinaries, Store, postgres_server};
use switchboard_actors::persistence::{
    DEFAULT_ORG, NewMessage, PersistenceConfig, PersistenceHandle,
};
use switchboard_sim::messages::transcript;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, Type};
use uuid::Uuid;

/// The statement and column types of the actor's message `COPY` (`src/store/messages.rs`).
const COPY_MESSAGES: &str = r#"COPY messages (id, org_id, conversation_id, message_type, direction, sender, content, "timestamp", metadata) FROM STDIN (FORMAT binary)"#;
const MESSAGE_COLUMNS: [Type; 9] = [
    Type::UUID,
    Type::UUID,
    Type::UUID,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::JSONB,
];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The actor's configuration: defaults, or `BENCH_IN_FLIGHT` / `BENCH_BATCH_ROWS` to explore.
fn actor_config() -> PersistenceConfig {
    let defaults = PersistenceConfig::default();
    PersistenceConfig {
        max_in_flight: env_or("BENCH_IN_FLIGHT", defaults.max_in_flight as u64) as usize,
        batch_max_rows: env_or("BENCH_BATCH_ROWS", defaults.batch_max_rows as u64) as usize,
        ..defaults
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn conversations(store_pg: &tokio_postgres::Config, n: usize) -> Vec<Uuid> {
    let (client, conn) = store_pg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    client
        .execute(
            "INSERT INTO conversations (id, org_id, channel) SELECT id, $2, 'voice' FROM UNNEST($1::uuid[]) AS id",
            &[&ids, &DEFAULT_ORG],
        )
        .await
        .unwrap();
    ids
}

async fn connect(pg: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, conn) = pg.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// The same starting state for every phase: the rows of earlier phases vacuumed and analyzed (no
/// autovacuum owed for them) and a fresh checkpoint (no dirty buffers of theirs left to write).
async fn settle(pg: &tokio_postgres::Config) {
    let client = connect(pg).await;
    client
        .batch_execute("VACUUM (ANALYZE) messages")
        .await
        .unwrap();
    client.batch_execute("CHECKPOINT").await.unwrap();
}

/// Message rows stored for these conversations, counted in the table.
async fn count_messages(pg: &tokio_postgres::Config, conversations: &[Uuid]) -> u64 {
    let client = connect(pg).await;
    let row = client
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = ANY($1)",
            &[&conversations],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) as u64
}

struct Throughput {
    offered_per_s: f64,
    written_per_s: f64,
    /// Rows made durable per second while the producers ran (the steady state, without the drain).
    steady_per_s: f64,
    sent: u64,
    /// Rows of this phase's conversations in the table after the run.
    counted: u64,
    drain: Duration,
    max_pending: u64,
    persist_p99: Duration,
    persist_max: Duration,
    refused: u64,
    batches: u64,
    batch_p50: u64,
    write_p99_us: u64,
}

async fn throughput(store: &Store, pg: &tokio_postgres::Config) -> Throughput {
    let producers = env_or("BENCH_PRODUCERS", 1000) as usize;
    let rate = env_or("BENCH_RATE", 100_000);
    let seconds = env_or("BENCH_SECONDS", 30);
    settle(pg).await;
    let handle = PersistenceHandle::start(store.clone(), actor_config())
        .await
        .unwrap();
    let convs = conversations(pg, producers).await;
    let conversation_ids = convs.clone();
    let per_tick = (rate as f64 / producers as f64 / 100.0).max(0.0); // every 10 ms
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (p, conversation) in convs.into_iter().enumerate() {
        let handle = handle.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(10));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            // Spread the producers over the 10 ms tick.
            tokio::time::sleep(Duration::from_micros(
                (p as u64 * 10_000) / producers as u64,
            ))
            .await;
            let mut owed = 0.0;
            let mut seq = 0u64;
            let mut persist_times = Vec::with_capacity(4096);
            // Rows the buffer handed back (full): kept and offered again first, as a call would.
            let mut held: Vec<switchboard_actors::persistence::PersistItem> = Vec::new();
            while Instant::now() < stop_at {
                interval.tick().await;
                owed += per_tick;
                if !held.is_empty() {
                    match handle.persist_all(std::mem::take(&mut held)) {
                        Ok(()) => {}
                        Err(full) => held = full.rows,
                    }
                }
                while owed >= 1.0 && held.is_empty() {
                    owed -= 1.0;
                    let row = transcript(conversation, seq);
                    seq += 1;
                    let t = Instant::now();
                    let result = handle.persist(row);
                    persist_times.push(t.elapsed());
                    if let Err(full) = result {
                        held = full.rows;
                    }
                }
            }
            while !held.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if let Err(full) = handle.persist_all(std::mem::take(&mut held)) {
                    held = full.rows;
                }
            }
            sent.fetch_add(seq, Ordering::Relaxed);
            persist_times
        }));
    }
    let metrics = handle.metrics();
    let sampler = tokio::spawn(async move {
        let mut max_pending = 0;
        loop {
            max_pending = max_pending.max(metrics.pending_rows.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(100)).await;
            if Instant::now() > stop_at + Duration::from_millis(200) {
                return max_pending;
            }
        }
    });
    let mut persist_times = Vec::new();
    for t in tasks {
        persist_times.extend(t.await.unwrap());
    }
    let producing = started.elapsed();
    let written_while_producing = handle.metrics().rows_written.load(Ordering::Relaxed);
    let drain_started = Instant::now();
    handle.flush().await.unwrap();
    let drain = drain_started.elapsed();
    let total = started.elapsed();
    let max_pending = sampler.await.unwrap();
    persist_times.sort();
    let stats = handle.metrics().snapshot();
    let sent = sent.load(Ordering::Relaxed);
    assert_eq!(stats.rows_written, sent, "every row written");
    handle.shutdown().await;
    let counted = count_messages(pg, &conversation_ids).await;
    assert_eq!(counted, sent, "every row in the table");
    Throughput {
        offered_per_s: sent as f64 / producing.as_secs_f64(),
        written_per_s: stats.rows_written as f64 / total.as_secs_f64(),
        steady_per_s: written_while_producing as f64 / producing.as_secs_f64(),
        sent,
        counted,
        drain,
        max_pending,
        persist_p99: percentile(&persist_times, 0.99),
        persist_max: persist_times.last().copied().unwrap_or_default(),
        refused: stats.rows_refused,
        batches: stats.batches_written,
        batch_p50: stats.batch_size_p50,
        write_p99_us: stats.write_latency_p99_us,
    }
}

struct PlainCopy {
    rows: u64,
    /// Rows of this phase's conversations in the table after the run.
    counted: u64,
    batches: u64,
    connections: usize,
    batch_rows: usize,
    elapsed: Duration,
}

impl PlainCopy {
    fn per_s(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }
}

/// Writes `rows` message rows over `producers` fresh conversations with bare binary `COPY`s of
/// `batch_rows` rows each, `connections` at a time; see the module documentation.
async fn plain_copy(
    pg: &tokio_postgres::Config,
    rows: u64,
    producers: usize,
    batch_rows: usize,
    connections: usize,
) -> PlainCopy {
    settle(pg).await;
    let convs = Arc::new(conversations(pg, producers).await);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(connect(pg).await);
    }
    let batch_rows = batch_rows.max(1);
    let batches = rows.div_ceil(batch_rows as u64);
    let next_batch = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let convs = convs.clone();
        let next_batch = next_batch.clone();
        tasks.push(tokio::spawn(async move {
            let n = convs.len() as u64;
            let mut copied = 0;
            loop {
                let b = next_batch.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return copied;
                }
                let first = b * batch_rows as u64;
                let end = (first + batch_rows as u64).min(rows);
                // Row i is message i / n of conversation i mod n: like the actor's, a batch holds
                // the latest message of many conversations.
                let batch: Vec<NewMessage> = (first..end)
                    .map(|i| transcript(convs[(i % n) as usize], i / n))
                    .collect();
                let sink = client.copy_in(COPY_MESSAGES).await.unwrap();
                let writer = BinaryCopyInWriter::new(sink, &MESSAGE_COLUMNS);
                let mut writer = std::pin::pin!(writer);
                for m in &batch {
                    writer
                        .as_mut()
                        .write(&[
                            &m.id,
                            &m.org_id,
                            &m.conversation_id,
                            &m.message_type.as_str(),
                            &m.direction.as_str(),
                            &Json(&m.sender),
                            &m.content,
                            &m.timestamp,
                            &m.metadata,
                        ])
                        .await
                        .unwrap();
                }
                // Autocommit: the COPY's transaction is committed (and flushed: synchronous_commit
                // is on) when the server confirms it.
                let written = writer.finish().await.unwrap();
                assert_eq!(written, batch.len() as u64, "rows confirmed by COPY");
                copied += written;
            }
        }));
    }
    let mut copied = 0;
    for t in tasks {
        copied += t.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(copied, rows, "every row copied");
    let counted = count_messages(pg, &convs).await;
    assert_eq!(counted, rows, "every row in the table");
    PlainCopy {
        rows,
        counted,
        batches,
        connections,
        batch_rows,
        elapsed,
    }
}

async fn latency(
    store: &Store,
    pg: &tokio_postgres::Config,
) -> (usize, Duration, Duration, Duration) {
    let rate = env_or("BENCH_LATENCY_RATE", 10_000);
    let seconds = env_or("BENCH_LATENCY_SECONDS", 10);
    let producers = 100usize;
    settle(pg).await;
    let handle = PersistenceHandle::start(store.clone(), actor_config())
        .await
        .unwrap();
    let convs = conversations(pg, producers).await;
    let interval_us = producers as u64 * 1_000_000 / rate;
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (p, conversation) in convs.into_iter().enumerate() {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_micros(
                p as u64 * interval_us / producers as u64,
            ))
            .await;
            let mut interval = tokio::time::interval(Duration::from_micros(interval_us));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut samples = Vec::new();
            let mut seq = 0;
            while Instant::now() < stop_at {
                interval.tick().await;
                let t = Instant::now();
                handle.persist(transcript(conversation, seq)).unwrap();
                handle.flush().await.unwrap();
                samples.push(t.elapsed());
                seq += 1;
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    handle.shutdown().await;
    samples.sort();
    (
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cluster =
        ManagedCluster::start(dir.path(), PgBinaries::from_environment().unwrap()).unwrap();
    runtime.block_on(async {
        let timeout = Duration::from_secs(30);
        Store::create_database_if_missing(&cluster.pg_config_for("postgres"), postgres_server::DATABASE, timeout)
            .await
            .unwrap();
        let pg = cluster.pg_config();
        let store = Store::connect(pg.clone(), 16, timeout).await.unwrap();
        store.migrate().await.unwrap();

        let config = actor_config();
        println!(
            "persistence bench: managed PostgreSQL in a temp dir, {} cores; batch_max_rows {}, max_in_flight {}",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            config.batch_max_rows,
            config.max_in_flight
        );
        if std::env::var("BENCH_COMPARE").is_ok() {
            // UNNEST vs COPY on the same cluster, same load.
            for how in [MessageWrite::Unnest, MessageWrite::Copy] {
                let t = throughput(&store.clone().with_message_write(how), &pg).await;
                println!(
                    "{how:?}: steady {:.0} msg/s, overall {:.0} msg/s (offered {:.0}), max pending {}, batches {}, counted {}",
                    t.steady_per_s, t.written_per_s, t.offered_per_s, t.max_pending, t.batches, t.counted
                );
            }
            return;
        }
        let t = throughput(&store, &pg).await;
        println!();
        println!("| throughput ({} producers, paced) | value |", env_or("BENCH_PRODUCERS", 1000));
        println!("|---|---|");
        println!("| offered | {:.0} msg/s |", t.offered_per_s);
        println!("| written while producing (steady state) | {:.0} msg/s |", t.steady_per_s);
        println!("| written (all sent / time until all durable) | {:.0} msg/s |", t.written_per_s);
        println!("| messages | {} |", t.sent);
        println!("| messages counted in the table after the run | {} |", t.counted);
        println!("| drain after producers stopped | {} |", ms(t.drain));
        println!("| max pending rows | {} |", t.max_pending);
        println!("| persist() call p99 / max | {} / {} |", ms(t.persist_p99), ms(t.persist_max));
        println!("| refused (buffer full; kept and offered again) | {} |", t.refused);
        println!("| batches, median size bucket | {}, ≤{} rows |", t.batches, t.batch_p50);
        println!("| batch write p99 (bucket) | ≤{} µs |", t.write_p99_us);

        if env_or("BENCH_COPY", 1) != 0 {
            let producers = env_or("BENCH_PRODUCERS", 1000) as usize;
            let c = plain_copy(&pg, t.sent, producers, config.batch_max_rows, config.max_in_flight).await;
            println!();
            println!(
                "| plain binary COPY (same rows, {} connections, {} rows per COPY) | value |",
                c.connections, c.batch_rows
            );
            println!("|---|---|");
            println!("| rows | {} |", c.rows);
            println!("| rows counted in the table after the run | {} |", c.counted);
            println!("| COPY statements (each its own transaction) | {} |", c.batches);
            println!("| time until all durable | {:.2} s |", c.elapsed.as_secs_f64());
            println!("| written | {:.0} rows/s |", c.per_s());
            println!();
            println!(
                "persistence actor: {:.0} rows/s; plain binary COPY: {:.0} rows/s; ratio {:.2} (engine ÷ plain COPY)",
                t.written_per_s,
                c.per_s(),
                t.written_per_s / c.per_s()
            );
            if t.steady_per_s >= 0.97 * t.offered_per_s {
                println!(
                    "note: the actor kept up with the offered rate ({:.0} msg/s), so its figure is the offer, not its limit: raise BENCH_RATE",
                    t.offered_per_s
                );
            }
        }

        let (n, p50, p99, p999) = latency(&store, &pg).await;
        println!();
        println!("| send → durable (flush-confirmed), {} msg/s | value |", env_or("BENCH_LATENCY_RATE", 10_000));
        println!("|---|---|");
        println!("| samples | {n} |");
        println!("| p50 | {} |", ms(p50));
        println!("| p99 | {} |", ms(p99));
        println!("| p99.9 | {} |", ms(p999));
    });
    drop(runtime);
    drop(cluster);
}
