//! Per-organization limits on webhook tool calls, protecting the customer's endpoint from the
//! engine: however many calls an organization has on the line, its endpoint sees at most
//! `max_concurrent` requests at once and about `per_second` a second.
//!
//! * The rate is a token bucket per organization (`governor`), refilled `per_second` times a
//!   second and holding a burst (by default one second's worth). A call over it is refused at
//!   once ([`LimitRefusal::RateLimited`]): waiting would only pile calls up.
//! * The concurrency is a semaphore per organization, created on first use. A call over it waits
//!   for a slot until its deadline, then is refused ([`LimitRefusal::Busy`]); the slot
//!   ([`ToolPermit`]) is held until the call's answer has been read.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use uuid::Uuid;

/// Organizations tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 4096;

/// Why a call was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRefusal {
    /// The organization's rate is used up; a call could go through after `retry_after`.
    RateLimited { retry_after: Duration },
    /// All of the organization's concurrent slots stayed taken until the call's deadline.
    Busy,
}

/// A concurrent slot of one organization, released when dropped.
#[derive(Debug)]
pub struct ToolPermit {
    _permit: OwnedSemaphorePermit,
}

/// The limits of every organization's tool calls (one per engine, shared by its calls).
pub struct ToolLimits {
    max_concurrent: u32,
    rate: DefaultKeyedRateLimiter<Uuid>,
    clock: DefaultClock,
    slots: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

impl std::fmt::Debug for ToolLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolLimits")
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

impl ToolLimits {
    /// At most `max_concurrent` calls at once and `per_second` a second (bursts of
    /// `per_second`) per organization. Zero counts as one.
    pub fn new(max_concurrent: u32, per_second: u32) -> ToolLimits {
        ToolLimits::with_burst(max_concurrent, per_second, per_second)
    }

    /// [`ToolLimits::new`] with a burst other than one second's worth.
    pub fn with_burst(max_concurrent: u32, per_second: u32, burst: u32) -> ToolLimits {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        ToolLimits {
            max_concurrent: max_concurrent.max(1),
            rate: DefaultKeyedRateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `org`'s rate, or refuses at once.
    pub fn check_rate(&self, org: Uuid) -> Result<(), LimitRefusal> {
        self.rate
            .check_key(&org)
            .map_err(|not_until| LimitRefusal::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Waits for one of `org`'s concurrent slots until `deadline`.
    pub async fn acquire(&self, org: Uuid, deadline: Instant) -> Result<ToolPermit, LimitRefusal> {
        let semaphore = self.semaphore(org);
        match tokio::time::timeout_at(deadline, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(ToolPermit { _permit: permit }),
            // The semaphores are never closed; treat it as no slot.
            Ok(Err(_)) | Err(_) => Err(LimitRefusal::Busy),
        }
    }

    /// The rate, then a slot: what a call must pass before its request is sent.
    pub async fn admit(&self, org: Uuid, deadline: Instant) -> Result<ToolPermit, LimitRefusal> {
        self.check_rate(org)?;
        self.acquire(org, deadline).await
    }

    /// Calls of `org` holding a slot now.
    pub fn in_flight(&self, org: Uuid) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(&org).map_or(0, |s| {
            (self.max_concurrent as usize).saturating_sub(s.available_permits())
        })
    }

    fn semaphore(&self, org: Uuid) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= MAX_TRACKED && !slots.contains_key(&org) {
            // Forget organizations with no call in flight (no permit holds their semaphore).
            slots.retain(|_, s| Arc::strong_count(s) > 1);
            self.rate.retain_recent();
        }
        Arc::clone(
            slots
                .entry(org)
                .or_insert_with(|| Arc::new(Semaphore::new(self.max_concurrent as usize))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn the_rate_refuses_at_once_past_the_burst_per_organization() {
        let limits = ToolLimits::with_burst(10, 1, 3);
        let org = Uuid::new_v4();
        for _ in 0..3 {
            assert_eq!(limits.check_rate(org), Ok(()));
        }
        let Err(LimitRefusal::RateLimited { retry_after }) = limits.check_rate(org) else {
            panic!("the fourth call in a burst of three should be refused");
        };
        assert!(
            retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1),
            "{retry_after:?}"
        );
        assert_eq!(
            limits.check_rate(Uuid::new_v4()),
            Ok(()),
            "per organization"
        );
    }

    #[tokio::test]
    async fn a_call_over_the_concurrency_waits_for_a_slot_then_gets_it() {
        let limits = Arc::new(ToolLimits::new(1, 100));
        let org = Uuid::new_v4();
        let first = limits.admit(org, later(1000)).await.unwrap();
        assert_eq!(limits.in_flight(org), 1);
        let mut waiting = {
            let limits = Arc::clone(&limits);
            tokio::spawn(async move { limits.admit(org, later(10_000)).await })
        };
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err(),
            "the second call waits while the first holds the slot"
        );
        assert!(
            limits.acquire(Uuid::new_v4(), later(10)).await.is_ok(),
            "other organizations have their own slots"
        );
        drop(first);
        let second = waiting
            .await
            .unwrap()
            .expect("the slot passes on when released");
        assert_eq!(limits.in_flight(org), 1);
        drop(second);
        assert_eq!(limits.in_flight(org), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_gets_no_slot_before_its_deadline_is_busy() {
        let limits = ToolLimits::new(2, 100);
        let org = Uuid::new_v4();
        let _a = limits.admit(org, later(100)).await.unwrap();
        let _b = limits.admit(org, later(100)).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            limits.admit(org, later(500)).await.unwrap_err(),
            LimitRefusal::Busy
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(500),
            "it waited until its deadline"
        );
    }

    #[test]
    fn zero_limits_count_as_one() {
        let limits = ToolLimits::new(0, 0);
        let org = Uuid::new_v4();
        assert_eq!(limits.check_rate(org), Ok(()));
        assert!(matches!(
            limits.check_rate(org),
            Err(LimitRefusal::RateLimited { .. })
        ));
        assert_eq!(limits.semaphore(org).available_permits(), 1);
    }
}
