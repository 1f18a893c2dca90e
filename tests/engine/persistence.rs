//! The persistence actor against a real PostgreSQL: exactly-once, ordered delivery through database
//! outages, killed connections, poison rows, actor panics, back-pressure and shutdown.

use switchboard_sim::harness::test_db as db;

use std::sync::atomic::Ordering;
use std::time::Duration;

use db::{TestDb, create_conversations};
use switchboard::store::{ManagedCluster, Store};
use switchboard_actors::domain::{CallStatus, ConversationStatus};
use switchboard_actors::persistence::{
    CallUpdate, ConversationUpdate, PersistItem, PersistenceConfig, PersistenceHandle,
};
use switchboard_sim::messages::transcript;
use uuid::Uuid;

async fn start(store: &Store, config: PersistenceConfig) -> PersistenceHandle {
    PersistenceHandle::start(store.clone(), config)
        .await
        .unwrap()
}

/// A database with `conversations` conversations and a persistence actor writing to it; the
/// cluster is handed out so that tests can stop and restart it.
struct Fixture {
    cluster: ManagedCluster,
    conversations: Vec<Uuid>,
    handle: PersistenceHandle,
    // Dropped last: the cluster's directory.
    _db: TestDb,
}

async fn fixture(conversations: usize, config: PersistenceConfig) -> Fixture {
    let mut db = TestDb::own_cluster().await;
    let cluster = db.cluster.take().expect("its own cluster");
    let client = db::connect(&cluster).await;
    let conversations = create_conversations(&client, conversations).await;
    Fixture {
        handle: start(&db.store, config).await,
        cluster,
        conversations,
        _db: db,
    }
}

async fn stop_cluster(cluster: ManagedCluster) -> ManagedCluster {
    tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap()
}

async fn restart_cluster(cluster: ManagedCluster) -> ManagedCluster {
    tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.restart().unwrap();
        cluster
    })
    .await
    .unwrap()
}

/// (rows, distinct ids, conversations whose `seq` order breaks when read by timestamp then id)
async fn tally(client: &tokio_postgres::Client) -> (i64, i64, i64) {
    let row = client
        .query_one(
            r#"SELECT (SELECT count(*) FROM messages),
                      (SELECT count(DISTINCT id) FROM messages),
                      (SELECT count(*) FROM (
                           SELECT (metadata->>'seq')::int AS seq,
                                  lag((metadata->>'seq')::int) OVER (PARTITION BY conversation_id ORDER BY "timestamp", id) AS prev
                           FROM messages) s
                       WHERE prev IS NOT NULL AND seq <> prev + 1)"#,
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// `producers` tasks, each sending `per_producer` messages of its own conversation in order,
/// pausing `pause` every 100 messages. Every row must be accepted (never `Full`).
async fn produce(
    handle: &PersistenceHandle,
    conversations: &[Uuid],
    per_producer: u64,
    pause: Duration,
) {
    let mut tasks = Vec::new();
    for &conversation in conversations {
        let handle = handle.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..per_producer {
                handle
                    .persist(transcript(conversation, seq))
                    .expect("accepted");
                if seq % 100 == 99 {
                    if pause.is_zero() {
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_messages_from_200_producers_arrive_exactly_once_in_order() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversations = create_conversations(&client, 200).await;
    let handle = start(&db.store, PersistenceConfig::default()).await;

    produce(&handle, &conversations, 500, Duration::ZERO).await;
    handle.flush().await.unwrap();

    assert_eq!(tally(&client).await, (100_000, 100_000, 0));
    let stats = handle.metrics().snapshot();
    assert_eq!(stats.rows_written, 100_000);
    assert_eq!(
        (stats.rows_rejected, stats.rows_refused, stats.pending_rows),
        (0, 0, 0)
    );
    assert!(stats.batches_written <= 100_000 / 2, "batched: {stats:?}");

    // Read back through the store: one conversation, in order.
    let messages = db
        .store
        .conversation_messages(conversations[7])
        .await
        .unwrap();
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m.metadata["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..500).collect::<Vec<u64>>());
    assert_eq!(messages[0].sender["type"], "customer");
    assert_eq!(messages[1].sender["type"], "ai");
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_stream_loses_and_duplicates_nothing() {
    let Fixture {
        cluster,
        conversations,
        handle,
        _db,
    } = fixture(20, PersistenceConfig::default()).await;

    // 20 producers × 1,000 messages over about 5 s; the database is down from 1 s to 4 s.
    let producing = {
        let handle = handle.clone();
        let conversations = conversations.clone();
        tokio::spawn(async move {
            produce(&handle, &conversations, 1000, Duration::from_millis(500)).await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cluster = stop_cluster(cluster).await;
    let written_before_outage = handle.metrics().rows_written.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cluster = restart_cluster(cluster).await;
    producing.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), handle.flush())
        .await
        .unwrap()
        .unwrap();

    let client = db::connect(&cluster).await;
    assert_eq!(tally(&client).await, (20_000, 20_000, 0));
    let stats = handle.metrics().snapshot();
    assert!(stats.retries > 0, "the outage was seen: {stats:?}");
    assert!(
        written_before_outage < 20_000,
        "rows were still coming during the outage"
    );
    assert_eq!(stats.rows_rejected, 0);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_batch_lose_and_duplicate_nothing() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversations = create_conversations(&client, 50).await;
    let handle = start(&db.store, PersistenceConfig::default()).await;

    let killer = tokio::spawn(async move {
        let mut killed = 0i64;
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < until {
            let row = client
                .query_one(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND backend_type = 'client backend'",
                    &[],
                )
                .await
                .unwrap();
            killed += row.get::<_, i64>(0);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        (client, killed)
    });
    produce(&handle, &conversations, 1000, Duration::from_millis(40)).await;
    let (client, killed) = killer.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), handle.flush())
        .await
        .unwrap()
        .unwrap();

    assert!(killed > 0, "no connection was terminated");
    assert_eq!(
        tally(&client).await,
        (50_000, 50_000, 0),
        "rejections: {:?}, stats: {:?}",
        handle.rejections(),
        handle.metrics().snapshot()
    );
    let stats = handle.metrics().snapshot();
    assert!(stats.retries > 0, "{stats:?}");
    assert_eq!(stats.rows_rejected, 0);
    handle.shutdown().await;
}

#[tokio::test]
async fn poison_rows_are_reported_and_skipped_while_their_neighbours_are_written() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversation = create_conversations(&client, 1).await[0];
    let handle = start(&db.store, PersistenceConfig::default()).await;

    let mut rows: Vec<PersistItem> = (0..1000)
        .map(|i| transcript(conversation, i).into())
        .collect();
    // A message of a conversation that does not exist (foreign key), and one the database cannot
    // store (a NUL byte in text).
    let mut orphan = transcript(Uuid::now_v7(), 9999);
    orphan.id = Uuid::now_v7();
    let orphan_id = orphan.id;
    rows[300] = orphan.into();
    let mut nul = transcript(conversation, 700);
    nul.content = "broken\0text".into();
    let nul_id = nul.id;
    rows[700] = nul.into();
    handle.persist_all(rows).unwrap();
    handle.flush().await.unwrap();

    let (count, _, _) = tally(&client).await;
    assert_eq!(count, 998);
    let rejections = handle.rejections();
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    let orphan = rejections
        .iter()
        .find(|r| r.id == orphan_id)
        .expect("orphan reported");
    assert!(orphan.reason.contains("foreign key"), "{}", orphan.reason);
    let nul = rejections
        .iter()
        .find(|r| r.id == nul_id)
        .expect("NUL row reported");
    assert_eq!(nul.table, "messages");
    assert_eq!(handle.metrics().snapshot().rows_rejected, 2);

    // The actor goes on writing afterwards.
    handle.persist(transcript(conversation, 5000)).unwrap();
    handle.flush().await.unwrap();
    assert_eq!(tally(&client).await.0, 999);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_actor_is_restarted_and_loses_nothing_it_accepted() {
    let Fixture {
        cluster,
        conversations,
        handle,
        _db,
    } = fixture(10, PersistenceConfig::default()).await;

    // With the database down, accepted rows are pending or being retried when the actor dies.
    let cluster = stop_cluster(cluster).await;
    produce(&handle, &conversations, 500, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(handle.metrics().snapshot().pending_rows, 5000);
    handle.inject_panic();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while handle.metrics().snapshot().actor_restarts == 0 {
        assert!(tokio::time::Instant::now() < deadline, "not restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A flush started before the database returns is answered after it.
    let flush = tokio::spawn({
        let handle = handle.clone();
        async move { handle.flush().await }
    });
    let more: Vec<PersistItem> = (500..1000)
        .map(|i| transcript(conversations[0], i).into())
        .collect();
    handle.persist_all(more).unwrap();
    let cluster = restart_cluster(cluster).await;
    tokio::time::timeout(Duration::from_secs(60), flush)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    handle.flush().await.unwrap();

    let client = db::connect(&cluster).await;
    assert_eq!(tally(&client).await, (5500, 5500, 0));
    assert_eq!(handle.metrics().snapshot().actor_restarts, 1);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_every_accepted_row() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversations = create_conversations(&client, 100).await;
    let handle = start(&db.store, PersistenceConfig::default()).await;
    produce(&handle, &conversations, 500, Duration::ZERO).await;
    let report = handle.shutdown().await;
    assert!(report.drained && report.unwritten.is_empty(), "{report:?}");
    assert_eq!(tally(&client).await, (50_000, 50_000, 0));
}

#[tokio::test]
async fn shutdown_that_runs_out_of_time_names_the_unwritten_rows() {
    let config = PersistenceConfig {
        shutdown_timeout: Duration::from_secs(1),
        ..PersistenceConfig::default()
    };
    let Fixture {
        cluster,
        conversations,
        handle,
        _db,
    } = fixture(1, config).await;
    let conversation = conversations[0];
    let _cluster = stop_cluster(cluster).await;
    let rows: Vec<PersistItem> = (0..10)
        .map(|i| transcript(conversation, i).into())
        .collect();
    let mut ids: Vec<Uuid> = rows.iter().map(PersistItem::id).collect();
    handle.persist_all(rows).unwrap();
    let report = handle.shutdown().await;
    assert!(!report.drained);
    let mut unwritten = report.unwritten.clone();
    unwritten.sort();
    ids.sort();
    assert_eq!(unwritten, ids);
}

#[tokio::test]
async fn a_full_buffer_hands_rows_back_and_accepts_again_once_drained() {
    let config = PersistenceConfig {
        max_pending_rows: 1000,
        ..PersistenceConfig::default()
    };
    let Fixture {
        cluster,
        conversations,
        handle,
        _db,
    } = fixture(1, config).await;
    let conversation = conversations[0];
    let cluster = stop_cluster(cluster).await;
    for i in 0..1000 {
        handle.persist(transcript(conversation, i)).unwrap();
    }
    let full = handle.persist(transcript(conversation, 1000)).unwrap_err();
    assert_eq!(full.rows.len(), 1, "the refused row is handed back");
    assert_eq!((full.pending, full.limit), (1000, 1000));
    assert_eq!(handle.metrics().snapshot().rows_refused, 1);

    let cluster = restart_cluster(cluster).await;
    tokio::time::timeout(Duration::from_secs(60), handle.flush())
        .await
        .unwrap()
        .unwrap();
    handle.persist_all(full.rows).unwrap();
    handle.flush().await.unwrap();
    let client = db::connect(&cluster).await;
    assert_eq!(tally(&client).await, (1001, 1001, 0));
    handle.shutdown().await;
}

#[tokio::test]
async fn call_and_conversation_updates_are_last_writer_wins() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversation = create_conversations(&client, 1).await[0];
    let call = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO calls (id, org_id, conversation_id, call_sid, from_number, to_number, direction, status)
             VALUES ($1, $2, $3, 'CA-lww', '+15550001111', '+15550002222', 'inbound', 'ringing')",
            &[&call, &switchboard_actors::persistence::DEFAULT_ORG, &conversation],
        )
        .await
        .unwrap();
    let handle = start(&db.store, PersistenceConfig::default()).await;

    let answered = CallUpdate {
        call_id: call,
        version: 1,
        status: Some(CallStatus::InProgress),
        agent: Some("ai:marin".into()),
        ..Default::default()
    };
    let completed = CallUpdate {
        call_id: call,
        version: 2,
        status: Some(CallStatus::Completed),
        duration_seconds: Some(95),
        ..Default::default()
    };
    // Both in one batch, newer first: folded, newer fields win, older fill the gaps.
    handle
        .persist_all(vec![completed.clone().into(), answered.clone().into()])
        .unwrap();
    handle.flush().await.unwrap();
    // A retried older update arrives late: it changes nothing.
    handle.persist(answered).unwrap();
    handle
        .persist(ConversationUpdate {
            conversation_id: conversation,
            version: 5,
            status: Some(ConversationStatus::Completed),
            satisfaction_score: Some(9),
            ..Default::default()
        })
        .unwrap();
    handle
        .persist(ConversationUpdate {
            conversation_id: conversation,
            version: 4,
            status: Some(ConversationStatus::Active),
            ..Default::default()
        })
        .unwrap();
    handle.flush().await.unwrap();

    // A late update from the engine never moves a finished call back.
    handle
        .persist(CallUpdate {
            call_id: call,
            version: 3,
            status: Some(CallStatus::InProgress),
            ..Default::default()
        })
        .unwrap();
    handle.flush().await.unwrap();
    let row = client
        .query_one(
            "SELECT status, agent, duration_seconds, version FROM calls WHERE id = $1",
            &[&call],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("ai:marin"));
    assert_eq!(row.get::<_, Option<i32>>(2), Some(95));
    assert_eq!(row.get::<_, i64>(3), 3);
    let row = client
        .query_one(
            "SELECT status, satisfaction_score FROM conversations WHERE id = $1",
            &[&conversation],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, Option<i16>>(1), Some(9));
    handle.shutdown().await;
}

#[tokio::test]
async fn writing_a_batch_again_inserts_nothing_twice_with_either_write_path() {
    use switchboard::store::messages::MessageWrite;
    let db = TestDb::start().await;
    let client = db.client().await;
    let conversation = create_conversations(&client, 1).await[0];
    for (how, offset) in [(MessageWrite::Copy, 0), (MessageWrite::Unnest, 1000)] {
        let store = db.store.clone().with_message_write(how);
        let first: Vec<PersistItem> = (offset..offset + 100)
            .map(|i| transcript(conversation, i).into())
            .collect();
        store.write_batch(&first).await.unwrap();
        // The same batch again (an uncertain failure retried): nothing new, no error.
        store.write_batch(&first).await.unwrap();
        // Half already stored, half new.
        let mut mixed: Vec<PersistItem> = first[50..].to_vec();
        mixed.extend(
            (offset + 100..offset + 150).map(|i| PersistItem::from(transcript(conversation, i))),
        );
        store.write_batch(&mixed).await.unwrap();
    }
    let (count, distinct, _) = tally(&client).await;
    assert_eq!((count, distinct), (300, 300));
}

/// The path SIGTERM takes: `serve` returns, then `Engine::stop` drains the actor before the
/// database stops. Every accepted row is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stop_drains_the_persistence_actor_before_the_database_stops() {
    use std::collections::HashMap;
    use switchboard::app::Engine;
    use switchboard::config::Config;

    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<String, String> = [(
        "SWITCHBOARD_STORAGE_DATA_DIR".to_owned(),
        dir.path().display().to_string(),
    )]
    .into();
    let engine = Engine::start(Config::from_sources(None, &env).unwrap())
        .await
        .unwrap();
    let client = db::connect(engine.cluster().unwrap()).await;
    let conversations = create_conversations(&client, 20).await;
    drop(client);
    produce(engine.persistence(), &conversations, 1000, Duration::ZERO).await;
    let stats = engine.persistence().metrics().snapshot();
    assert_eq!(stats.rows_accepted, 20_000);
    engine.stop().await.unwrap();

    let cluster = db::start_cluster(dir.path()).await;
    let client = db::connect(&cluster).await;
    assert_eq!(tally(&client).await, (20_000, 20_000, 0));
}
