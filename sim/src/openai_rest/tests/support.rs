//! Requests for the peer's tests: the scoring request of PROTOCOLS §F, and a plain HTTP client
//! (reqwest over loopback) that returns status, headers and JSON body.

use std::time::Duration;

use serde_json::{Value, json};

use crate::openai_rest::{OpenAiRestPeer, RestPeerConfig};

pub const MODEL: &str = "gpt-4o-2024-08-06";
pub const KEY: &str = "sk-test-0123456789abcdef";
pub const TRANSCRIPT: &str = "Caller: Hi, my internet has been down since Monday and nobody \
                              called me back. Agent: I am sorry, let me check the line.";

pub fn start(config: RestPeerConfig) -> OpenAiRestPeer {
    OpenAiRestPeer::start(config).expect("peer starts")
}

/// The scoring schema of PROTOCOLS §F.
pub fn score_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "sentiment", "satisfaction"],
        "properties": {
            "summary": {"type": "string"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "satisfaction": {"type": "integer", "description": "1-5"}
        }
    })
}

/// A request with `schema` as its strict json_schema format, scoring `transcript`.
pub fn request_with(schema: Value, transcript: &str) -> Value {
    json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Score this call transcript."},
            {"role": "user", "content": transcript}
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "call_score", "strict": true, "schema": schema}
        }
    })
}

/// The PROTOCOLS §F request for `transcript`.
pub fn score_request(transcript: &str) -> Value {
    request_with(score_schema(), transcript)
}

/// What one HTTP exchange gave.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `choices[0].message.content`.
    pub fn content(&self) -> Option<&str> {
        self.body
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
    }

    /// The content parsed as JSON.
    pub fn answer(&self) -> Value {
        serde_json::from_str(self.content().expect("a content")).expect("the content is JSON")
    }

    /// `error.param`.
    pub fn param(&self) -> Option<&str> {
        self.body.pointer("/error/param").and_then(Value::as_str)
    }

    /// `error.code`.
    pub fn code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }

    /// `error.type`.
    pub fn error_type(&self) -> Option<&str> {
        self.body.pointer("/error/type").and_then(Value::as_str)
    }

    /// Asserts an OpenAI-shaped error: `error` with exactly message, type, param and code.
    pub fn assert_error(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
        let error = self.body["error"].as_object().expect("an error object");
        let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "message", "param", "type"], "{}", self.body);
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Sends `request` and reads the reply (the body as JSON, `Null` when it is not).
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the peer answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// POSTs `body` as JSON to the completions URL with `Authorization: Bearer KEY`.
pub async fn post(peer: &OpenAiRestPeer, body: &Value) -> Reply {
    send(http().post(peer.url()).bearer_auth(KEY).json(body)).await
}
