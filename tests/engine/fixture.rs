//! The history fixture seeded into a real managed PostgreSQL: every row passed the schema's CHECK
//! and foreign-key constraints (the COPYs succeeded and the constraints are still in place and
//! validated), the counts are exact, and each call's messages are in time order and consistent
//! with the call's own timestamps.

use switchboard_sim::harness::test_db as db;

use db::TestDb;
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_sim::fixture::{FixtureError, FixtureSpec, seed_history, seed_history_on};

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_small_history_is_seeded_whole_and_in_order() {
    let db = TestDb::start().await;
    let (a, b) = (db.client().await, db.client().await);
    let spec = FixtureSpec::small();
    let report = seed_history_on(&[&a, &b], &spec).await.unwrap();

    // Counts: reported and stored.
    assert_eq!(
        (
            report.customers,
            report.conversations,
            report.calls,
            report.messages
        ),
        (120, 300, 300, 6_000)
    );
    assert_eq!(count(&a, "SELECT count(*) FROM customers").await, 120);
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM conversations WHERE channel = 'voice'"
        )
        .await,
        300
    );
    assert_eq!(count(&a, "SELECT count(*) FROM calls").await, 300);
    assert_eq!(count(&a, "SELECT count(*) FROM messages").await, 6_000);
    let org_rows = a
        .query_one(
            "SELECT (SELECT count(*) FROM messages WHERE org_id = $1)
                  + (SELECT count(*) FROM calls WHERE org_id = $1)",
            &[&DEFAULT_ORG],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(org_rows, 6_300, "all rows in the spec's organization");
    assert!(report.rows_per_second > 0.0 && report.seconds > 0.0);
    assert_eq!(report.sample_calls.len(), 300);

    // The constraints are all there and validated (nothing was dropped to load faster).
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM pg_constraint
             WHERE conrelid IN ('messages'::regclass, 'calls'::regclass, 'conversations'::regclass,
                                'customers'::regclass) AND NOT convalidated"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM pg_constraint
             WHERE conname IN ('messages_conversation_fkey', 'messages_message_type_check',
                               'messages_sender_check', 'calls_call_sid_key', 'customers_phone_check',
                               'conversations_satisfaction_score_check')"
        )
        .await,
        6
    );

    // One conversation per call, with the call's customer and a matching status.
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM calls c JOIN conversations v ON v.id = c.conversation_id
             WHERE v.status <> CASE c.status WHEN 'completed' THEN 'completed'
                                             WHEN 'in-progress' THEN 'active' ELSE 'failed' END
                OR v.initiated_at <> c.started_at
                OR (c.status = 'completed' AND (v.completed_at <> c.ended_at
                                                OR v.last_activity_at <> c.ended_at))"
        )
        .await,
        0
    );
    let completed = count(&a, "SELECT count(*) FROM calls WHERE status = 'completed'").await;
    assert!(completed > 200, "mostly completed: {completed}");
    assert!(
        count(&a, "SELECT count(*) FROM calls WHERE direction = 'inbound'").await > 200,
        "mostly inbound"
    );
    assert!(
        count(
            &a,
            "SELECT count(*) FROM (SELECT customer_id FROM conversations WHERE customer_id IS NOT NULL
                                   GROUP BY customer_id HAVING count(*) > 2) r"
        )
        .await
            > 0,
        "some customers call again and again"
    );

    // Per call: it opens with call_started at started_at; completed calls end with call_ended at
    // ended_at, then exactly one summary; ids follow time order; nothing before the call started.
    assert_eq!(
        count(
            &a,
            r#"SELECT count(*) FROM (
                 SELECT m.*, c.started_at, c.ended_at, c.status AS call_status,
                        row_number() OVER w AS n, lag(m.id) OVER w AS prev_id,
                        lag(m."timestamp") OVER w AS prev_at
                 FROM messages m JOIN calls c ON c.conversation_id = m.conversation_id
                 WINDOW w AS (PARTITION BY m.conversation_id ORDER BY m."timestamp", m.id)) x
               WHERE (n = 1 AND (metadata->>'system_event_type' IS DISTINCT FROM 'call_started'
                                 OR "timestamp" <> started_at))
                  OR (prev_id IS NOT NULL AND (prev_id > id OR prev_at >= "timestamp"))
                  OR "timestamp" < started_at
                  OR (metadata->>'system_event_type' = 'call_ended' AND "timestamp" <> ended_at)
                  OR (call_status = 'completed' AND message_type <> 'summary'
                      AND "timestamp" > ended_at)"#
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM calls c
             WHERE (SELECT count(*) FROM messages m WHERE m.conversation_id = c.conversation_id
                      AND m.message_type = 'summary') <> CASE c.status WHEN 'completed' THEN 1 ELSE 0 END"
        )
        .await,
        0
    );

    // Transcripts: timestamp = start + audio_end_time, inside the answered part of the call,
    // confidence 0.6–1.0, alternating senders with the right JSON.
    assert_eq!(
        count(
            &a,
            r#"SELECT count(*) FROM messages m JOIN calls c ON c.conversation_id = m.conversation_id
               WHERE m.message_type = 'transcript'
                 AND (abs(extract(epoch FROM m."timestamp" - c.started_at)
                          - (m.metadata->>'audio_end_time')::float8) > 0.005
                      OR (m.metadata->>'audio_start_time')::float8 >= (m.metadata->>'audio_end_time')::float8
                      OR c.started_at + make_interval(secs => (m.metadata->>'audio_start_time')::float8)
                           < c.answered_at
                      OR (m.metadata->>'confidence_score')::float8 NOT BETWEEN 0.6 AND 1.0
                      OR (m.sender->>'type' = 'customer') <> (m.direction = 'inbound')
                      OR (m.sender->>'type' = 'customer' AND m.sender->>'phone_number' IS NULL)
                      OR m.sender->>'type' NOT IN ('customer', 'ai'))"#
        )
        .await,
        0
    );
    assert!(
        count(
            &a,
            "SELECT count(*) FROM messages WHERE metadata->>'system_event_type' = 'barge_in'"
        )
        .await
            > 0
    );
    assert!(count(&a, "SELECT count(*) FROM messages WHERE message_type = 'note' AND sender->>'type' = 'operator'").await > 0);
    assert!(
        count(
            &a,
            "SELECT count(*) FROM messages WHERE content ILIKE '%appointment%'"
        )
        .await
            > 100
    );

    // The long call.
    let long = &report.long_call;
    let row = a
        .query_one(
            "SELECT c.call_sid, count(*) FILTER (WHERE m.message_type = 'transcript'), count(*)
             FROM calls c JOIN messages m ON m.conversation_id = c.conversation_id
             WHERE c.id = $1 GROUP BY c.call_sid",
            &[&long.id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), long.call_sid);
    assert_eq!(row.get::<_, i64>(1), 1_000);
    assert_eq!(row.get::<_, i64>(2), long.messages as i64);
    assert!(long.call_sid.starts_with("CA") && long.call_sid.len() == 34);
    assert_eq!(
        count(&a, "SELECT count(*) FROM calls c WHERE (SELECT count(*) FROM messages m WHERE m.conversation_id = c.conversation_id) >= 1000").await,
        1,
        "exactly one long call"
    );

    // The organization now has calls: seeding it again is refused, and nothing is added.
    assert!(matches!(
        seed_history(&a, &spec).await,
        Err(FixtureError::NotEmpty(org)) if org == DEFAULT_ORG
    ));
    assert_eq!(count(&a, "SELECT count(*) FROM messages").await, 6_000);
}
