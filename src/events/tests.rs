use super::*;
use futures_util::FutureExt;
use serde_json::json;
use switchboard_actors::persistence::DEFAULT_ORG;

fn event(n: u64) -> NewLiveEvent {
    NewLiveEvent::new(EventKind::MessageCreated, DEFAULT_ORG, json!({ "n": n }))
}

/// Every delivery ready now (until the subscription would wait).
fn ready(sub: &mut Subscription) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(Some(d)) = sub.next().now_or_never() {
        out.push(d);
    }
    out
}

fn ids(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Event(e) => Some(e.id),
            _ => None,
        })
        .collect()
}

#[test]
fn ids_are_monotonic_from_one_and_the_ring_keeps_the_last_n() {
    let bus = EventBus::new(5);
    assert_eq!(bus.last_id(), 0);
    for n in 1..=12 {
        assert_eq!(bus.publish(event(n)), n, "published with no subscriber");
    }
    assert_eq!(bus.last_id(), 12);
    let ring: Vec<u64> = bus.ring().events.iter().map(|e| e.id).collect();
    assert_eq!(ring, [8, 9, 10, 11, 12]);
    assert_eq!(bus.publish_all((13..=14).map(event)), 14);
    assert_eq!(bus.publish_all(Vec::new()), 0);
}

#[tokio::test]
async fn subscribing_after_k_replays_exactly_the_events_after_k_then_live_ones() {
    let bus = EventBus::new(100);
    bus.publish_all((1..=10).map(event));
    let mut sub = bus.subscribe(DEFAULT_ORG, Some(6));
    bus.publish_all((11..=12).map(event));
    let got = ready(&mut sub);
    assert_eq!(ids(&got), [7, 8, 9, 10, 11, 12]);
    assert!(got.iter().all(|d| matches!(d, Delivery::Event(_))));
    // The data travels with the event.
    let Delivery::Event(e) = &got[0] else {
        unreachable!()
    };
    assert_eq!(e.data["n"], 7);

    let mut caught_up = bus.subscribe(DEFAULT_ORG, Some(12));
    assert!(ready(&mut caught_up).is_empty());
    let mut fresh = bus.subscribe(DEFAULT_ORG, None);
    bus.publish(event(13));
    assert_eq!(ids(&ready(&mut fresh)), [13]);
    assert_eq!(ids(&ready(&mut caught_up)), [13]);
}

#[tokio::test]
async fn resuming_from_an_id_older_than_the_ring_says_what_was_missed() {
    let bus = EventBus::new(4);
    bus.publish_all((1..=10).map(event));
    let got = ready(&mut bus.subscribe(DEFAULT_ORG, Some(2)));
    assert_eq!(
        got[0],
        Delivery::Gap(Gap {
            after: 2,
            resumed_at: 7,
            reason: GapReason::Expired
        })
    );
    assert_eq!(ids(&got), [7, 8, 9, 10]);
    // Just inside the ring: no gap.
    let got = ready(&mut bus.subscribe(DEFAULT_ORG, Some(6)));
    assert_eq!(ids(&got), [7, 8, 9, 10]);
    assert!(matches!(got[0], Delivery::Event(_)));
    // An id this process never issued (from before a restart): everything it has, flagged.
    let got = ready(&mut bus.subscribe(DEFAULT_ORG, Some(99)));
    assert!(matches!(
        got[0],
        Delivery::Gap(Gap {
            after: 99,
            reason: GapReason::UnknownId,
            ..
        })
    ));
    assert_eq!(ids(&got), [7, 8, 9, 10]);
}

#[tokio::test]
async fn a_subscriber_sees_only_its_organization() {
    let bus = EventBus::new(10);
    let other = Uuid::from_u128(2);
    let mut mine = bus.subscribe(DEFAULT_ORG, None);
    let mut theirs = bus.subscribe(other, Some(0));
    bus.publish(event(1));
    bus.publish(NewLiveEvent::new(EventKind::CallCreated, other, json!({})));
    bus.publish(event(3));
    assert_eq!(ids(&ready(&mut mine)), [1, 3]);
    assert_eq!(ids(&ready(&mut theirs)), [2]);
    let replayed = ready(&mut bus.subscribe(other, Some(0)));
    assert_eq!(ids(&replayed), [2]);
}

#[tokio::test]
async fn a_lagging_subscriber_is_cut_off_and_the_publisher_never_waits() {
    let bus = EventBus::with_live_buffer(64, 4);
    let mut slow = bus.subscribe(DEFAULT_ORG, None);
    let mut keeping_up = bus.subscribe(DEFAULT_ORG, None);
    let mut seen = Vec::new();
    for n in 1..=10 {
        bus.publish(event(n));
        seen.extend(ids(&ready(&mut keeping_up)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(bus.subscribers(), 2);
    assert_eq!(slow.next().await, Some(Delivery::CutOff { missed: 6 }));
    assert_eq!(slow.next().await, None, "nothing after the cut-off");
    drop(slow);
    assert_eq!(bus.subscribers(), 1);
    // It resumes from the ring with its last id.
    let got = ready(&mut bus.subscribe(DEFAULT_ORG, Some(0)));
    assert_eq!(ids(&got), (1..=10).collect::<Vec<_>>());
}

#[test]
fn kinds_serialize_as_their_dotted_names() {
    for kind in EventKind::ALL {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    assert_eq!(
        EventKind::for_system_event(SystemEventKind::BargeIn),
        Some(EventKind::CallBargeIn)
    );
    assert_eq!(EventKind::for_system_event(SystemEventKind::Dtmf), None);
}
