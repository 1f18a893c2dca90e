//! The HTTP responses: a `chat.completion` shaped like the service's, and OpenAI-shaped errors
//! with the service's headers (`x-request-id`, `openai-processing-ms`, `Retry-After`).

use serde_json::{Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::error::RequestError;
use super::log::Usage;

/// `system_fingerprint` of every completion.
pub const SYSTEM_FINGERPRINT: &str = "fp_5e1ab0c0de";

/// What the one choice of a completion carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Completion {
    /// `message.content` (`None`: `null`, with a refusal).
    pub(super) content: Option<String>,
    /// `message.refusal`.
    pub(super) refusal: Option<String>,
    /// `stop` or `length`.
    pub(super) finish_reason: &'static str,
    pub(super) usage: Usage,
}

/// The body of a 200: `{"id":"chatcmpl-…","object":"chat.completion",…}`.
pub(super) fn completion_body(model: &str, completion: &Completion) -> Value {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let usage = completion.usage;
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": completion.content,
                "refusal": completion.refusal,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": completion.finish_reason,
        }],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    })
}

/// A JSON response with the service's common headers.
pub(super) fn json_response(status: u16, body: &Value, started: tokio::time::Instant) -> Response {
    let mut response = Response::new(body.to_string().into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("openai-version", HeaderValue::from_static("2020-10-01"));
    let request_id = format!("req_{}", uuid::Uuid::new_v4().simple());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(
        "openai-processing-ms",
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    response
}

/// An error response; a rate limit carries `Retry-After` and `x-ratelimit-*` headers.
pub(super) fn error_response(error: &RequestError, started: tokio::time::Instant) -> Response {
    let mut response = json_response(error.status(), &error.body(), started);
    if let Some(seconds) = error.retry_after_s() {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        headers.insert("x-ratelimit-limit-requests", HeaderValue::from(500u32));
        headers.insert("x-ratelimit-remaining-requests", HeaderValue::from(0u32));
        if let Ok(value) = HeaderValue::from_str(&format!("{seconds}s")) {
            headers.insert("x-ratelimit-reset-requests", value);
        }
    }
    response
}
