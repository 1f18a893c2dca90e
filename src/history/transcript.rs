//! A call's transcript: its transcript messages as timed segments, and the plain-text rendering
//! `[mm:ss] Speaker: words`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_actors::domain::SenderType;
use utoipa::ToSchema;
use uuid::Uuid;

/// The transcript of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Transcript {
    pub call_id: Uuid,
    pub call_sid: String,
    pub started_at: DateTime<Utc>,
    pub segments: Vec<TranscriptSegment>,
}

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptSegment {
    pub message_id: Uuid,
    /// The sender's name, else a label for its type ("Customer", "AI agent", …).
    pub speaker: String,
    pub sender_type: SenderType,
    pub text: String,
    /// Seconds from the call's start: the audio timing when known, else the message time.
    pub start: f64,
    /// Seconds from the call's start, when the audio timing is known.
    pub end: Option<f64>,
    /// Speech-to-text confidence (0–1), when the recognizer gave one.
    pub confidence: Option<f64>,
    pub timestamp: DateTime<Utc>,
}

/// A transcript message as the store reads it for a transcript: only the fields a segment shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptLine {
    pub message_id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub text: String,
    pub sender_type: SenderType,
    pub sender_name: Option<String>,
    /// The metadata's `audio_start_time`, `audio_end_time` and `confidence_score`, when numbers.
    pub audio_start: Option<f64>,
    pub audio_end: Option<f64>,
    pub confidence: Option<f64>,
}

impl TranscriptSegment {
    /// A transcript line as a segment of the call that started at `call_started`.
    pub fn from_line(line: TranscriptLine, call_started: DateTime<Utc>) -> Self {
        let since_start = (line.timestamp - call_started).num_milliseconds().max(0) as f64 / 1000.0;
        TranscriptSegment {
            message_id: line.message_id,
            speaker: line
                .sender_name
                .unwrap_or_else(|| speaker_label(line.sender_type).to_owned()),
            sender_type: line.sender_type,
            text: line.text,
            start: line.audio_start.unwrap_or(since_start),
            end: line.audio_end,
            confidence: line.confidence,
            timestamp: line.timestamp,
        }
    }
}

/// How a sender without a name is shown.
pub fn speaker_label(sender: SenderType) -> &'static str {
    match sender {
        SenderType::Customer => "Customer",
        SenderType::Agent => "Agent",
        SenderType::Ai => "AI agent",
        SenderType::System => "System",
        SenderType::Operator => "Operator",
        SenderType::Supervisor => "Supervisor",
    }
}

/// `[mm:ss] Speaker: words`, one line per segment (minutes keep counting past 59).
pub fn render_text(segments: &[TranscriptSegment]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(segments.iter().map(|s| s.text.len() + 24).sum());
    for segment in segments {
        let secs = segment.start.max(0.0) as u64;
        // One line per segment: line breaks inside the words would read as new segments.
        let text = segment.text.replace(['\r', '\n'], " ");
        let _ = writeln!(
            out,
            "[{:02}:{:02}] {}: {}",
            secs / 60,
            secs % 60,
            segment.speaker,
            text
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        sender: SenderType,
        name: Option<&str>,
        text: &str,
        at_s: i64,
        audio: (Option<f64>, Option<f64>, Option<f64>),
    ) -> TranscriptLine {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        TranscriptLine {
            message_id: Uuid::now_v7(),
            timestamp: started + chrono::Duration::seconds(at_s),
            text: text.into(),
            sender_type: sender,
            sender_name: name.map(Into::into),
            audio_start: audio.0,
            audio_end: audio.1,
            confidence: audio.2,
        }
    }

    #[test]
    fn segments_prefer_audio_timing_and_fall_back_to_message_time() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let timed = line(
            SenderType::Customer,
            None,
            "hello",
            9,
            (Some(3.5), Some(5.25), Some(0.9)),
        );
        let segment = TranscriptSegment::from_line(timed, started);
        assert_eq!(
            (segment.start, segment.end, segment.confidence),
            (3.5, Some(5.25), Some(0.9))
        );
        assert_eq!(segment.speaker, "Customer");
        let untimed = line(SenderType::Ai, Some("Marin"), "hi", 75, (None, None, None));
        let segment = TranscriptSegment::from_line(untimed, started);
        assert_eq!(
            (segment.start, segment.end, segment.confidence),
            (75.0, None, None)
        );
        assert_eq!(segment.speaker, "Marin");
    }

    #[test]
    fn text_lines_are_minutes_and_seconds_then_speaker() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let segments: Vec<_> = [
            line(
                SenderType::Customer,
                None,
                "I need to move\nmy appointment",
                0,
                (Some(3.9), None, None),
            ),
            line(SenderType::Ai, None, "Sure.", 0, (Some(65.2), None, None)),
            line(
                SenderType::Customer,
                None,
                "Thanks",
                0,
                (Some(3725.0), None, None),
            ),
        ]
        .into_iter()
        .map(|l| TranscriptSegment::from_line(l, started))
        .collect();
        assert_eq!(
            render_text(&segments),
            "[00:03] Customer: I need to move my appointment\n[01:05] AI agent: Sure.\n[62:05] Customer: Thanks\n"
        );
    }
}
