//! The figures of a load run, per phase (engine, floor), as a table and as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// p50 / p99 / p99.9 of a set of latencies, in ms.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// From samples in µs (sorted in place).
    pub fn from_us(samples: &mut [u32]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            f64::from(samples[i]) / 1000.0
        };
        Percentiles {
            samples: samples.len() as u64,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: f64::from(samples[samples.len() - 1]) / 1000.0,
        }
    }
}

/// Frames of one direction: how many went, how many came, and what went wrong.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames sent.
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// Frames that never arrived.
    pub lost: u64,
    /// Frames that arrived twice.
    pub duplicated: u64,
    /// Frames that arrived out of order.
    pub reordered: u64,
    /// Whether order was checked frame by frame (stamps) or only counted.
    pub stamped: bool,
}

impl FrameCounts {
    /// Lost + duplicated + reordered.
    pub fn errors(&self) -> u64 {
        self.lost + self.duplicated + self.reordered
    }
}

/// Everything measured in one phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseReport {
    /// "engine" or "floor".
    pub name: String,
    /// The load shape: "held" or "independent" (see [`super::LoadShape`]).
    pub shape: String,
    /// The AI audio format of the phase.
    pub audio_format: String,
    /// Calls placed (independent shape: every call, replacements included).
    pub calls: u64,
    /// Calls that failed (set-up, hang-up by the relay, socket error, agent never answered).
    pub failed_calls: u64,
    /// The first few failures.
    pub failures: Vec<String>,
    /// Most calls up at once.
    pub peak_calls_up: u64,
    /// Seconds of the measured hold (every call up; held shape only, else 0).
    pub hold_s: f64,
    /// Seconds of the measured window: the hold (held shape), or from the first call placed to
    /// the last one ended (independent shape).
    pub window_s: f64,
    /// Call-seconds served in the window: the calls up, sampled every 100 ms and integrated over
    /// the hold (held shape), or the sum of every
    /// call's length from its webhook to its hang-up (independent shape).
    pub call_seconds: f64,
    /// CPU seconds the process under test used during the window (`None`: not measured).
    pub cpu_s: Option<f64>,
    /// CPU ms per call-second of the process under test: `cpu_s` ÷ `call_seconds`. With the
    /// independent shape it includes every call's set-up and end.
    pub cpu_ms_per_call_s: Option<f64>,
    /// Calls one core carries at that cost.
    pub calls_per_core: Option<f64>,
    /// CPU ms per call-second of the load generator itself (callers and realtime peer, this
    /// process): what the same two cores also had to carry.
    pub load_cpu_ms_per_call_s: Option<f64>,
    /// Resident memory before the first call, KiB.
    pub idle_rss_kib: Option<u64>,
    /// Resident memory at the end of the hold (independent shape: when the last calls were
    /// placed), KiB.
    pub hold_rss_kib: Option<u64>,
    /// (hold − idle) / calls up then, KiB.
    pub rss_per_call_kib: Option<f64>,
    /// Caller → realtime peer.
    pub caller_to_ai: FrameCounts,
    /// Realtime peer → caller (replies cut by a barge-in are not losses).
    pub ai_to_caller: FrameCounts,
    /// Caller frame → realtime peer latency (frames held while the AI session opened excluded).
    pub caller_to_ai_latency: Percentiles,
    /// Peer delta → caller latency.
    pub ai_to_caller_latency: Percentiles,
    /// Caller frames held while the AI session opened (counted, not timed).
    pub held_frames: u64,
    /// Marks the relay sent (received by the callers).
    pub marks_sent: u64,
    /// Marks echoed back by the callers (played or cleared).
    pub marks_echoed: u64,
    /// Marks still unechoed at hang-up (audio not played yet).
    pub marks_unechoed: u64,
    /// Barge-ins the callers attempted.
    pub barge_ins_attempted: u64,
    /// Responses the peer cancelled because the caller spoke.
    pub barge_ins_cancelled: u64,
    /// `clear`s the callers received (barge-ins honoured).
    pub barge_ins_honoured: u64,
    /// Agent replies cut by a `clear`.
    pub replies_cut: u64,
    /// Messages the engine stored for these calls (`None`: the floor stores nothing).
    pub messages_persisted: Option<u64>,
    /// Messages it should have stored: per call `call_started`, `call_answered`, `call_ended`,
    /// one per caller utterance and completed agent reply, one per barge-in.
    pub messages_expected: Option<u64>,
    /// Turns played.
    pub turns: u64,
    /// Calls whose socket ended without a clean closing handshake after the caller hung up.
    pub unclean_closes: u64,
    /// Against a cluster (several targets): the calls each node carried (`calls.node`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub calls_per_node: std::collections::BTreeMap<String, u64>,
}

impl PhaseReport {
    /// Why the phase failed, if it did (lost frames, failed calls, missing messages).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.failed_calls > 0 {
            problems.push(format!(
                "{}: {} call(s) failed",
                self.name, self.failed_calls
            ));
        }
        for (what, counts) in [
            ("caller → AI", self.caller_to_ai),
            ("AI → caller", self.ai_to_caller),
        ] {
            if counts.errors() > 0 {
                problems.push(format!(
                    "{}: {what} frames lost {} / duplicated {} / reordered {}",
                    self.name, counts.lost, counts.duplicated, counts.reordered
                ));
            }
        }
        if let (Some(stored), Some(expected)) = (self.messages_persisted, self.messages_expected)
            && stored != expected
        {
            problems.push(format!(
                "{}: {stored} messages persisted, {expected} expected",
                self.name
            ));
        }
        problems
    }
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// The command's settings.
    pub settings: serde_json::Value,
    /// The engine phase (absent with `--floor-only`).
    pub engine: Option<PhaseReport>,
    /// The floor phase (absent with `--no-floor`).
    pub floor: Option<PhaseReport>,
    /// Engine p99 − floor p99, caller → AI, ms.
    pub added_p99_caller_to_ai_ms: Option<f64>,
    /// Engine p99 − floor p99, AI → caller, ms.
    pub added_p99_ai_to_caller_ms: Option<f64>,
    /// Engine CPU / floor CPU.
    pub cpu_ratio_to_floor: Option<f64>,
    /// What failed (empty: the run passed).
    pub problems: Vec<String>,
}

impl LoadReport {
    /// Fills in the comparisons and problems.
    pub fn finish(&mut self) {
        if let (Some(engine), Some(floor)) = (&self.engine, &self.floor) {
            self.added_p99_caller_to_ai_ms =
                Some(engine.caller_to_ai_latency.p99_ms - floor.caller_to_ai_latency.p99_ms);
            self.added_p99_ai_to_caller_ms =
                Some(engine.ai_to_caller_latency.p99_ms - floor.ai_to_caller_latency.p99_ms);
            self.cpu_ratio_to_floor = match (engine.cpu_ms_per_call_s, floor.cpu_ms_per_call_s) {
                (Some(e), Some(f)) if f > 0.0 => Some(e / f),
                _ => None,
            };
        }
        self.problems = [&self.engine, &self.floor]
            .into_iter()
            .flatten()
            .flat_map(PhaseReport::problems)
            .collect();
    }

    /// The table.
    pub fn table(&self) -> String {
        let phases: Vec<&PhaseReport> = [&self.engine, &self.floor].into_iter().flatten().collect();
        let mut out = String::new();
        let _ = write!(out, "{:<34}", "");
        for phase in &phases {
            let _ = write!(
                out,
                "{:>26}",
                format!("{} ({})", phase.name, phase.audio_format)
            );
        }
        out.push('\n');
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
        let lat = |p: &Percentiles| {
            if p.samples == 0 {
                "-".to_owned()
            } else {
                format!("{:.2} / {:.2} / {:.2}", p.p50_ms, p.p99_ms, p.p999_ms)
            }
        };
        let frames = |f: &FrameCounts| {
            format!(
                "{} → {} ({}/{}/{}){}",
                f.sent,
                f.received,
                f.lost,
                f.duplicated,
                f.reordered,
                if f.stamped { "" } else { "#" }
            )
        };
        type Row<'a> = (&'a str, Box<dyn Fn(&PhaseReport) -> String + 'a>);
        let rows: Vec<Row<'_>> = vec![(
            "calls (failed)",
            Box::new(|p| format!("{} ({})", p.calls, p.failed_calls)),
        )];
        let independent = phases.iter().any(|p| p.shape == "independent");
        let measured: Vec<Row<'_>> = if independent {
            vec![
                (
                    "window, s (peak calls up)",
                    Box::new(|p| format!("{:.1} ({})", p.window_s, p.peak_calls_up)),
                ),
                (
                    "call-seconds served",
                    Box::new(|p| format!("{:.0}", p.call_seconds)),
                ),
                (
                    "CPU ms/call-s, set-up+end incl.",
                    Box::new(move |p| opt(p.cpu_ms_per_call_s, 3)),
                ),
            ]
        } else {
            vec![
                ("hold, s", Box::new(|p| format!("{:.1}", p.hold_s))),
                (
                    "CPU ms per call-second",
                    Box::new(move |p| opt(p.cpu_ms_per_call_s, 3)),
                ),
            ]
        };
        let rest: Vec<Row<'_>> = vec![
            (
                "calls per core",
                Box::new(move |p| opt(p.calls_per_core, 0)),
            ),
            (
                "load generator CPU ms/call-s",
                Box::new(move |p| opt(p.load_cpu_ms_per_call_s, 3)),
            ),
            (
                "RSS idle → hold, MiB",
                Box::new(|p| match (p.idle_rss_kib, p.hold_rss_kib) {
                    (Some(i), Some(h)) => {
                        format!("{:.1} → {:.1}", i as f64 / 1024.0, h as f64 / 1024.0)
                    }
                    _ => "-".to_owned(),
                }),
            ),
            (
                "RSS per call, KiB",
                Box::new(move |p| opt(p.rss_per_call_kib, 1)),
            ),
            (
                "caller→AI p50/p99/p999 ms",
                Box::new(move |p| lat(&p.caller_to_ai_latency)),
            ),
            (
                "AI→caller p50/p99/p999 ms",
                Box::new(move |p| lat(&p.ai_to_caller_latency)),
            ),
            (
                "caller→AI frames (lost/dup/reord)",
                Box::new(move |p| frames(&p.caller_to_ai)),
            ),
            (
                "AI→caller frames (lost/dup/reord)",
                Box::new(move |p| frames(&p.ai_to_caller)),
            ),
            (
                "held frames (AI connecting)",
                Box::new(|p| p.held_frames.to_string()),
            ),
            (
                "marks sent / echoed / pending",
                Box::new(|p| {
                    format!(
                        "{} / {} / {}",
                        p.marks_sent, p.marks_echoed, p.marks_unechoed
                    )
                }),
            ),
            (
                "barge-ins tried/cancelled/honoured",
                Box::new(|p| {
                    format!(
                        "{} / {} / {}",
                        p.barge_ins_attempted, p.barge_ins_cancelled, p.barge_ins_honoured
                    )
                }),
            ),
            (
                "messages persisted / expected",
                Box::new(|p| match (p.messages_persisted, p.messages_expected) {
                    (Some(s), Some(e)) => format!("{s} / {e}"),
                    _ => "-".to_owned(),
                }),
            ),
            (
                "calls per node",
                Box::new(|p| {
                    if p.calls_per_node.is_empty() {
                        return "-".to_owned();
                    }
                    p.calls_per_node
                        .iter()
                        .map(|(node, calls)| format!("{node} {calls}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
            ),
        ];
        for (label, cell) in rows.into_iter().chain(measured).chain(rest) {
            let _ = write!(out, "{label:<34}");
            for phase in &phases {
                let _ = write!(out, "{:>26}", cell(phase));
            }
            out.push('\n');
        }
        if independent {
            let _ = writeln!(
                out,
                "independent shape, CPU per call-second served (set-up and end included): \
                 engine {} ms, floor {} ms; RSS per call: engine {} KiB, floor {} KiB",
                opt(self.engine.as_ref().and_then(|p| p.cpu_ms_per_call_s), 2),
                opt(self.floor.as_ref().and_then(|p| p.cpu_ms_per_call_s), 2),
                opt(self.engine.as_ref().and_then(|p| p.rss_per_call_kib), 0),
                opt(self.floor.as_ref().and_then(|p| p.rss_per_call_kib), 0),
            );
        }
        if let Some(added) = self.added_p99_caller_to_ai_ms {
            let _ = writeln!(
                out,
                "engine-added p99 latency: caller→AI {added:+.2} ms, AI→caller {:+.2} ms; CPU {}× the floor",
                self.added_p99_ai_to_caller_ms.unwrap_or_default(),
                opt(self.cpu_ratio_to_floor, 1)
            );
        }
        if phases
            .iter()
            .any(|p| !p.caller_to_ai.stamped || !p.ai_to_caller.stamped)
        {
            out.push_str("# counted, not stamped (pcm16 resampling rewrites the audio)\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).map(|ms| ms * 1000).collect();
        let p = Percentiles::from_us(&mut samples);
        assert_eq!(
            (p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms),
            (500.0, 990.0, 999.0, 1000.0)
        );
        assert_eq!(Percentiles::from_us(&mut []).samples, 0);
    }

    #[test]
    fn problems_name_losses_failures_and_missing_messages() {
        let mut phase = PhaseReport {
            name: "engine".into(),
            messages_persisted: Some(9),
            messages_expected: Some(10),
            ..PhaseReport::default()
        };
        phase.caller_to_ai.lost = 1;
        phase.failed_calls = 2;
        assert_eq!(phase.problems().len(), 3);
    }
}
