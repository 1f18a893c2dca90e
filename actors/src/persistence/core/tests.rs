use super::*;
use crate::domain::{MessageDirection, MessageType, SenderType};
use crate::persistence::rows::{DEFAULT_ORG, NewMessage, Sender};

fn config() -> PersistenceConfig {
    PersistenceConfig {
        batch_max_rows: 10,
        batch_max_delay: Duration::from_millis(20),
        max_pending_rows: 100,
        max_in_flight: 2,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(1),
    }
}

fn core() -> PersistenceCore<&'static str> {
    PersistenceCore::new(config(), Arc::default())
}

fn rows(n: usize) -> Vec<PersistItem> {
    (0..n)
        .map(|i| {
            PersistItem::Message(NewMessage {
                id: Uuid::now_v7(),
                org_id: DEFAULT_ORG,
                conversation_id: Uuid::nil(),
                message_type: MessageType::Transcript,
                direction: MessageDirection::Inbound,
                sender: Sender {
                    identifier: "caller".into(),
                    name: None,
                    sender_type: SenderType::Customer,
                    phone_number: None,
                },
                content: format!("row {i}"),
                timestamp: chrono::Utc::now(),
                metadata: serde_json::json!({}),
                system_event: None,
            })
        })
        .collect()
}

const OK: Result<(), WriteError> = Ok(());
const LAT: Duration = Duration::from_millis(1);

#[test]
fn a_full_batch_is_written_at_once_and_a_partial_one_at_its_deadline() {
    let t0 = Instant::now();
    let mut c = core();
    c.submit(t0, rows(25)).unwrap();
    let a = c.poll_write(t0).unwrap();
    let b = c.poll_write(t0).unwrap();
    assert_eq!((a.rows.len(), b.rows.len()), (10, 10));
    assert_eq!((a.first_seq, b.first_seq), (0, 10));
    assert!(c.poll_write(t0).is_none(), "max_in_flight reached");
    c.on_write_result(t0, a.id, OK, LAT);
    // 5 rows left, not due before the deadline of the oldest (t0 + 20 ms).
    assert!(c.poll_write(t0 + Duration::from_millis(5)).is_none());
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_millis(20)));
    let rest = c.poll_write(t0 + Duration::from_millis(20)).unwrap();
    assert_eq!(rest.rows.len(), 5);
    assert_eq!(rest.first_seq + rest.rows.len() as u64, 25);
    c.on_write_result(t0, b.id, OK, LAT);
    c.on_write_result(t0, rest.id, OK, LAT);
    assert!(c.is_idle());
    assert_eq!(c.metrics.snapshot().rows_written, 25);
    assert_eq!(c.metrics.snapshot().batches_written, 3);
}

#[test]
fn full_buffer_hands_rows_back() {
    let t0 = Instant::now();
    let mut c = core();
    c.submit(t0, rows(95)).unwrap();
    let err = c.submit(t0, rows(6)).unwrap_err();
    assert_eq!(err.rows.len(), 6);
    assert_eq!((err.pending, err.limit), (95, 100));
    c.submit(t0, rows(5)).unwrap();
    assert_eq!(c.metrics.snapshot().rows_refused, 6);
    assert_eq!(c.metrics.snapshot().pending_rows, 100);
    // Rows in flight still count against the limit.
    let batch = c.poll_write(t0).unwrap();
    assert!(c.submit(t0, rows(1)).is_err());
    c.on_write_result(t0, batch.id, OK, LAT);
    c.submit(t0, rows(1)).unwrap();
}

#[test]
fn transient_failures_retry_the_same_batch_with_capped_backoff() {
    let t0 = Instant::now();
    let mut c = core();
    c.submit(t0, rows(10)).unwrap();
    let batch = c.poll_write(t0).unwrap();
    let ids: Vec<Uuid> = batch.rows.iter().map(PersistItem::id).collect();
    let mut now = t0;
    let mut delays = Vec::new();
    let mut current = batch;
    for _ in 0..5 {
        c.on_write_result(
            now,
            current.id,
            Err(WriteError::Transient("down".into())),
            LAT,
        );
        let at = c.poll_timeout().unwrap();
        delays.push(at - now);
        assert!(
            c.poll_write(at - Duration::from_millis(1)).is_none(),
            "not before the backoff"
        );
        now = at;
        current = c.poll_write(now).unwrap();
        assert_eq!(
            current.rows.iter().map(PersistItem::id).collect::<Vec<_>>(),
            ids
        );
    }
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [50, 100, 200, 200, 200]);
    assert_eq!(current.attempts, 5);
    c.on_write_result(now, current.id, OK, LAT);
    assert!(c.is_idle());
    assert_eq!(c.metrics.snapshot().retries, 5);
    // Success resets the backoff.
    c.submit(now, rows(10)).unwrap();
    let b = c.poll_write(now).unwrap();
    c.on_write_result(now, b.id, Err(WriteError::Transient("down".into())), LAT);
    assert_eq!(c.poll_timeout().unwrap() - now, Duration::from_millis(50));
}

#[test]
fn a_poison_row_is_isolated_by_splitting_and_its_neighbours_written() {
    let t0 = Instant::now();
    let mut c = core();
    let batch_rows = rows(10);
    let poison = batch_rows[6].id();
    c.submit(t0, batch_rows).unwrap();
    let mut written = 0;
    let mut writes = 0;
    while let Some(batch) = c.poll_write(t0) {
        writes += 1;
        let has_poison = batch.rows.iter().any(|r| r.id() == poison);
        let result = if has_poison {
            Err(WriteError::Rejected("violates check constraint".into()))
        } else {
            written += batch.rows.len();
            Ok(())
        };
        c.on_write_result(t0, batch.id, result, LAT);
    }
    assert!(c.is_idle());
    assert_eq!(written, 9);
    assert!(
        writes <= 1 + 2 * 4,
        "log2 splitting, not one by one: {writes}"
    );
    let rejections = c.rejections();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].id, poison);
    assert_eq!(rejections[0].table, "messages");
    assert!(rejections[0].reason.contains("check constraint"));
    assert_eq!(c.metrics.snapshot().rows_rejected, 1);
}

#[test]
fn flush_waiters_are_released_only_when_everything_before_them_is_durable() {
    let t0 = Instant::now();
    let mut c = core();
    c.add_flush_waiter("empty");
    assert_eq!(
        c.take_released_waiters(),
        ["empty"],
        "nothing pending: released at once"
    );

    c.submit(t0, rows(3)).unwrap();
    c.add_flush_waiter("first");
    // A flush makes the partial batch due before its deadline.
    let a = c.poll_write(t0).unwrap();
    c.submit(t0, rows(3)).unwrap();
    c.add_flush_waiter("second");
    let b = c.poll_write(t0).unwrap();
    assert!(c.take_released_waiters().is_empty());
    // The later batch finishing first releases nobody: "first" still waits on `a`.
    c.on_write_result(t0, b.id, OK, LAT);
    assert!(c.take_released_waiters().is_empty());
    c.on_write_result(t0, a.id, OK, LAT);
    let mut released = c.take_released_waiters();
    released.sort();
    assert_eq!(released, ["first", "second"]);
}

#[test]
fn rows_in_retry_hold_back_flushes() {
    let t0 = Instant::now();
    let mut c = core();
    c.submit(t0, rows(2)).unwrap();
    c.add_flush_waiter("w");
    let a = c.poll_write(t0).unwrap();
    c.on_write_result(t0, a.id, Err(WriteError::Transient("x".into())), LAT);
    assert!(c.take_released_waiters().is_empty());
    let again = c.poll_write(t0 + Duration::from_millis(50)).unwrap();
    c.on_write_result(t0, again.id, OK, LAT);
    assert_eq!(c.take_released_waiters(), ["w"]);
}

#[test]
fn recovered_in_flight_batches_are_written_again_and_stale_results_ignored() {
    let t0 = Instant::now();
    let mut c = core();
    c.submit(t0, rows(20)).unwrap();
    let a = c.poll_write(t0).unwrap();
    let b = c.poll_write(t0).unwrap();
    assert_eq!(c.in_flight_count(), 2);
    c.recover_in_flight(t0);
    assert_eq!(c.in_flight_count(), 0);
    assert_eq!(c.unfinished_rows(), 20);
    assert_eq!(c.unfinished_ids().len(), 20);
    let a2 = c.poll_write(t0).unwrap();
    let b2 = c.poll_write(t0).unwrap();
    assert_eq!(
        (a2.first_seq, b2.first_seq),
        (a.first_seq, b.first_seq),
        "same rows, same order"
    );
    c.on_write_result(t0, a2.id, OK, LAT);
    c.on_write_result(t0, b2.id, OK, LAT);
    // A result for an id no longer in flight changes nothing.
    c.on_write_result(t0, 9999, OK, LAT);
    assert!(c.is_idle());
    assert_eq!(c.metrics.snapshot().rows_written, 20);
}

/// The ids handed out by `take_durable`, flattened.
fn durable_ids(c: &mut PersistenceCore<&'static str>) -> Vec<Uuid> {
    c.take_durable()
        .iter()
        .flat_map(|rows| rows.iter().map(PersistItem::id))
        .collect()
}

#[test]
fn durable_rows_are_handed_out_in_acceptance_order_once_each() {
    let t0 = Instant::now();
    let mut c = core();
    let first = rows(10);
    let second = rows(10);
    let expected: Vec<Uuid> = first.iter().chain(&second).map(PersistItem::id).collect();
    c.submit(t0, first).unwrap();
    c.submit(t0, second).unwrap();
    let a = c.poll_write(t0).unwrap();
    let b = c.poll_write(t0).unwrap();
    // The later batch lands first: held back until the earlier one is durable too.
    c.on_write_result(t0, b.id, OK, LAT);
    assert!(durable_ids(&mut c).is_empty());
    // The earlier one fails once (uncertain), then lands: both come out, in order.
    c.on_write_result(t0, a.id, Err(WriteError::Transient("reset".into())), LAT);
    assert!(durable_ids(&mut c).is_empty());
    let again = c.poll_write(t0 + Duration::from_millis(50)).unwrap();
    c.on_write_result(t0, again.id, OK, LAT);
    assert_eq!(durable_ids(&mut c), expected);
    assert!(durable_ids(&mut c).is_empty(), "each row once");
}

#[test]
fn rejected_rows_are_never_durable_and_restarted_writes_count_once() {
    let t0 = Instant::now();
    let mut c = core();
    let batch_rows = rows(4);
    let poison = batch_rows[1].id();
    let good: Vec<Uuid> = batch_rows
        .iter()
        .map(PersistItem::id)
        .filter(|id| *id != poison)
        .collect();
    c.submit(t0, batch_rows).unwrap();
    c.add_flush_waiter("w");
    let first = c.poll_write(t0).unwrap();
    // The shell restarts while the batch is in flight; the old write's result is lost.
    c.recover_in_flight(t0);
    c.on_write_result(t0, first.id, OK, LAT);
    while let Some(batch) = c.poll_write(t0) {
        let result = if batch.rows.iter().any(|r| r.id() == poison) {
            Err(WriteError::Rejected("bad value".into()))
        } else {
            Ok(())
        };
        c.on_write_result(t0, batch.id, result, LAT);
    }
    assert!(c.is_idle());
    assert_eq!(durable_ids(&mut c), good);
}
