//! Analytics read models: one call's conversation figures (computed here from its messages, sans-IO)
//! and the organization-wide figures with their time series (aggregated by the store).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_actors::domain::{MessageType, SenderType};
use utoipa::ToSchema;
use uuid::Uuid;

/// What one message contributes to a call's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFacts {
    pub message_type: MessageType,
    pub sender_type: SenderType,
    /// `metadata.audio_start_time` / `audio_end_time`, seconds from the call's start.
    pub audio_start: Option<f64>,
    pub audio_end: Option<f64>,
    /// `metadata.confidence_score`.
    pub confidence: Option<f64>,
    /// `metadata.system_event_type`, for system messages.
    pub system_event: Option<String>,
}

/// A call's conversation figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallAnalytics {
    pub call_id: Uuid,
    pub total_messages: i64,
    pub by_type: BTreeMap<String, i64>,
    pub by_sender: BTreeMap<String, i64>,
    /// Seconds of speech per sender type (transcript segments with audio timing).
    pub talk_time_seconds: BTreeMap<String, f64>,
    /// The longest stretch between timed transcript segments in which nobody spoke, in seconds.
    pub longest_silence_seconds: Option<f64>,
    /// Barge-ins: the caller spoke over the agent and the agent was cut off.
    pub interruptions: i64,
    /// Mean speech-to-text confidence over the segments that carry one.
    pub average_confidence: Option<f64>,
    pub transcript_segments: i64,
}

impl CallAnalytics {
    /// Folds a call's messages (any order) into its figures.
    pub fn compute(call_id: Uuid, messages: &[MessageFacts]) -> CallAnalytics {
        let mut by_type = BTreeMap::new();
        let mut by_sender = BTreeMap::new();
        let mut talk_time = BTreeMap::new();
        let mut spans = Vec::new();
        let (mut confidence_sum, mut confidence_n) = (0.0, 0u32);
        let (mut interruptions, mut segments) = (0, 0);
        for m in messages {
            *by_type
                .entry(m.message_type.as_str().to_owned())
                .or_insert(0) += 1;
            *by_sender
                .entry(m.sender_type.as_str().to_owned())
                .or_insert(0) += 1;
            match m.message_type {
                MessageType::Transcript => {
                    segments += 1;
                    if let Some(c) = m.confidence.filter(|c| c.is_finite()) {
                        confidence_sum += c;
                        confidence_n += 1;
                    }
                    if let (Some(start), Some(end)) = (m.audio_start, m.audio_end)
                        && start.is_finite()
                        && end.is_finite()
                        && end >= start
                    {
                        *talk_time
                            .entry(m.sender_type.as_str().to_owned())
                            .or_insert(0.0) += end - start;
                        spans.push((start, end));
                    }
                }
                MessageType::System if m.system_event.as_deref() == Some("barge_in") => {
                    interruptions += 1;
                }
                _ => {}
            }
        }
        CallAnalytics {
            call_id,
            total_messages: messages.len() as i64,
            by_type,
            by_sender,
            talk_time_seconds: talk_time
                .into_iter()
                .map(|(k, v): (String, f64)| (k, round_ms(v)))
                .collect(),
            longest_silence_seconds: longest_gap(&mut spans).map(round_ms),
            interruptions,
            average_confidence: (confidence_n > 0)
                .then(|| (confidence_sum / f64::from(confidence_n) * 1000.0).round() / 1000.0),
            transcript_segments: segments,
        }
    }
}

/// The longest time between speech spans (overlapping speech is no silence); `None` with fewer
/// than two spans.
fn longest_gap(spans: &mut [(f64, f64)]) -> Option<f64> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut spoken_until = spans.first()?.1;
    let mut longest: Option<f64> = if spans.len() > 1 { Some(0.0) } else { None };
    for &(start, end) in &spans[1..] {
        if start > spoken_until {
            longest = longest.map(|l| l.max(start - spoken_until));
        }
        spoken_until = spoken_until.max(end);
    }
    longest
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Bucket width of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    /// The `date_trunc` field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
        }
    }

    pub fn duration(self) -> chrono::Duration {
        match self {
            Interval::Hour => chrono::Duration::hours(1),
            Interval::Day => chrono::Duration::days(1),
            Interval::Week => chrono::Duration::weeks(1),
        }
    }
}

/// The organization's calls over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Analytics {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub interval: Interval,
    pub totals: Totals,
    pub by_status: BTreeMap<String, i64>,
    pub by_direction: BTreeMap<String, i64>,
    /// Calls by their conversation's sentiment (`unscored` when not scored yet).
    pub by_sentiment: BTreeMap<String, i64>,
    /// One bucket per interval from `start_date` to `end_date`, empty buckets included.
    pub series: Vec<SeriesPoint>,
}

/// Totals over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Totals {
    pub calls: i64,
    pub completed: i64,
    pub failed: i64,
    pub total_duration_seconds: i64,
    /// Mean duration of the calls that have one.
    pub average_duration_seconds: Option<f64>,
}

/// One bucket of the time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesPoint {
    pub bucket_start: DateTime<Utc>,
    pub calls: i64,
    pub completed: i64,
    pub average_duration_seconds: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(
        sender: SenderType,
        start: f64,
        end: f64,
        confidence: Option<f64>,
    ) -> MessageFacts {
        MessageFacts {
            message_type: MessageType::Transcript,
            sender_type: sender,
            audio_start: Some(start),
            audio_end: Some(end),
            confidence,
            system_event: None,
        }
    }

    fn system(event: &str) -> MessageFacts {
        MessageFacts {
            message_type: MessageType::System,
            sender_type: SenderType::System,
            audio_start: None,
            audio_end: None,
            confidence: None,
            system_event: Some(event.into()),
        }
    }

    #[test]
    fn figures_of_a_call() {
        let call = Uuid::now_v7();
        let messages = [
            system("call_started"),
            transcript(SenderType::Customer, 1.0, 3.5, Some(0.9)),
            transcript(SenderType::Ai, 4.0, 9.0, None),
            // The caller barges in over the agent: overlapping speech is not silence.
            transcript(SenderType::Customer, 8.0, 10.0, Some(0.7)),
            system("barge_in"),
            transcript(SenderType::Ai, 14.25, 15.0, None),
            system("call_ended"),
        ];
        let a = CallAnalytics::compute(call, &messages);
        assert_eq!(a.total_messages, 7);
        assert_eq!(a.by_type["system"], 3);
        assert_eq!(a.by_type["transcript"], 4);
        assert_eq!(a.by_sender["customer"], 2);
        assert_eq!(a.talk_time_seconds["customer"], 4.5);
        assert_eq!(a.talk_time_seconds["ai"], 5.75);
        assert_eq!(a.longest_silence_seconds, Some(4.25));
        assert_eq!(a.interruptions, 1);
        assert_eq!(a.average_confidence, Some(0.8));
        assert_eq!(a.transcript_segments, 4);
    }

    #[test]
    fn a_call_without_timed_speech_has_no_silence_or_confidence() {
        let a = CallAnalytics::compute(Uuid::nil(), &[system("call_started")]);
        assert_eq!(a.longest_silence_seconds, None);
        assert_eq!(a.average_confidence, None);
        assert!(a.talk_time_seconds.is_empty());
        let one = CallAnalytics::compute(
            Uuid::nil(),
            &[transcript(SenderType::Customer, 0.0, 1.0, None)],
        );
        assert_eq!(one.longest_silence_seconds, None);
    }
}
