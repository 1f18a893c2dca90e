//! When calls are placed and when the process under test is read, per shape: [`held`] (every
//! call up together, measured over the hold) and [`independent`] (calls replaced as they end,
//! measured from the first call placed to the last one ended). Both return every call's result,
//! indexed by call number (its stamp stream), and a [`Window`] of readings.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use super::call::{self, CallResult, Live, Rng, Script, Shape};
use super::independent::Independent;
use super::process::{self, Usage};
use super::report::PhaseReport;
use super::{LoadConfig, Measured};
use crate::realtime_peer::RealtimePeer;
use crate::twilio_caller::{CallerConfig, Pace};

/// Where the calls go, and how a caller is set up.
#[derive(Debug, Clone)]
pub(super) struct Placing {
    /// Where the calls go, in turn (one engine, or the nodes of a cluster).
    pub targets: Vec<Url>,
    /// The Twilio auth token the callers sign with (empty: unsigned, for the floor).
    pub token: String,
}

impl Placing {
    /// The caller of call `n` (its number is its stamp stream and its caller id).
    fn caller(&self, n: u32) -> CallerConfig {
        let target = &self.targets[n as usize % self.targets.len()];
        let mut caller = CallerConfig::new(target.clone(), &self.token)
            .from(format!("+1555{n:07}"))
            .pace(Pace::RealTime);
        caller.sign = !self.token.is_empty();
        caller.stamps = Some(n as u16);
        caller.lean = true;
        caller.http_timeout = Duration::from_secs(30);
        caller.connect_timeout = Duration::from_secs(30);
        caller.close_timeout = Duration::from_secs(5);
        caller
    }
}

/// Readings of one phase: its window, and the calls served in it.
#[derive(Debug, Default)]
pub(super) struct Window {
    /// The process under test at the start and end of the window.
    pub start: Option<Usage>,
    pub end: Option<Usage>,
    /// This process (callers and realtime peer) at the start and end of the window.
    pub load_start: Option<Usage>,
    pub load_end: Option<Usage>,
    /// Length of the window, s.
    pub seconds: f64,
    /// Call-seconds served in the window.
    pub call_seconds: f64,
    /// Resident memory of the process under test with `.1` calls up, KiB.
    pub rss: Option<(u64, u64)>,
    /// Most calls up at once (as sampled).
    pub peak_up: u64,
}

impl Window {
    /// The phase's CPU and memory figures from these readings and the idle reading.
    pub fn fill(&self, phase: &mut PhaseReport, idle: Option<Usage>) {
        phase.window_s = self.seconds;
        phase.call_seconds = self.call_seconds;
        phase.peak_calls_up = self.peak_up;
        if let (Some(u0), Some(u1)) = (self.start, self.end) {
            let cpu_s = u1.cpu_s - u0.cpu_s;
            phase.cpu_s = Some(cpu_s);
            if self.call_seconds > 0.0 {
                let ms = cpu_s * 1000.0 / self.call_seconds;
                phase.cpu_ms_per_call_s = Some(ms);
                phase.calls_per_core = (ms > 0.0).then(|| 1000.0 / ms);
                if let (Some(l0), Some(l1)) = (self.load_start, self.load_end) {
                    phase.load_cpu_ms_per_call_s =
                        Some((l1.cpu_s - l0.cpu_s) * 1000.0 / self.call_seconds);
                }
            }
        }
        if let Some((rss_kib, up)) = self.rss {
            phase.hold_rss_kib = Some(rss_kib);
            if let Some(idle) = idle {
                phase.idle_rss_kib = Some(idle.rss_kib);
                phase.rss_per_call_kib =
                    Some((rss_kib as f64 - idle.rss_kib as f64) / up.max(1) as f64);
            }
        }
    }
}

fn up(live: &Live) -> u64 {
    live.up.load(Ordering::Relaxed) - live.done.load(Ordering::Relaxed)
}

fn own_usage() -> Option<Usage> {
    process::usage(std::process::id()).ok()
}

/// The held shape: `calls` calls ramped up at `ramp_per_s`, one every 1/ramp s, held together
/// for `duration_s`; the window is the hold (from 2 s after the last call started to 0.5 s
/// before the hang-ups), so set-up and end are outside it.
pub(super) async fn held(
    config: &LoadConfig,
    placing: &Placing,
    shape: Shape,
    live: &Arc<Live>,
    measured: &mut Measured<'_>,
) -> anyhow::Result<(Vec<CallResult>, Window)> {
    let calls = config.calls;
    let ramp = Duration::from_secs_f64(f64::from(calls) / config.ramp_per_s);
    let began = Instant::now();
    // Two seconds after the last call started, every call is up: the hold begins.
    let hold_start = began + ramp + Duration::from_secs(2);
    let hold_end = hold_start + Duration::from_secs(config.duration_s);
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let at = began + Duration::from_secs_f64(f64::from(i) / config.ramp_per_s);
        let caller = placing.caller(i);
        let script = Script::Turns {
            shape,
            rng: Rng::new(config.seed, u64::from(i)),
            hang_up_at: hold_end,
        };
        let live = Arc::clone(live);
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            (i, call::run(caller, script, live).await)
        });
    }

    tokio::time::sleep_until(hold_start).await;
    measured.check()?;
    let t0 = Instant::now();
    let mut window = Window {
        start: measured.usage(),
        load_start: own_usage(),
        ..Window::default()
    };
    // Call-seconds as the calls ran: the calls up, sampled every 100 ms over the window and
    // integrated (calls that come up late or end early count for the time they were up).
    let (mut sampled_at, mut sampled_up) = (t0, up(live));
    let mut call_seconds = 0.0;
    let mut peak_up = sampled_up;
    let end = hold_end - Duration::from_millis(500);
    while Instant::now() < end {
        tokio::time::sleep_until(end.min(Instant::now() + Duration::from_millis(100))).await;
        let (now, calls) = (Instant::now(), up(live));
        call_seconds += (now - sampled_at).as_secs_f64() * (sampled_up + calls) as f64 / 2.0;
        (sampled_at, sampled_up) = (now, calls);
        peak_up = peak_up.max(calls);
    }
    let t1 = Instant::now();
    window.end = measured.usage();
    window.load_end = own_usage();
    let up_at_end = up(live);
    measured.check()?;
    window.seconds = (t1 - t0).as_secs_f64();
    window.call_seconds = call_seconds;
    window.peak_up = peak_up.max(up_at_end);
    window.rss = window.end.map(|end| (end.rss_kib, up_at_end));
    if window.start.is_none() || window.end.is_none() {
        window.seconds = (hold_end - hold_start).as_secs_f64();
    }

    let mut results: Vec<Option<CallResult>> = (0..calls).map(|_| None).collect();
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            let (i, result) = joined?;
            results[i as usize] = Some(result);
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(120), collect)
        .await
        .context("calls still running 120 s after the hold")??;
    Ok((results.into_iter().flatten().collect(), window))
}

/// Calls one run of the independent shape may place: the stamp streams (`u16`).
pub const MAX_INDEPENDENT_CALLS: u64 = 1 << 16;

/// Calls the independent shape places at most: each of `calls` slots places calls back to back
/// until `duration_s`, each lasting at least the shortest call.
pub fn most_independent_calls(calls: u32, duration_s: u64, shape: &Independent) -> u64 {
    u64::from(calls) * (duration_s * 1000 / shape.call_ms.0.max(1) + 1)
}

/// The independent shape: `calls` slots, started at `ramp_per_s` each at a random phase within
/// its 20 ms; a slot places its next call (at a new random phase) as soon as its call ends, until
/// `duration_s` have passed, so about `calls` calls are up all along and calls come and go. A
/// call that fails ends its slot (a failing engine is not hammered). The window runs from the
/// first call placed until every call has ended and the peer has seen every AI session close:
/// each call's set-up and end are inside it, and the CPU figure is per call-second served (every
/// call whole, from its webhook to its hang-up). Memory is read when the last calls are placed,
/// with about `calls` calls up.
pub(super) async fn independent(
    config: &LoadConfig,
    placing: &Placing,
    shape: Independent,
    live: &Arc<Live>,
    measured: &mut Measured<'_>,
    peer: &RealtimePeer,
) -> anyhow::Result<(Vec<CallResult>, Window)> {
    let most =
        most_independent_calls(config.calls, config.duration_s, &shape).min(MAX_INDEPENDENT_CALLS);
    let began = Instant::now();
    let place_until = began + Duration::from_secs(config.duration_s);
    let mut window = Window {
        start: measured.usage(),
        load_start: own_usage(),
        ..Window::default()
    };
    let numbers = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for slot in 0..config.calls {
        // Phases from their own generator: a call's script stays that of its number's seed.
        let mut phases = Rng::new(config.seed ^ 0x5107, u64::from(slot));
        let mut at = began
            + Duration::from_secs_f64(f64::from(slot) / config.ramp_per_s)
            + Duration::from_micros(phases.range(0, 19_999));
        let numbers = Arc::clone(&numbers);
        let live = Arc::clone(live);
        let placing = placing.clone();
        let seed = config.seed;
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                tokio::time::sleep_until(at).await;
                let n = numbers.fetch_add(1, Ordering::Relaxed);
                if n >= most {
                    break;
                }
                let plan = shape.plan(&mut Rng::new(seed, n));
                let caller = placing.caller(n as u32);
                let result = call::run(caller, Script::Planned(plan), Arc::clone(&live)).await;
                let failed = result.failure.is_some();
                done.push((n, result));
                if failed || Instant::now() >= place_until {
                    break;
                }
                at = Instant::now() + Duration::from_micros(phases.range(0, 19_999));
            }
            done
        });
    }

    // Sample the calls up once a second until the last calls are placed; read memory then.
    let mut peak = 0;
    loop {
        measured.check()?;
        peak = peak.max(up(live));
        let now = Instant::now();
        if now >= place_until {
            break;
        }
        tokio::time::sleep_until((now + Duration::from_secs(1)).min(place_until)).await;
    }
    let up_then = up(live);
    window.rss = measured.usage().map(|usage| (usage.rss_kib, up_then));
    window.peak_up = peak.max(up_then);

    let mut results: Vec<Option<CallResult>> = Vec::new();
    let longest = Duration::from_millis(shape.call_ms.1) + Duration::from_secs(120);
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            for (n, result) in joined? {
                let n = n as usize;
                if results.len() <= n {
                    results.resize_with(n + 1, || None);
                }
                results[n] = Some(result);
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(longest, collect)
        .await
        .with_context(|| format!("calls still running {longest:?} after the last was placed"))??;
    // The engine's side of each call ends when it closes the AI session: then read it.
    peer.wait_for(Duration::from_secs(60), |logs| {
        logs.iter().all(|log| log.ended.is_some())
    })
    .await;
    measured.check()?;
    window.end = measured.usage();
    window.load_end = own_usage();
    window.seconds = began.elapsed().as_secs_f64();
    let results: Vec<CallResult> = results.into_iter().flatten().collect();
    window.call_seconds = results.iter().map(|r| r.served_s).sum();
    Ok((results, window))
}
