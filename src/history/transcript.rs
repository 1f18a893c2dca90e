//! A call's transcript: its transcript messages as timed segments, and the plain-text rendering
//! `[mm:ss] Speaker: words`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_actors::domain::SenderType;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Message;

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

impl TranscriptSegment {
    /// A transcript message as a segment of the call that started at `call_started`.
    pub fn from_message(message: &Message, call_started: DateTime<Utc>) -> Self {
        let number = |key: &str| message.metadata.get(key).and_then(|v| v.as_f64());
        let since_start =
            (message.timestamp - call_started).num_milliseconds().max(0) as f64 / 1000.0;
        TranscriptSegment {
            message_id: message.id,
            speaker: message
                .sender
                .name
                .clone()
                .unwrap_or_else(|| speaker_label(message.sender.sender_type).to_owned()),
            sender_type: message.sender.sender_type,
            text: message.content.clone(),
            start: number("audio_start_time").unwrap_or(since_start),
            end: number("audio_end_time"),
            confidence: number("confidence_score"),
            timestamp: message.timestamp,
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
    use crate::history::Sender;
    use serde_json::json;
    use switchboard_actors::domain::{MessageDirection, MessageType};

    fn message(
        sender: SenderType,
        name: Option<&str>,
        content: &str,
        at_s: i64,
        metadata: serde_json::Value,
    ) -> Message {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Message {
            id: Uuid::now_v7(),
            conversation_id: Uuid::nil(),
            message_type: MessageType::Transcript,
            direction: MessageDirection::Inbound,
            sender: Sender {
                sender_type: sender,
                identifier: "x".into(),
                name: name.map(Into::into),
                phone_number: None,
            },
            content: content.into(),
            timestamp: started + chrono::Duration::seconds(at_s),
            metadata,
            created_at: started,
            updated_at: started,
        }
    }

    #[test]
    fn segments_prefer_audio_timing_and_fall_back_to_message_time() {
        let started = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let timed = message(
            SenderType::Customer,
            None,
            "hello",
            9,
            json!({"audio_start_time": 3.5, "audio_end_time": 5.25, "confidence_score": 0.9}),
        );
        let segment = TranscriptSegment::from_message(&timed, started);
        assert_eq!(
            (segment.start, segment.end, segment.confidence),
            (3.5, Some(5.25), Some(0.9))
        );
        assert_eq!(segment.speaker, "Customer");
        let untimed = message(SenderType::Ai, Some("Marin"), "hi", 75, json!({}));
        let segment = TranscriptSegment::from_message(&untimed, started);
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
            message(
                SenderType::Customer,
                None,
                "I need to move\nmy appointment",
                0,
                json!({"audio_start_time": 3.9}),
            ),
            message(
                SenderType::Ai,
                None,
                "Sure.",
                0,
                json!({"audio_start_time": 65.2}),
            ),
            message(
                SenderType::Customer,
                None,
                "Thanks",
                0,
                json!({"audio_start_time": 3725.0}),
            ),
        ]
        .iter()
        .map(|m| TranscriptSegment::from_message(m, started))
        .collect();
        assert_eq!(
            render_text(&segments),
            "[00:03] Customer: I need to move my appointment\n[01:05] AI agent: Sure.\n[62:05] Customer: Thanks\n"
        );
    }
}
