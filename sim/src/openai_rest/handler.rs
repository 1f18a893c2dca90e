//! One HTTP request, start to end: routing, key, body, validation, the scripted or default
//! outcome, the response, and the log.

use std::sync::Arc;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use warp::http::{HeaderMap, Method, header};
use warp::reply::Response;

use super::answer;
use super::config::RestPeerConfig;
use super::control::{RestControl, Scripted};
use super::error::{RequestError, mask_key};
use super::log::{self, Logs, SentError};
use super::response::{self, Completion};
use super::validate::{self, ChatRequest, Format};

/// The path the peer serves.
pub(super) const PATH: &str = "/v1/chat/completions";

/// State shared by the server and the peer's handle.
pub(super) struct Shared {
    pub(super) config: RestPeerConfig,
    pub(super) control: RestControl,
    pub(super) logs: Logs,
}

/// Answers one request.
pub(super) async fn handle<B: Buf>(
    shared: Arc<Shared>,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: impl Stream<Item = Result<B, warp::Error>>,
    mut stop: watch::Receiver<bool>,
) -> Response {
    let started = Instant::now();
    let id = shared
        .logs
        .open(|id| log::RequestLog::new(id, method.to_string(), path.clone()));
    let mut pending = Pending {
        logs: shared.logs.clone(),
        id,
        answered: false,
    };
    let request = Request {
        shared: &shared,
        id,
        method,
        path,
        headers,
    };
    let outcome = request.outcome(body, &mut stop).await;
    pending.answered = true;
    let (status, response) = match outcome {
        Ok((model, completion)) => {
            let body = response::completion_body(&model, &completion);
            shared.logs.update(id, |log| {
                log.content = completion.content.clone();
                log.refusal = completion.refusal.clone();
                log.finish_reason = Some(completion.finish_reason.to_owned());
                log.usage = Some(completion.usage);
            });
            (200, response::json_response(200, &body, started))
        }
        Err(error) => {
            shared
                .logs
                .update(id, |log| log.error = Some(SentError::from(&error)));
            (error.status(), response::error_response(&error, started))
        }
    };
    shared.logs.update(id, |log| {
        log.status = Some(status);
        log.answered_at = Some(Instant::now());
    });
    tracing::debug!(id, status, "openai rest peer: answered");
    response
}

/// Marks the log abandoned if the request's future is dropped before it answers (the client
/// went away).
struct Pending {
    logs: Logs,
    id: usize,
    answered: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.answered {
            self.logs.update(self.id, |log| log.abandoned = true);
        }
    }
}

struct Request<'a> {
    shared: &'a Shared,
    id: usize,
    method: Method,
    path: String,
    headers: HeaderMap,
}

impl Request<'_> {
    async fn outcome<B: Buf>(
        &self,
        body: impl Stream<Item = Result<B, warp::Error>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(String, Completion), RequestError> {
        if self.path.trim_end_matches('/') != PATH {
            return Err(RequestError::InvalidUrl {
                method: self.method.to_string(),
                path: self.path.clone(),
            });
        }
        if self.method != Method::POST {
            return Err(RequestError::InvalidMethod {
                method: self.method.to_string(),
                path: self.path.clone(),
            });
        }
        self.authenticate()?;
        let body = self.read_json(body).await?;
        let request = validate::chat_request(&body, &self.shared.config)?;
        if request.format == Format::Text {
            tracing::info!(
                id = self.id,
                "openai rest peer: request without a json_schema response_format, answering \
                 plain text"
            );
        }
        let scripted = self.shared.control.take();
        self.log(|log| log.scripted = scripted.clone());
        let completion = match scripted {
            None => completion(&request, answer::content(&request)),
            Some(Scripted::Answer(value)) => completion(&request, value.to_string()),
            Some(Scripted::RawContent(text)) => completion(&request, text),
            Some(Scripted::Refusal(text)) => Completion {
                content: None,
                usage: answer::usage(&request.messages, &text),
                refusal: Some(text),
                finish_reason: "stop",
            },
            Some(Scripted::Truncated) => {
                let content = answer::content(&request);
                let half = content.chars().count() / 2;
                truncated(&request, answer::cut(&content, half))
            }
            Some(Scripted::Status { status, message }) => {
                return Err(RequestError::Scripted { status, message });
            }
            Some(Scripted::RateLimited { retry_after_s }) => {
                return Err(RequestError::RateLimited {
                    model: request.model,
                    retry_after_s,
                });
            }
            Some(Scripted::Delay(delay)) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => completion(&request, answer::content(&request)),
                    () = stopped(stop) => return Err(RequestError::ShuttingDown),
                }
            }
            Some(Scripted::Hang) => {
                stopped(stop).await;
                return Err(RequestError::ShuttingDown);
            }
        };
        Ok((request.model, completion))
    }

    fn log(&self, change: impl FnOnce(&mut log::RequestLog)) {
        self.shared.logs.update(self.id, change);
    }

    fn authenticate(&self) -> Result<(), RequestError> {
        let api_key = self
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(|value| match value.get(..7) {
                Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
                _ => value.trim(),
            })
            .filter(|key| !key.is_empty())
            .map(str::to_owned);
        let verdict = match (&self.shared.config.require_api_key, &api_key) {
            (None, _) => Ok(()),
            (Some(_), None) => Err(RequestError::MissingApiKey),
            (Some(required), Some(key)) if key == required => Ok(()),
            (Some(_), Some(key)) => Err(RequestError::WrongApiKey {
                masked: mask_key(key),
            }),
        };
        self.log(|log| {
            log.api_key = api_key;
            log.key_ok = verdict.is_ok();
        });
        verdict
    }

    /// Reads the body (at most `max_body_bytes`), checks it is JSON, and logs what it says.
    async fn read_json<B: Buf>(
        &self,
        body: impl Stream<Item = Result<B, warp::Error>>,
    ) -> Result<Value, RequestError> {
        let limit = self.shared.config.max_body_bytes;
        let declared = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Err(RequestError::BodyTooLarge { limit });
        }
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let is_json = content_type.as_deref().is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
        });
        let mut bytes = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|err| RequestError::InvalidJson {
                detail: format!("the body could not be read: {err}"),
            })?;
            if bytes.len() + chunk.remaining() > limit {
                return Err(RequestError::BodyTooLarge { limit });
            }
            while chunk.has_remaining() {
                let piece = chunk.chunk();
                bytes.extend_from_slice(piece);
                let read = piece.len();
                chunk.advance(read);
            }
        }
        if !is_json {
            return Err(RequestError::ContentType {
                got: content_type.unwrap_or_else(|| "none".into()),
            });
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|err| RequestError::InvalidJson {
                detail: err.to_string(),
            })?;
        self.log(|log| log::record_body(log, &value));
        Ok(value)
    }
}

/// A 200 with `content`, cut to the request's token limit (`finish_reason: length`) if it is
/// longer.
fn completion(request: &ChatRequest, content: String) -> Completion {
    let limit = request
        .max_tokens
        .map(|tokens| usize::try_from(tokens.saturating_mul(4)).unwrap_or(usize::MAX));
    match limit {
        Some(chars) if content.chars().count() > chars => {
            truncated(request, answer::cut(&content, chars))
        }
        _ => Completion {
            usage: answer::usage(&request.messages, &content),
            content: Some(content),
            refusal: None,
            finish_reason: "stop",
        },
    }
}

/// A 200 with `content` cut short: `finish_reason: length`.
fn truncated(request: &ChatRequest, content: String) -> Completion {
    Completion {
        usage: answer::usage(&request.messages, &content),
        content: Some(content),
        refusal: None,
        finish_reason: "length",
    }
}

/// Resolves once the peer shuts down (or is dropped).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}
