//! Limits: failed logins lock an email and a client address out with a doubling backoff
//! ([`LoginThrottle`], sans-IO: the caller passes the time), and each API caller has a token
//! bucket of requests ([`RateLimits`], the `governor` crate).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

/// How failed logins are limited.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Failures allowed before the first lockout.
    pub max_failures: u32,
    /// The first lockout; each further failure doubles it…
    pub lockout: Duration,
    /// …up to this.
    pub max_lockout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins by key (`email:…`, `ip:…`).
#[derive(Debug)]
pub struct LoginThrottle {
    policy: LoginPolicy,
    failures: HashMap<String, Failures>,
}

/// Entries kept before old ones are dropped.
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    pub fn new(policy: LoginPolicy) -> LoginThrottle {
        LoginThrottle {
            policy,
            failures: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` is locked out.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.failures.get(key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure; locks `key` out once it has failed too often.
    pub fn failed(&mut self, key: &str, now: Instant) {
        if self.failures.len() >= MAX_TRACKED {
            let horizon = self.policy.max_lockout;
            self.failures
                .retain(|_, f| now.saturating_duration_since(f.last) < horizon);
        }
        let policy = self.policy;
        let entry = self.failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: None,
        });
        // Failures long past are forgotten.
        if now.saturating_duration_since(entry.last) > policy.max_lockout {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        if entry.count >= policy.max_failures {
            let doublings = (entry.count - policy.max_failures).min(20);
            let lockout = policy
                .lockout
                .saturating_mul(1 << doublings)
                .min(policy.max_lockout);
            entry.locked_until = Some(now + lockout);
        }
    }

    /// A successful login clears `key`.
    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

/// Requests per caller: a token bucket per API key or user.
pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
    checks: Mutex<u32>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    /// `per_second` sustained, bursts up to `burst`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> RateLimits {
        RateLimits {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            clock: DefaultClock::default(),
            checks: Mutex::new(0),
        }
    }

    /// `Err(wait)` when `caller` has used up its bucket.
    pub fn check(&self, caller: Uuid) -> Result<(), Duration> {
        // Now and then, forget callers whose buckets are full again.
        if let Ok(mut n) = self.checks.lock() {
            *n = n.wrapping_add(1);
            if *n % 4096 == 0 {
                self.limiter.retain_recent();
            }
        }
        self.limiter
            .check_key(&caller)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_lock_out_with_a_doubling_backoff_and_success_clears() {
        let mut t = LoginThrottle::new(LoginPolicy {
            max_failures: 3,
            lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(5),
        });
        let t0 = Instant::now();
        t.failed("email:a", t0);
        t.failed("email:a", t0);
        assert!(t.check("email:a", t0).is_ok());
        t.failed("email:a", t0);
        assert_eq!(t.check("email:a", t0), Err(Duration::from_secs(1)));
        assert!(t.check("email:b", t0).is_ok(), "other keys are unaffected");
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check("email:a", t1).is_ok(), "the lockout ends");
        t.failed("email:a", t1);
        assert_eq!(t.check("email:a", t1), Err(Duration::from_secs(2)));
        for _ in 0..5 {
            t.failed("email:a", t1);
        }
        assert_eq!(
            t.check("email:a", t1),
            Err(Duration::from_secs(5)),
            "capped"
        );
        t.succeeded("email:a");
        assert!(t.check("email:a", t1).is_ok());
    }

    #[test]
    fn a_bucket_empties_then_refills() {
        let limits = RateLimits::new(NonZeroU32::new(10).unwrap(), NonZeroU32::new(3).unwrap());
        let caller = Uuid::new_v4();
        for _ in 0..3 {
            limits.check(caller).unwrap();
        }
        let wait = limits.check(caller).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limits.check(Uuid::new_v4()).is_ok(), "per caller");
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(limits.check(caller).is_ok());
    }
}
