//! `GET /api/v1/events`: the live event bus as Server-Sent Events, for dashboards.
//!
//! Each event is `id: <id>`, `event: <kind>` (`call.started`, `message.created`, …) and
//! `data: <the LiveEvent as JSON>`. A client resumes with the `Last-Event-ID` header (what
//! `EventSource` sends when it reconnects), or with a `last_event_id` query parameter when it cannot
//! set headers (the header wins when both are given); an id that is not a whole number is a 400.
//! Two events carry no `id:`, so they never move the client's resume point:
//!
//! - `stream.gap`, first, when the events right after the client's id are no longer in the replay
//!   ring, or the id was never issued by this process (e.g. from before a restart); its data is
//!   `{"after", "resumed_at", "reason": "expired" | "unknown_id"}`, and what the ring holds follows;
//! - `stream.cut_off`, last, when the client fell more than the live buffer behind; data
//!   `{"reason": "slow_client", "missed"}`. The stream then ends; reconnecting with the last id
//!   resumes from the ring.
//!
//! A comment (`: keep-alive`) goes out whenever no event has for `http.sse_keepalive_s`. Streams
//! end when the server shuts down.
//!
//! A slow client never slows a call: publishing does not wait for subscribers (see
//! [`crate::events`]), and what a client has not read is bounded by the bus's live buffer, its
//! socket buffers and the HTTP layer's write buffer. The cut-off takes effect when the server can
//! next write to the client; a client that stops reading altogether holds only its connection
//! until it reads again or goes away.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use warp::reply::Response;
use warp::sse::Event;
use warp::{Rejection, Reply};

use super::deps::Events;
use super::error::{ApiError, ErrorBody};
use super::metrics::HttpMetrics;
use super::params;
use crate::events::{Delivery, Gap};

/// The query string of `GET /api/v1/events`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// For clients that cannot send `Last-Event-ID`.
    pub last_event_id: Option<String>,
    /// An access token, for browsers' `EventSource`, which cannot send `Authorization`.
    pub access_token: Option<String>,
}

/// `GET /api/v1/events` for organization `org_id`: its events, resumed after `Last-Event-ID`.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(EventsQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, content_type = "text/event-stream",
               description = "Server-Sent Events: `id:` the event id, `event:` its kind (`call.created`, `call.started`, `call.answered`, `call.ended`, `call.barge_in`, `call.ai_reconnected`, `call.ai_unavailable`, `call.updated`, `message.created`, `message.updated`, `message.deleted`; notices `stream.gap` and `stream.cut_off` carry no id), `data:` the event as JSON; a keep-alive comment every `http.sse_keepalive_s`"),
              (status = 400, body = ErrorBody)))]
pub async fn events(
    org_id: Uuid,
    header: Option<String>,
    raw_query: String,
    events: Events,
    metrics: Arc<HttpMetrics>,
) -> Result<Response, Rejection> {
    let query: EventsQuery = params::query(&raw_query)?;
    let last_event_id = match header {
        Some(value) => parse_event_id("Last-Event-ID header", &value)?,
        None => match &query.last_event_id {
            Some(value) => parse_event_id("last_event_id", value)?,
            None => None,
        },
    };
    let subscription = events.bus.subscribe(org_id, last_event_id);
    let client = metrics.sse_client();
    tracing::debug!(%org_id, ?last_event_id, "event stream opened");
    let stream =
        futures_util::stream::unfold((subscription, client), move |(mut subscription, client)| {
            let metrics = metrics.clone();
            async move {
                let delivery = subscription.next().await?;
                if let Delivery::CutOff { missed } = delivery {
                    metrics.sse_cut_off();
                    tracing::warn!(%org_id, missed, "event-stream client too slow: cut off");
                }
                Some((
                    Ok::<_, Infallible>(to_sse(&delivery)),
                    (subscription, client),
                ))
            }
        });
    // The first field goes out at once, so the client sees the stream open (EventSource's `open`)
    // without waiting for an event or a keep-alive; it also sets the client's reconnect delay.
    let opening = futures_util::stream::once(async {
        Ok::<_, Infallible>(Event::default().retry(RECONNECT_DELAY))
    });
    let stream = opening
        .chain(stream)
        .take_until(events.sse.shutdown.clone().cancelled_owned());
    let keepalive = warp::sse::keep_alive()
        .interval(events.sse.keepalive)
        .text("keep-alive")
        .stream(SyncStream::new(stream));
    Ok(warp::sse::reply(keepalive).into_response())
}

/// How long a disconnected browser waits before reconnecting (the stream's `retry:` field).
const RECONNECT_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// A `Last-Event-ID`: a whole number; empty means none.
fn parse_event_id(source: &str, value: &str) -> Result<Option<u64>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse::<u64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "{source} `{value}` is not an event id (a whole number from 0)"
        ))
    })
}

fn to_sse(delivery: &Delivery) -> Event {
    match delivery {
        Delivery::Event(event) => {
            let data = serde_json::to_string(&**event).unwrap_or_else(|err| {
                tracing::error!(%err, id = event.id, "cannot serialize a live event");
                "{}".to_owned()
            });
            Event::default()
                .id(event.id.to_string())
                .event(event.kind.as_str())
                .data(data)
        }
        Delivery::Gap(Gap {
            after,
            resumed_at,
            reason,
        }) => Event::default().event("stream.gap").data(
            json!({ "after": after, "resumed_at": resumed_at, "reason": reason }).to_string(),
        ),
        Delivery::CutOff { missed } => Event::default()
            .event("stream.cut_off")
            .data(json!({ "reason": "slow_client", "missed": missed }).to_string()),
    }
}

/// How event streams run.
#[derive(Debug, Clone)]
pub struct SseSettings {
    /// A comment goes out after this long without an event (`http.sse_keepalive_s`).
    pub keepalive: Duration,
    /// Cancelled when the server shuts down: every stream ends, so that the graceful shutdown
    /// does not wait on dashboards (their `EventSource` reconnects with its last id).
    pub shutdown: CancellationToken,
}

impl Default for SseSettings {
    fn default() -> Self {
        SseSettings {
            keepalive: Duration::from_secs(15),
            shutdown: CancellationToken::new(),
        }
    }
}

/// Makes a `Send` stream `Sync`, as warp's SSE reply asks, without locking: the stream is only
/// ever polled through `&mut self`, which reaches the mutex's content with `get_mut`.
struct SyncStream<S>(Mutex<Pin<Box<S>>>);

impl<S> SyncStream<S> {
    fn new(stream: S) -> Self {
        SyncStream(Mutex::new(Box::pin(stream)))
    }
}

impl<S: Stream> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let stream = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        stream.poll_next_unpin(cx)
    }
}
