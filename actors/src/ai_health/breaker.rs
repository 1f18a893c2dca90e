//! The circuit breaker of one AI endpoint and key, as a state machine without I/O or clock: time
//! comes in as `now`, outcomes as calls, and each call says whether the state changed.
//!
//! - **Closed**: everything is allowed. It opens after `consecutive_failures` failures in a row, or
//!   when, over the last `window`, at least `min_requests` outcomes were seen and the share of
//!   failures reached `failure_rate`.
//! - **Open**: nothing is allowed until `cooldown` has passed since it opened.
//! - **Half-open**: one probe is allowed at a time (another after `probe_timeout` if the first
//!   never reports); a success closes the breaker, a failure opens it again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    pub consecutive_failures: u32,
    pub window: Duration,
    pub min_requests: u32,
    /// 0–1.
    pub failure_rate: f64,
    pub cooldown: Duration,
    pub probe_timeout: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            consecutive_failures: 5,
            window: Duration::from_secs(60),
            min_requests: 20,
            failure_rate: 0.5,
            cooldown: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(30),
        }
    }
}

/// The three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// A change of state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// With why.
    Opened(String),
    HalfOpened,
    Closed,
}

/// Whether new work may go to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the half-open breaker's probe.
    Probe,
    /// Refused; the breaker may half-open after this long.
    Refused {
        retry_in: Duration,
    },
}

impl Admission {
    pub fn is_allowed(self) -> bool {
        !matches!(self, Admission::Refused { .. })
    }
}

/// Recent latencies kept for the health report.
const LATENCIES_KEPT: usize = 64;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    consecutive: u32,
    /// Outcomes in the window: when, and whether it failed.
    outcomes: VecDeque<(Instant, bool)>,
    opened_at: Option<Instant>,
    probe_since: Option<Instant>,
    latencies: VecDeque<Duration>,
    last_error: Option<(Instant, String)>,
}

/// What [`Breaker::report`] tells.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerReport {
    pub state: BreakerState,
    /// Outcomes and failures in the window.
    pub requests: u32,
    pub failures: u32,
    pub consecutive_failures: u32,
    /// Median and 95th percentile of the recent successes' latency.
    pub latency_p50: Option<Duration>,
    pub latency_p95: Option<Duration>,
    /// The last failure and how long ago it was.
    pub last_error: Option<(Duration, String)>,
    /// Time left before an open breaker lets a probe through.
    pub retry_in: Option<Duration>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            state: BreakerState::Closed,
            consecutive: 0,
            outcomes: VecDeque::new(),
            opened_at: None,
            probe_since: None,
            latencies: VecDeque::new(),
            last_error: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether new work may start now; an open breaker whose cool-down has passed half-opens
    /// (returned as the transition).
    pub fn admit(&mut self, now: Instant) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Open => {
                let opened = self.opened_at.unwrap_or(now);
                let ready = opened + self.policy.cooldown;
                if now >= ready {
                    self.state = BreakerState::HalfOpen;
                    self.probe_since = Some(now);
                    (Admission::Probe, Some(Transition::HalfOpened))
                } else {
                    (
                        Admission::Refused {
                            retry_in: ready - now,
                        },
                        None,
                    )
                }
            }
            BreakerState::HalfOpen => match self.probe_since {
                Some(since) if now.saturating_duration_since(since) < self.policy.probe_timeout => {
                    (
                        Admission::Refused {
                            retry_in: self.policy.probe_timeout
                                - now.saturating_duration_since(since),
                        },
                        None,
                    )
                }
                _ => {
                    self.probe_since = Some(now);
                    (Admission::Probe, None)
                }
            },
        }
    }

    /// A request succeeded after `latency`.
    pub fn success(&mut self, now: Instant, latency: Duration) -> Option<Transition> {
        self.record(now, false);
        self.consecutive = 0;
        if self.latencies.len() == LATENCIES_KEPT {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
        if self.state != BreakerState::Closed {
            self.state = BreakerState::Closed;
            self.opened_at = None;
            self.probe_since = None;
            // The window starts afresh: the failures that opened it are history.
            self.outcomes.clear();
            self.record(now, false);
            return Some(Transition::Closed);
        }
        None
    }

    /// A request failed with `error` (a short description, never a secret).
    pub fn failure(&mut self, now: Instant, error: &str) -> Option<Transition> {
        self.record(now, true);
        self.consecutive = self.consecutive.saturating_add(1);
        self.last_error = Some((now, error.chars().take(300).collect()));
        match self.state {
            BreakerState::HalfOpen => Some(self.open(now, format!("the probe failed: {error}"))),
            BreakerState::Open => None,
            BreakerState::Closed => {
                if self.consecutive >= self.policy.consecutive_failures {
                    let why = format!("{} consecutive failures", self.consecutive);
                    return Some(self.open(now, why));
                }
                let (requests, failures) = self.counts();
                if requests >= self.policy.min_requests
                    && f64::from(failures) >= self.policy.failure_rate * f64::from(requests)
                {
                    let why = format!(
                        "{failures} of {requests} requests failed in the last {} s",
                        self.policy.window.as_secs()
                    );
                    return Some(self.open(now, why));
                }
                None
            }
        }
    }

    pub fn report(&mut self, now: Instant) -> BreakerReport {
        self.expire(now);
        let (requests, failures) = self.counts();
        let mut sorted: Vec<Duration> = self.latencies.iter().copied().collect();
        sorted.sort();
        let at = |q: f64| {
            (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize])
        };
        BreakerReport {
            state: self.state,
            requests,
            failures,
            consecutive_failures: self.consecutive,
            latency_p50: at(0.5),
            latency_p95: at(0.95),
            last_error: self
                .last_error
                .as_ref()
                .map(|(at, text)| (now.saturating_duration_since(*at), text.clone())),
            retry_in: match (self.state, self.opened_at) {
                (BreakerState::Open, Some(opened)) => {
                    Some((opened + self.policy.cooldown).saturating_duration_since(now))
                }
                _ => None,
            },
        }
    }

    fn open(&mut self, now: Instant, why: String) -> Transition {
        self.state = BreakerState::Open;
        self.opened_at = Some(now);
        self.probe_since = None;
        Transition::Opened(why)
    }

    fn record(&mut self, now: Instant, failed: bool) {
        self.expire(now);
        self.outcomes.push_back((now, failed));
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, _)) = self.outcomes.front() {
            if now.saturating_duration_since(at) > self.policy.window {
                self.outcomes.pop_front();
            } else {
                break;
            }
        }
    }

    fn counts(&self) -> (u32, u32) {
        let failures = self.outcomes.iter().filter(|(_, failed)| *failed).count();
        (self.outcomes.len() as u32, failures as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            window: Duration::from_secs(10),
            min_requests: 6,
            failure_rate: 0.5,
            cooldown: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn consecutive_failures_open_it_and_refuse_new_work() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        assert_eq!(b.failure(t0, "503"), None);
        assert_eq!(b.failure(t0 + MS, "503"), None);
        assert!(
            matches!(b.failure(t0 + 2 * MS, "503"), Some(Transition::Opened(why)) if why.contains("3 consecutive"))
        );
        assert_eq!(b.state(), BreakerState::Open);
        let (admission, change) = b.admit(t0 + Duration::from_secs(1));
        assert!(!admission.is_allowed());
        assert_eq!(change, None);
        assert!(
            matches!(admission, Admission::Refused { retry_in } if retry_in > Duration::from_secs(3))
        );
        let report = b.report(t0 + Duration::from_secs(1));
        assert_eq!(report.failures, 3);
        assert_eq!(report.last_error.unwrap().1, "503");
    }

    #[test]
    fn a_success_resets_the_run_of_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        b.failure(t0, "x");
        b.failure(t0, "x");
        b.success(t0, 10 * MS);
        b.failure(t0, "x");
        b.failure(t0, "x");
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_failure_rate_over_the_window_opens_it() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        // Alternating: never 3 in a row, but half of 6 failed.
        let mut opened = None;
        for i in 0..6 {
            let at = t0 + i * MS;
            let change = if i % 2 == 0 {
                b.success(at, MS)
            } else {
                b.failure(at, "timeout")
            };
            opened = opened.or(change);
        }
        assert!(matches!(opened, Some(Transition::Opened(why)) if why.contains("3 of 6")));
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for i in 0..5 {
            if i % 2 == 0 {
                b.failure(t0, "x");
            } else {
                b.success(t0, MS);
            }
        }
        let later = t0 + Duration::from_secs(11);
        b.success(later, MS);
        assert_eq!(b.failure(later, "x"), None, "the old failures have expired");
        assert_eq!(b.report(later).requests, 2);
    }

    #[test]
    fn it_half_opens_after_the_cooldown_with_one_probe_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for _ in 0..3 {
            b.failure(t0, "x");
        }
        let after = t0 + Duration::from_secs(5);
        assert_eq!(
            b.admit(after),
            (Admission::Probe, Some(Transition::HalfOpened))
        );
        assert!(!b.admit(after + MS).0.is_allowed(), "one probe at a time");
        assert_eq!(
            b.success(after + 100 * MS, 80 * MS),
            Some(Transition::Closed)
        );
        assert_eq!(b.admit(after + 200 * MS), (Admission::Allowed, None));
        assert_eq!(b.report(after).latency_p50, Some(80 * MS));
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_lost_probe_is_replaced() {
        let t0 = Instant::now();
        let mut b = Breaker::new(policy());
        for _ in 0..3 {
            b.failure(t0, "x");
        }
        let after = t0 + Duration::from_secs(5);
        b.admit(after);
        assert!(matches!(
            b.failure(after, "still down"),
            Some(Transition::Opened(_))
        ));
        let again = after + Duration::from_secs(5);
        assert_eq!(b.admit(again).0, Admission::Probe);
        // The probe never reports: after the probe timeout another is let through.
        assert!(!b.admit(again + Duration::from_secs(1)).0.is_allowed());
        assert_eq!(b.admit(again + Duration::from_secs(2)).0, Admission::Probe);
    }
}
