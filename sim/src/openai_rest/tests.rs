//! End-to-end tests of the peer over loopback HTTP (reqwest), and through `async-openai`, the
//! engine's client.

mod async_openai;
mod support;
mod validation;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use self::support::{
    KEY, MODEL, TRANSCRIPT, http, post, request_with, score_request, score_schema, send, start,
};
use super::{RestPeerConfig, Scripted, Usage, conforms};

/// ⌈chars / 4⌉, the peer's token count.
fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Prompt tokens of a request built by `request_with`.
fn prompt_tokens(transcript: &str) -> u64 {
    tokens(&format!("Score this call transcript.{transcript}"))
}

#[tokio::test]
async fn a_valid_request_gets_schema_conforming_content_and_usage() {
    let peer = start(RestPeerConfig::default());
    let reply = post(&peer, &score_request(TRANSCRIPT)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| id.starts_with("req_"))
    );
    let body = &reply.body;
    assert!(
        body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["service_tier"], "default");
    assert!(
        body["system_fingerprint"]
            .as_str()
            .is_some_and(|fp| fp.starts_with("fp_"))
    );
    let choice = &body["choices"][0];
    assert_eq!(body["choices"].as_array().map(Vec::len), Some(1));
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["message"]["annotations"], json!([]));

    let answer = reply.answer();
    conforms(&score_schema(), &answer).expect("the answer fits the schema");
    assert_eq!(
        answer["summary"],
        "The caller said: \"Caller: Hi, my internet has been down since…\""
    );
    let satisfaction = answer["satisfaction"].as_i64().expect("an integer");
    assert!(
        (1..=5).contains(&satisfaction),
        "{satisfaction} within the described 1-5"
    );

    let content = reply.content().expect("content");
    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens"], prompt_tokens(TRANSCRIPT));
    assert_eq!(usage["completion_tokens"], tokens(content));
    assert_eq!(
        usage["total_tokens"],
        prompt_tokens(TRANSCRIPT) + tokens(content)
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn the_default_answer_is_deterministic_and_follows_the_transcript() {
    let peer = start(RestPeerConfig::default());
    let first = post(&peer, &score_request(TRANSCRIPT)).await;
    let again = post(&peer, &score_request(TRANSCRIPT)).await;
    assert_eq!(first.content(), again.content());
    assert_ne!(first.body["id"], again.body["id"], "ids are unique");

    let mut sentiments = Vec::new();
    let mut satisfactions = Vec::new();
    for n in 0..12 {
        let transcript = format!("Caller {n}: my bill number {n} is wrong.");
        let answer = post(&peer, &score_request(&transcript)).await.answer();
        conforms(&score_schema(), &answer).expect("fits");
        assert_eq!(
            answer["summary"],
            format!("The caller said: \"Caller {n}: my bill number {n} is wrong.\"")
        );
        sentiments.push(answer["sentiment"].as_str().expect("a string").to_owned());
        satisfactions.push(answer["satisfaction"].as_i64().expect("an integer"));
    }
    sentiments.sort();
    sentiments.dedup();
    satisfactions.sort_unstable();
    satisfactions.dedup();
    assert!(
        sentiments.len() >= 2,
        "transcripts vary the enum: {sentiments:?}"
    );
    assert!(
        satisfactions.len() >= 2,
        "and the integer: {satisfactions:?}"
    );
}

#[tokio::test]
async fn answers_fit_nested_nullable_and_bounded_schemas() {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["call_summary", "score", "ratio", "resolved", "follow_up", "note",
                     "kind", "priority", "topics", "caller", "mood", "level"],
        "properties": {
            "call_summary": {"type": "string", "description": "two sentences"},
            "score": {"type": "integer", "minimum": 10, "maximum": 20},
            "ratio": {"type": "number", "minimum": 0.5, "maximum": 0.75},
            "resolved": {"type": "boolean"},
            "follow_up": {"type": ["string", "null"]},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "kind": {"type": "string", "const": "score"},
            "priority": {"type": ["string", "null"], "enum": ["low", "high", null]},
            "level": {"type": "integer", "description": "a level from 3 to 7"},
            "mood": {"type": "number", "description": "between 0..1"},
            "topics": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "weight"],
                    "properties": {
                        "name": {"type": "string"},
                        "weight": {"type": "integer", "minimum": 1}
                    }
                }
            },
            "caller": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "callback_number"],
                "properties": {
                    "name": {"type": "string"},
                    "callback_number": {"type": ["string", "null"]}
                }
            }
        }
    });
    let peer = start(RestPeerConfig::default());
    let reply = post(
        &peer,
        &request_with(schema.clone(), "Caller: thanks, all good now."),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.answer();
    conforms(&schema, &answer).expect("the answer fits the schema");

    assert_eq!(
        answer["call_summary"],
        "The caller said: \"Caller: thanks, all good now.\""
    );
    assert_eq!(answer["follow_up"], "Simulated follow up.");
    assert_eq!(
        answer["note"], "Simulated note.",
        "anyOf gives the non-null branch"
    );
    assert_eq!(answer["kind"], "score");
    assert!(
        answer["priority"].is_string(),
        "a nullable enum gives a non-null value"
    );
    let score = answer["score"].as_i64().expect("integer");
    assert!((10..=20).contains(&score));
    let ratio = answer["ratio"].as_f64().expect("number");
    assert!((0.5..=0.75).contains(&ratio));
    let level = answer["level"].as_i64().expect("integer");
    assert!(
        (3..=7).contains(&level),
        "{level} within the described range"
    );
    let mood = answer["mood"].as_f64().expect("number");
    assert!((0.0..=1.0).contains(&mood));
    assert!(answer["resolved"].is_boolean());
    let topics = answer["topics"].as_array().expect("array");
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0]["name"], "Simulated name.");
    assert_eq!(topics[0]["weight"], 1, "a lone minimum is the value");
    assert_eq!(
        answer["caller"]["callback_number"],
        "Simulated callback number."
    );
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401() {
    let peer = start(RestPeerConfig::with_key(KEY));
    let request = score_request(TRANSCRIPT);
    let missing = send(http().post(peer.url()).json(&request)).await;
    missing.assert_error(401);
    assert_eq!(missing.code(), Some("invalid_api_key"));

    let wrong_key = "sk-wrong-key-abcdefghijkl";
    let wrong = send(
        http()
            .post(peer.url())
            .bearer_auth(wrong_key)
            .json(&request),
    )
    .await;
    wrong.assert_error(401);
    assert_eq!(wrong.code(), Some("invalid_api_key"));
    let message = wrong.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Incorrect API key provided: sk-"),
        "{message}"
    );
    assert!(
        message.contains("ijkl") && !message.contains(wrong_key),
        "masked: {message}"
    );

    assert_eq!(post(&peer, &request).await.status, 200);
    let logs = peer.requests();
    let keys: Vec<(Option<&str>, bool)> = logs
        .iter()
        .map(|log| (log.api_key.as_deref(), log.key_ok))
        .collect();
    assert_eq!(
        keys,
        [(None, false), (Some(wrong_key), false), (Some(KEY), true)]
    );
    assert_eq!(
        logs[0].model, None,
        "a refused key stops before the body is read"
    );
}

#[tokio::test]
async fn an_unknown_model_is_404_model_not_found() {
    let peer = start(RestPeerConfig {
        models: vec![MODEL.into()],
        ..RestPeerConfig::default()
    });
    let mut request = score_request(TRANSCRIPT);
    request["model"] = json!("gpt-3.5-turbo");
    let reply = post(&peer, &request).await;
    reply.assert_error(404);
    assert_eq!(reply.code(), Some("model_not_found"));
    assert_eq!(reply.error_type(), Some("invalid_request_error"));
    assert_eq!(post(&peer, &score_request(TRANSCRIPT)).await.status, 200);
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let peer = start(RestPeerConfig::default());
    let base = peer.api_base();
    let unknown = send(http().post(format!("{base}/completions")).json(&json!({}))).await;
    unknown.assert_error(404);
    assert_eq!(
        unknown.body["error"]["message"],
        "Invalid URL (POST /v1/completions)"
    );
    let get = send(http().get(format!("{base}/chat/completions"))).await;
    get.assert_error(405);
    assert_eq!(get.error_type(), Some("invalid_request_error"));
    let logs = peer.requests();
    assert_eq!(logs[0].path, "/v1/completions");
    assert_eq!(
        (logs[1].method.as_str(), logs[1].status),
        ("GET", Some(405))
    );
}

#[tokio::test]
async fn scripted_answers_are_taken_in_order_then_the_default() {
    let peer = start(RestPeerConfig::default());
    let control = peer.control();
    let out_of_schema = json!({"summary": "x", "sentiment": "furious", "satisfaction": 9});
    control.push_all([
        Scripted::Answer(out_of_schema.clone()),
        Scripted::RawContent("Sure! Here is the score: 4".into()),
        Scripted::Refusal("I can't help with that.".into()),
        Scripted::Truncated,
    ]);
    let request = score_request(TRANSCRIPT);

    let answer = post(&peer, &request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.answer(), out_of_schema);
    assert!(conforms(&score_schema(), &answer.answer()).is_err());

    let raw = post(&peer, &request).await;
    assert_eq!(raw.content(), Some("Sure! Here is the score: 4"));
    assert_eq!(raw.body["choices"][0]["finish_reason"], "stop");

    let refusal = post(&peer, &request).await;
    let message = &refusal.body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["refusal"], "I can't help with that.");
    assert_eq!(refusal.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        refusal.body["usage"]["completion_tokens"],
        tokens("I can't help with that.")
    );

    let truncated = post(&peer, &request).await;
    assert_eq!(truncated.body["choices"][0]["finish_reason"], "length");
    let cut = truncated.content().expect("content").to_owned();

    let default = post(&peer, &request).await;
    assert_eq!(default.body["choices"][0]["finish_reason"], "stop");
    let full = default.content().expect("content");
    conforms(&score_schema(), &default.answer()).expect("back to the default");
    assert!(
        full.starts_with(&cut) && cut.len() < full.len(),
        "{cut} / {full}"
    );
    assert!(
        serde_json::from_str::<Value>(&cut).is_err(),
        "truncated JSON is invalid"
    );
    assert_eq!(truncated.body["usage"]["completion_tokens"], tokens(&cut));

    assert!(control.pending().is_empty());
    let scripted: Vec<Option<Scripted>> = peer.requests().into_iter().map(|l| l.scripted).collect();
    assert_eq!(scripted[0], Some(Scripted::Answer(out_of_schema)));
    assert_eq!(scripted[3], Some(Scripted::Truncated));
    assert_eq!(scripted[4], None);
}

#[tokio::test]
async fn a_scripted_status_is_an_openai_error() {
    let peer = start(RestPeerConfig::default());
    peer.control().push_all([
        Scripted::Status {
            status: 500,
            message: "The server had an error while processing your request.".into(),
        },
        Scripted::Status {
            status: 503,
            message: "The engine is currently overloaded.".into(),
        },
        Scripted::Status {
            status: 400,
            message: "Bad".into(),
        },
    ]);
    let request = score_request(TRANSCRIPT);
    let server_error = post(&peer, &request).await;
    server_error.assert_error(500);
    assert_eq!(server_error.error_type(), Some("server_error"));
    assert_eq!(
        server_error.body["error"]["message"],
        "The server had an error while processing your request."
    );
    let overloaded = post(&peer, &request).await;
    overloaded.assert_error(503);
    assert_eq!(overloaded.error_type(), Some("server_error"));
    let bad = post(&peer, &request).await;
    bad.assert_error(400);
    assert_eq!(bad.error_type(), Some("invalid_request_error"));
    assert_eq!(post(&peer, &request).await.status, 200);
    let statuses: Vec<Option<u16>> = peer.requests().iter().map(|l| l.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(400), Some(200)]);
}

#[tokio::test]
async fn a_rate_limit_carries_retry_after() {
    let peer = start(RestPeerConfig::default());
    peer.control()
        .push(Scripted::RateLimited { retry_after_s: 7 });
    let reply = post(&peer, &score_request(TRANSCRIPT)).await;
    reply.assert_error(429);
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_eq!(reply.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(reply.header("x-ratelimit-reset-requests"), Some("7s"));
    assert_eq!(reply.error_type(), Some("rate_limit_error"));
    assert_eq!(reply.code(), Some("rate_limit_exceeded"));
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(MODEL) && message.contains("7s"),
        "{message}"
    );
}

#[tokio::test]
async fn a_delay_answers_late_with_the_default() {
    let peer = start(RestPeerConfig::default());
    peer.control()
        .push(Scripted::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let reply = post(&peer, &score_request(TRANSCRIPT)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    conforms(&score_schema(), &reply.answer()).expect("the default answer");
    let log = &peer.requests()[0];
    let answered_after = log.answered_at.expect("answered") - log.at;
    assert!(
        answered_after >= Duration::from_millis(300),
        "{answered_after:?}"
    );
}

#[tokio::test]
async fn a_hang_never_answers_and_does_not_block_shutdown() {
    let peer = start(RestPeerConfig::default());
    peer.control().push_all([Scripted::Hang, Scripted::Hang]);
    let request = score_request(TRANSCRIPT);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(peer.url())
        .json(&request)
        .send()
        .await
        .expect_err("no answer");
    assert!(gave_up.is_timeout(), "{gave_up}");
    let logs = peer
        .wait_for(Duration::from_secs(5), |logs| {
            logs.first().is_some_and(|l| l.abandoned)
        })
        .await
        .expect("the peer sees the client give up");
    assert_eq!(logs[0].status, None);

    let url = peer.url();
    let waiting = tokio::spawn(async move { http().post(url).json(&request).send().await });
    peer.wait_for(Duration::from_secs(5), |logs| {
        logs.len() == 2 && logs[1].scripted.is_some()
    })
    .await
    .expect("the second request hangs");
    let started = Instant::now();
    peer.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shutdown took {:?}",
        started.elapsed()
    );
    let answer = waiting.await.expect("task").expect("an answer at shutdown");
    assert_eq!(answer.status().as_u16(), 503);
}

#[tokio::test]
async fn fail_all_fails_every_request_until_cleared() {
    let peer = start(RestPeerConfig::default());
    let control = peer.control();
    control.push(Scripted::Refusal("queued".into()));
    control.fail_all(Some(Scripted::Status {
        status: 502,
        message: "Bad gateway".into(),
    }));
    let request = score_request(TRANSCRIPT);
    for _ in 0..3 {
        post(&peer, &request).await.assert_error(502);
    }
    assert_eq!(control.pending().len(), 1, "the queue waits");
    assert!(control.failing_all().is_some());
    control.fail_all(None);
    let queued = post(&peer, &request).await;
    assert_eq!(queued.body["choices"][0]["message"]["refusal"], "queued");
    assert_eq!(post(&peer, &request).await.status, 200);
}

#[tokio::test]
async fn max_completion_tokens_cuts_the_answer() {
    let peer = start(RestPeerConfig::default());
    let mut request = score_request(TRANSCRIPT);
    request["max_completion_tokens"] = json!(3);
    let reply = post(&peer, &request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["choices"][0]["finish_reason"], "length");
    assert_eq!(reply.content().map(|c| c.chars().count()), Some(12));
    assert_eq!(reply.body["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn a_request_without_response_format_gets_plain_text() {
    let peer = start(RestPeerConfig::default());
    let mut request = score_request("Hello there, how are you?");
    request
        .as_object_mut()
        .expect("object")
        .remove("response_format");
    let reply = post(&peer, &request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content(),
        Some("Simulated reply to: \"Hello there, how are you?\"")
    );
    let log = &peer.requests()[0];
    assert_eq!(log.response_format, None);
    assert_eq!(log.schema, None);
    assert!(log.is_ok());
}

#[tokio::test]
async fn the_log_and_usage_total_add_up() {
    let peer = start(RestPeerConfig::with_key(KEY));
    let control = peer.control();
    let first = post(&peer, &score_request("Caller: first call.")).await;
    post(&peer, &json!({"model": MODEL}))
        .await
        .assert_error(400);
    control.push(Scripted::Status {
        status: 500,
        message: "boom".into(),
    });
    post(&peer, &score_request(TRANSCRIPT))
        .await
        .assert_error(500);
    control.push(Scripted::Refusal("No.".into()));
    let refusal = post(&peer, &score_request(TRANSCRIPT)).await;
    let last = post(&peer, &score_request("Caller: second call.")).await;

    let logs = peer
        .wait_for(Duration::from_secs(5), |logs| logs.len() == 5)
        .await
        .expect("five requests");
    assert_eq!(
        logs.iter().map(|l| l.id).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(logs.windows(2).all(|pair| pair[0].at <= pair[1].at));
    let log = &logs[0];
    assert_eq!(log.model.as_deref(), Some(MODEL));
    assert_eq!(log.schema_name.as_deref(), Some("call_score"));
    assert_eq!(log.schema, Some(score_schema()));
    assert_eq!(log.response_format.as_deref(), Some("json_schema"));
    assert_eq!(log.last_user_message(), Some("Caller: first call."));
    assert_eq!(log.messages[0].role, "system");
    assert_eq!(log.content.as_deref(), first.content());
    assert_eq!(log.content_json(), Some(first.answer()));
    assert!(log.key_ok);
    assert_eq!(logs[2].status, Some(500));
    assert_eq!(logs[2].usage, None);
    assert_eq!(logs[3].refusal.as_deref(), Some("No."));

    let from_bodies = [&first, &refusal, &last]
        .iter()
        .map(|reply| {
            let usage = &reply.body["usage"];
            let field = |key: &str| usage[key].as_u64().expect("a count");
            Usage {
                prompt_tokens: field("prompt_tokens"),
                completion_tokens: field("completion_tokens"),
                total_tokens: field("total_tokens"),
            }
        })
        .fold(Usage::default(), |total, usage| total + usage);
    assert_eq!(peer.usage_total(), from_bodies);
    assert_eq!(
        peer.usage_total().prompt_tokens,
        prompt_tokens("Caller: first call.")
            + prompt_tokens(TRANSCRIPT)
            + prompt_tokens("Caller: second call.")
    );
}

#[tokio::test]
async fn start_on_refuses_a_non_loopback_address() {
    let refused = super::OpenAiRestPeer::start_on(
        RestPeerConfig::default(),
        std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
    );
    assert_eq!(
        refused.err().map(|err| err.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
    let peer = start(RestPeerConfig::default());
    assert!(peer.api_base().starts_with("http://127.0.0.1:"));
    assert!(peer.api_base().ends_with("/v1"));
    assert!(peer.local_addr().ip().is_loopback());
}
