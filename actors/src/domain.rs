//! The domain vocabulary: the enumerated values of conversations, calls, messages and events.
//!
//! Each enum maps one-to-one onto a `CHECK` constraint of the schema in `sql/`, and its `as_str` form
//! is what is stored and what travels in JSON. Keeping them here lets the call actors produce rows the
//! database accepts without depending on the store.

use std::fmt;
use std::str::FromStr;

/// A wire/storage string was not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a valid {kind} (expected one of: {expected})")]
pub struct UnknownValue {
    /// The enum's human name, e.g. "message type".
    pub kind: &'static str,
    /// What was given.
    pub given: String,
    /// The accepted values, comma separated.
    pub expected: &'static str,
}

/// Declares a string-valued enum: `as_str`, `ALL`, `Display`, `FromStr` and serde as the string.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire form.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        kind: $kind,
                        given: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

string_enum!(
    /// The medium of a conversation.
    Channel, "channel" { Voice => "voice", Sms => "sms", Email => "email" }
);

string_enum!(
    /// Where a conversation stands.
    ConversationStatus, "conversation status" {
        Active => "active", Completed => "completed", Failed => "failed",
    }
);

string_enum!(
    /// The overall tone of a conversation, as scored after it ends.
    Sentiment, "sentiment" {
        Positive => "positive", Neutral => "neutral", Negative => "negative", Mixed => "mixed",
    }
);

string_enum!(
    /// What a conversation achieved.
    Outcome, "outcome" {
        AppointmentScheduled => "appointment_scheduled",
        AppointmentRescheduled => "appointment_rescheduled",
        AppointmentCancelled => "appointment_cancelled",
        InfoRequest => "info_request",
        Complaint => "complaint",
        Unresolved => "unresolved",
    }
);

string_enum!(
    /// Twilio's `CallStatus` values.
    CallStatus, "call status" {
        Queued => "queued", Initiated => "initiated", Ringing => "ringing", InProgress => "in-progress",
        Completed => "completed", Busy => "busy", Failed => "failed",
        NoAnswer => "no-answer", Canceled => "canceled",
    }
);

impl CallStatus {
    /// A final status: the call is over and never goes back to an earlier one.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::Busy
                | CallStatus::Failed
                | CallStatus::NoAnswer
                | CallStatus::Canceled
        )
    }
}

string_enum!(
    /// Which way a call was placed.
    CallDirection, "call direction" { Inbound => "inbound", Outbound => "outbound" }
);

string_enum!(
    /// What kind of entry a message is in a conversation.
    MessageType, "message type" {
        Transcript => "transcript", System => "system", Summary => "summary",
        Note => "note", Sms => "sms", Email => "email",
    }
);

string_enum!(
    /// Which way a message travelled.
    MessageDirection, "message direction" {
        Inbound => "inbound", Outbound => "outbound", Internal => "internal",
    }
);

string_enum!(
    /// Who said or did something.
    SenderType, "sender type" {
        Customer => "customer", Agent => "agent", Ai => "ai", System => "system",
        Operator => "operator", Supervisor => "supervisor",
    }
);

string_enum!(
    /// Conversation- or message-level occurrences worth recording apart from messages.
    EventType, "event type" {
        IntentDetected => "intent_detected",
        FunctionCalled => "function_called",
        EscalationRequested => "escalation_requested",
        Error => "error",
        CustomerSentimentShift => "customer_sentiment_shift",
        AppointmentAction => "appointment_action",
        SupervisorAction => "supervisor_action",
        /// Logins, keys, roles and credentials (written by the auth layer, with no conversation).
        Security => "security",
    }
);

string_enum!(
    /// The audio format exchanged with the AI voice agent: G.711 µ-law at 8 kHz passes Twilio's audio
    /// through untouched; PCM16 at 24 kHz needs transcoding and resampling on every frame.
    AudioFormat, "audio format" { G711Ulaw => "g711_ulaw", Pcm16 => "pcm16" }
);

string_enum!(
    /// What a system message of a call records (its `metadata.system_event_type`).
    SystemEventKind, "system event" {
        CallStarted => "call_started",
        CallAnswered => "call_answered",
        CallEnded => "call_ended",
        BargeIn => "barge_in",
        AiReconnected => "ai_reconnected",
        AiUnavailable => "ai_unavailable",
        SupervisorAction => "supervisor_action",
        Dtmf => "dtmf",
        /// A function the model called, with its outcome.
        ToolCalled => "tool_called",
        /// The agent handed the caller to a person.
        Transferred => "transferred",
        /// A choice in an IVR menu (written by the IVR webhook).
        IvrChoice => "ivr_choice",
        /// The line was closed (business hours) when the call came.
        AfterHours => "after_hours",
        /// A voicemail was left (written by the recording callback).
        Voicemail => "voicemail",
    }
);

/// A call's system event, typed: the call produces it with its system message, and the live event
/// bus publishes it from there (nothing reads it back out of the message's JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemEvent {
    pub kind: SystemEventKind,
    pub call_id: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_text_and_json() {
        for v in MessageType::ALL {
            assert_eq!(v.as_str().parse::<MessageType>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<MessageType>(&json).unwrap(), *v);
        }
        for v in CallStatus::ALL {
            assert_eq!(v.as_str().parse::<CallStatus>().unwrap(), *v);
        }
    }

    #[test]
    fn unknown_value_names_kind_and_choices() {
        let err = "voicemail".parse::<Channel>().unwrap_err();
        assert_eq!(err.given, "voicemail");
        let text = err.to_string();
        assert!(text.contains("channel"), "{text}");
        assert!(text.contains("voice sms email"), "{text}");
    }

    #[test]
    fn final_call_statuses() {
        assert!(CallStatus::Completed.is_final());
        assert!(CallStatus::NoAnswer.is_final());
        assert!(!CallStatus::Ringing.is_final());
        assert!(!CallStatus::InProgress.is_final());
    }
}
