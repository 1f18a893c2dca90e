//! [`ToolClient`]: one webhook tool call, from the model's arguments string to the function
//! output the model reads next.
//!
//! [`ToolClient::call`] checks the arguments against the tool's schema (nothing is sent when they
//! do not fit), passes the organization's [`ToolLimits`], POSTs the signed request and reads the
//! answer, all before the tool's deadline (`timeout_ms` from the call's start, waiting for a
//! slot included), then returns a [`ToolOutcome`]. It never fails: every problem is a
//! [`ToolStatus`] with an output the model can act on, so the conversation never stalls.
//!
//! The request, `POST <tool.url>` with `Content-Type: application/json`,
//! `User-Agent: Switchboard-Tools/1` and the [`signing`](super::signing) headers:
//!
//! ```json
//! {"tool": "lookup_order", "tool_call_id": "call_abc", "arguments": {"order_id": "A-7"},
//!  "call": {"org_id": "…", "call_id": "…", "conversation_id": "…", "call_sid": "CA…",
//!           "from": "+15550100", "to": "+15550111", "profile_id": null, "profile_version": null},
//!  "sent_at": "2026-01-01T12:00:00.000Z"}
//! ```
//!
//! The answer: a 2xx whose body is JSON of at most [`MAX_RESULT_BYTES`] (an empty body counts as
//! `null`). Redirects are not followed (a 3xx is an HTTP status error): the organization
//! registered this URL. The function output is `{"ok":true,"result":<the body>}`, or
//! `{"ok":false,"error":"<status>","message":"…"}`.
//!
//! Only the tool's name, the status, the latency and the result size are logged, never the
//! arguments, the answer or the secret.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::arguments::check_arguments;
use super::definition::WebhookTool;
use super::limits::{LimitRefusal, ToolLimits};
use super::signing::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// Largest answer read from a tool's endpoint; a larger one is [`ToolStatus::TooLarge`].
pub const MAX_RESULT_BYTES: usize = 16 * 1024;
/// The `User-Agent` of every tool request.
pub const USER_AGENT: &str = "Switchboard-Tools/1";
/// Longest wait for a TCP (and TLS) connection, within the tool's own timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The call a tool is used in, sent to the endpoint as `call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolContext {
    pub org_id: Uuid,
    /// The engine's call id.
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    /// Twilio's call SID.
    pub call_sid: String,
    pub from: String,
    pub to: String,
    /// The agent profile answering the call, if any, and its version.
    pub profile_id: Option<Uuid>,
    pub profile_version: Option<i32>,
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    /// A 2xx with a JSON answer.
    Ok,
    /// The model's arguments did not fit the schema; nothing was sent.
    InvalidArguments,
    /// The organization's rate of tool calls was used up; nothing was sent.
    RateLimited,
    /// The organization's concurrent calls stayed at the limit until the deadline.
    Busy,
    /// No complete answer before the tool's timeout.
    Timeout,
    /// No connection (refused, DNS, TLS), or it broke before the answer was read.
    Unreachable,
    /// An answer other than 2xx.
    HttpStatus(u16),
    /// A 2xx whose body is not JSON.
    InvalidJson,
    /// A 2xx whose body is over [`MAX_RESULT_BYTES`].
    TooLarge,
}

impl ToolStatus {
    /// The snake_case name events and outputs use (`"http_status"` whatever the code).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Ok => "ok",
            ToolStatus::InvalidArguments => "invalid_arguments",
            ToolStatus::RateLimited => "rate_limited",
            ToolStatus::Busy => "busy",
            ToolStatus::Timeout => "timeout",
            ToolStatus::Unreachable => "unreachable",
            ToolStatus::HttpStatus(_) => "http_status",
            ToolStatus::InvalidJson => "invalid_json",
            ToolStatus::TooLarge => "too_large",
        }
    }

    /// The HTTP status code of [`ToolStatus::HttpStatus`].
    pub fn http_status(self) -> Option<u16> {
        match self {
            ToolStatus::HttpStatus(code) => Some(code),
            _ => None,
        }
    }
}

/// The end of one tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub status: ToolStatus,
    /// JSON text for the Realtime `function_call_output`, whatever the status.
    pub output: String,
    /// From the call's start (waiting for limits included) to its end.
    pub latency: Duration,
    /// Bytes of the endpoint's answer body read (0 when none was read).
    pub result_bytes: usize,
}

/// Calls webhook tools: one per engine, its connections and limits shared by every call.
#[derive(Debug, Clone)]
pub struct ToolClient {
    http: reqwest::Client,
    limits: Arc<ToolLimits>,
}

impl ToolClient {
    /// A client enforcing `limits` on every organization.
    pub fn new(limits: ToolLimits) -> ToolClient {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_default();
        ToolClient {
            http,
            limits: Arc::new(limits),
        }
    }

    /// The limits this client enforces.
    pub fn limits(&self) -> &ToolLimits {
        &self.limits
    }

    /// Runs one call of `tool` with the model's `arguments` string (`call_id` is the model's id
    /// of the call), signing with the organization's `secret`. Never fails: see [`ToolOutcome`].
    pub async fn call(
        &self,
        tool: &WebhookTool,
        secret: &[u8],
        context: &ToolContext,
        call_id: &str,
        arguments: &str,
    ) -> ToolOutcome {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(u64::from(tool.timeout_ms));
        let (status, output, result_bytes) = match self
            .run(tool, secret, context, call_id, arguments, deadline)
            .await
        {
            Ok((result, bytes)) => (ToolStatus::Ok, json!({"ok": true, "result": result}), bytes),
            Err(failure) => {
                let mut output = json!({
                    "ok": false,
                    "error": failure.status.as_str(),
                    "message": failure.message,
                });
                if let Some(code) = failure.status.http_status() {
                    output["http_status"] = json!(code);
                }
                (failure.status, output, failure.result_bytes)
            }
        };
        let latency = started.elapsed();
        tracing::info!(
            tool = %tool.name,
            status = status.as_str(),
            http_status = status.http_status(),
            latency_ms = latency.as_millis() as u64,
            result_bytes,
            "webhook tool call"
        );
        ToolOutcome {
            status,
            output: output.to_string(),
            latency,
            result_bytes,
        }
    }

    async fn run(
        &self,
        tool: &WebhookTool,
        secret: &[u8],
        context: &ToolContext,
        call_id: &str,
        arguments: &str,
        deadline: Instant,
    ) -> Result<(Value, usize), Failure> {
        let name = &tool.name;
        let arguments = check_arguments(tool, arguments)
            .map_err(|err| Failure::new(ToolStatus::InvalidArguments, err.to_string()))?;
        let _permit = self
            .limits
            .admit(context.org_id, deadline)
            .await
            .map_err(|refusal| match refusal {
                LimitRefusal::RateLimited { retry_after } => Failure::new(
                    ToolStatus::RateLimited,
                    format!(
                        "too many {name} calls right now; try again in {} ms",
                        retry_after.as_millis().max(1)
                    ),
                ),
                LimitRefusal::Busy => Failure::new(
                    ToolStatus::Busy,
                    format!(
                        "{name} is busy with other calls and had no free slot within {} ms",
                        tool.timeout_ms
                    ),
                ),
            })?;
        let now = Utc::now();
        let body = json!({
            "tool": name,
            "tool_call_id": call_id,
            "arguments": arguments,
            "call": context,
            "sent_at": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
        .to_string()
        .into_bytes();
        let timestamp = now.timestamp();
        let request = self
            .http
            .post(tool.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(secret, timestamp, &body))
            .body(body);
        match tokio::time::timeout_at(deadline, exchange(request, name)).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(Failure::new(
                ToolStatus::Timeout,
                format!("{name} did not answer within {} ms", tool.timeout_ms),
            )),
        }
    }
}

/// Why a call did not succeed, on its way to becoming a [`ToolOutcome`].
struct Failure {
    status: ToolStatus,
    message: String,
    result_bytes: usize,
}

impl Failure {
    fn new(status: ToolStatus, message: String) -> Failure {
        Failure {
            status,
            message,
            result_bytes: 0,
        }
    }
}

/// Sends the request and reads a bounded JSON answer.
async fn exchange(request: reqwest::RequestBuilder, name: &str) -> Result<(Value, usize), Failure> {
    let mut response = request.send().await.map_err(|err| {
        let status = if err.is_timeout() {
            ToolStatus::Timeout
        } else {
            ToolStatus::Unreachable
        };
        let what = if err.is_connect() {
            "could not be reached"
        } else {
            "did not answer"
        };
        Failure::new(status, format!("{name} {what}"))
    })?;
    let code = response.status();
    if !code.is_success() {
        return Err(Failure::new(
            ToolStatus::HttpStatus(code.as_u16()),
            format!("{name} answered HTTP {}", code.as_u16()),
        ));
    }
    let too_large = |received: usize| Failure {
        status: ToolStatus::TooLarge,
        message: format!("{name} answered more than {MAX_RESULT_BYTES} bytes"),
        result_bytes: received,
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESULT_BYTES as u64)
    {
        return Err(too_large(0));
    }
    let mut body = CappedBody::default();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if !body.push(&chunk) {
                    return Err(too_large(body.received));
                }
            }
            Ok(None) => break,
            Err(_) => {
                return Err(Failure {
                    status: ToolStatus::Unreachable,
                    message: format!("{name}'s answer broke off"),
                    result_bytes: body.received,
                });
            }
        }
    }
    let received = body.received;
    let bytes = body.bytes;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((Value::Null, received));
    }
    serde_json::from_slice(&bytes)
        .map(|value| (value, received))
        .map_err(|_| Failure {
            status: ToolStatus::InvalidJson,
            message: format!("{name} answered something that is not JSON"),
            result_bytes: received,
        })
}

/// An answer body, read chunk by chunk, never holding more than [`MAX_RESULT_BYTES`].
#[derive(Debug, Default)]
struct CappedBody {
    bytes: Vec<u8>,
    received: usize,
}

impl CappedBody {
    /// Keeps `chunk`; `false` once the body is over the limit (the chunk is then dropped).
    fn push(&mut self, chunk: &[u8]) -> bool {
        self.received = self.received.saturating_add(chunk.len());
        if self.received > MAX_RESULT_BYTES {
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_stable_snake_case_names() {
        let all = [
            (ToolStatus::Ok, "ok"),
            (ToolStatus::InvalidArguments, "invalid_arguments"),
            (ToolStatus::RateLimited, "rate_limited"),
            (ToolStatus::Busy, "busy"),
            (ToolStatus::Timeout, "timeout"),
            (ToolStatus::Unreachable, "unreachable"),
            (ToolStatus::HttpStatus(503), "http_status"),
            (ToolStatus::InvalidJson, "invalid_json"),
            (ToolStatus::TooLarge, "too_large"),
        ];
        for (status, name) in all {
            assert_eq!(status.as_str(), name);
        }
        assert_eq!(ToolStatus::HttpStatus(503).http_status(), Some(503));
        assert_eq!(ToolStatus::Timeout.http_status(), None);
    }

    #[test]
    fn a_body_is_kept_up_to_the_limit_and_refused_past_it() {
        let mut body = CappedBody::default();
        let chunk = vec![b' '; 4096];
        for _ in 0..4 {
            assert!(body.push(&chunk), "16 KiB fit");
        }
        assert_eq!(body.bytes.len(), MAX_RESULT_BYTES);
        assert!(!body.push(b"x"), "one byte more does not");
        assert_eq!(
            body.bytes.len(),
            MAX_RESULT_BYTES,
            "nothing past the limit is held"
        );
        assert_eq!(body.received, MAX_RESULT_BYTES + 1);
    }

    #[test]
    fn the_context_is_sent_with_every_field() {
        let context = ToolContext {
            org_id: Uuid::nil(),
            call_id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            call_sid: "CA1".into(),
            from: "+15550100".into(),
            to: "+15550111".into(),
            profile_id: None,
            profile_version: Some(3),
        };
        let value = serde_json::to_value(&context).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "call_id",
                "call_sid",
                "conversation_id",
                "from",
                "org_id",
                "profile_id",
                "profile_version",
                "to"
            ]
        );
        assert_eq!(value["profile_version"], 3);
    }
}
