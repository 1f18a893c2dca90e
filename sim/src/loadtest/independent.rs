//! The independent shape: calls as an outside measurement of the engine drove them, so that the
//! project's own load test can reproduce that figure (issue 15, §3). Sans IO: a call's script is
//! planned up front from its seed; [`super::schedule`] places the calls.
//!
//! What differs from the held shape ([`super::call::Shape`]): callers start at independent 20 ms
//! phases (not one every 20 ms of a ramp, all on the same phase); agent audio comes in 100 ms
//! deltas about 5× faster than real time; a call lasts 14–35 s with 3–8 turns, and calls come
//! and go during the measured window (a call that ends is replaced), so set-up and end are part
//! of the cost. Caller audio is continuous, as on every call of the load test.
//!
//! A call's script runs on its own clock, not on the agent's: a short lead-in silence, then each
//! turn is an utterance and silence until the turn's slot is over (the peer's VAD ends the
//! utterance, the agent answers, the caller plays the reply). A reply still playing when the next
//! turn starts is spoken over (a barge-in the engine must honour, as on a real call; the script
//! does not count those as attempts). After the last turn the caller listens long enough for the
//! longest reply to play out whole, then hangs up: no reply is cut by the hang-up, so every
//! delta the peer sent is one the caller must receive.

use serde::Serialize;

use super::call::{Rng, VAD_SILENCE_MS};
use crate::twilio_caller::Step;

/// The independent shape's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Independent {
    /// Calls last from .0 to .1 ms, from `start` to the hang-up.
    pub call_ms: (u64, u64),
    /// Turns per call, from .0 to .1 (fewer than .1 when a short call cannot hold more).
    pub turns: (u64, u64),
    /// Caller utterances last from .0 to .1 ms.
    pub speak_ms: (u64, u64),
    /// Agent replies last from .0 to .1 ms (the realtime peer's reply lengths).
    pub reply_ms: (u64, u64),
    /// Agent audio per realtime delta, in ms.
    pub delta_ms: u32,
    /// Agent deltas arrive this many times faster than real time.
    pub speedup: u32,
}

impl Default for Independent {
    /// The outside measurement's shape: 14–35 s calls of 3–8 turns, agent audio in 100 ms deltas
    /// 5× faster than real time. Utterances of 0.6–1.8 s and replies of 0.8–2.4 s let three turns
    /// fit in the shortest call.
    fn default() -> Self {
        Independent {
            call_ms: (14_000, 35_000),
            turns: (3, 8),
            speak_ms: (600, 1800),
            reply_ms: (800, 2400),
            delta_ms: 100,
            speedup: 5,
        }
    }
}

/// Lead-in silence before the first utterance, ms.
const LEAD_MS: (u64, u64) = (200, 600);

/// Time after the longest reply has played before the caller hangs up, ms: marks echoed, the
/// engine's writes done with the call still up.
const TAIL_MARGIN_MS: u64 = 500;

/// A call's script, planned from its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    /// What the caller does, in order (silences and utterances); the hang-up follows.
    pub steps: Vec<Step>,
    /// Turns (utterances) in the script.
    pub turns: u64,
    /// Length of the script, ms (the steps' lengths, all whole 20 ms frames).
    pub call_ms: u64,
}

impl Independent {
    /// Why these parameters cannot make a call, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let ordered = [self.call_ms, self.turns, self.speak_ms, self.reply_ms]
            .iter()
            .all(|(low, high)| low <= high);
        if !ordered {
            return Err(format!("every range must be low..=high: {self:?}"));
        }
        if self.turns.0 == 0 || self.speak_ms.0 < 20 || self.reply_ms.0 < 20 {
            return Err("at least one turn, and utterances and replies of 20 ms or more".into());
        }
        if self.delta_ms == 0 || self.speedup == 0 {
            return Err("delta_ms and speedup must be positive".into());
        }
        // As [`Independent::plan`] counts: whole frames, the tail rounded up.
        let room = (self.call_ms.0 / 20 * 20).saturating_sub(LEAD_MS.1 + self.tail_ms() + 20);
        if room < self.turns.0 * self.min_slot_ms() {
            return Err(format!(
                "a call of {} ms cannot hold {} turn(s) of up to {} ms speech and the last reply \
                 of up to {} ms",
                self.call_ms.0, self.turns.0, self.speak_ms.1, self.reply_ms.1
            ));
        }
        Ok(())
    }

    /// The shortest turn: the longest utterance, the VAD's silence and a little of the reply.
    fn min_slot_ms(&self) -> u64 {
        self.speak_ms.1 + VAD_SILENCE_MS + 500
    }

    /// What the caller listens after the last turn's slot: the longest reply, whole.
    fn tail_ms(&self) -> u64 {
        VAD_SILENCE_MS + self.reply_ms.1 + TAIL_MARGIN_MS
    }

    /// The script of one call ([`Independent::check`] must have passed).
    pub fn plan(&self, rng: &mut Rng) -> CallPlan {
        let frames = |ms: u64| ms / 20 * 20;
        let call_ms = frames(rng.range(self.call_ms.0, self.call_ms.1));
        let lead = frames(rng.range(LEAD_MS.0, LEAD_MS.1));
        let tail = frames(self.tail_ms()) + 20;
        let room = call_ms - lead - tail;
        let most = (room / self.min_slot_ms()).clamp(self.turns.0, self.turns.1);
        let turns = rng.range(self.turns.0, most);
        let slot = frames(room / turns);
        let mut steps = vec![Step::Silence { ms: lead as u32 }];
        for turn in 0..turns {
            let hz = rng.range(300, 900) as u32;
            let longest = slot - VAD_SILENCE_MS - 500;
            let speak = frames(rng.range(self.speak_ms.0, self.speak_ms.1).min(longest)).max(20);
            let mut listen = slot - speak;
            if turn + 1 == turns {
                // The last turn's slot takes the rest (what whole frames left over) and the tail.
                listen = call_ms - lead - slot * (turns - 1) - speak;
            }
            steps.push(Step::Speak {
                ms: speak as u32,
                hz,
            });
            steps.push(Step::Silence { ms: listen as u32 });
        }
        CallPlan {
            steps,
            turns,
            call_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(step: &Step) -> u64 {
        match step {
            Step::Speak { ms, .. } | Step::Silence { ms } => u64::from(*ms),
            other => panic!("unexpected step {other:?}"),
        }
    }

    #[test]
    fn plans_keep_the_call_length_turns_and_the_last_reply_whole() {
        let shape = Independent::default();
        shape.check().expect("the default shape is valid");
        let mut seen_turns = std::collections::BTreeSet::new();
        for index in 0..2000 {
            let plan = shape.plan(&mut Rng::new(6, index));
            assert!((14_000..=35_000).contains(&plan.call_ms), "{plan:?}");
            assert!((3..=8).contains(&plan.turns), "{plan:?}");
            seen_turns.insert(plan.turns);
            assert_eq!(plan.steps.iter().map(ms).sum::<u64>(), plan.call_ms);
            assert!(
                plan.steps
                    .iter()
                    .all(|s| ms(s).is_multiple_of(20) && ms(s) > 0)
            );
            // Lead-in, then speech and silence alternating.
            assert_eq!(plan.steps.len() as u64, 1 + 2 * plan.turns);
            for (i, step) in plan.steps.iter().enumerate() {
                let speaks = matches!(step, Step::Speak { .. });
                assert_eq!(speaks, i % 2 == 1, "{plan:?}");
                if !speaks && i > 0 {
                    assert!(ms(step) >= VAD_SILENCE_MS + 500, "{plan:?}");
                }
            }
            let last = ms(plan.steps.last().expect("steps"));
            assert!(last >= VAD_SILENCE_MS + 2400 + TAIL_MARGIN_MS, "{plan:?}");
        }
        assert_eq!(seen_turns, (3..=8).collect(), "every turn count occurs");
    }

    #[test]
    fn the_same_seed_plans_the_same_call() {
        let shape = Independent::default();
        assert_eq!(
            shape.plan(&mut Rng::new(6, 41)),
            shape.plan(&mut Rng::new(6, 41))
        );
        assert_ne!(
            shape.plan(&mut Rng::new(6, 41)),
            shape.plan(&mut Rng::new(6, 42))
        );
    }

    #[test]
    fn impossible_shapes_are_refused_with_a_reason() {
        let short = Independent {
            call_ms: (5_000, 35_000),
            ..Independent::default()
        };
        let err = short.check().expect_err("3 turns do not fit in 5 s");
        assert!(err.contains("cannot hold 3 turn(s)"), "{err}");
        let reversed = Independent {
            turns: (8, 3),
            ..Independent::default()
        };
        assert!(reversed.check().is_err());
        let still = Independent {
            speedup: 0,
            ..Independent::default()
        };
        assert!(still.check().is_err());
    }
}
