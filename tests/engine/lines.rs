//! Lines end to end (issue 19): agent profiles per number, an IVR menu, business hours with a
//! voicemail, and webhook tools, over the REST API, against a real engine, the project's Twilio
//! caller (following the engine's TwiML as Twilio does), its Realtime peer and a customer tool
//! endpoint that checks the signatures.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_sim::harness::api::Api;
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer, ScriptedCalls};
use switchboard_sim::tool_server::{Behaviour, ToolServer};
use switchboard_sim::twilio_caller::{
    CallerConfig, CallerInput, IvrEnd, IvrStep, MediaSession, Pace, Step, follow,
};

const TOKEN: &str = "twilio-lines-token";

async fn engine(realtime: &RealtimePeer) -> Api {
    Api::start_with(&[
        ("SWITCHBOARD_TWILIO_AUTH_TOKEN", TOKEN),
        ("SWITCHBOARD_AI_REALTIME_URL", &realtime.url()),
    ])
    .await
}

async fn created(api: &Api, path: &str, body: Value) -> Value {
    let (status, answer) = api.post(path, body).await;
    assert_eq!(status, 201, "POST {path}: {answer}");
    answer
}

fn caller(api: &Api, to: &str, n: u32) -> CallerConfig {
    let mut config = CallerConfig::new(api.engine().url.clone(), TOKEN).pace(Pace::RealTime);
    config.to = to.to_owned();
    config.from = format!("+1415555{:04}", 100 + n);
    config
}

/// Streams a call whose TwiML connected it: the caller speaks, waits for the agent, hangs up.
async fn talk(config: &CallerConfig, end: IvrEnd) -> String {
    let IvrEnd::Stream { twiml, .. } = end else {
        panic!("the call was not connected to the agent: {end:?}");
    };
    let mut session = MediaSession::open(config, &twiml).await.expect("stream");
    for step in [
        Step::Speak { ms: 900, hz: 700 },
        Step::Silence { ms: 500 },
        Step::WaitForAgent { max_ms: 8000 },
        Step::Silence { ms: 200 },
    ] {
        session.run(&step).await.expect("step");
    }
    let report = session.finish().await.expect("hang up");
    report.call_id.expect("call id").to_string()
}

/// The call's messages once its end is written.
async fn messages(api: &Api, call: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = api
            .get(&format!("/api/v1/calls/{call}/messages?limit=200"))
            .await;
        if status == 200 {
            let items = body["items"].as_array().cloned().unwrap_or_default();
            if items
                .iter()
                .any(|m| m["metadata"]["system_event_type"] == "call_ended")
            {
                return items;
            }
        }
        assert!(Instant::now() < deadline, "call {call} never ended: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn system<'a>(messages: &'a [Value], kind: &str) -> Vec<&'a Value> {
    messages
        .iter()
        .filter(|m| m["metadata"]["system_event_type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lines_a_menu_hours_and_a_tool_each_take_their_path() {
    let tools = ToolServer::start(Vec::new()).expect("tool server");
    let realtime = RealtimePeer::start(PeerConfig {
        function_calls: vec![ScriptedCalls {
            on_utterance: 1,
            calls: vec![
                (
                    "order_status".into(),
                    r#"{"order_id":"A-7","card":"4111"}"#.into(),
                ),
                ("order_status".into(), r#"{"order_id":7}"#.into()),
                ("slow_crm".into(), "{}".into()),
                ("broken_crm".into(), "{}".into()),
            ],
        }],
        ..PeerConfig::default()
    })
    .unwrap();
    let api = engine(&realtime).await;

    // The organization's tool secret, then its tools (the endpoint verifies with the secret).
    let secret = created(&api, "/api/v1/organization/tool-secret", json!({})).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let tools = {
        drop(tools);
        ToolServer::start(secret.into_bytes()).expect("tool server")
    };
    tools.set(
        "order_status",
        Behaviour::Json(json!({"status": "shipped", "eta": "Friday"})),
    );
    tools.set(
        "slow_crm",
        Behaviour::Slow {
            ms: 3000,
            then: Box::new(Behaviour::Echo),
        },
    );
    tools.set("broken_crm", Behaviour::Status(500));
    for (name, url, timeout_ms) in [
        ("order_status", tools.url("order_status"), 3000),
        ("slow_crm", tools.url("slow_crm"), 300),
        ("broken_crm", tools.url("broken_crm"), 3000),
    ] {
        let (status, body) = api
            .send(
                Method::PUT,
                &format!("/api/v1/tools/{name}"),
                Some(json!({
                    "name": name, "description": "Look the order up.", "url": url.as_str(),
                    "timeout_ms": timeout_ms, "secret_fields": ["card"],
                    "parameters": {"type": "object",
                                   "properties": {"order_id": {"type": "string"},
                                                  "card": {"type": "string"}}},
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // Two lines with their own agents, and a menu in front of a third number.
    let sales = created(
        &api,
        "/api/v1/agent-profiles",
        json!({
            "name": "Sales", "instructions": "You sell widgets.", "voice": "cedar",
            "tools": ["end_call", "order_status", "slow_crm", "broken_crm"],
        }),
    )
    .await;
    let billing = created(
        &api,
        "/api/v1/agent-profiles",
        json!({
            "name": "Billing", "instructions": "You answer invoice questions.", "voice": "alloy",
        }),
    )
    .await;
    let (sales_id, billing_id) = (sales["id"].clone(), billing["id"].clone());
    created(
        &api,
        "/api/v1/phone-numbers",
        json!({"number": "+14155550001", "profile_id": sales_id}),
    )
    .await;
    created(
        &api,
        "/api/v1/phone-numbers",
        json!({"number": "+14155550002", "profile_id": billing_id}),
    )
    .await;
    let menu = created(&api, "/api/v1/ivr-menus", json!({
        "name": "Main", "prompt": {"say": "For sales press 1, for billing press 2."},
        "options": [
            {"digit": "1", "keywords": ["sales"], "action": {"type": "agent", "profile_id": sales_id}},
            {"digit": "2", "keywords": ["billing"], "action": {"type": "agent", "profile_id": billing_id}},
        ],
        "retries": 1,
        "default": {"type": "agent", "profile_id": sales_id},
    })).await;
    created(
        &api,
        "/api/v1/phone-numbers",
        json!({"number": "+14155550003", "menu_id": menu["id"]}),
    )
    .await;
    // A line that is never open: its calls leave a voicemail.
    created(
        &api,
        "/api/v1/phone-numbers",
        json!({
            "number": "+14155550004", "profile_id": sales_id,
            "hours": {"time_zone": "Europe/Paris", "weekly": {}},
        }),
    )
    .await;

    // 1. The billing line: its instructions and voice, no tools but the default.
    let config = caller(&api, "+14155550002", 1);
    let run = follow(&config, CallerInput::new())
        .await
        .expect("billing call");
    let billing_call = talk(&config, run.end).await;
    let update = realtime.connections()[0]
        .last_session_update()
        .cloned()
        .unwrap();
    assert_eq!(
        update.instructions.as_deref(),
        Some("You answer invoice questions.")
    );
    assert_eq!(update.voice.as_deref(), Some("alloy"));
    let detail = api.ok(&format!("/api/v1/calls/{billing_call}")).await;
    assert_eq!(detail["profile_version"], 1, "{detail}");

    // 2. The menu: press 2 → billing; silence twice → the default (sales).
    let config = caller(&api, "+14155550003", 2);
    let run = follow(&config, CallerInput::new().digits("2"))
        .await
        .expect("menu call");
    assert!(
        run.said().iter().any(|s| s.contains("press 2")),
        "{:?}",
        run.steps
    );
    let menu_call = talk(&config, run.end).await;
    let update = realtime.connections()[1]
        .last_session_update()
        .cloned()
        .unwrap();
    assert_eq!(update.voice.as_deref(), Some("alloy"));
    let chosen = messages(&api, &menu_call).await;
    let choice = system(&chosen, "ivr_choice");
    assert_eq!(choice.len(), 1, "{chosen:#?}");
    assert_eq!(choice[0]["metadata"]["input"], "2");

    let config = caller(&api, "+14155550003", 3);
    let run = follow(&config, CallerInput::new().silence().silence())
        .await
        .expect("menu call, no input");
    let timeouts = run
        .steps
        .iter()
        .filter(|s| matches!(s, IvrStep::GatherTimedOut))
        .count();
    assert_eq!(timeouts, 2, "the menu was repeated once: {:?}", run.steps);

    // 3. The sales line with its tools: four calls in one response, every one answered.
    let sales_call = talk(&config, run.end).await;
    let conn = realtime.connections()[2].clone();
    let update = conn.last_session_update().cloned().unwrap();
    assert_eq!(update.voice.as_deref(), Some("cedar"));
    assert!(
        update.tool_names.contains(&"order_status".to_owned()),
        "{update:?}"
    );
    let outputs: Vec<Value> = conn
        .items_created
        .iter()
        .filter_map(|c| match &c.item {
            switchboard_actors::realtime::ConversationItem::FunctionCallOutput {
                output, ..
            } => serde_json::from_str(output).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(outputs.len(), 4, "{outputs:?}");
    let errors: Vec<&str> = outputs.iter().filter_map(|o| o["error"].as_str()).collect();
    assert!(
        outputs.iter().any(|o| o["result"]["status"] == "shipped"),
        "{outputs:?}"
    );
    for expected in ["invalid_arguments", "timeout", "http_status"] {
        assert!(errors.contains(&expected), "{expected} in {outputs:?}");
    }
    // The endpoint got the two valid calls and the slow one, signed; never the invalid one.
    let requests = tools.requests();
    assert!(requests.iter().all(|r| r.signature_ok), "{requests:?}");
    assert_eq!(
        requests.iter().filter(|r| r.name == "order_status").count(),
        1
    );
    let said = messages(&api, &sales_call).await;
    let called = system(&said, "tool_called");
    assert_eq!(called.len(), 4, "{said:#?}");
    assert!(
        called
            .iter()
            .all(|m| m["metadata"]["arguments"]["card"] != "4111")
    );
    assert!(
        said.iter().any(
            |m| m["content"].as_str().is_some_and(|c| c.contains("shipped"))
                || m["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("after the tool said"))
        ),
        "the agent's answer after the tools: {said:#?}"
    );

    // 4. After hours: the voicemail, recorded as a message of the call.
    let config = caller(&api, "+14155550004", 4);
    let run = follow(&config, CallerInput::new())
        .await
        .expect("closed line");
    assert!(
        run.steps
            .iter()
            .any(|s| matches!(s, IvrStep::Recorded { .. })),
        "{:?}",
        run.steps
    );
    let (_, calls) = api.get("/api/v1/calls?limit=10").await;
    let closed_call = calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["to"] == "+14155550004")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .expect("the closed line's call");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = api
            .get(&format!("/api/v1/calls/{closed_call}/messages"))
            .await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if items
            .iter()
            .any(|m| m["metadata"]["system_event_type"] == "voicemail")
            && items
                .iter()
                .any(|m| m["metadata"]["system_event_type"] == "after_hours")
        {
            let vm = items
                .iter()
                .find(|m| m["metadata"]["system_event_type"] == "voicemail")
                .unwrap();
            assert_eq!(vm["metadata"]["duration_s"], 7);
            break;
        }
        assert!(Instant::now() < deadline, "no voicemail message: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A profile in use cannot be deleted; an edit is a new version.
    let (status, body) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/agent-profiles/{}", billing_id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api
        .send(
            Method::PUT,
            &format!("/api/v1/agent-profiles/{}", billing_id.as_str().unwrap()),
            Some(json!({"name": "Billing", "instructions": "Version two."})),
        )
        .await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)), "{body}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_name_the_field_and_menus_without_a_way_out_are_refused() {
    let realtime = RealtimePeer::start(PeerConfig::default()).unwrap();
    let api = engine(&realtime).await;
    let bad = |body: Value, field: &'static str| (body, field);
    for (body, field) in [
        bad(json!({"name": "x", "tools": ["launch_rocket"]}), "tools[0]"),
        bad(json!({"name": "x", "protocol": "pigeon"}), "protocol"),
        bad(json!({"name": "x", "colour": "red"}), "colour"),
        bad(
            json!({"name": "x", "turn": {"threshold": 3}}),
            "turn.threshold",
        ),
    ] {
        let (status, answer) = api.post("/api/v1/agent-profiles", body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    let (status, answer) = api
        .send(
            Method::PUT,
            "/api/v1/tools/t",
            Some(
                json!({"name": "t", "description": "d", "url": "http://example.com/x",
                        "parameters": {"type": "object"}}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("url"), "{answer}");
    let (status, answer) = api
        .post(
            "/api/v1/phone-numbers",
            json!({"number": "555", "profile_id": uuid::Uuid::nil()}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("number"), "{answer}");
    // A → B → A with no exit.
    let menu = |name: &str, to: Value| {
        json!({"name": name, "prompt": {"say": "Press 1."},
               "options": [{"digit": "1", "action": to.clone()}], "default": to})
    };
    let a = created(
        &api,
        "/api/v1/ivr-menus",
        menu("A", json!({"type": "hangup"})),
    )
    .await;
    let b = created(
        &api,
        "/api/v1/ivr-menus",
        menu("B", json!({"type": "menu", "menu_id": a["id"]})),
    )
    .await;
    let (status, answer) = api
        .send(
            Method::PUT,
            &format!("/api/v1/ivr-menus/{}", a["id"].as_str().unwrap()),
            Some(menu("A", json!({"type": "menu", "menu_id": b["id"]}))),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("never leave"), "{answer}");
    api.stop().await;
}
