//! Scripting the answers: a FIFO of one-shot outcomes, and a persistent failure mode.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the peer does with one valid request instead of (or before) its default answer.
///
/// Only requests that pass routing, authentication and validation take an outcome: a request
/// the service would refuse anyway is refused and leaves the script as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    /// 200 with `content` = this value serialized, whether or not it fits the request's schema
    /// (to check that the client rejects out-of-schema answers).
    Answer(serde_json::Value),
    /// 200 with `content` = this text as it is (e.g. text that is not JSON).
    RawContent(String),
    /// 200 with `message.refusal` = this text and `content: null`.
    Refusal(String),
    /// 200 with `finish_reason: "length"` and the default answer cut in half (a JSON answer is
    /// then invalid JSON).
    Truncated,
    /// An OpenAI-shaped error with this HTTP status (4xx or 5xx; anything else is sent as
    /// 500) and message; the error `type` follows the status (`invalid_request_error`,
    /// `authentication_error`, `permission_error`, `rate_limit_error`, `server_error`).
    Status {
        /// HTTP status.
        status: u16,
        /// `error.message`.
        message: String,
    },
    /// 429 `rate_limit_exceeded` with `Retry-After: <retry_after_s>` (and `x-ratelimit-*`
    /// headers saying no request is left until then).
    RateLimited {
        /// Seconds in the `Retry-After` header.
        retry_after_s: u64,
    },
    /// Waits this long, then sends the default answer.
    Delay(Duration),
    /// Never answers: the request stays open until the client gives up or the peer shuts down
    /// (it then gets a 503, so a shutdown never waits for it).
    Hang,
}

#[derive(Debug, Default)]
struct Script {
    queue: VecDeque<Scripted>,
    fail_all: Option<Scripted>,
}

/// Shared handle scripting the peer's answers at run time (`peer.control()`; clones share the
/// script).
///
/// [`push`](RestControl::push) queues one-shot outcomes taken one per valid request, in order;
/// when the queue is empty requests get the default answer again.
/// [`fail_all`](RestControl::fail_all) sets an outcome every valid request gets until it is
/// cleared (for circuit-breaker tests); while it is set the queue is left alone.
#[derive(Debug, Clone, Default)]
pub struct RestControl {
    script: Arc<Mutex<Script>>,
}

impl RestControl {
    /// Queues `outcome` for the next valid request that finds the queue otherwise empty.
    pub fn push(&self, outcome: Scripted) {
        self.lock().queue.push_back(outcome);
    }

    /// Queues every outcome of `outcomes`, in order.
    pub fn push_all(&self, outcomes: impl IntoIterator<Item = Scripted>) {
        self.lock().queue.extend(outcomes);
    }

    /// Outcomes queued and not yet taken, in order.
    pub fn pending(&self) -> Vec<Scripted> {
        self.lock().queue.iter().cloned().collect()
    }

    /// Drops every queued outcome (the persistent one stays).
    pub fn clear(&self) {
        self.lock().queue.clear();
    }

    /// `Some(outcome)`: every valid request gets `outcome` (a failure, usually; a
    /// [`Scripted::Delay`] makes a slow service) until `fail_all(None)`.
    pub fn fail_all(&self, outcome: Option<Scripted>) {
        self.lock().fail_all = outcome;
    }

    /// The persistent outcome set with [`fail_all`](RestControl::fail_all), if any.
    pub fn failing_all(&self) -> Option<Scripted> {
        self.lock().fail_all.clone()
    }

    /// The outcome for the next valid request: the persistent one, else the oldest queued.
    pub(super) fn take(&self) -> Option<Scripted> {
        let mut script = self.lock();
        match &script.fail_all {
            Some(outcome) => Some(outcome.clone()),
            None => script.queue.pop_front(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
