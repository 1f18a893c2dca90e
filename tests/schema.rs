//! The schema as the database enforces it: rows of a call insert, enumerations and ranges are
//! checked, deletes cascade, and migrations are idempotent.

mod common;

use common::TestDb;
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
    let other = switchboard::store::Store::connect(
        db.cluster.pg_config(),
        2,
        std::time::Duration::from_secs(5),
    )
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
