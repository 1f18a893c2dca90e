//! `GET /metrics`: the engine's figures in the OpenMetrics text format (which Prometheus scrapes),
//! encoded by `prometheus-client` with no global registry.
//!
//! Two kinds of source: [`HttpMetrics`], recorded by the HTTP layer itself (request latency by
//! route class and status class, event-stream clients), and the engine's own lock-free counters,
//! read at scrape time (live calls from the call registry, media frames and AI reconnects from
//! [`CallMetrics`](switchboard_actors::call::CallMetrics), frames refused on media sockets, the
//! persistence actor's figures, events published on the bus). Label values come from fixed sets,
//! never from paths or ids, so the number of series stays bounded.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use switchboard_actors::call::CallMetrics;
use switchboard_actors::persistence::PersistenceMetrics;
use switchboard_actors::persistence::metrics::Histogram as Pow2Histogram;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::ai::AiGate;
use super::auth::AuthState;
use super::deps::{Calls, Events};
use super::error::ApiError;
use crate::events::EventBus;
use crate::store::Store;
use crate::store::usage::UsageFigures;
use crate::twilio::media::REJECTED_FRAMES;
use switchboard_actors::ai_health::{BreakerState, KeyScope};

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `(route class, status class)`, e.g. `("api", "2xx")`.
type RequestLabels = [(&'static str, &'static str); 2];

/// What the HTTP layer records itself; shared by every request (cheap: atomics and one read lock
/// per request for the latency family).
#[derive(Debug)]
pub struct HttpMetrics {
    request_seconds: Family<RequestLabels, Histogram, fn() -> Histogram>,
    sse_clients: Gauge,
    sse_cut_off: Counter,
    supervisor_frames_dropped: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            request_seconds: Family::new_with_constructor(|| {
                // 0.5 ms .. ~16 s.
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
            sse_clients: Gauge::default(),
            sse_cut_off: Counter::default(),
            supervisor_frames_dropped: Counter::default(),
        }
    }
}

impl HttpMetrics {
    /// Records one request (called from the request log hook). For a streamed response (events,
    /// websockets) the time is until its head.
    pub fn observe_request(&self, path: &str, status: StatusCode, elapsed: Duration) {
        let labels = [
            ("route", route_class(path)),
            ("status", status_class(status)),
        ];
        self.request_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an event-stream client for as long as the guard lives.
    pub fn sse_client(&self) -> SseClientGuard {
        self.sse_clients.inc();
        SseClientGuard(self.sse_clients.clone())
    }

    /// An event-stream client fell too far behind and was cut off.
    pub fn sse_cut_off(&self) {
        self.sse_cut_off.inc();
    }

    /// Monitor frames a slow supervisor socket lost (its own oldest audio).
    pub fn supervisor_frames_dropped(&self, n: u64) {
        self.supervisor_frames_dropped.inc_by(n);
    }
}

/// Keeps one event-stream client counted; see [`HttpMetrics::sse_client`].
#[derive(Debug)]
pub struct SseClientGuard(Gauge);

impl Drop for SseClientGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A fixed class per route family: the label never carries a raw path.
pub fn route_class(path: &str) -> &'static str {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("api"), Some("v1"), Some("events")) => "events",
        (Some("api"), ..) => "api",
        (Some("twilio"), Some("media"), _) => "twilio_media",
        (Some("twilio"), ..) => "twilio",
        (Some("health" | "ready"), None, _) => "health",
        (Some("metrics"), None, _) => "metrics",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
               description = "Prometheus / OpenMetrics text: live calls, media frames, AI reconnects, persistence, event streams, HTTP latency")))]
pub async fn metrics(
    authorization: Option<String>,
    auth: Arc<AuthState>,
    calls: Calls,
    events: Events,
    http: Arc<HttpMetrics>,
    store: Store,
    ai: Arc<AiGate>,
) -> Result<Response, Rejection> {
    check_token(&auth, authorization.as_deref())?;
    // Usage is read from the database: the counters are the organizations' totals to date,
    // whichever engine wrote them (a failed read leaves them out of this scrape).
    let usage = match store.usage_by_org().await {
        Ok(usage) => usage,
        Err(err) => {
            tracing::warn!(%err, "usage left out of the metrics");
            Vec::new()
        }
    };
    let text = encode(&calls, &events.bus, &http, usage, ai.health.report())
        .map_err(|_| ApiError::Internal("cannot encode metrics".into()))?;
    Ok(warp::reply::with_header(text, "content-type", CONTENT_TYPE).into_response())
}

/// A scrape needs `Authorization: Bearer <auth.metrics_token>` when that token is set.
fn check_token(auth: &AuthState, authorization: Option<&str>) -> Result<(), ApiError> {
    let token = auth.metrics_token.expose();
    if token.is_empty() {
        return Ok(());
    }
    let given = authorization.and_then(|h| h.strip_prefix("Bearer "));
    // Constant-time: the comparison's duration says nothing about the token.
    let ok = given.is_some_and(|g| {
        use sha2::Digest;
        let (a, b) = (sha2::Sha256::digest(g), sha2::Sha256::digest(token));
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "GET /metrics needs `Authorization: Bearer <auth.metrics_token>`".into(),
        ))
    }
}

/// The whole exposition.
pub fn encode(
    calls: &Calls,
    events: &EventBus,
    http: &HttpMetrics,
    usage: Vec<(uuid::Uuid, UsageFigures)>,
    breakers: Vec<switchboard_actors::ai_health::EndpointHealth>,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("switchboard");
    registry.register(
        "http_request_duration_seconds",
        "HTTP requests by route class and status class, in seconds (to the response head)",
        http.request_seconds.clone(),
    );
    registry.register(
        "sse_clients",
        "Clients connected to GET /api/v1/events",
        http.sse_clients.clone(),
    );
    registry.register(
        "sse_clients_cut_off",
        "Event-stream clients cut off for falling too far behind",
        http.sse_cut_off.clone(),
    );
    registry.register(
        "supervisor_frames_dropped",
        "Monitor frames supervisor sockets lost for falling behind",
        http.supervisor_frames_dropped.clone(),
    );
    registry.register_collector(Box::new(EngineFigures::read(calls, events)));
    registry.register_collector(Box::new(UsageCollector { usage, breakers }));
    let mut text = String::with_capacity(8192);
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// Usage per organization (counters) and the AI breakers (a gauge per service and key: 0
/// closed, 1 half-open, 2 open).
#[derive(Debug)]
struct UsageCollector {
    usage: Vec<(uuid::Uuid, UsageFigures)>,
    breakers: Vec<switchboard_actors::ai_health::EndpointHealth>,
}

impl Collector for UsageCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> FmtResult {
        type Get = fn(&UsageFigures) -> u64;
        let series: [(&str, &str, Get); 8] = [
            ("usage_calls", "Calls per organization", |u| u.calls as u64),
            ("usage_call_seconds", "Call seconds per organization", |u| {
                u.call_seconds as u64
            }),
            (
                "usage_ai_audio_in_seconds",
                "Caller audio sent to the realtime AI, seconds",
                |u| u.ai_audio_in_seconds as u64,
            ),
            (
                "usage_ai_audio_out_seconds",
                "Agent audio received from the realtime AI, seconds",
                |u| u.ai_audio_out_seconds as u64,
            ),
            (
                "usage_ai_input_tokens",
                "Realtime input tokens reported by response.done",
                |u| u.ai_input_tokens as u64,
            ),
            (
                "usage_ai_output_tokens",
                "Realtime output tokens reported by response.done",
                |u| u.ai_output_tokens as u64,
            ),
            ("usage_analysis_runs", "Post-call analyses written", |u| {
                u.analysis_runs as u64
            }),
            (
                "usage_analysis_tokens",
                "Post-call analysis tokens (input and output)",
                |u| (u.analysis_input_tokens + u.analysis_output_tokens) as u64,
            ),
        ];
        for (name, help, get) in series {
            let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (org, figures) in &self.usage {
                let labels = vec![("org".to_owned(), org.to_string())];
                ConstCounter::new(get(figures)).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = e.encode_descriptor(
            "ai_breaker_state",
            "AI circuit breakers: 0 closed, 1 half-open, 2 open (by service and key)",
            None,
            MetricType::Gauge,
        )?;
        for b in &self.breakers {
            let key = match b.scope {
                KeyScope::Engine => "engine".to_owned(),
                KeyScope::Org(org) => org.to_string(),
            };
            let labels = vec![
                ("service".to_owned(), b.service.as_str().to_owned()),
                ("key".to_owned(), key),
            ];
            let state = match b.report.state {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            ConstGauge::new(state as i64).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The engine's counters, read once per scrape.
#[derive(Debug)]
struct EngineFigures {
    live_calls: Option<usize>,
    call_actor_restarts: Option<u64>,
    calls: Option<std::sync::Arc<CallMetrics>>,
    persistence: Option<std::sync::Arc<PersistenceMetrics>>,
    rejected_frames: u64,
    events: EventBus,
}

impl EngineFigures {
    fn read(calls: &Calls, events: &EventBus) -> Self {
        let media = calls.media.as_deref();
        EngineFigures {
            live_calls: media.map(|m| m.registry.live_calls()),
            call_actor_restarts: media.map(|m| m.registry.restarts()),
            calls: media.map(|m| m.deps.metrics.clone()),
            persistence: media.map(|m| m.deps.persistence.metrics()),
            rejected_frames: REJECTED_FRAMES.load(Ordering::Relaxed),
            events: events.clone(),
        }
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> FmtResult {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> FmtResult {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A power-of-two histogram of the persistence metrics as a Prometheus histogram, its values
/// multiplied by `scale` (bucket `i` holds values below `2^i`, so its bound is `2^i - 1`).
fn pow2_histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    histogram: &Pow2Histogram,
    scale: f64,
) -> FmtResult {
    let counts = histogram.buckets();
    let last = counts.len() - 1;
    let buckets: Vec<(f64, u64)> = counts
        .iter()
        .enumerate()
        .map(|(i, (upper, count))| {
            let bound = if i == last {
                f64::INFINITY // the last bucket also holds everything larger
            } else {
                (upper - 1) as f64 * scale
            };
            (bound, *count)
        })
        .collect();
    let count = counts.iter().map(|(_, c)| c).sum();
    let sum = histogram.sum() as f64 * scale;
    encoder
        .encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

type FmtResult = Result<(), std::fmt::Error>;

impl Collector for EngineFigures {
    fn encode(&self, mut e: DescriptorEncoder) -> FmtResult {
        counter(
            &mut e,
            "media_frames_rejected",
            "Media-socket frames refused (malformed, unknown, out of place, oversized, or for a call too far behind)",
            self.rejected_frames,
        )?;
        counter(
            &mut e,
            "events_published",
            "Live events published on the event bus",
            self.events.last_id(),
        )?;
        if let Some(live) = self.live_calls {
            gauge(&mut e, "live_calls", "Calls in progress", live as i64)?;
        }
        if let Some(restarts) = self.call_actor_restarts {
            counter(
                &mut e,
                "call_actor_restarts",
                "Call actors restarted after a failure",
                restarts,
            )?;
        }
        if let Some(calls) = &self.calls {
            let c = calls.snapshot();
            counter(
                &mut e,
                "calls_started",
                "Media streams started",
                c.calls_started,
            )?;
            counter(&mut e, "calls_ended", "Calls ended", c.calls_ended)?;
            counter(
                &mut e,
                "media_frames_in",
                "Media frames received from Twilio",
                c.media_frames_in,
            )?;
            counter(
                &mut e,
                "media_frames_out",
                "Media frames sent to Twilio",
                c.media_frames_out,
            )?;
            counter(
                &mut e,
                "ai_reconnects",
                "AI sessions reopened after a loss or a rotation",
                c.ai_reconnects,
            )?;
        }
        if let Some(p) = &self.persistence {
            let s = p.snapshot();
            let figures = [
                (
                    "rows_accepted",
                    "Rows accepted for writing",
                    s.rows_accepted,
                ),
                ("rows_written", "Rows written", s.rows_written),
                (
                    "rows_rejected",
                    "Rows the database refused",
                    s.rows_rejected,
                ),
                (
                    "rows_refused",
                    "Rows refused because the buffer was full",
                    s.rows_refused,
                ),
                ("batches_written", "Batches written", s.batches_written),
                ("retries", "Batch writes retried", s.retries),
                (
                    "actor_restarts",
                    "Persistence actor restarts",
                    s.actor_restarts,
                ),
            ];
            for (name, help, value) in figures {
                counter(&mut e, &format!("persistence_{name}"), help, value)?;
            }
            gauge(
                &mut e,
                "persistence_pending_rows",
                "Rows accepted and not yet durable",
                s.pending_rows as i64,
            )?;
            pow2_histogram(
                &mut e,
                "persistence_write_latency_seconds",
                "Batch write latency, in seconds",
                &p.write_latency_us,
                1e-6,
            )?;
            pow2_histogram(
                &mut e,
                "persistence_batch_rows",
                "Rows per written batch",
                &p.batch_size,
                1.0,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_classes_are_a_fixed_set() {
        let cases = [
            ("/api/v1/events", "events"),
            ("/api/v1/calls/0190b6a2-0000-7000-8000-000000000000", "api"),
            ("/twilio/voice", "twilio"),
            ("/twilio/media", "twilio_media"),
            ("/health", "health"),
            ("/ready", "health"),
            ("/metrics", "metrics"),
            ("/nope/../etc/passwd", "other"),
            ("/", "other"),
        ];
        for (path, class) in cases {
            assert_eq!(route_class(path), class, "{path}");
        }
    }
}
