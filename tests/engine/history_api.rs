//! The REST history API end to end: a real engine on a loopback socket over its managed
//! PostgreSQL, seeded with calls whose every field is known, read back through `/api/v1`.

use switchboard_sim::harness::api;

use std::collections::{BTreeSet, HashSet};

use api::{Api, CallSeed, Seeded, customer, organization, seed, t, ts};
use serde_json::{Value, json};
use uuid::Uuid;

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `next_cursor` from `first` to the end; `between` runs between pages.
async fn all_pages(api: &Api, first: &str, mut between: impl AsyncFnMut()) -> Vec<String> {
    let mut seen = Vec::new();
    let mut page = api.ok(first).await;
    loop {
        seen.extend(ids(&page));
        let Some(cursor) = page["next_cursor"].as_str() else {
            assert_eq!(page["has_more"], false);
            return seen;
        };
        assert_eq!(page["has_more"], true);
        between().await;
        let sep = if first.contains('?') { '&' } else { '?' };
        page = api.ok(&format!("{first}{sep}cursor={cursor}")).await;
    }
}

/// Messages of a conversation, counted in the table.
async fn message_count(pg: &tokio_postgres::Client, conversation: Uuid) -> i64 {
    pg.query_one(
        "SELECT count(*) FROM messages WHERE conversation_id = $1",
        &[&conversation],
    )
    .await
    .unwrap()
    .get(0)
}

/// 40 calls over 40 hours with rotating fields; returns them with their ids, newest first.
async fn seed_calls(api: &Api) -> Vec<(CallSeed, Seeded)> {
    let alice = customer(
        &api.pg,
        switchboard_actors::persistence::DEFAULT_ORG,
        "Alice",
        "+14155550001",
    )
    .await;
    let mut out = Vec::new();
    for n in 0..40usize {
        let mut call = CallSeed::new(n, t(n as i64 * 3600));
        call.status = ["completed", "completed", "no-answer", "in-progress"][n % 4];
        call.direction = if n % 5 == 0 { "outbound" } else { "inbound" };
        call.agent = Some(["marin", "cedar"][n % 2].to_owned());
        call.sentiment = [Some("positive"), Some("negative"), None][n % 3];
        if n % 7 == 0 {
            call.customer = Some(alice);
            call.from = "+14155550001".to_owned();
        }
        let topic = if n % 6 == 0 {
            "refund for my broken dishwasher"
        } else {
            "move my appointment to Friday"
        };
        call.messages = vec![
            (
                "system",
                "system",
                "call_started".to_owned(),
                0,
                json!({"system_event_type": "call_started"}),
            ),
            (
                "transcript",
                "customer",
                format!("Hello, I need a {topic}"),
                2,
                json!({}),
            ),
        ];
        let ids = seed(&api.pg, &call).await;
        out.push((call, ids));
    }
    out.reverse();
    out
}

#[tokio::test]
async fn calls_list_filters_and_pages_without_gaps_or_repeats_while_calls_arrive() {
    let api = Api::start().await;
    let calls = seed_calls(&api).await;
    let expect = |keep: &dyn Fn(&CallSeed) -> bool| -> Vec<String> {
        calls
            .iter()
            .filter(|(c, _)| keep(c))
            .map(|(_, s)| s.call.to_string())
            .collect()
    };

    // Default page: the 20 newest, the total and a cursor.
    let page = api.ok("/api/v1/calls").await;
    assert_eq!(page["total"], 40);
    assert_eq!(ids(&page), expect(&|_| true)[..20].to_vec());
    assert_eq!(page["has_more"], true);
    let first = &page["items"][0];
    let (newest, newest_ids) = &calls[0];
    assert_eq!(
        first,
        &json!({
            "id": newest_ids.call, "call_sid": newest.sid, "conversation_id": newest_ids.conversation,
            "customer_id": null, "from": newest.from, "to": "+18005550100", "direction": "inbound",
            "status": "in-progress", "started_at": ts(newest.started), "answered_at": ts(newest.started),
            "ended_at": ts(newest.started + chrono::Duration::seconds(60)), "duration_seconds": 60,
            "agent": "cedar", "sentiment": "positive", "outcome": null
        })
    );

    // Every filter, alone and combined, gives exactly the matching calls, newest first.
    let alice = calls.iter().find_map(|(c, _)| c.customer).unwrap();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "status=no-answer".into(),
            expect(&|c| c.status == "no-answer"),
        ),
        (
            "direction=outbound".into(),
            expect(&|c| c.direction == "outbound"),
        ),
        (
            "from=%2B14155550001".into(),
            expect(&|c| c.from == "+14155550001"),
        ),
        (
            "to=%2B18005550100&status=completed".into(),
            expect(&|c| c.status == "completed"),
        ),
        (
            format!("customer_id={alice}"),
            expect(&|c| c.customer == Some(alice)),
        ),
        (
            "agent=marin".into(),
            expect(&|c| c.agent.as_deref() == Some("marin")),
        ),
        (
            "sentiment=negative".into(),
            expect(&|c| c.sentiment == Some("negative")),
        ),
        (
            format!(
                "start_date={}&end_date={}",
                ts(t(10 * 3600)),
                ts(t(20 * 3600))
            ),
            expect(&|c| c.started >= t(10 * 3600) && c.started < t(20 * 3600)),
        ),
        (
            "q=dishwasher".into(),
            expect(&|c| c.messages[1].2.contains("dishwasher")),
        ),
        (
            "q=REFUND%20broken".into(),
            expect(&|c| c.messages[1].2.contains("refund")),
        ),
        ("q=call_started".into(), vec![]), // system messages are not searched
        (
            "status=completed&direction=inbound&agent=marin&sentiment=positive".into(),
            expect(&|c| {
                c.status == "completed"
                    && c.direction == "inbound"
                    && c.agent.as_deref() == Some("marin")
                    && c.sentiment == Some("positive")
            }),
        ),
    ];
    for (query, expected) in cases {
        let page = api.ok(&format!("/api/v1/calls?limit=100&{query}")).await;
        assert_eq!(ids(&page), expected, "{query}");
        assert_eq!(page["total"], expected.len(), "{query}");
    }

    // Offset paging.
    let offset = api.ok("/api/v1/calls?limit=5&offset=35").await;
    assert_eq!(ids(&offset), expect(&|_| true)[35..].to_vec());
    assert_eq!(offset["has_more"], false);

    // Keyset paging across 6 pages while new calls arrive (newer, and inside the paged range):
    // the pages hold every call that existed when paging began, each once, in order.
    let mut n = 100;
    let pg = &api.pg;
    let arrived: std::cell::RefCell<Vec<Uuid>> = Default::default();
    let seen = all_pages(&api, "/api/v1/calls?limit=7", async || {
        n += 1;
        let newer = seed(pg, &CallSeed::new(n, t(100 * 3600 + n as i64))).await;
        arrived.borrow_mut().push(newer.call);
    })
    .await;
    assert_eq!(seen, expect(&|_| true));
    assert_eq!(arrived.borrow().len(), 5);
    let total = api.ok("/api/v1/calls?limit=1").await["total"].clone();
    assert_eq!(total, 45);
    api.stop().await;
}

/// Full-text search takes two roads: a rare word through the index (exact total), a word in
/// thousands of messages by probing the newest calls (chosen from the column statistics; the
/// total counts what the pages showed). Both give exactly the matching calls, newest first, and
/// page through all of them.
#[tokio::test]
async fn search_finds_rare_and_common_words_alike() {
    let api = Api::start().await;
    let mut calls: Vec<(CallSeed, Seeded)> = Vec::new();
    for n in 0..90 {
        let mut c = CallSeed::new(n, t(n as i64 * 60));
        c.status = if n % 2 == 0 { "completed" } else { "no-answer" };
        c.messages = vec![(
            "system",
            "system",
            "call_started parcel".into(),
            0,
            json!({}),
        )];
        if n % 3 != 0 {
            c.messages.push((
                "transcript",
                "customer",
                "My parcel arrived".into(),
                1,
                json!({}),
            ));
        }
        if n % 10 == 0 {
            c.messages.push((
                "transcript",
                "ai",
                "Use the zebra crossing".into(),
                2,
                json!({}),
            ));
        }
        let seeded = seed(&api.pg, &c).await;
        calls.push((c, seeded));
    }
    calls.reverse(); // newest first
    // 40 more mentions of the parcel in each of its calls (2,400 + 60), then fresh statistics.
    api.pg
        .execute(
            r#"INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender,
                                     content, "timestamp", metadata)
               SELECT gen_random_uuid(), org_id, conversation_id, message_type, direction, sender,
                      content || ' ' || i, "timestamp" + i * interval '1 second', metadata
               FROM messages CROSS JOIN generate_series(1, 40) AS i
               WHERE content = 'My parcel arrived'"#,
            &[],
        )
        .await
        .unwrap();
    api.pg.batch_execute("ANALYZE messages").await.unwrap();
    let expect = |word: &str, status: Option<&str>| -> Vec<String> {
        calls
            .iter()
            .filter(|(c, _)| {
                c.messages
                    .iter()
                    .any(|m| m.0 != "system" && m.2.to_lowercase().contains(word))
                    && status.is_none_or(|s| c.status == s)
            })
            .map(|(_, s)| s.call.to_string())
            .collect()
    };

    // The rare word: through the index, exact.
    let page = api.ok("/api/v1/calls?q=zebra&limit=100").await;
    assert_eq!(ids(&page), expect("zebra", None));
    assert_eq!(
        (page["total"].clone(), page["total_exact"].clone()),
        (json!(9), json!(true))
    );

    // The common word: probing, in pages of 7 by cursor, alone and with a filter.
    for (query, status) in [
        ("q=PARCEL", None),
        ("q=parcel&status=no-answer", Some("no-answer")),
    ] {
        let expected = expect("parcel", status);
        let first = api.ok(&format!("/api/v1/calls?limit=7&{query}")).await;
        assert_eq!(ids(&first), expected[..7].to_vec(), "{query}");
        assert_eq!(
            first["total_exact"], false,
            "{query}: a common word is not counted"
        );
        assert_eq!(first["total"], 7, "{query}");
        let seen = all_pages(&api, &format!("/api/v1/calls?limit=7&{query}"), async || {}).await;
        assert_eq!(seen, expected, "{query}");
        // The last offset page knows it is the last, and then the total is exact.
        let last = api
            .ok(&format!("/api/v1/calls?limit=100&offset=0&{query}"))
            .await;
        assert_eq!(ids(&last), expected, "{query}");
        assert_eq!(last["total"], expected.len(), "{query}");
        assert_eq!(last["total_exact"], true, "{query}");
    }
    api.stop().await;
}

#[tokio::test]
async fn a_call_in_full_with_its_transcript_summary_notes_and_figures() {
    let api = Api::start().await;
    let org = switchboard_actors::persistence::DEFAULT_ORG;
    let bob = customer(&api.pg, org, "Bob", "+14155550002").await;
    let mut call = CallSeed::new(7, t(1000));
    call.from = "+14155550002".into();
    call.customer = Some(bob);
    call.agent = Some("marin".into());
    call.sentiment = Some("positive");
    call.duration_s = Some(95);
    call.messages = vec![
        (
            "system",
            "system",
            "call_started".into(),
            0,
            json!({"system_event_type": "call_started"}),
        ),
        (
            "transcript",
            "customer",
            "Hi, I would like to book a cleaning.".into(),
            3,
            json!({"audio_start_time": 1.5, "audio_end_time": 4.0, "confidence_score": 0.9}),
        ),
        (
            "transcript",
            "ai",
            "Sure, which day suits you?".into(),
            5,
            json!({"audio_start_time": 4.5, "audio_end_time": 9.0}),
        ),
        (
            "system",
            "system",
            "barge_in".into(),
            8,
            json!({"system_event_type": "barge_in"}),
        ),
        (
            "transcript",
            "customer",
            "Friday\nmorning".into(),
            9,
            json!({"audio_start_time": 8.0, "audio_end_time": 10.0, "confidence_score": 0.7}),
        ),
        (
            "transcript",
            "ai",
            "Booked for Friday at nine.".into(),
            70,
            json!({"audio_start_time": 65.0, "audio_end_time": 68.5}),
        ),
        ("summary", "ai", "Old summary".into(), 90, json!({})),
        (
            "summary",
            "ai",
            "Caller booked a cleaning for Friday 9:00.".into(),
            94,
            json!({}),
        ),
        (
            "system",
            "system",
            "call_ended".into(),
            95,
            json!({"system_event_type": "call_ended"}),
        ),
    ];
    let s = seed(&api.pg, &call).await;
    api.pg
        .execute(
            "INSERT INTO recordings (id, org_id, call_id, path, format, sample_rate, channels, duration_ms, bytes, created_at)
             VALUES ($1, $2, $3, '/nowhere.wav', 'wav', 16000, 2, 95000, 6080044, $4)",
            &[&Uuid::from_u128(42), &org, &s.call, &t(1100)],
        )
        .await
        .unwrap();

    // By UUID and by CallSid alike.
    let detail = api.ok(&format!("/api/v1/calls/{}", s.call)).await;
    assert_eq!(api.ok(&format!("/api/v1/calls/{}", call.sid)).await, detail);
    let summary = detail["summary"].clone();
    assert_eq!(
        summary["content"],
        "Caller booked a cleaning for Friday 9:00."
    );
    assert_eq!(summary["message_type"], "summary");
    assert_eq!(summary["timestamp"], ts(t(1094)));
    assert_eq!(
        detail,
        json!({
            "id": s.call, "call_sid": call.sid, "stream_sid": null, "account_sid": null,
            "from": "+14155550002", "to": "+18005550100", "direction": "inbound", "status": "completed",
            "started_at": ts(t(1000)), "answered_at": ts(t(1000)), "ended_at": ts(t(1095)),
            "duration_seconds": 95, "agent": "marin", "notes": null, "node": null,
            "profile_id": null, "profile_version": null,
            "created_at": ts(t(1000)), "updated_at": ts(t(1000)),
            "conversation": {
                "id": s.conversation, "channel": "voice", "status": "completed", "customer_id": bob,
                "initiated_at": ts(t(1000)), "last_activity_at": ts(t(1095)), "completed_at": ts(t(1095)),
                "satisfaction_score": null, "sentiment": "positive", "outcome": null, "subject": null,
                "ai_summary": null, "metadata": {}, "analysis": null
            },
            "customer": { "id": bob, "name": "Bob", "phone": "+14155550002", "email": null, "metadata": {},
                          "created_at": ts(t(0)) },
            "recordings": [{
                "id": Uuid::from_u128(42), "format": "wav", "sample_rate": 16000, "channels": 2,
                "duration_ms": 95000, "bytes": 6080044, "created_at": ts(t(1100)),
                "url": format!("/api/v1/calls/{}/recording", s.call)
            }],
            "message_counts": { "summary": 2, "system": 3, "transcript": 4 },
            "summary": summary,
        })
    );
    assert_eq!(
        api.ok(&format!("/api/v1/calls/{}/summary", call.sid)).await,
        summary
    );

    // Transcript: JSON segments and `[mm:ss] Speaker: words` text.
    let transcript = api
        .ok(&format!("/api/v1/calls/{}/transcript", s.call))
        .await;
    assert_eq!(transcript["call_sid"], call.sid.as_str());
    let segments = transcript["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 4);
    assert_eq!(segments[0]["speaker"], "Customer");
    assert_eq!(segments[0]["sender_type"], "customer");
    assert_eq!(segments[0]["text"], "Hi, I would like to book a cleaning.");
    assert_eq!(
        (segments[0]["start"].as_f64(), segments[0]["end"].as_f64()),
        (Some(1.5), Some(4.0))
    );
    assert_eq!(segments[0]["confidence"], 0.9);
    assert_eq!(segments[1]["confidence"], Value::Null);
    let (status, text) = api
        .get(&format!("/api/v1/calls/{}/transcript?format=text", s.call))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        "[00:01] Customer: Hi, I would like to book a cleaning.\n\
         [00:04] AI agent: Sure, which day suits you?\n\
         [00:08] Customer: Friday morning\n\
         [01:05] AI agent: Booked for Friday at nine.\n"
    );

    // Per-call figures.
    let figures = api
        .ok(&format!("/api/v1/calls/{}/messages/analytics", s.call))
        .await;
    assert_eq!(
        figures,
        json!({
            "call_id": s.call, "total_messages": 9,
            "by_type": {"summary": 2, "system": 3, "transcript": 4},
            "by_sender": {"ai": 4, "customer": 2, "system": 3},
            "talk_time_seconds": {"ai": 8.0, "customer": 4.5},
            "longest_silence_seconds": 55.0, "interruptions": 1, "average_confidence": 0.8,
            "transcript_segments": 4
        })
    );

    // Notes: a note message by the operator, and the call's notes column in step.
    let note_id = Uuid::now_v7();
    let (status, note) = api
        .post(
            &format!("/api/v1/calls/{}/notes", s.call),
            json!({"id": note_id, "content": "Prefers mornings", "author": "Dana"}),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    assert_eq!(note["id"], note_id.to_string());
    assert_eq!(note["message_type"], "note");
    assert_eq!(
        note["sender"],
        json!({"type": "operator", "identifier": "Dana", "name": "Dana"})
    );
    assert_eq!(note["direction"], "internal");
    // The same id again is the same note, stored once.
    let (status, again) = api
        .post(
            &format!("/api/v1/calls/{}/notes", s.call),
            json!({"id": note_id, "content": "Prefers mornings", "author": "Dana"}),
        )
        .await;
    assert_eq!((status, &again), (200, &note));
    let (status, _) = api
        .post(
            &format!("/api/v1/calls/{}/notes", call.sid),
            json!({"content": "Call back Monday"}),
        )
        .await;
    assert_eq!(status, 201);
    let detail = api.ok(&format!("/api/v1/calls/{}", s.call)).await;
    assert_eq!(detail["notes"], "Prefers mornings\nCall back Monday");
    assert_eq!(detail["message_counts"]["note"], 2);

    // A call without a summary: 404 that says so.
    let bare = seed(&api.pg, &CallSeed::new(8, t(5000))).await;
    let (status, body) = api
        .get(&format!("/api/v1/calls/{}/summary", bare.call))
        .await;
    assert_eq!(status, 404);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("summary"),
        "{body}"
    );
    api.stop().await;
}

#[tokio::test]
async fn messages_are_listed_created_edited_and_deleted_and_bulk_is_all_or_nothing() {
    let api = Api::start().await;
    let mut call = CallSeed::new(1, t(0));
    for i in 0..30 {
        let sender = if i % 2 == 0 { "customer" } else { "ai" };
        call.messages
            .push(("transcript", sender, format!("line {i}"), i, json!({})));
    }
    call.messages.push((
        "system",
        "system",
        "call_ended".into(),
        31,
        json!({"system_event_type": "call_ended"}),
    ));
    let s = seed(&api.pg, &call).await;
    let base = format!("/api/v1/calls/{}/messages", s.call);

    // Conversation order, filters, paging.
    let all = api.ok(&base).await;
    assert_eq!(all["total"], 31);
    let contents: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents[0], "line 0");
    assert_eq!(contents[30], "call_ended");
    assert_eq!(
        api.ok(&format!("{base}?message_type=system")).await["total"],
        1
    );
    assert_eq!(api.ok(&format!("{base}?sender_type=ai")).await["total"], 15);
    let window = api
        .ok(&format!("{base}?since={}&until={}", ts(t(10)), ts(t(20))))
        .await;
    assert_eq!(window["total"], 10);
    assert_eq!(window["items"][0]["content"], "line 10");
    let mut inserted = 0;
    let pages = all_pages(&api, &format!("{base}?limit=4&message_type=transcript"), async || {
        // Messages arriving at the end of the conversation while paging: they come last, once.
        inserted += 1;
        let (status, _) = api
            .post(&base, json!({"message_type": "transcript", "sender": {"type": "customer"}, "content": format!("late {inserted}"), "timestamp": ts(t(100 + inserted))}))
            .await;
        assert_eq!(status, 201);
    })
    .await;
    let unique: HashSet<&String> = pages.iter().collect();
    assert_eq!(unique.len(), pages.len(), "a message was repeated");
    assert!(pages.len() >= 30 && pages.len() <= 30 + inserted as usize);
    let listed = api
        .ok(&format!("{base}?message_type=transcript&limit=1000"))
        .await;
    let every: Vec<String> = ids(&listed);
    assert_eq!(
        pages,
        every[..pages.len()].to_vec(),
        "pages are the list, in order"
    );

    // Create: 201 with the stored row, defaults filled in.
    let (status, created) = api
        .post(&base, json!({
            "message_type": "transcript",
            "sender": {"type": "customer", "name": "Carol"},
            "content": "External STT segment",
            "timestamp": ts(t(40)),
            "metadata": {"audio_start_time": 39.5, "audio_end_time": 41.0, "confidence_score": 0.93, "language": "en-US"}
        }))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["sender"],
        json!({"type": "customer", "identifier": call.from, "name": "Carol"})
    );
    assert_eq!(created["direction"], "inbound");
    assert_eq!(created["metadata"]["language"], "en-US");
    assert_eq!(created["timestamp"], ts(t(40)));
    let message_id = created["id"].as_str().unwrap().to_owned();

    // Edit: content and metadata; updated_at moves.
    let path = format!("{base}/{message_id}");
    let (status, edited) = api
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"content": "External STT segment (corrected)"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["content"], "External STT segment (corrected)");
    assert_eq!(edited["metadata"], created["metadata"]);
    assert!(edited["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    let (status, edited) = api
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"metadata": {"reviewed": true}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(edited["metadata"], json!({"reviewed": true}));
    for (body, needle) in [
        (json!({}), "content"),
        (json!({"content": ""}), "content"),
        (json!({"metadata": [1]}), "metadata"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let (status, err) = api
            .send(reqwest::Method::PATCH, &path, Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }

    // Delete: 204, then 404.
    let (status, _) = api.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = api.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .send(reqwest::Method::PATCH, &path, Some(json!({"content": "x"})))
        .await;
    assert_eq!(status, 404);

    // Validation of a new message: each problem names its field.
    for (body, needle) in [
        (
            json!({"sender": {"type": "customer"}, "content": "x"}),
            "message_type",
        ),
        (
            json!({"message_type": "sms", "sender": {"type": "customer"}, "content": "x"}),
            "message_type",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "robot"}, "content": "x"}),
            "sender.type",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "  "}),
            "content",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "a\u{0}b"}),
            "content",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x", "metadata": "no"}),
            "metadata",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x", "metadata": {"confidence_score": 2}}),
            "confidence_score",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x", "metadata": {"audio_start_time": "soon"}}),
            "audio_start_time",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x", "timestamp": "yesterday"}),
            "timestamp",
        ),
        (
            json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x", "extra": 1}),
            "extra",
        ),
    ] {
        let (status, err) = api.post(&base, body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    let (status, err) = api.post(&base, Value::String("not an object".into())).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    // Bulk: 1,000 in one request, in order.
    let before = api.ok(&format!("{base}?limit=1")).await["total"]
        .as_i64()
        .unwrap();
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"message_type": "transcript", "sender": {"type": if i % 2 == 0 { "customer" } else { "ai" }},
                        "content": format!("bulk {i}"), "timestamp": ts(t(200 + i))}))
        .collect();
    let (status, bulk) = api
        .post(&format!("{base}/bulk"), json!({"messages": batch}))
        .await;
    assert_eq!(status, 201, "{bulk}");
    assert_eq!(bulk["created"], 1000);
    assert_eq!(bulk["messages"].as_array().unwrap().len(), 1000);
    assert_eq!(bulk["messages"][999]["content"], "bulk 999");
    // Past 1,000 the page's total is a floor ("1,000+"); the table says exactly.
    let page = api.ok(&format!("{base}?limit=1")).await;
    assert_eq!(
        (page["total"].as_i64(), page["total_exact"].as_bool()),
        (Some(1000), Some(false))
    );
    let after = message_count(&api.pg, s.conversation).await;
    assert_eq!(after, before + 1000);

    // One bad message: nothing of the batch is stored, and the error names it.
    let mut batch: Vec<Value> = (0..10)
        .map(|i| json!({"message_type": "transcript", "sender": {"type": "customer"}, "content": format!("half {i}")}))
        .collect();
    batch[7]["content"] = json!("");
    let (status, err) = api
        .post(&format!("{base}/bulk"), json!({"messages": batch}))
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[7].content"),
        "{err}"
    );
    // An id already used by another call's message: refused as a whole, nothing left behind.
    let other = seed(&api.pg, &{
        let mut c = CallSeed::new(2, t(0));
        c.messages
            .push(("transcript", "customer", "elsewhere".into(), 1, json!({})));
        c
    })
    .await;
    let foreign: Uuid = api
        .pg
        .query_one(
            "SELECT id FROM messages WHERE conversation_id = $1",
            &[&other.conversation],
        )
        .await
        .unwrap()
        .get(0);
    let mut batch: Vec<Value> = (0..5)
        .map(|i| json!({"message_type": "note", "sender": {"type": "operator"}, "content": format!("clash {i}")}))
        .collect();
    batch[3]["id"] = json!(foreign);
    let (status, err) = api
        .post(&format!("{base}/bulk"), json!({"messages": batch}))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(message_count(&api.pg, s.conversation).await, after);
    let clashes: i64 = api
        .pg
        .query_one(
            "SELECT count(*) FROM messages WHERE content LIKE 'clash %'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        clashes, 0,
        "the rows of a refused bulk request were removed"
    );
    // Limits.
    let (status, _) = api
        .post(&format!("{base}/bulk"), json!({"messages": []}))
        .await;
    assert_eq!(status, 400);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"message_type": "note", "sender": {"type": "operator"}, "content": format!("n{i}")}))
        .collect();
    let (status, err) = api
        .post(&format!("{base}/bulk"), json!({"messages": too_many}))
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages"),
        "{err}"
    );
    api.stop().await;
}

#[tokio::test]
async fn organization_analytics_break_down_and_bucket_the_calls() {
    let api = Api::start().await;
    // Day 0: 3 calls (2 completed of 60 s and 120 s, 1 no-answer); day 2: 1 completed of 30 s,
    // outbound; day 5: outside the window.
    let mut seeds = Vec::new();
    for (n, day, hour, status, duration, direction, sentiment) in [
        (1, 0, 9, "completed", Some(60), "inbound", Some("positive")),
        (
            2,
            0,
            13,
            "completed",
            Some(120),
            "inbound",
            Some("negative"),
        ),
        (3, 0, 13, "no-answer", None, "inbound", None),
        (4, 2, 8, "completed", Some(30), "outbound", Some("positive")),
        (5, 5, 8, "completed", Some(30), "inbound", None),
    ] {
        let mut c = CallSeed::new(n, t(day * 86_400 + hour * 3600));
        c.status = status;
        c.duration_s = duration;
        c.direction = direction;
        c.sentiment = sentiment;
        seeds.push(c);
    }
    for c in &seeds {
        seed(&api.pg, c).await;
    }
    let other = organization(&api.pg, "other").await;
    let mut foreign = CallSeed::new(9, t(3600));
    foreign.org = other;
    seed(&api.pg, &foreign).await;

    let a = api
        .ok(&format!(
            "/api/v1/analytics?start_date={}&end_date={}&interval=day",
            ts(t(0)),
            ts(t(3 * 86_400))
        ))
        .await;
    assert_eq!(
        a["totals"],
        json!({"calls": 4, "completed": 3, "failed": 1, "total_duration_seconds": 210, "average_duration_seconds": 70.0})
    );
    assert_eq!(a["by_status"], json!({"completed": 3, "no-answer": 1}));
    assert_eq!(a["by_direction"], json!({"inbound": 3, "outbound": 1}));
    assert_eq!(
        a["by_sentiment"],
        json!({"negative": 1, "positive": 2, "unscored": 1})
    );
    assert_eq!(
        a["series"],
        json!([
            {"bucket_start": ts(t(0)), "calls": 3, "completed": 2, "average_duration_seconds": 90.0},
            {"bucket_start": ts(t(86_400)), "calls": 0, "completed": 0, "average_duration_seconds": null},
            {"bucket_start": ts(t(2 * 86_400)), "calls": 1, "completed": 1, "average_duration_seconds": 30.0},
        ])
    );
    let hours = api
        .ok(&format!(
            "/api/v1/analytics?start_date={}&end_date={}&interval=hour",
            ts(t(9 * 3600)),
            ts(t(14 * 3600))
        ))
        .await;
    let calls: Vec<i64> = hours["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["calls"].as_i64().unwrap())
        .collect();
    assert_eq!(calls, vec![1, 0, 0, 0, 2]);
    let weeks = api
        .ok(&format!(
            "/api/v1/analytics?start_date={}&end_date={}&interval=week",
            ts(t(0)),
            ts(t(7 * 86_400))
        ))
        .await;
    // 2026-11-01 is a Sunday: the first week bucket starts on Monday 2026-10-26.
    assert_eq!(weeks["series"][0]["bucket_start"], "2026-10-26T00:00:00Z");
    assert_eq!(weeks["series"][0]["calls"], 3);
    assert_eq!(weeks["series"][1]["calls"], 2);

    api.bad("/api/v1/analytics?interval=minute", "interval")
        .await;
    api.bad(
        &format!(
            "/api/v1/analytics?start_date={}&end_date={}",
            ts(t(86_400)),
            ts(t(0))
        ),
        "end_date",
    )
    .await;
    api.bad(
        &format!(
            "/api/v1/analytics?start_date={}&end_date={}&interval=hour",
            ts(t(0)),
            ts(t(90 * 86_400))
        ),
        "interval",
    )
    .await;
    api.stop().await;
}

#[tokio::test]
async fn conversations_and_a_customers_timeline_across_channels() {
    let api = Api::start().await;
    let org = switchboard_actors::persistence::DEFAULT_ORG;
    let dana = customer(&api.pg, org, "Dana", "+14155550004").await;
    let mut voice = CallSeed::new(1, t(100));
    voice.customer = Some(dana);
    voice.messages = vec![("transcript", "customer", "hello".into(), 1, json!({}))];
    let call = seed(&api.pg, &voice).await;
    // An SMS thread and an email thread of Dana's, and someone else's call.
    let sms = Uuid::now_v7();
    let email = Uuid::now_v7();
    for (id, channel, at, status) in [
        (sms, "sms", t(500), "active"),
        (email, "email", t(300), "completed"),
    ] {
        api.pg
            .execute(
                "INSERT INTO conversations (id, org_id, customer_id, channel, status, initiated_at, last_activity_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                &[&id, &org, &dana, &channel, &status, &at],
            )
            .await
            .unwrap();
    }
    api.pg
        .execute(
            r#"INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender, content, "timestamp")
               VALUES ($1, $2, $3, 'sms', 'inbound', '{"type": "customer", "identifier": "+14155550004"}', 'Running late', $4)"#,
            &[&Uuid::now_v7(), &org, &sms, &t(500)],
        )
        .await
        .unwrap();
    api.pg
        .execute(
            "INSERT INTO events (id, org_id, conversation_id, event_type, details, occurred_at)
             VALUES ($1, $2, $3, 'intent_detected', '{\"intent\": \"greeting\"}', $4)",
            &[&Uuid::now_v7(), &org, &call.conversation, &t(101)],
        )
        .await
        .unwrap();
    let stranger = seed(&api.pg, &CallSeed::new(2, t(50))).await;

    let list = api.ok("/api/v1/conversations").await;
    let order: Vec<String> = ids(&list);
    // By last activity: sms (500), email (300), Dana's call (ended 160), the stranger's (ended 110).
    assert_eq!(
        order,
        vec![
            sms.to_string(),
            email.to_string(),
            call.conversation.to_string(),
            stranger.conversation.to_string()
        ]
    );
    assert_eq!(list["items"][0]["channel"], "sms");
    assert_eq!(list["items"][0]["message_count"], 1);
    assert_eq!(list["items"][0]["customer"]["name"], "Dana");
    assert_eq!(list["items"][2]["call_id"], call.call.to_string());
    assert_eq!(
        ids(&api.ok("/api/v1/conversations?channel=voice").await).len(),
        2
    );
    assert_eq!(
        ids(&api.ok("/api/v1/conversations?status=active").await),
        vec![sms.to_string()]
    );
    assert_eq!(
        ids(&api
            .ok(&format!("/api/v1/conversations?customer_id={dana}"))
            .await)
        .len(),
        3
    );
    assert_eq!(
        all_pages(&api, "/api/v1/conversations?limit=1", async || {}).await,
        order
    );

    let detail = api
        .ok(&format!("/api/v1/conversations/{}", call.conversation))
        .await;
    assert_eq!(detail["id"], call.conversation.to_string());
    assert_eq!(detail["call"]["id"], call.call.to_string());
    assert_eq!(detail["messages"][0]["content"], "hello");
    assert_eq!(detail["messages_total"], 1);
    assert_eq!(detail["events"][0]["event_type"], "intent_detected");
    assert_eq!(
        detail["events"][0]["details"],
        json!({"intent": "greeting"})
    );

    let timeline = api.ok(&format!("/api/v1/customers/{dana}/timeline")).await;
    assert_eq!(timeline["customer"]["phone"], "+14155550004");
    let newest_first: Vec<&str> = timeline["conversations"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(newest_first, vec!["sms", "email", "voice"]);
    assert_eq!(timeline["conversations"]["total"], 3);
    let paged = api
        .ok(&format!("/api/v1/customers/{dana}/timeline?limit=2"))
        .await;
    let cursor = paged["conversations"]["next_cursor"].as_str().unwrap();
    let rest = api
        .ok(&format!(
            "/api/v1/customers/{dana}/timeline?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["conversations"]["items"][0]["channel"], "voice");
    assert_eq!(rest["conversations"]["has_more"], false);
    api.stop().await;
}

#[tokio::test]
async fn bad_requests_name_their_parameter_and_unknown_or_foreign_ids_are_404() {
    let api = Api::start_with(&[("SWITCHBOARD_HTTP_MAX_BODY_BYTES", "2048")]).await;
    let mine = seed(&api.pg, &CallSeed::new(1, t(0))).await;
    let other_org = organization(&api.pg, "elsewhere").await;
    let theirs = {
        let mut c = CallSeed::new(2, t(0));
        c.org = other_org;
        c.messages
            .push(("transcript", "customer", "private".into(), 1, json!({})));
        seed(&api.pg, &c).await
    };
    let their_customer = customer(&api.pg, other_org, "Eve", "+14155550009").await;
    let call = mine.call;

    for (path, needle) in [
        ("/api/v1/calls?limit=0", "limit"),
        ("/api/v1/calls?limit=101", "limit"),
        ("/api/v1/calls?limit=ten", "limit"),
        ("/api/v1/calls?offset=-1", "offset"),
        ("/api/v1/calls?cursor=bogus", "cursor"),
        ("/api/v1/calls?offset=1&cursor=AAAA", "cursor"),
        ("/api/v1/calls?status=lost", "status"),
        ("/api/v1/calls?direction=sideways", "direction"),
        ("/api/v1/calls?customer_id=42", "customer_id"),
        ("/api/v1/calls?sentiment=angry", "sentiment"),
        ("/api/v1/calls?start_date=2026-13-01", "start_date"),
        ("/api/v1/calls?end_date=tomorrow", "end_date"),
        (
            "/api/v1/calls?start_date=2026-11-02T00:00:00Z&end_date=2026-11-01T00:00:00Z",
            "end_date",
        ),
        ("/api/v1/calls?q=", "q"),
        ("/api/v1/calls?agent=", "agent"),
        ("/api/v1/calls?colour=red", "colour"),
        ("/api/v1/calls?limit=1&limit=2", "limit"),
        ("/api/v1/calls/not-a-call!", "id"),
        ("/api/v1/calls/CA1?verbose=1", "verbose"),
        ("/api/v1/conversations?channel=fax", "channel"),
        ("/api/v1/conversations?status=open", "status"),
        ("/api/v1/conversations/123", "id"),
        ("/api/v1/customers/123/timeline", "id"),
        ("/api/v1/analytics?start_date=x", "start_date"),
    ] {
        api.bad(path, needle).await;
    }
    let messages = format!("/api/v1/calls/{call}/messages");
    for (query, needle) in [
        ("message_type=chat", "message_type"),
        ("sender_type=bot", "sender_type"),
        ("since=nope", "since"),
        (
            "since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z",
            "until",
        ),
        ("limit=1001", "limit"),
    ] {
        api.bad(&format!("{messages}?{query}"), needle).await;
    }
    api.bad(
        &format!("/api/v1/calls/{call}/transcript?format=pdf"),
        "format",
    )
    .await;
    let (status, body) = api
        .send(reqwest::Method::DELETE, &format!("{messages}/nope"), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message_id")
    );

    // Unknown ids, and another organization's ids, answer 404 on every route.
    let unknown = Uuid::now_v7();
    let their_message: Uuid = api
        .pg
        .query_one(
            "SELECT id FROM messages WHERE conversation_id = $1",
            &[&theirs.conversation],
        )
        .await
        .unwrap()
        .get(0);
    for id in [
        unknown.to_string(),
        "CA0000000000000000000000000000dead".into(),
        theirs.call.to_string(),
        format!("CA{:032x}", 2),
    ] {
        for suffix in [
            "",
            "/messages",
            "/transcript",
            "/summary",
            "/messages/analytics",
        ] {
            let (status, body) = api.get(&format!("/api/v1/calls/{id}{suffix}")).await;
            assert_eq!(status, 404, "{id}{suffix}: {body}");
            assert_eq!(body["error"]["code"], "not_found");
            assert!(!body.to_string().contains("private"));
        }
        let (status, _) = api
            .post(
                &format!("/api/v1/calls/{id}/notes"),
                json!({"content": "x"}),
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = api
            .post(
                &format!("/api/v1/calls/{id}/messages"),
                json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x"}),
            )
            .await;
        assert_eq!(status, 404);
    }
    let (status, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("{messages}/{their_message}"),
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "another call's message cannot be deleted through this call"
    );
    let (status, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/calls/{}/messages/{their_message}", theirs.call),
            None,
        )
        .await;
    assert_eq!(status, 404);
    for path in [
        format!("/api/v1/conversations/{}", theirs.conversation),
        format!("/api/v1/conversations/{unknown}"),
        format!("/api/v1/customers/{their_customer}/timeline"),
        format!("/api/v1/customers/{unknown}/timeline"),
    ] {
        let (status, _) = api.get(&path).await;
        assert_eq!(status, 404, "{path}");
    }
    let listed: BTreeSet<String> = ids(&api.ok("/api/v1/calls?limit=100").await)
        .into_iter()
        .collect();
    assert_eq!(listed, BTreeSet::from([call.to_string()]));
    let (status, _) = api
        .get(&format!("/api/v1/calls?customer_id={their_customer}"))
        .await;
    assert_eq!(status, 200);

    // Bodies: too large 413, wrong type 415, not JSON 400; unknown method 405; unknown route 404.
    let big = json!({"message_type": "note", "sender": {"type": "operator"}, "content": "x".repeat(4096)});
    let (status, body) = api.post(&messages, big).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    // A supervisor action's body is held to the same limit (it was once read as empty).
    let whisper = json!({"text": "x".repeat(4096)});
    let (status, body) = api
        .post(&format!("/api/v1/calls/{call}/whisper"), whisper)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let response = api
        .http
        .post(format!("{}{messages}", api.base))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let response = api
        .http
        .post(format!("{}{messages}", api.base))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let (status, _) = api.send(reqwest::Method::PUT, "/api/v1/calls", None).await;
    assert_eq!(status, 405);
    let (status, body) = api.get("/api/v1/nothing").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    api.stop().await;
}

/// Every route the server answers, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/api/v1/calls"),
    ("get", "/api/v1/calls/{id}"),
    ("get", "/api/v1/calls/{id}/messages"),
    ("post", "/api/v1/calls/{id}/messages"),
    ("patch", "/api/v1/calls/{id}/messages/{message_id}"),
    ("delete", "/api/v1/calls/{id}/messages/{message_id}"),
    ("post", "/api/v1/calls/{id}/messages/bulk"),
    ("get", "/api/v1/calls/{id}/messages/analytics"),
    ("get", "/api/v1/calls/{id}/transcript"),
    ("get", "/api/v1/calls/{id}/summary"),
    ("post", "/api/v1/calls/{id}/notes"),
    ("get", "/api/v1/calls/{id}/recording"),
    ("get", "/api/v1/analytics"),
    ("get", "/api/v1/conversations"),
    ("get", "/api/v1/conversations/{id}"),
    ("get", "/api/v1/customers/{id}/timeline"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/events"),
    ("get", "/metrics"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{id}"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("get", "/api/v1/organization/credentials"),
    ("put", "/api/v1/organization/credentials"),
    ("get", "/api/v1/security-events"),
    ("get", "/api/v1/calls/live"),
    ("get", "/api/v1/calls/{id}/supervise"),
    ("post", "/api/v1/calls/{id}/whisper"),
    ("post", "/api/v1/calls/{id}/barge"),
    ("post", "/api/v1/calls/{id}/unbarge"),
    ("post", "/api/v1/calls/{id}/takeover"),
    ("post", "/api/v1/calls/{id}/release"),
    ("post", "/api/v1/calls/{id}/hangup"),
    ("get", "/api/v1/calls/{id}/analysis"),
    ("post", "/api/v1/calls/{id}/analysis"),
    ("get", "/api/v1/analysis/fields"),
    ("put", "/api/v1/analysis/fields/{name}"),
    ("delete", "/api/v1/analysis/fields/{name}"),
    ("get", "/api/v1/ai/health"),
    ("get", "/api/v1/usage"),
    ("get", "/api/v1/usage/cap"),
    ("put", "/api/v1/usage/cap"),
    ("get", "/api/v1/cluster"),
    ("post", "/api/v1/cluster/nodes/{id}/drain"),
    ("get", "/api/v1/agent-profiles"),
    ("post", "/api/v1/agent-profiles"),
    ("get", "/api/v1/agent-profiles/{id}"),
    ("put", "/api/v1/agent-profiles/{id}"),
    ("delete", "/api/v1/agent-profiles/{id}"),
    ("get", "/api/v1/agent-profiles/{id}/versions"),
    ("get", "/api/v1/tools"),
    ("put", "/api/v1/tools/{name}"),
    ("delete", "/api/v1/tools/{name}"),
    ("post", "/api/v1/organization/tool-secret"),
    ("get", "/api/v1/ivr-menus"),
    ("post", "/api/v1/ivr-menus"),
    ("put", "/api/v1/ivr-menus/{id}"),
    ("delete", "/api/v1/ivr-menus/{id}"),
    ("get", "/api/v1/phone-numbers"),
    ("post", "/api/v1/phone-numbers"),
    ("put", "/api/v1/phone-numbers/{id}"),
    ("delete", "/api/v1/phone-numbers/{id}"),
];

/// The status of `GET url` on an event stream, from its head (the stream itself never ends).
async fn event_stream_status(api: &Api, url: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {url} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
        api.token
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), socket.read(&mut buf))
            .await
            .expect("the event stream answers at once")
            .unwrap();
        assert!(n > 0, "closed before its head");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    head[9..12].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_parses_and_lists_every_route_the_server_answers() {
    let api = Api::start().await;
    let (status, text) = {
        let response = api
            .http
            .get(format!("{}/api/v1/openapi.json", api.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 200);
    // An independent OpenAPI 3.1 parser reads it.
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3."));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the document and the server's routes differ"
    );

    // Each documented operation reaches its handler on the real server (not "no such route", not
    // a wrong method), with ids of real rows substituted.
    let (s, alice, message) = api::seed_with_message(
        &api.pg,
        switchboard_actors::persistence::DEFAULT_ORG,
        1,
        ("Alice", "+14155550001"),
        "hello",
    )
    .await;
    for (method, path) in &documented {
        eprintln!("openapi check: {method} {path}");
        let id = match path.as_str() {
            p if p.starts_with("/api/v1/conversations/") => s.conversation.to_string(),
            p if p.starts_with("/api/v1/customers/") => alice.to_string(),
            _ => s.call.to_string(),
        };
        let url = path
            .replace("{id}", &id)
            .replace("{message_id}", &message.to_string());
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body =
            matches!(method, reqwest::Method::POST | reqwest::Method::PATCH).then(|| json!({}));
        let (status, body) = if url == "/api/v1/events" {
            // A stream that does not end: read its head over a plain socket.
            (event_stream_status(&api, &url).await, Value::Null)
        } else {
            api.send(method.clone(), &url, body).await
        };
        let no_route = status == 404 && body["error"]["message"] == "no such route";
        assert!(
            !no_route && status != 405,
            "{method} {url}: {status} {body}"
        );
        // Every operation documents its responses and names its path parameters.
        let operation = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
        for name in ["id", "message_id"] {
            if path.contains(&format!("{{{name}}}")) {
                let params = operation["parameters"].as_array().unwrap();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: {name}"
                );
            }
        }
    }
    // The list endpoints document their filters and paging.
    let list_params: BTreeSet<String> = doc["paths"]["/api/v1/calls"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "limit",
        "offset",
        "cursor",
        "status",
        "direction",
        "from",
        "to",
        "customer_id",
        "agent",
        "sentiment",
        "start_date",
        "end_date",
        "q",
    ] {
        assert!(
            list_params.contains(name),
            "calls list does not document `{name}`"
        );
    }
    api.stop().await;
}
