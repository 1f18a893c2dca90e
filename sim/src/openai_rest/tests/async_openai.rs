//! The peer through `async-openai` 0.43, the engine's Chat Completions client: its answers
//! deserialize, its errors are `OpenAIError::ApiError`, and the client's own retry layer
//! (on by default) retries 429s and 5xx unless it is replaced.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason, ResponseFormat,
    ResponseFormatJsonSchema,
};
use serde_json::Value;
use tokio::time::Instant;

use super::support::{KEY, MODEL, TRANSCRIPT, score_schema, start};
use crate::openai_rest::{OpenAiRestPeer, RestPeerConfig, Scripted, conforms};

/// The client with its default HTTP stack (including its retry layer).
fn client(peer: &OpenAiRestPeer, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(peer.api_base())
            .with_api_key(key),
    )
}

/// The client on a bare reqwest service: no retries (what an engine with its own backoff wants).
fn client_without_retries(peer: &OpenAiRestPeer) -> Client<OpenAIConfig> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    client(peer, KEY).with_http_service(ReqwestService::new(http))
}

/// The PROTOCOLS §F request, built with the crate's types.
fn score_request(transcript: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .messages([
            ChatCompletionRequestSystemMessageArgs::default()
                .content("Score this call transcript.")
                .build()
                .expect("system message")
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content(transcript)
                .build()
                .expect("user message")
                .into(),
        ])
        .response_format(ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: None,
                name: "call_score".into(),
                schema: score_schema(),
                strict: Some(true),
            },
        })
        .build()
        .expect("request")
}

fn api_error(error: OpenAIError) -> (u16, async_openai::error::ApiError) {
    match error {
        OpenAIError::ApiError(response) => (response.status_code.as_u16(), response.api_error),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn async_openai_reads_a_strict_json_schema_answer() {
    let peer = start(RestPeerConfig::with_key(KEY));
    let response = client(&peer, KEY)
        .chat()
        .create(score_request(TRANSCRIPT))
        .await
        .expect("a completion");

    assert_eq!(response.object, "chat.completion");
    assert_eq!(response.model, MODEL);
    assert!(response.id.starts_with("chatcmpl-"));
    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(choice.message.refusal, None);
    let content = choice.message.content.as_deref().expect("content");
    let answer: Value = serde_json::from_str(content).expect("JSON content");
    conforms(&score_schema(), &answer).expect("fits the schema");

    let usage = response.usage.expect("usage");
    let log = &peer.requests()[0];
    assert!(log.key_ok);
    assert_eq!(log.schema_name.as_deref(), Some("call_score"));
    assert_eq!(
        log.schema,
        Some(score_schema()),
        "the crate sent the schema as given"
    );
    assert_eq!(log.last_user_message(), Some(TRANSCRIPT));
    let logged = log.usage.expect("logged usage");
    assert_eq!(u64::from(usage.prompt_tokens), logged.prompt_tokens);
    assert_eq!(u64::from(usage.completion_tokens), logged.completion_tokens);
    assert_eq!(u64::from(usage.total_tokens), logged.total_tokens);
    assert_eq!(
        usage.prompt_tokens_details.and_then(|d| d.cached_tokens),
        Some(0)
    );
}

#[tokio::test]
async fn async_openai_reads_refusals_truncations_and_errors() {
    let peer = start(RestPeerConfig::with_key(KEY));
    let control = peer.control();
    control.push_all([
        Scripted::Refusal("I can't score this.".into()),
        Scripted::Truncated,
        Scripted::Status {
            status: 400,
            message: "Bad request".into(),
        },
    ]);
    let client = client(&peer, KEY);
    let refusal = client
        .chat()
        .create(score_request(TRANSCRIPT))
        .await
        .expect("200");
    assert_eq!(refusal.choices[0].message.content, None);
    assert_eq!(
        refusal.choices[0].message.refusal.as_deref(),
        Some("I can't score this.")
    );
    let truncated = client
        .chat()
        .create(score_request(TRANSCRIPT))
        .await
        .expect("200");
    assert_eq!(
        truncated.choices[0].finish_reason,
        Some(FinishReason::Length)
    );

    let (status, error) = api_error(
        client
            .chat()
            .create(score_request(TRANSCRIPT))
            .await
            .expect_err("400"),
    );
    assert_eq!(status, 400);
    assert_eq!(error.message, "Bad request");
    assert_eq!(error.r#type.as_deref(), Some("invalid_request_error"));

    let mut not_strict = score_request(TRANSCRIPT);
    if let Some(ResponseFormat::JsonSchema { json_schema }) = &mut not_strict.response_format {
        json_schema.strict = None;
    }
    let (status, error) = api_error(client.chat().create(not_strict).await.expect_err("400"));
    assert_eq!(status, 400);
    assert_eq!(
        error.param.as_deref(),
        Some("response_format.json_schema.strict")
    );

    let wrong_key = self::client(&peer, "sk-not-the-key-000000");
    let (status, error) = api_error(
        wrong_key
            .chat()
            .create(score_request(TRANSCRIPT))
            .await
            .expect_err("401"),
    );
    assert_eq!(status, 401);
    assert_eq!(error.code.as_deref(), Some("invalid_api_key"));
    assert_eq!(peer.requests().len(), 5, "4xx are not retried");
}

#[tokio::test]
async fn async_openai_retries_a_429_on_its_own_after_retry_after() {
    let peer = start(RestPeerConfig::default());
    peer.control()
        .push(Scripted::RateLimited { retry_after_s: 1 });
    let started = Instant::now();
    let response = client(&peer, KEY)
        .chat()
        .create(score_request(TRANSCRIPT))
        .await
        .expect("the retry succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited Retry-After"
    );
    assert!(response.choices[0].message.content.is_some());
    let statuses: Vec<Option<u16>> = peer.requests().iter().map(|l| l.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
}

#[tokio::test]
async fn async_openai_retries_5xx_three_times_by_default() {
    let peer = start(RestPeerConfig::default());
    peer.control().fail_all(Some(Scripted::Status {
        status: 500,
        message: "boom".into(),
    }));
    let (status, error) = api_error(
        client(&peer, KEY)
            .chat()
            .create(score_request(TRANSCRIPT))
            .await
            .expect_err("500"),
    );
    assert_eq!(status, 500);
    assert!(
        error.message.contains("\"boom\"") && error.r#type.is_none(),
        "a 5xx body is kept raw in the message: {error:?}"
    );
    assert_eq!(peer.requests().len(), 4, "one request and three retries");
}

#[tokio::test]
async fn async_openai_without_its_retry_layer_reports_a_429_at_once() {
    let peer = start(RestPeerConfig::default());
    peer.control()
        .push(Scripted::RateLimited { retry_after_s: 30 });
    let (status, error) = api_error(
        client_without_retries(&peer)
            .chat()
            .create(score_request(TRANSCRIPT))
            .await
            .expect_err("429"),
    );
    assert_eq!(status, 429);
    assert_eq!(error.r#type.as_deref(), Some("rate_limit_error"));
    assert_eq!(error.code.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(peer.requests().len(), 1, "no retry");
    let answer = client_without_retries(&peer)
        .chat()
        .create(score_request(TRANSCRIPT))
        .await
        .expect("the next request is answered");
    assert!(answer.choices[0].message.content.is_some());
}
