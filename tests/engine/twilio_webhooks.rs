//! Twilio's webhooks against a real PostgreSQL: signed incoming calls get TwiML and rows, unsigned
//! or mis-signed ones get 403 and write nothing, status callbacks survive disorder and repeats.

use switchboard_sim::harness::test_db as db;

use db::TestDb;
use switchboard::config::Secret;
use switchboard::events::Delivery;
use switchboard::http::error::ErrorBody;
use switchboard::http::{Deps, routes};
use switchboard::twilio::{TwilioSettings, signature};
use switchboard_actors::persistence::DEFAULT_ORG;
use warp::http::StatusCode;

/// Form parameters as sent.
type Params = Vec<(&'static str, String)>;

const TOKEN: &str = "twilio-test-token";
const PUBLIC: &str = "https://calls.example.com";

fn state(db: &TestDb, validate: bool) -> Deps {
    Deps::new(
        db.store.clone(),
        TwilioSettings {
            public_url: url::Url::parse(PUBLIC).unwrap(),
            auth_token: Secret::new(TOKEN),
            validate_signatures: validate,
        },
    )
}

fn form_body(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn incoming(call_sid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CallSid", call_sid.to_owned()),
        (
            "AccountSid",
            "AC0000000000000000000000000000000a".to_owned(),
        ),
        ("From", "+14155550100".to_owned()),
        ("To", "+18005550199".to_owned()),
        ("CallStatus", "ringing".to_owned()),
        ("Direction", "inbound".to_owned()),
        ("ApiVersion", "2010-04-01".to_owned()),
        ("CallerName", "Ada & Co <test>".to_owned()),
    ]
}

async fn post(
    routes: &(
         impl warp::Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible>
         + Clone
         + 'static
     ),
    path_and_query: &str,
    params: &[(&str, String)],
    signature: Option<String>,
) -> warp::http::Response<bytes::Bytes> {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut req = warp::test::request()
        .method("POST")
        .path(path_and_query)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&pairs));
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    req.reply(routes).await
}

fn sign(url: &str, params: &[(&str, String)]) -> String {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    signature::compute(TOKEN, url, &pairs)
}

async fn count(db: &TestDb, table: &str) -> i64 {
    db.client()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_signed_incoming_call_gets_twiml_and_its_rows() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, true));
    let params = incoming("CA00000000000000000000000000000001");
    let sig = sign(&format!("{PUBLIC}/twilio/voice"), &params);
    let res = post(&routes, "/twilio/voice", &params, Some(sig.clone())).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.body());
    assert_eq!(res.headers()["content-type"], "text/xml");
    let twiml = String::from_utf8(res.body().to_vec()).unwrap();
    assert!(
        twiml.starts_with(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect action=\"{PUBLIC}/twilio/after-stream/"
        )),
        "{twiml}"
    );
    assert!(
        twiml.contains("<Stream url=\"wss://calls.example.com/twilio/media\">"),
        "{twiml}"
    );
    let call_id = twiml
        .split("name=\"call_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("call_id parameter");
    let call_id: uuid::Uuid = call_id.parse().unwrap();
    assert!(
        !twiml.contains("media?"),
        "no query string in the stream URL: {twiml}"
    );

    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT c.call_sid, c.status, c.direction, c.from_number, v.channel, v.status, cu.phone
             FROM calls c JOIN conversations v ON v.id = c.conversation_id
             JOIN customers cu ON cu.id = v.customer_id WHERE c.id = $1",
            &[&call_id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        "CA00000000000000000000000000000001"
    );
    assert_eq!(row.get::<_, String>(1), "ringing");
    assert_eq!(row.get::<_, String>(2), "inbound");
    assert_eq!(row.get::<_, String>(3), "+14155550100");
    assert_eq!(row.get::<_, String>(4), "voice");
    assert_eq!(row.get::<_, String>(5), "active");
    assert_eq!(row.get::<_, String>(6), "+14155550100");

    // Twilio retries the webhook: same call, no new rows.
    let again = post(&routes, "/twilio/voice", &params, Some(sig)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        String::from_utf8(again.body().to_vec())
            .unwrap()
            .contains(&call_id.to_string())
    );
    assert_eq!(
        (count(&db, "calls").await, count(&db, "conversations").await),
        (1, 1)
    );

    // A second call from the same number finds the same customer.
    let params = incoming("CA00000000000000000000000000000002");
    let sig = sign(&format!("{PUBLIC}/twilio/voice"), &params);
    assert_eq!(
        post(&routes, "/twilio/voice", &params, Some(sig))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        (count(&db, "calls").await, count(&db, "customers").await),
        (2, 1)
    );
}

#[tokio::test]
async fn signatures_with_the_port_variant_and_a_query_are_accepted() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, true));
    let params = incoming("CA00000000000000000000000000000003");
    let sig = sign(
        "https://calls.example.com:443/twilio/voice?tenant=a",
        &params,
    );
    let res = post(&routes, "/twilio/voice?tenant=a", &params, Some(sig)).await;
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.body());
}

#[tokio::test]
async fn unsigned_or_mis_signed_webhooks_are_refused_and_write_nothing() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, true));
    let params = incoming("CA00000000000000000000000000000004");
    let good = sign(&format!("{PUBLIC}/twilio/voice"), &params);

    let cases: Vec<(&str, Params, Option<String>)> = vec![
        ("missing", params.clone(), None),
        ("garbage", params.clone(), Some("not-a-signature".into())),
        (
            "wrong token",
            params.clone(),
            Some({
                let pairs: Vec<(&str, &str)> =
                    params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                signature::compute("another-token", &format!("{PUBLIC}/twilio/voice"), &pairs)
            }),
        ),
        (
            "tampered",
            {
                let mut p = params.clone();
                p[2].1 = "+19995550000".into();
                p
            },
            Some(good.clone()),
        ),
        (
            "other url",
            params.clone(),
            Some(sign(&format!("{PUBLIC}/elsewhere"), &params)),
        ),
    ];
    for (what, params, sig) in cases {
        let res = post(&routes, "/twilio/voice", &params, sig).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        let body: ErrorBody = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body.error.code, "forbidden", "{what}");
    }
    let status = vec![
        ("CallSid", "CA00000000000000000000000000000004".to_owned()),
        ("CallStatus", "completed".to_owned()),
    ];
    let res = post(&routes, "/twilio/status", &status, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        (
            count(&db, "calls").await,
            count(&db, "customers").await,
            count(&db, "conversations").await
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn status_callbacks_out_of_order_never_move_a_finished_call_back() {
    let db = TestDb::start().await;
    let state = state(&db, true);
    let events = state.events.bus.clone();
    let routes = routes(state);
    let sid = "CA00000000000000000000000000000005";
    let params = incoming(sid);
    let sig = sign(&format!("{PUBLIC}/twilio/voice"), &params);
    assert_eq!(
        post(&routes, "/twilio/voice", &params, Some(sig))
            .await
            .status(),
        StatusCode::OK
    );

    let callback = |seq: &str, status: &str, extra: Option<(&'static str, &str)>| {
        let mut p = vec![
            ("CallSid", sid.to_owned()),
            (
                "AccountSid",
                "AC0000000000000000000000000000000a".to_owned(),
            ),
            ("CallStatus", status.to_owned()),
            ("SequenceNumber", seq.to_owned()),
            ("Timestamp", "Sun, 29 Nov 2026 22:00:00 +0000".to_owned()),
            ("CallbackSource", "call-progress-events".to_owned()),
        ];
        if let Some((k, v)) = extra {
            p.push((k, v.to_owned()));
        }
        p
    };
    let send = |p: Vec<(&'static str, String)>| {
        let routes = routes.clone();
        async move {
            let sig = sign(&format!("{PUBLIC}/twilio/status"), &p);
            post(&routes, "/twilio/status", &p, Some(sig))
                .await
                .status()
        }
    };
    // Completed (seq 2) arrives before ringing (seq 0) and answered (seq 1).
    assert_eq!(
        send(callback("2", "completed", Some(("CallDuration", "42")))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(callback("0", "ringing", None)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(callback("1", "in-progress", None)).await,
        StatusCode::NO_CONTENT
    );
    // Repeats are harmless.
    assert_eq!(
        send(callback("2", "completed", Some(("CallDuration", "42")))).await,
        StatusCode::NO_CONTENT
    );

    let row = db
        .client()
        .await
        .query_one(
            "SELECT c.status, c.duration_seconds, c.ended_at IS NOT NULL, v.status, v.completed_at IS NOT NULL
             FROM calls c JOIN conversations v ON v.id = c.conversation_id WHERE c.call_sid = $1",
            &[&sid],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, Option<i32>>(1), Some(42));
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, String>(3), "completed");
    assert!(row.get::<_, bool>(4));

    // Dashboards saw the call created, then the one callback that changed it: the older and
    // repeated ones changed nothing and published nothing.
    let mut feed = events.subscribe(DEFAULT_ORG, Some(0));
    let mut seen = Vec::new();
    while let Ok(Some(Delivery::Event(event))) =
        tokio::time::timeout(std::time::Duration::from_millis(200), feed.next()).await
    {
        seen.push((event.kind.as_str(), event.data.clone()));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, "call.created");
    let (kind, data) = &seen[1];
    assert_eq!(*kind, "call.updated");
    assert_eq!(data["call_sid"], sid);
    assert_eq!(data["status"], "completed");
    assert_eq!(data["duration_seconds"], 42);
    assert_eq!(data["ended_at"], "2026-11-29T22:00:00Z");
    assert_eq!(data["call_id"], seen[0].1["call_id"]);

    // Unknown call (a well-formed SID): 404. Bad values: 400 naming the field.
    let unknown = vec![
        ("CallSid", format!("CA{}", "f".repeat(32))),
        ("CallStatus", "ringing".to_owned()),
    ];
    assert_eq!(send(unknown).await, StatusCode::NOT_FOUND);
    assert_eq!(
        send(callback("x", "ringing", None)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(callback("3", "exploded", None)).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn bad_requests_get_precise_errors() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, true));
    // Missing CallSid, correctly signed.
    let params = vec![("From", "+14155550100".to_owned())];
    let sig = sign(&format!("{PUBLIC}/twilio/voice"), &params);
    let res = post(&routes, "/twilio/voice", &params, Some(sig)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = serde_json::from_slice(res.body()).unwrap();
    assert!(
        body.error.message.contains("CallSid"),
        "{}",
        body.error.message
    );
    // Oversized body.
    let huge = vec![("CallSid", "x".repeat(70 * 1024))];
    let res = post(&routes, "/twilio/voice", &huge, None).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // GET is not a webhook.
    let res = warp::test::request()
        .path("/twilio/voice")
        .reply(&routes)
        .await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn with_validation_off_unsigned_webhooks_are_accepted() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, false));
    let res = post(
        &routes,
        "/twilio/voice",
        &incoming("CA00000000000000000000000000000006"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(count(&db, "calls").await, 1);
}

#[tokio::test]
async fn the_media_socket_upgrade_requires_twilios_signature() {
    let db = TestDb::start().await;
    let routes = routes(state(&db, true));
    // No signature, and a signature over the wrong URL: refused before the upgrade.
    let unsigned = warp::test::ws()
        .path("/twilio/media")
        .handshake(routes.clone())
        .await;
    assert!(unsigned.is_err(), "unsigned upgrade accepted");
    let wrong = signature::compute(TOKEN, "wss://calls.example.com/elsewhere", &[]);
    let refused = warp::test::ws()
        .path("/twilio/media")
        .header("x-twilio-signature", wrong)
        .handshake(routes.clone())
        .await;
    assert!(refused.is_err(), "mis-signed upgrade accepted");
    // The right signature passes the check (this process runs no live calls, so it then
    // answers 500 rather than upgrading; the full call path has its own end-to-end test).
    let right = signature::compute(TOKEN, "wss://calls.example.com/twilio/media", &[]);
    let res = warp::test::request()
        .path("/twilio/media")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("x-twilio-signature", right)
        .reply(&routes)
        .await;
    assert_ne!(res.status(), StatusCode::FORBIDDEN);
    let res = warp::test::request()
        .path("/twilio/media")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .reply(&routes)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
