//! Post-call analysis, the AI circuit breakers and usage metering, end to end: a real engine
//! (managed PostgreSQL, real sockets), the project's Twilio caller, Realtime peer and OpenAI REST
//! peer (Chat Completions with strict structured output).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::events::{Delivery, EventKind};
use switchboard_actors::persistence::DEFAULT_ORG;
use switchboard_sim::harness::api::{Api, CallSeed, Seeded, seed, t};
use switchboard_sim::harness::shared_db::TestDatabase;
use switchboard_sim::openai_rest::{OpenAiRestPeer, RestPeerConfig, Scripted};
use switchboard_sim::realtime_peer::{PeerConfig, RealtimePeer};
use switchboard_sim::twilio_caller::{CallerConfig, Pace, Step, TwilioCaller};

const TOKEN: &str = "twilio-analysis-token";
const MODEL: &str = "gpt-4o-2024-08-06";

/// An engine with analysis on, against `rest` (and `realtime`, when given), plus `extra`.
async fn engine(rest: &OpenAiRestPeer, realtime: Option<&str>, extra: &[(&str, &str)]) -> Api {
    let base = rest.api_base();
    let mut settings: Vec<(&str, &str)> = vec![
        ("SWITCHBOARD_ANALYSIS_ENABLED", "true"),
        ("SWITCHBOARD_AI_API_BASE", &base),
        ("SWITCHBOARD_AI_API_KEY", "sk-analysis"),
        ("SWITCHBOARD_ANALYSIS_POLL_MS", "50"),
        ("SWITCHBOARD_ANALYSIS_RETRY_BASE_S", "1"),
        ("SWITCHBOARD_TWILIO_AUTH_TOKEN", TOKEN),
    ];
    if let Some(url) = realtime {
        settings.push(("SWITCHBOARD_AI_REALTIME_URL", url));
    }
    settings.extend_from_slice(extra);
    Api::start_with(&settings).await
}

fn rest_peer() -> OpenAiRestPeer {
    OpenAiRestPeer::start(RestPeerConfig {
        require_api_key: Some("sk-analysis".into()),
        models: vec![MODEL.into()],
        ..RestPeerConfig::default()
    })
    .unwrap()
}

/// Waits until the call's analysis job is `done` or `failed`; returns it.
async fn finished_job(api: &Api, call: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, job) = api.get(&format!("/api/v1/calls/{call}/analysis")).await;
        if status == 200 && (job["state"] == "done" || job["state"] == "failed") {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "analysis of {call} never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A seeded live call with a conversation; `completed` ends it (the trigger queues its job).
async fn seeded_call(api: &Api, n: usize, lines: &[(&'static str, &str)]) -> Seeded {
    let mut call = CallSeed::new(n, t(n as i64 * 100));
    call.status = "in-progress";
    call.duration_s = None;
    for (i, (sender, text)) in lines.iter().enumerate() {
        call.messages.push((
            "transcript",
            sender,
            (*text).to_owned(),
            i as i64 * 5,
            json!({}),
        ));
    }
    seed(&api.pg, &call).await
}

async fn complete(api: &Api, seeded: &Seeded) {
    api.pg
        .execute(
            "UPDATE conversations SET status = 'completed', completed_at = now() WHERE id = $1",
            &[&seeded.conversation],
        )
        .await
        .unwrap();
}

const BOOKING: &[(&str, &str)] = &[
    ("ai", "Hello, how can I help?"),
    ("customer", "I would like to book a cleaning on Friday."),
    ("ai", "Friday at nine is booked for you."),
    ("customer", "Thank you, that is perfect."),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_call_is_analysed_scored_filterable_and_metered() {
    let realtime = RealtimePeer::start(PeerConfig::default()).unwrap();
    let rest = rest_peer();
    let api = engine(&rest, Some(&realtime.url()), &[]).await;
    let mut events = api.engine().events().subscribe(DEFAULT_ORG, None);

    let caller = CallerConfig::new(api.engine().url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 1200, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::Silence { ms: 200 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let report = TwilioCaller::place(caller).await.expect("call placed");
    let hung_up = Instant::now();
    let call = report.call_id.expect("call id").to_string();

    // Without a human action: the job runs, the conversation is scored, the summary is written.
    let job = finished_job(&api, &call).await;
    let latency = hung_up.elapsed();
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["model"], MODEL);
    assert_eq!(job["attempts"], 1);
    println!(
        "analysis latency after the call ended: {} ms (model {} ms)",
        latency.as_millis(),
        job["latency_ms"]
    );
    let detail = api.ok(&format!("/api/v1/calls/{call}")).await;
    let conversation = &detail["conversation"];
    for field in [
        "sentiment",
        "outcome",
        "subject",
        "ai_summary",
        "satisfaction_score",
    ] {
        assert!(!conversation[field].is_null(), "{field}: {conversation}");
    }
    let score = conversation["satisfaction_score"].as_i64().unwrap();
    assert!((1..=10).contains(&score));
    assert_eq!(detail["summary"]["content"], conversation["ai_summary"]);
    assert_eq!(detail["summary"]["sender"]["type"], "ai");
    assert_eq!(detail["summary"]["metadata"]["automated"], true);

    // What the model was sent: the strict schema and the speaker-labelled transcript.
    let requests = rest.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(request.key_ok && request.is_ok());
    assert_eq!(
        request.schema_name.as_deref(),
        Some("conversation_analysis")
    );
    let transcript = request.last_user_message().unwrap();
    assert!(
        transcript.contains("Customer: Caller utterance 1"),
        "{transcript}"
    );
    assert!(transcript.contains("AI agent"), "{transcript}");
    assert!(
        transcript.contains("(system: call_started)"),
        "{transcript}"
    );

    // `conversation.analyzed` on the live events.
    let analyzed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Delivery::Event(event)) = events.next().await
                && event.kind == EventKind::ConversationAnalyzed
            {
                return event;
            }
        }
    })
    .await
    .expect("conversation.analyzed published");
    assert_eq!(analyzed.call_id.map(|c| c.to_string()), Some(call.clone()));
    assert_eq!(analyzed.data["sentiment"], conversation["sentiment"]);

    // Filters and breakdowns find it by what the analysis said.
    let sentiment = conversation["sentiment"].as_str().unwrap();
    let outcome = conversation["outcome"].as_str().unwrap();
    let listed = api
        .ok(&format!(
            "/api/v1/calls?sentiment={sentiment}&outcome={outcome}"
        ))
        .await;
    assert_eq!(listed["items"][0]["id"], call.as_str(), "{listed}");
    let other = if sentiment == "negative" {
        "positive"
    } else {
        "negative"
    };
    let none = api.ok(&format!("/api/v1/calls?sentiment={other}")).await;
    assert_eq!(none["total"], 0);
    let since = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let analytics = api
        .ok(&format!("/api/v1/analytics?start_date={since}"))
        .await;
    assert_eq!(analytics["by_sentiment"][sentiment], 1, "{analytics}");

    // Usage equals what the simulators reported.
    let realtime_usage = realtime
        .connections()
        .iter()
        .flat_map(|c| c.responses.iter().filter_map(|r| r.usage))
        .fold((0, 0), |(i, o), u| {
            (i + u.input_tokens, o + u.output_tokens)
        });
    let rest_usage = rest.usage_total();
    let usage = api.ok("/api/v1/usage").await;
    let totals = &usage["totals"];
    assert_eq!(totals["calls"], 1, "{usage}");
    assert_eq!(totals["call_seconds"], detail["duration_seconds"]);
    assert_eq!(totals["ai_input_tokens"], realtime_usage.0, "{usage}");
    assert_eq!(totals["ai_output_tokens"], realtime_usage.1, "{usage}");
    assert!(realtime_usage.1 > 0);
    assert_eq!(totals["analysis_runs"], 1);
    assert_eq!(totals["analysis_input_tokens"], rest_usage.prompt_tokens);
    assert_eq!(
        totals["analysis_output_tokens"],
        rest_usage.completion_tokens
    );
    let audio_in = totals["ai_audio_in_seconds"].as_f64().unwrap();
    assert!((1.0..=10.0).contains(&audio_in), "{usage}");
    let audio_out = totals["ai_audio_out_seconds"].as_f64().unwrap();
    assert!((1.4..=1.6).contains(&audio_out), "the 1.5 s reply: {usage}");
    let metrics = reqwest::get(api.engine().endpoint("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "switchboard_usage_calls_total{{org=\"{DEFAULT_ORG}\"}} 1"
        )),
        "{metrics}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_fields_are_validated_asked_stored_and_filterable() {
    let rest = rest_peer();
    let api = engine(&rest, None, &[]).await;
    let put = |name: &str, body: Value| {
        let api = &api;
        let path = format!("/api/v1/analysis/fields/{name}");
        async move { api.send(reqwest::Method::PUT, &path, Some(body)).await }
    };
    // Bad definitions: 400 naming the field and the rule.
    for (name, body, needle) in [
        ("Churn", json!({"type": "text"}), "lowercase"),
        ("summary", json!({"type": "text"}), "reserved"),
        (
            "tier",
            json!({"type": "one_of", "options": []}),
            "1 to 20 options",
        ),
        (
            "tier",
            json!({"type": "one_of", "options": ["a", "a"]}),
            "twice",
        ),
        (
            "vip",
            json!({"type": "boolean", "options": ["yes"]}),
            "only a one_of",
        ),
        ("vip", json!({"type": "date"}), "type"),
        ("vip", json!({"type": "text", "extra": 1}), "extra"),
    ] {
        let (status, error) = put(name, body).await;
        assert_eq!(status, 400, "{name}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {message}");
    }
    let (status, _) = put(
        "churn_risk",
        json!({"type": "one_of", "options": ["low", "high"], "description": "How likely the customer leaves"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = put("callback", json!({"type": "boolean"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        api.ok("/api/v1/analysis/fields")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The model is asked them (strict schema) and its answer is stored.
    rest.control().push(Scripted::Answer(json!({
        "summary": "Booked a cleaning.", "subject": "Cleaning", "sentiment": "positive",
        "satisfaction_score": 9, "outcome": "appointment_scheduled",
        "custom": {"callback": false, "churn_risk": "low"}
    })));
    let seeded = seeded_call(&api, 1, BOOKING).await;
    complete(&api, &seeded).await;
    let call = seeded.call.to_string();
    assert_eq!(finished_job(&api, &call).await["state"], "done");
    let schema = rest.requests()[0].schema.clone().unwrap();
    let custom = &schema["properties"]["custom"];
    assert_eq!(custom["required"], json!(["callback", "churn_risk"]));
    assert_eq!(
        custom["properties"]["churn_risk"]["enum"],
        json!(["low", "high", null])
    );
    let detail = api.ok(&format!("/api/v1/calls/{call}")).await;
    assert_eq!(
        detail["conversation"]["analysis"],
        json!({"callback": false, "churn_risk": "low"})
    );
    let hit = api.ok("/api/v1/calls?analysis=churn_risk:low").await;
    assert_eq!(hit["items"][0]["id"], call.as_str());
    assert_eq!(
        api.ok("/api/v1/calls?analysis=callback:false").await["total"],
        1
    );
    assert_eq!(
        api.ok("/api/v1/calls?analysis=churn_risk:high").await["total"],
        0
    );
    api.bad("/api/v1/calls?analysis=churn_risk", "field:value")
        .await;

    let path = "/api/v1/analysis/fields/callback";
    assert_eq!(api.send(reqwest::Method::DELETE, path, None).await.0, 204);
    assert_eq!(api.send(reqwest::Method::DELETE, path, None).await.0, 404);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_customer_speech_needs_no_model_and_reruns_replace_the_analysis() {
    let rest = rest_peer();
    let api = engine(&rest, None, &[]).await;
    let silent = seeded_call(&api, 1, &[("ai", "Hello? Is anybody there?")]).await;
    complete(&api, &silent).await;
    let call = silent.call.to_string();
    let job = finished_job(&api, &call).await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["model"], Value::Null);
    let detail = api.ok(&format!("/api/v1/calls/{call}")).await;
    assert_eq!(detail["conversation"]["outcome"], "unresolved");
    assert_eq!(detail["conversation"]["satisfaction_score"], Value::Null);
    assert!(
        detail["summary"]["content"]
            .as_str()
            .unwrap()
            .contains("said nothing")
    );
    assert!(rest.requests().is_empty(), "no model call");

    // A re-run (staff) replaces the one summary message.
    let (status, job) = api
        .post(&format!("/api/v1/calls/{call}/analysis"), json!({}))
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["reason"], "rerun");
    finished_job(&api, &call).await;
    let summaries: i64 = api
        .pg
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = $1 AND message_type = 'summary'",
            &[&silent.conversation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(summaries, 1);
    // A live call is analysed when it ends, not before.
    let live = seeded_call(&api, 2, BOOKING).await;
    let path = format!("/api/v1/calls/{}/analysis", live.call);
    assert_eq!(api.post(&path, json!({})).await.0, 409);
    assert_eq!(api.get(&path).await.0, 404);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_failures_are_retried_with_backoff_then_failed_with_the_reason() {
    let rest = rest_peer();
    let api = engine(
        &rest,
        None,
        &[
            ("SWITCHBOARD_ANALYSIS_MAX_ATTEMPTS", "2"),
            ("SWITCHBOARD_ANALYSIS_TIMEOUT_S", "1"),
            ("SWITCHBOARD_ANALYSIS_CONCURRENCY", "1"),
            // Failures here are the model's answers, not an outage.
            ("SWITCHBOARD_AI_BREAKER_FAILURES", "100"),
        ],
    )
    .await;
    let run = |n: usize, script: Vec<Scripted>| {
        let (api, rest) = (&api, &rest);
        async move {
            rest.control().push_all(script);
            let seeded = seeded_call(api, n, BOOKING).await;
            complete(api, &seeded).await;
            let job = finished_job(api, &seeded.call.to_string()).await;
            (seeded, job)
        }
    };

    // Invalid JSON twice: failed, with the reason.
    let bad = Scripted::RawContent("{\"summary\": ".into());
    let (_, job) = run(1, vec![bad.clone(), bad]).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_i64()),
        (Some("failed"), Some(2))
    );
    assert!(
        job["last_error"].as_str().unwrap().contains("not JSON"),
        "{job}"
    );

    // An answer outside the schema is refused and never stored.
    let outside = Scripted::Answer(json!({
        "summary": "x", "subject": "x", "sentiment": "ecstatic", "satisfaction_score": 42,
        "outcome": "sold"
    }));
    let (seeded, job) = run(2, vec![outside.clone(), outside]).await;
    assert_eq!(job["state"], "failed");
    assert!(
        job["last_error"].as_str().unwrap().contains("schema"),
        "{job}"
    );
    let stored: (Option<String>, i64) = {
        let row = api
            .pg
            .query_one(
                "SELECT sentiment, (SELECT count(*) FROM messages WHERE conversation_id = $1
                                      AND message_type = 'summary')
                 FROM conversations WHERE id = $1",
                &[&seeded.conversation],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(stored, (None, 0));

    // A 429 waits its Retry-After, then the retry succeeds.
    let before = rest.requests().len();
    let (_, job) = run(3, vec![Scripted::RateLimited { retry_after_s: 2 }]).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_i64()),
        (Some("done"), Some(2))
    );
    let requests = rest.requests();
    let (first, second) = (&requests[before], &requests[before + 1]);
    let waited = second.at.duration_since(first.at);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");

    // A model that does not answer times out and is retried.
    let (_, job) = run(4, vec![Scripted::Hang]).await;
    assert_eq!(
        (job["state"].as_str(), job["attempts"].as_i64()),
        (Some("done"), Some(2))
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_survive_a_restart_and_two_engines_run_each_once() {
    const JOBS: usize = 40;
    let rest = rest_peer();
    let db = TestDatabase::create().await.unwrap();
    let url = db.url();
    let on_db = [("SWITCHBOARD_DATABASE_URL", url.as_str())];
    // An engine without workers: conversations end, their jobs wait in PostgreSQL.
    let first = Api::start_with(&on_db).await;
    let mut seeded = Vec::new();
    for n in 0..JOBS {
        let call = seeded_call(&first, n + 1, BOOKING).await;
        complete(&first, &call).await;
        seeded.push(call);
    }
    first.stop().await;
    let queued: i64 = db_count(
        &url,
        "SELECT count(*) FROM analysis_jobs WHERE state = 'queued'",
    )
    .await;
    assert_eq!(queued, JOBS as i64);

    // Two engines with workers on the same database: each job runs once.
    let started = Instant::now();
    let two = [
        ("SWITCHBOARD_DATABASE_URL", url.as_str()),
        ("SWITCHBOARD_ANALYSIS_CONCURRENCY", "2"),
    ];
    let (a, b) = tokio::join!(engine(&rest, None, &two), engine(&rest, None, &two));
    for call in &seeded {
        assert_eq!(
            finished_job(&a, &call.call.to_string()).await["state"],
            "done"
        );
    }
    let elapsed = started.elapsed();
    println!(
        "{JOBS} jobs by 2 engines (concurrency 2 each) against the simulator: {:.1} jobs/s including start-up",
        JOBS as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(rest.requests().len(), JOBS, "one model call per job");
    assert_eq!(
        db_count(
            &url,
            "SELECT count(*) FROM messages WHERE message_type = 'summary'"
        )
        .await,
        JOBS as i64
    );
    assert_eq!(
        db_count(&url, "SELECT sum(analysis_runs)::int8 FROM usage_daily").await,
        JOBS as i64
    );
    tokio::join!(a.stop(), b.stop());
    drop(db);
}

async fn db_count(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_engine_died_is_taken_again_after_its_lease_and_written_once() {
    use switchboard::analysis::schema::Verdict;
    use switchboard::store::analysis::AnalysisResult;
    let rest = rest_peer();
    // No workers: the test plays two engines on the store itself.
    let api = Api::start_with(&[]).await;
    let store = api.store();
    let seeded = seeded_call(&api, 1, BOOKING).await;
    complete(&api, &seeded).await;
    let lease = Duration::from_millis(300);
    let held = store
        .claim_analysis_jobs("dead-engine", lease, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        store
            .claim_analysis_jobs("other", lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "held"
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let taken = store
        .claim_analysis_jobs("other", lease * 100, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "taken again once the lease ran out");
    assert_eq!(taken[0].attempt, 2);
    let verdict = Verdict::without_model("test", &[]);
    let result = AnalysisResult::without_model(&verdict);
    // The engine that died comes back late: its result is not written.
    assert!(
        store
            .complete_analysis(&held[0], "dead-engine", &result)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .complete_analysis(&taken[0], "other", &result)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .complete_analysis(&taken[0], "other", &result)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    let summaries: i64 = api
        .pg
        .query_one(
            "SELECT count(*) FROM messages WHERE conversation_id = $1 AND message_type = 'summary'",
            &[&seeded.conversation],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(summaries, 1);
    drop(rest);
    api.stop().await;
}

/// POSTs a signed voice webhook for a new call; the status and the TwiML.
async fn voice_webhook(api: &Api, n: usize) -> (u16, String) {
    let url = api.engine().endpoint("/twilio/voice");
    let sid = format!("CA{:032x}", 0xfeed_0000 + n);
    let params = [
        ("CallSid", sid.as_str()),
        ("From", "+14155550199"),
        ("To", "+18005550100"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let signature = switchboard::twilio::signature::compute(TOKEN, &url, &params);
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn next_event(
    events: &mut switchboard::events::Subscription,
    kind: EventKind,
) -> std::sync::Arc<switchboard::events::LiveEvent> {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(Delivery::Event(event)) = events.next().await
                && event.kind == kind
            {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind:?} event"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_realtime_breaker_opens_sends_new_calls_to_the_fallback_and_closes_on_recovery() {
    // The realtime service is down: nothing listens on its port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let realtime_url = format!("ws://127.0.0.1:{port}/v1/realtime");
    let rest = rest_peer();
    let api = engine(
        &rest,
        Some(&realtime_url),
        &[
            ("SWITCHBOARD_AI_BREAKER_FAILURES", "2"),
            ("SWITCHBOARD_AI_BREAKER_COOLDOWN_S", "1"),
            ("SWITCHBOARD_AI_RECONNECT_MAX_ATTEMPTS", "2"),
            ("SWITCHBOARD_AI_RECONNECT_BASE_MS", "50"),
            ("SWITCHBOARD_AI_FALLBACK_DIAL", "+14155550123"),
        ],
    )
    .await;
    let mut events = api.engine().events().subscribe(DEFAULT_ORG, None);
    // A call whose AI session cannot connect: its attempts open the breaker.
    let caller = CallerConfig::new(api.engine().url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 400, hz: 1000 },
            Step::Silence { ms: 3000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let _ = TwilioCaller::place(caller).await;
    let opened = next_event(&mut events, EventKind::AiBreakerOpened).await;
    assert_eq!(opened.data["service"], "realtime");
    let health = api.ok("/api/v1/ai/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["breakers"][0]["state"], "open", "{health}");
    assert!(health["breakers"][0]["failures"].as_u64().unwrap() >= 2);
    let ready = api.ok("/ready").await;
    assert_eq!(ready["ai"][0]["state"], "open", "{ready}");

    // New calls do not wait on the dead provider: the fallback, at once.
    let asked = Instant::now();
    let (status, twiml) = voice_webhook(&api, 1).await;
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(
        twiml.contains("<Say>") && twiml.contains("<Dial>+14155550123</Dial>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Stream"), "{twiml}");

    // The provider comes back; after the cool-down a call is let through as the probe, and
    // its connect closes the breaker.
    let peer = RealtimePeer::start_on(
        PeerConfig::default(),
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let caller = CallerConfig::new(api.engine().url.clone(), TOKEN)
        .script([
            Step::Speak { ms: 800, hz: 1000 },
            Step::Silence { ms: 600 },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ])
        .pace(Pace::RealTime);
    let report = TwilioCaller::place(caller).await.expect("the probe call");
    assert!(
        report.agent_audio_ms > 0,
        "the probe call reached the agent"
    );
    let closed = next_event(&mut events, EventKind::AiBreakerClosed).await;
    assert_eq!(closed.data["service"], "realtime");
    assert_eq!(api.ok("/api/v1/ai/health").await["status"], "ok");
    let (_, twiml) = voice_webhook(&api, 2).await;
    assert!(twiml.contains("<Stream"), "{twiml}");
    drop(peer);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_breaker_holds_analysis_jobs_while_the_provider_fails() {
    let rest = rest_peer();
    let api = engine(
        &rest,
        None,
        &[
            ("SWITCHBOARD_AI_BREAKER_FAILURES", "2"),
            ("SWITCHBOARD_AI_BREAKER_COOLDOWN_S", "2"),
            ("SWITCHBOARD_ANALYSIS_CONCURRENCY", "1"),
            ("SWITCHBOARD_ANALYSIS_MAX_ATTEMPTS", "10"),
        ],
    )
    .await;
    let mut events = api.engine().events().subscribe(DEFAULT_ORG, None);
    rest.control().fail_all(Some(Scripted::Status {
        status: 503,
        message: "overloaded".into(),
    }));
    let mut calls = Vec::new();
    for n in 0..3 {
        let call = seeded_call(&api, n + 1, BOOKING).await;
        complete(&api, &call).await;
        calls.push(call);
    }
    let opened = next_event(&mut events, EventKind::AiBreakerOpened).await;
    assert_eq!(opened.data["service"], "rest");
    // While it is open, no job calls the provider: the count stands still.
    let during = rest.requests().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        rest.requests().len(),
        during,
        "jobs wait while the breaker is open"
    );
    let health = api.ok("/api/v1/ai/health").await;
    let rest_breaker = health["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["service"] == "rest")
        .unwrap()
        .clone();
    assert_eq!(rest_breaker["state"], "open");
    assert!(
        rest_breaker["last_error"].as_str().unwrap().contains("503"),
        "{rest_breaker}"
    );
    // The provider recovers: a probe closes the breaker and every job is done.
    rest.control().fail_all(None);
    next_event(&mut events, EventKind::AiBreakerClosed).await;
    for call in &calls {
        assert_eq!(
            finished_job(&api, &call.call.to_string()).await["state"],
            "done"
        );
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reached_cap_of_ai_minutes_sends_new_calls_to_the_fallback() {
    let rest = rest_peer();
    let api = engine(&rest, None, &[]).await;
    let mut events = api.engine().events().subscribe(DEFAULT_ORG, None);
    let cap = "/api/v1/usage/cap";
    assert_eq!(api.ok(cap).await["ai_minutes_monthly_cap"], Value::Null);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            cap,
            Some(json!({"ai_minutes_monthly_cap": -1})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            cap,
            Some(json!({"ai_minutes_monthly_cap": 0})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, twiml) = voice_webhook(&api, 1).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Say>") && !twiml.contains("<Stream"),
        "{twiml}"
    );
    let reached = next_event(&mut events, EventKind::UsageCapReached).await;
    assert_eq!(reached.data["ai_minutes_monthly_cap"], 0);
    // The call is in the history all the same.
    assert_eq!(api.ok("/api/v1/usage").await["totals"]["calls"], 1);
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            cap,
            Some(json!({"ai_minutes_monthly_cap": null})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, twiml) = voice_webhook(&api, 2).await;
    assert!(twiml.contains("<Stream"), "{twiml}");
    // Bad usage queries: precise 400s.
    api.bad("/api/v1/usage?interval=year", "interval").await;
    api.bad(
        "/api/v1/usage?start_date=2026-02-01&end_date=2026-01-01",
        "start_date",
    )
    .await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_queues_the_conversations_never_analysed_since_a_date() {
    // No workers: what the backfill queues stays visible.
    let api = Api::start_with(&[]).await;
    // Written ended (as an import would): no trigger queued them.
    let mut old = CallSeed::new(1, t(0));
    old.messages
        .push(("transcript", "customer", "Hello".into(), 1, json!({})));
    let old = seed(&api.pg, &old).await;
    let mut recent = CallSeed::new(2, t(86_400 * 3));
    recent
        .messages
        .push(("transcript", "customer", "Hi".into(), 1, json!({})));
    let recent = seed(&api.pg, &recent).await;
    let since = t(86_400);
    assert_eq!(api.store().backfill_analysis(since).await.unwrap(), 1);
    assert_eq!(
        api.get(&format!("/api/v1/calls/{}/analysis", old.call))
            .await
            .0,
        404
    );
    let job = api
        .ok(&format!("/api/v1/calls/{}/analysis", recent.call))
        .await;
    assert_eq!(
        (job["state"].as_str(), job["reason"].as_str()),
        (Some("queued"), Some("backfill"))
    );
    // Again: nothing new (the job exists); a failed job is queued again.
    assert_eq!(api.store().backfill_analysis(since).await.unwrap(), 0);
    api.pg
        .execute(
            "UPDATE analysis_jobs SET state = 'failed', last_error = 'x'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(api.store().backfill_analysis(since).await.unwrap(), 1);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_exact_under_concurrent_writers_and_a_batch_written_again_adds_nothing() {
    use switchboard_actors::persistence::{AiUsage, CallUpdate, PersistItem};
    let api = Api::start_with(&[]).await;
    const CALLS: usize = 24;
    let mut updates = Vec::new();
    for n in 0..CALLS {
        let mut call = CallSeed::new(n + 1, chrono::Utc::now());
        call.status = "in-progress";
        call.duration_s = None;
        let seeded = seed(&api.pg, &call).await;
        updates.push(PersistItem::CallUpdate(CallUpdate {
            call_id: seeded.call,
            version: 10,
            duration_seconds: Some(n as i32 + 1),
            ai_usage: Some(AiUsage {
                audio_in_ms: 1000 + n as u64,
                audio_out_ms: 500,
                input_tokens: 120,
                output_tokens: n as u64,
            }),
            ..Default::default()
        }));
    }
    // Four writers at once, each a batch of every fourth call's end.
    let store = api.store().clone();
    let batches: Vec<Vec<PersistItem>> = (0..4)
        .map(|w| updates.iter().skip(w).step_by(4).cloned().collect())
        .collect();
    let write_all = |batches: Vec<Vec<PersistItem>>| {
        let store = store.clone();
        async move {
            let writers: Vec<_> = batches
                .into_iter()
                .map(|batch| {
                    let store = store.clone();
                    tokio::spawn(async move { store.write_batch(&batch).await.map_err(|e| e.0) })
                })
                .collect();
            for writer in writers {
                writer.await.unwrap().unwrap();
            }
        }
    };
    write_all(batches.clone()).await;
    let expected = (
        CALLS as i64,
        (1..=CALLS as i64).sum::<i64>(),
        (0..CALLS as i64).map(|n| 1000 + n).sum::<i64>() as f64 / 1000.0,
        (0..CALLS as i64).sum::<i64>(),
    );
    let read = || async {
        let usage = api.ok("/api/v1/usage").await;
        let t = &usage["totals"];
        (
            t["calls"].as_i64().unwrap(),
            t["call_seconds"].as_i64().unwrap(),
            t["ai_audio_in_seconds"].as_f64().unwrap(),
            t["ai_output_tokens"].as_i64().unwrap(),
        )
    };
    assert_eq!(read().await, expected);
    // The persistence actor retries a batch whose commit it did not see: nothing is added twice.
    write_all(batches).await;
    assert_eq!(read().await, expected);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_with_its_own_openai_key_is_analysed_on_it() {
    // The provider accepts only the organization's key, not the engine's `sk-analysis`.
    let rest = OpenAiRestPeer::start(RestPeerConfig {
        require_api_key: Some("sk-org-own".into()),
        ..RestPeerConfig::default()
    })
    .unwrap();
    let api = engine(&rest, None, &[]).await;
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/organization/credentials",
            Some(json!({"openai_api_key": "sk-org-own"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seeded = seeded_call(&api, 1, BOOKING).await;
    complete(&api, &seeded).await;
    let job = finished_job(&api, &seeded.call.to_string()).await;
    assert_eq!(job["state"], "done", "{job}");
    let requests = rest.requests();
    assert!(
        requests.iter().all(|r| r.key_ok),
        "sent with the organization's key"
    );
    // Its breaker is the organization's key's, not the engine's.
    let health = api.ok("/api/v1/ai/health").await;
    let keys: Vec<(&str, &str)> = health["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["service"].as_str().unwrap(), b["key"].as_str().unwrap()))
        .collect();
    assert_eq!(keys, [("rest", "organization")], "{health}");
    api.stop().await;
}
