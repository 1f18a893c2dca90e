//! The model call: one Chat Completions request with a strict JSON-schema response format
//! (PROTOCOLS.md §F), through `async-openai`, at the configured API base, with the organization's
//! own key when it has one.
//!
//! `async-openai` retries 429s and 5xx by itself unless given a transport; the engine installs its
//! own ([`Transport`]), which makes one attempt and turns a 429 into [`ModelError::RateLimited`]
//! with the `Retry-After` the service sent, because a job retries with its own backoff and the AI
//! circuit breaker must see each failure.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, FinishReason, ResponseFormat, ResponseFormatJsonSchema,
};

use super::fields::AnalysisField;
use super::schema::{self, AnswerError, SCHEMA_NAME, Verdict};

/// Longest `Retry-After` honoured; a longer one waits this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// What the model was asked with.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// `…/v1`.
    pub api_base: String,
    pub model: String,
    pub system_prompt: String,
    pub timeout: Duration,
}

/// An answer, checked, with what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub verdict: Verdict,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub latency: Duration,
}

/// Why the model gave no usable answer. Every variant but [`ModelError::Refused`] and
/// [`ModelError::Rejected`] is the provider's trouble (it counts for the circuit breaker).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("rate limited by the AI provider (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the AI provider answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("cannot reach the AI provider: {0}")]
    Transport(String),
    #[error("the AI provider's answer is not a chat completion: {0}")]
    Malformed(String),
    #[error("the model refused: {0}")]
    Refused(String),
    /// The answer's text is not what the schema requires (never stored).
    #[error("{0}")]
    Rejected(#[from] AnswerError),
    #[error("the model's answer was cut off (finish_reason length)")]
    Truncated,
}

impl ModelError {
    /// Whether a retry later may succeed (a 4xx other than 408/409/429 will not).
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::Status { status, .. } => {
                *status >= 500 || matches!(status, 408 | 409 | 429)
            }
            ModelError::Refused(_) => false,
            _ => true,
        }
    }

    /// Whether the provider is at fault (what the circuit breaker counts).
    pub fn is_provider_failure(&self) -> bool {
        match self {
            ModelError::Status { status, .. } => *status >= 500 || *status == 429,
            ModelError::Timeout(_)
            | ModelError::RateLimited { .. }
            | ModelError::Transport(_)
            | ModelError::Malformed(_) => true,
            ModelError::Refused(_) | ModelError::Rejected(_) | ModelError::Truncated => false,
        }
    }

    /// What the service asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Asks the model about one conversation. `api_key` is the organization's, else the engine's.
pub async fn analyse(
    transport: &Transport,
    settings: &ModelSettings,
    api_key: &str,
    transcript: &str,
    fields: &[AnalysisField],
) -> Result<ModelAnswer, ModelError> {
    let config = OpenAIConfig::new()
        .with_api_base(settings.api_base.trim_end_matches('/'))
        .with_api_key(api_key);
    let client = Client::with_config(config).with_http_service(transport.clone());
    let request = CreateChatCompletionRequest {
        model: settings.model.clone(),
        messages: vec![
            ChatCompletionRequestSystemMessage::from(settings.system_prompt.as_str()).into(),
            ChatCompletionRequestUserMessage::from(transcript).into(),
        ],
        response_format: Some(ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: Some("The analysis of one customer conversation".into()),
                name: SCHEMA_NAME.into(),
                schema: schema::schema(fields),
                strict: Some(true),
            },
        }),
        ..Default::default()
    };
    let started = Instant::now();
    let response = match tokio::time::timeout(settings.timeout, client.chat().create(request)).await
    {
        Err(_) => return Err(ModelError::Timeout(settings.timeout)),
        Ok(result) => result.map_err(|err| classify(err, settings.timeout))?,
    };
    let latency = started.elapsed();
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ModelError::Malformed("no choices".into()))?;
    if let Some(refusal) = choice.message.refusal {
        return Err(ModelError::Refused(refusal.chars().take(500).collect()));
    }
    if choice.finish_reason == Some(FinishReason::Length) {
        return Err(ModelError::Truncated);
    }
    let content = choice
        .message
        .content
        .ok_or_else(|| ModelError::Malformed("no content and no refusal".into()))?;
    let verdict = schema::parse_answer(&content, fields)?;
    let usage = response.usage.unwrap_or_default();
    Ok(ModelAnswer {
        verdict,
        model: response.model,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        latency,
    })
}

fn classify(err: OpenAIError, timeout: Duration) -> ModelError {
    match err {
        OpenAIError::ApiError(api) => ModelError::Status {
            status: api.status_code.as_u16(),
            message: api.api_error.message.chars().take(500).collect(),
        },
        OpenAIError::Boxed(boxed) => match boxed.downcast::<RateLimited>() {
            Ok(limited) => ModelError::RateLimited {
                retry_after: limited.retry_after,
            },
            Err(other) => ModelError::Transport(other.to_string()),
        },
        OpenAIError::Reqwest(err) if err.is_timeout() => ModelError::Timeout(timeout),
        OpenAIError::Reqwest(err) => ModelError::Transport(without_url(&err)),
        OpenAIError::JSONDeserialize(err, _) => ModelError::Malformed(err.to_string()),
        other => ModelError::Transport(other.to_string()),
    }
}

/// A reqwest error's text without the URL (which may carry a query the logs need not see).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<api>");
    }
    text
}

/// A 429, with the `Retry-After` it carried.
#[derive(Debug)]
struct RateLimited {
    retry_after: Option<Duration>,
}

impl std::fmt::Display for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate limited (retry after {:?})", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

/// One attempt per request over one shared reqwest client (see the module documentation).
#[derive(Clone)]
pub struct Transport {
    client: reqwest::Client,
}

impl Transport {
    /// One per process: its connections are reused by every analysis.
    pub fn new(timeout: Duration) -> Transport {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .unwrap_or_default();
        Transport { client }
    }
}

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let request = request.build().await?;
            let response = client.execute(request).await?;
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER));
                return Err(OpenAIError::Boxed(Box::new(RateLimited { retry_after })));
            }
            Ok(response)
        })
    }
}
