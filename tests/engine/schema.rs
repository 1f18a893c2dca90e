//! The schema as the database enforces it: rows of a call insert, enumerations and ranges are
//! checked, deletes cascade, and migrations are idempotent.

use switchboard_sim::harness::test_db as db;

use db::TestDb;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

const DEFAULT_ORG: Uuid = Uuid::from_u128(1);

struct Call {
    conversation: Uuid,
    call: Uuid,
}

async fn insert_call(client: &tokio_postgres::Client, call_sid: &str) -> Call {
    let customer = Uuid::now_v7();
    let conversation = Uuid::now_v7();
    let call = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO customers (id, org_id, name, phone) VALUES ($1, $2, 'Ada', $3)",
            &[
                &customer,
                &DEFAULT_ORG,
                &format!("+1555000{}", &call_sid[2..]),
            ],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO conversations (id, org_id, customer_id, channel, subject)
             VALUES ($1, $2, $3, 'voice', 'Booking')",
            &[&conversation, &DEFAULT_ORG, &customer],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO calls (id, org_id, conversation_id, call_sid, from_number, to_number, direction, status)
             VALUES ($1, $2, $3, $4, '+15550001111', '+15550002222', 'inbound', 'in-progress')",
            &[&call, &DEFAULT_ORG, &conversation, &call_sid],
        )
        .await
        .unwrap();
    Call { conversation, call }
}

async fn insert_message(
    client: &tokio_postgres::Client,
    conversation: Uuid,
    message_type: &str,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content, \"timestamp\", metadata)
             VALUES ($1, $2, $3, $4, 'inbound', $5, 'I would like to book a table', now(), $6)",
            &[
                &Uuid::now_v7(),
                &DEFAULT_ORG,
                &conversation,
                &message_type,
                &serde_json::json!({"identifier": "+15550001111", "type": "customer", "name": "Ada"}),
                &serde_json::json!({"confidence_score": 0.93, "language": "en", "audio_start_time": 1.2}),
            ],
        )
        .await
}

fn is_check_violation(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::CHECK_VIOLATION)
}

#[tokio::test]
async fn a_call_with_its_conversation_and_messages_inserts() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let call = insert_call(&client, "CA0001").await;
    for kind in ["transcript", "system", "summary", "note"] {
        insert_message(&client, call.conversation, kind)
            .await
            .unwrap();
    }
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = $1",
            &[&call.conversation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 4);
    let org: Uuid = client
        .query_one("SELECT org_id FROM calls WHERE id = $1", &[&call.call])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        org, DEFAULT_ORG,
        "the default organization exists and owns the call"
    );
}

#[tokio::test]
async fn bad_enumerations_and_ranges_are_rejected_by_the_database() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let call = insert_call(&client, "CA0002").await;

    let err = insert_message(&client, call.conversation, "voicemail")
        .await
        .unwrap_err();
    assert!(is_check_violation(&err), "message_type: {err:?}");

    let err = client
        .execute(
            "INSERT INTO conversations (id, org_id, channel) VALUES ($1, $2, 'fax')",
            &[&Uuid::now_v7(), &DEFAULT_ORG],
        )
        .await
        .unwrap_err();
    assert!(is_check_violation(&err), "channel: {err:?}");

    for score in [0i16, 11] {
        let err = client
            .execute(
                "UPDATE conversations SET satisfaction_score = $2 WHERE id = $1",
                &[&call.conversation, &score],
            )
            .await
            .unwrap_err();
        assert!(
            is_check_violation(&err),
            "satisfaction_score {score}: {err:?}"
        );
    }
    client
        .execute(
            "UPDATE conversations SET satisfaction_score = 10, sentiment = 'positive', outcome = 'info_request' WHERE id = $1",
            &[&call.conversation],
        )
        .await
        .unwrap();

    let err = client
        .execute(
            "UPDATE calls SET status = 'ringing-ish' WHERE id = $1",
            &[&call.call],
        )
        .await
        .unwrap_err();
    assert!(is_check_violation(&err), "call status: {err:?}");

    let err = client
        .execute(
            "UPDATE conversations SET sentiment = 'ecstatic' WHERE id = $1",
            &[&call.conversation],
        )
        .await
        .unwrap_err();
    assert!(is_check_violation(&err), "sentiment: {err:?}");

    // A sender without a known type is rejected too.
    let err = client
        .execute(
            "INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content, \"timestamp\")
             VALUES ($1, $2, $3, 'transcript', 'inbound', '{\"type\": \"robot\"}', 'x', now())",
            &[&Uuid::now_v7(), &DEFAULT_ORG, &call.conversation],
        )
        .await
        .unwrap_err();
    assert!(is_check_violation(&err), "sender type: {err:?}");

    // A message id is unique: the idempotency the persistence path relies on.
    let id = Uuid::now_v7();
    let insert_twice = "INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content, \"timestamp\")
             VALUES ($1, $2, $3, 'note', 'internal', '{\"type\": \"operator\"}', 'n', now()) ON CONFLICT (id) DO NOTHING";
    let first = client
        .execute(insert_twice, &[&id, &DEFAULT_ORG, &call.conversation])
        .await
        .unwrap();
    let second = client
        .execute(insert_twice, &[&id, &DEFAULT_ORG, &call.conversation])
        .await
        .unwrap();
    assert_eq!((first, second), (1, 0));
}

#[tokio::test]
async fn deleting_a_conversation_cascades_to_its_call_messages_events_and_recordings() {
    let db = TestDb::start().await;
    let client = db.client().await;
    let call = insert_call(&client, "CA0003").await;
    insert_message(&client, call.conversation, "transcript")
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO events (id, org_id, conversation_id, event_type, details) VALUES ($1, $2, $3, 'intent_detected', '{\"intent\": \"booking\"}')",
            &[&Uuid::now_v7(), &DEFAULT_ORG, &call.conversation],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO recordings (id, org_id, call_id, path, format, sample_rate, channels) VALUES ($1, $2, $3, '/r/CA0003.wav', 'wav', 8000, 2)",
            &[&Uuid::now_v7(), &DEFAULT_ORG, &call.call],
        )
        .await
        .unwrap();
    // A second call that must survive.
    let other = insert_call(&client, "CA0004").await;
    insert_message(&client, other.conversation, "transcript")
        .await
        .unwrap();

    client
        .execute(
            "DELETE FROM conversations WHERE id = $1",
            &[&call.conversation],
        )
        .await
        .unwrap();
    for (table, column, id) in [
        ("calls", "conversation_id", call.conversation),
        ("messages", "conversation_id", call.conversation),
        ("events", "conversation_id", call.conversation),
        ("recordings", "call_id", call.call),
    ] {
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE {column} = $1"),
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table} rows left after the cascade");
    }
    let survivors: i64 = client
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = $1",
            &[&other.conversation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(survivors, 1);
}

#[tokio::test]
async fn rerunning_migrations_is_a_no_op() {
    let db = TestDb::start().await;
    let again = db.store.migrate().await.unwrap();
    assert!(again.is_empty(), "applied again: {again:?}");
    let client = db.client().await;
    let (rows, orgs): (i64, i64) = {
        let r = client
            .query_one(
                "SELECT (SELECT count(*) FROM refinery_schema_history), (SELECT count(*) FROM organizations)",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        rows as i32,
        switchboard::store::Store::expected_schema_version()
    );
    assert_eq!(orgs, 1, "the default organization is created once");
    db.store.readiness().await.unwrap();
}

#[tokio::test]
async fn concurrent_migrations_from_two_engines_do_not_race() {
    let db = TestDb::start().await;
    let client = db.client().await;
    client
        .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .await
        .unwrap();
    assert!(
        db.store.readiness().await.is_err(),
        "schema gone: not ready"
    );
    let other =
        switchboard::store::Store::connect(db.pg_config(), 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
    let (a, b) = tokio::join!(db.store.migrate(), other.migrate());
    let (a, b) = (a.unwrap(), b.unwrap());
    let expected = switchboard::store::Store::expected_schema_version() as usize;
    assert_eq!(
        a.len() + b.len(),
        expected,
        "each migration applied exactly once between them: {a:?} {b:?}"
    );
    db.store.readiness().await.unwrap();
}

/// The analytics rollups (V7) count exactly what a recount of the base tables finds, after
/// bulk inserts, multi-row and concurrent updates, updates that change nothing they count, and
/// cascading deletes; and the analytics read (whole hours from the rollups, partial hours from
/// the base tables) equals a plain scan of the period.
#[tokio::test]
async fn analytics_rollups_stay_exact_through_every_kind_of_write() {
    use chrono::{DateTime, Duration, Utc};
    use switchboard::history::analytics::Interval;
    use switchboard::store::analytics::{Group, fold};

    let db = TestDb::start().await;
    let client = db.client().await;
    let other_org = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, 'Other', 'other')",
            &[&other_org],
        )
        .await
        .unwrap();
    // 240 calls over 30 hours from 2026-11-01T00:07Z, in both organizations, half sentiment-scored.
    let base: DateTime<Utc> = "2026-11-01T00:07:00Z".parse().unwrap();
    let n = 240;
    let conversations: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let calls: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let orgs: Vec<Uuid> = (0..n)
        .map(|i| if i % 5 == 0 { other_org } else { DEFAULT_ORG })
        .collect();
    let starts: Vec<DateTime<Utc>> = (0..n)
        .map(|i| base + Duration::minutes(i as i64 * 7 + (i as i64 % 3)))
        .collect();
    let sentiments: Vec<Option<&str>> = (0..n)
        .map(|i| ["positive", "negative", "neutral"].get(i % 6).copied())
        .collect();
    let sids: Vec<String> = (0..n).map(|i| format!("CArollup{i:04}")).collect();
    let directions: Vec<&str> = (0..n)
        .map(|i| if i % 4 == 0 { "outbound" } else { "inbound" })
        .collect();
    client
        .execute(
            "INSERT INTO conversations (id, org_id, channel, initiated_at, sentiment)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[])",
            &[
                &conversations,
                &orgs,
                &vec!["voice"; n],
                &starts,
                &sentiments,
            ],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO calls (id, org_id, conversation_id, call_sid, from_number, to_number,
                                direction, status, started_at)
             SELECT id, org, conv, sid, '+15550001111', '+15550002222', dir, 'ringing', at
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])
                  AS u(id, org, conv, sid, dir, at)",
            &[&calls, &orgs, &conversations, &sids, &directions, &starts],
        )
        .await
        .unwrap();
    // A non-voice conversation is not counted.
    client
        .execute(
            "INSERT INTO conversations (id, org_id, channel, initiated_at) VALUES ($1, $2, 'sms', $3)",
            &[&Uuid::now_v7(), &DEFAULT_ORG, &starts[3]],
        )
        .await
        .unwrap();

    // One multi-row update answers most calls; another ends them with durations.
    client
        .execute(
            "UPDATE calls SET status = 'in-progress', answered_at = started_at
             WHERE call_sid <> ALL($1)",
            &[&sids[200..].to_vec()],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE calls SET status = 'completed', ended_at = started_at + interval '1 minute',
                              duration_seconds = 30 + (abs(hashtext(call_sid)) % 300)
             WHERE status = 'in-progress' AND call_sid < 'CArollup0150'",
            &[],
        )
        .await
        .unwrap();
    // Concurrent single-row writers (Twilio status callbacks, the persistence path) on the
    // same hours, statuses and directions: none deadlocks or loses a change.
    let mut writers = Vec::new();
    for w in 0..4 {
        let client = db.client().await;
        let sids = sids.clone();
        writers.push(tokio::spawn(async move {
            for sid in sids.iter().skip(200 + w).step_by(4) {
                for (status, seconds) in [("in-progress", None), ("no-answer", Some(0))] {
                    client
                        .execute(
                            "UPDATE calls SET status = $2, duration_seconds = $3 WHERE call_sid = $1",
                            &[sid, &status, &seconds],
                        )
                        .await
                        .unwrap();
                }
                client
                    .execute(
                        "UPDATE conversations SET sentiment = 'mixed', last_activity_at = now()
                         WHERE id = (SELECT conversation_id FROM calls WHERE call_sid = $1)",
                        &[sid],
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Updates of columns the rollups do not count leave their rows untouched.
    const ROLLUP_VERSIONS: &str = "
        SELECT (SELECT string_agg(xmin::text, ',' ORDER BY org_id, hour, status, direction)
                FROM call_stats_hourly)
            || ';' || (SELECT string_agg(xmin::text, ',' ORDER BY org_id, hour, sentiment)
                       FROM voice_sentiment_hourly)";
    let before: String = client.query_one(ROLLUP_VERSIONS, &[]).await.unwrap().get(0);
    client
        .execute("UPDATE calls SET updated_at = now(), agent = 'ada'", &[])
        .await
        .unwrap();
    client
        .execute("UPDATE conversations SET last_activity_at = now()", &[])
        .await
        .unwrap();
    let after: String = client.query_one(ROLLUP_VERSIONS, &[]).await.unwrap().get(0);
    assert_eq!(before, after, "no-op updates rewrote rollup rows");
    // Deleting conversations cascades to their calls; both rollups follow.
    client
        .execute(
            "DELETE FROM conversations WHERE id = ANY($1)",
            &[&conversations[100..130].to_vec()],
        )
        .await
        .unwrap();

    let mismatches: i64 = client
        .query_one(
            "WITH recount AS (
                 SELECT org_id, date_trunc('hour', started_at, 'UTC') AS hour, status, direction,
                        count(*) AS calls, coalesce(sum(duration_seconds), 0) AS duration_sum,
                        count(duration_seconds) AS durations
                 FROM calls GROUP BY 1, 2, 3, 4),
             rollup AS (
                 SELECT org_id, hour, status, direction, calls, duration_sum, durations
                 FROM call_stats_hourly WHERE calls <> 0 OR duration_sum <> 0 OR durations <> 0),
             sentiment_recount AS (
                 SELECT org_id, date_trunc('hour', initiated_at, 'UTC') AS hour,
                        coalesce(sentiment, 'unscored') AS sentiment, count(*) AS n
                 FROM conversations WHERE channel = 'voice' GROUP BY 1, 2, 3),
             sentiment_rollup AS (
                 SELECT org_id, hour, sentiment, conversations AS n
                 FROM voice_sentiment_hourly WHERE conversations <> 0)
             SELECT (SELECT count(*) FROM (SELECT * FROM recount EXCEPT SELECT * FROM rollup) a)
                  + (SELECT count(*) FROM (SELECT * FROM rollup EXCEPT SELECT * FROM recount) b)
                  + (SELECT count(*) FROM (SELECT * FROM sentiment_recount
                                           EXCEPT SELECT * FROM sentiment_rollup) c)
                  + (SELECT count(*) FROM (SELECT * FROM sentiment_rollup
                                           EXCEPT SELECT * FROM sentiment_recount) d)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatches, 0, "the rollups differ from a recount");
    let rolled: i64 = client
        .query_one("SELECT sum(calls)::bigint FROM call_stats_hourly", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rolled, (n - 30) as i64);

    // The analytics read equals a plain scan, for periods with and without partial hours.
    for (start, end, interval) in [
        (
            "2026-11-01T00:30:00Z",
            "2026-11-02T05:10:00Z",
            Interval::Hour,
        ),
        (
            "2026-11-01T03:00:00Z",
            "2026-11-01T20:00:00Z",
            Interval::Day,
        ),
        (
            "2026-11-01T02:10:00Z",
            "2026-11-01T02:50:00Z",
            Interval::Hour,
        ),
        (
            "2026-10-30T00:00:00Z",
            "2026-11-03T00:00:00Z",
            Interval::Week,
        ),
    ] {
        let (start, end): (DateTime<Utc>, DateTime<Utc>) =
            (start.parse().unwrap(), end.parse().unwrap());
        let rows = client
            .query(
                "SELECT date_trunc($4, started_at, 'UTC'), status, direction, count(*),
                        coalesce(sum(duration_seconds), 0)::bigint, count(duration_seconds)
                 FROM calls WHERE org_id = $1 AND started_at >= $2 AND started_at < $3
                 GROUP BY 1, 2, 3",
                &[&DEFAULT_ORG, &start, &end, &interval.as_str()],
            )
            .await
            .unwrap();
        let groups: Vec<Group> = rows
            .iter()
            .map(|r| Group {
                bucket: r.get(0),
                status: r.get(1),
                direction: r.get(2),
                calls: r.get(3),
                duration_sum: r.get(4),
                durations: r.get(5),
            })
            .collect();
        let by_sentiment = client
            .query(
                "SELECT coalesce(sentiment, 'unscored'), count(*) FROM conversations
                 WHERE org_id = $1 AND channel = 'voice' AND initiated_at >= $2 AND initiated_at < $3
                 GROUP BY 1",
                &[&DEFAULT_ORG, &start, &end],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let expected = fold(start, end, interval, &groups, by_sentiment);
        let got = db
            .store
            .analytics(DEFAULT_ORG, start, end, interval)
            .await
            .unwrap();
        assert!(expected.totals.calls > 0, "{start}..{end} has calls");
        assert_eq!(got, expected, "{start}..{end} by {interval:?}");
    }
}
