//! Barge-in: the assistant audio forwarded to Twilio, how much of it has played, and cutting it
//! where the caller has heard it.
//!
//! Every forwarded assistant delta is followed by a Twilio mark named by a sequence number; Twilio
//! echoes a mark once the audio before it has played (or at once after `clear`). When the caller
//! starts speaking while assistant audio is still queued, the audio actually played is the last
//! echoed mark's position plus the call-clock time since that echo, never more than was sent: that
//! is the `audio_end_ms` of the truncate. Late deltas of the interrupted item are then dropped.
//!
//! It also keeps each agent item's span on the call clock (where it starts, how much was sent,
//! where it was cut), which its transcript's row reports as `heard_ms` of `total_ms`.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use super::{CallFacts, ITEMS_KEPT};

/// The assistant item whose audio is being forwarded.
#[derive(Debug, Clone)]
pub(super) struct AssistantAudio {
    item_id: String,
    /// Audio forwarded to Twilio for this item, ms.
    sent_ms: u64,
    /// Call-clock ms at which its first audio plays.
    first_play_at_ms: u64,
    /// Last echoed mark of this item: (position in the item, call clock at the echo).
    echoed: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct MarkInFlight {
    seq: u64,
    /// Position in the item, ms, once the audio before the mark has played.
    item_ms: u64,
}

/// An agent item's audio on the call clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct AgentSpan {
    pub(super) start_ms: u64,
    pub(super) sent_ms: u64,
    /// Where a barge-in cut it (what the caller heard), ms into the item.
    pub(super) cut_at_ms: Option<u64>,
}

/// Assistant audio stopped where the caller had heard it.
pub(super) struct Cut {
    pub(super) item_id: String,
    pub(super) played_ms: u64,
    pub(super) sent_ms: u64,
}

/// How many interrupted items are remembered (their late deltas dropped).
const INTERRUPTED_KEPT: usize = 8;

/// See the module documentation.
pub(super) struct BargeIn {
    assistant: Option<AssistantAudio>,
    marks: VecDeque<MarkInFlight>,
    mark_seq: u64,
    mark_name: String,
    /// Where queued assistant audio ends on the call clock (for recording positions).
    queue_end_ms: u64,
    interrupted: VecDeque<String>,
    /// Agent item spans by item id.
    spans: HashMap<String, AgentSpan>,
}

impl BargeIn {
    pub(super) fn new() -> Self {
        BargeIn {
            assistant: None,
            marks: VecDeque::new(),
            mark_seq: 0,
            mark_name: String::with_capacity(20),
            queue_end_ms: 0,
            interrupted: VecDeque::new(),
            spans: HashMap::new(),
        }
    }

    /// Takes up the audio that was playing when the call's actor was restarted (the spans are not
    /// kept across a restart).
    pub(super) fn restore(&mut self, facts: &CallFacts) {
        self.mark_seq = facts.mark_seq;
        self.marks = facts.marks.clone();
        self.assistant = facts.assistant.clone();
        self.queue_end_ms = facts.agent_queue_end_ms;
        self.interrupted = facts.interrupted.clone();
    }

    pub(super) fn save_facts(&self, facts: &mut CallFacts) {
        facts.mark_seq = self.mark_seq;
        facts.marks.clear();
        facts.marks.extend(self.marks.iter().copied());
        match (&mut facts.assistant, &self.assistant) {
            (Some(kept), Some(now)) if kept.item_id == now.item_id => {
                kept.sent_ms = now.sent_ms;
                kept.first_play_at_ms = now.first_play_at_ms;
                kept.echoed = now.echoed;
            }
            (kept, now) => kept.clone_from(now),
        }
        facts.agent_queue_end_ms = self.queue_end_ms;
        // It changes by a push or by emptying: its last item says whether it changed.
        if facts.interrupted.back() != self.interrupted.back() {
            facts.interrupted.clone_from(&self.interrupted);
        }
    }

    /// The name of the mark to send after the last forwarded delta.
    pub(super) fn mark_name(&self) -> &str {
        &self.mark_name
    }

    /// Whether assistant audio is still queued in Twilio (a mark is not echoed yet).
    pub(super) fn is_playing(&self) -> bool {
        !self.marks.is_empty()
    }

    /// Whether `item_id`'s audio is still queued in Twilio.
    pub(super) fn is_playing_item(&self, item_id: &str) -> bool {
        self.is_playing()
            && self
                .assistant
                .as_ref()
                .is_some_and(|a| a.item_id == item_id)
    }

    /// Whether `item_id` was cut (its late deltas are dropped).
    pub(super) fn is_interrupted(&self, item_id: &str) -> bool {
        self.interrupted.iter().any(|i| i == item_id)
    }

    /// A delta of `audio_ms` for `item_id` is forwarded, then a mark named [`BargeIn::mark_name`].
    /// Returns where it plays on the call clock (after the audio already queued).
    pub(super) fn forward(&mut self, item_id: &str, audio_ms: u64, clock_ms: u64) -> u64 {
        self.queue_end_ms = self.queue_end_ms.max(clock_ms);
        let play_at_ms = self.queue_end_ms;
        self.queue_end_ms += audio_ms;
        let is_current = self
            .assistant
            .as_ref()
            .is_some_and(|a| a.item_id == item_id);
        if !is_current {
            self.assistant = Some(AssistantAudio {
                item_id: item_id.to_owned(),
                sent_ms: 0,
                first_play_at_ms: play_at_ms,
                echoed: None,
            });
            if self.spans.len() >= ITEMS_KEPT {
                self.spans.clear();
            }
            self.spans.insert(
                item_id.to_owned(),
                AgentSpan {
                    start_ms: play_at_ms,
                    sent_ms: 0,
                    cut_at_ms: None,
                },
            );
        }
        let item = self.assistant.as_mut().expect("set above");
        item.sent_ms += audio_ms;
        if let Some(span) = self.spans.get_mut(item_id) {
            span.sent_ms = item.sent_ms;
        }
        self.mark_seq += 1;
        self.marks.push_back(MarkInFlight {
            seq: self.mark_seq,
            item_ms: item.sent_ms,
        });
        self.mark_name.clear();
        let _ = write!(self.mark_name, "{}", self.mark_seq);
        play_at_ms
    }

    /// A mark echoed by Twilio at `clock_ms`: the marks up to it are done. Returns whether it was
    /// a mark in flight.
    pub(super) fn echo(&mut self, name: &str, clock_ms: u64) -> bool {
        let Ok(seq) = name.parse::<u64>() else {
            return false;
        };
        let mut matched = None;
        while let Some(front) = self.marks.front() {
            if front.seq > seq {
                break;
            }
            matched = self.marks.pop_front();
        }
        match matched {
            Some(mark) if mark.seq == seq => {
                if let Some(item) = &mut self.assistant {
                    item.echoed = Some((mark.item_ms, clock_ms));
                }
                true
            }
            _ => false,
        }
    }

    /// Stops the assistant audio in flight at `clock_ms`, where the caller has heard it: the
    /// queue is emptied and the item's late deltas will be dropped. The core truncates the item,
    /// clears Twilio and cancels the response.
    pub(super) fn cut(&mut self, clock_ms: u64) -> Option<Cut> {
        let item = self.assistant.take()?;
        let played_ms = match item.echoed {
            Some((item_ms, at_clock)) => item_ms + clock_ms.saturating_sub(at_clock),
            None => clock_ms.saturating_sub(item.first_play_at_ms),
        }
        .min(item.sent_ms);
        self.marks.clear();
        self.queue_end_ms = clock_ms;
        if let Some(span) = self.spans.get_mut(&item.item_id) {
            span.cut_at_ms = Some(played_ms);
        }
        if self.interrupted.len() >= INTERRUPTED_KEPT {
            self.interrupted.pop_front();
        }
        self.interrupted.push_back(item.item_id.clone());
        Some(Cut {
            item_id: item.item_id,
            played_ms,
            sent_ms: item.sent_ms,
        })
    }

    /// The span of `item_id`'s audio, for its transcript's row (forgotten once taken).
    pub(super) fn take_span(&mut self, item_id: &str) -> Option<AgentSpan> {
        self.spans.remove(item_id)
    }
}
