//! Serializable shapes of server events, used by [`ServerEncoder`](super::ServerEncoder).

use serde::Serialize;

use super::server::ResponseStatus;

/// Union of the top-level fields of all server events; absent ones are skipped.
#[derive(Serialize, Default)]
pub(super) struct Wire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    pub(super) event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_id: Option<&'a str>,
    /// Outer `None`: absent; `Some(None)`: `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) previous_item_id: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) item_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) output_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) audio_start_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) audio_end_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) transcript: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) arguments: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) event: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) received_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) session: Option<SessionWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) item: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response: Option<ResponseWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<ErrorWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rate_limits: Option<Vec<RateLimitWire<'a>>>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum SessionWire<'a> {
    Ga(GaSessionWire<'a>),
    Beta(BetaSessionWire<'a>),
    Echo(serde_json::Value),
}

#[derive(Serialize)]
pub(super) struct GaSessionWire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) object: &'static str,
    pub(super) id: &'a str,
    pub(super) model: &'a str,
    pub(super) output_modalities: [&'static str; 1],
    pub(super) audio: GaAudioWire,
}

#[derive(Serialize)]
pub(super) struct GaAudioWire {
    pub(super) input: GaInputWire,
    pub(super) output: GaOutputWire,
}

#[derive(Serialize)]
pub(super) struct GaInputWire {
    pub(super) format: GaFormatWire,
}

#[derive(Serialize)]
pub(super) struct GaOutputWire {
    pub(super) format: GaFormatWire,
    pub(super) voice: &'static str,
}

#[derive(Serialize)]
pub(super) struct GaFormatWire {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) rate: u32,
}

impl GaFormatWire {
    pub(super) const PCM16: GaFormatWire = GaFormatWire {
        kind: "audio/pcm",
        rate: 24_000,
    };
}

#[derive(Serialize)]
pub(super) struct BetaSessionWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) model: &'a str,
    pub(super) modalities: [&'static str; 2],
    pub(super) voice: &'static str,
    pub(super) input_audio_format: &'static str,
    pub(super) output_audio_format: &'static str,
}

#[derive(Serialize)]
pub(super) struct ErrorWire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'a str,
    pub(super) code: Option<&'a str>,
    pub(super) message: &'a str,
    pub(super) param: Option<&'a str>,
    pub(super) event_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct ResponseWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) status: &'static str,
    pub(super) status_details: Option<StatusDetailsWire<'a>>,
    pub(super) output: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage: Option<UsageWire>,
}

/// `response.usage` of a `response.done`.
#[derive(Serialize)]
pub(super) struct UsageWire {
    pub(super) total_tokens: u64,
    pub(super) input_tokens: u64,
    pub(super) output_tokens: u64,
}

impl<'a> ResponseWire<'a> {
    pub(super) fn new(
        id: &'a str,
        status: ResponseStatus,
        reason: Option<&'a str>,
    ) -> ResponseWire<'a> {
        let status_details = match status {
            ResponseStatus::InProgress | ResponseStatus::Completed if reason.is_none() => None,
            _ => Some(StatusDetailsWire {
                kind: status.as_str(),
                reason,
            }),
        };
        ResponseWire {
            id,
            object: "realtime.response",
            status: status.as_str(),
            status_details,
            output: [],
            usage: None,
        }
    }
}

#[derive(Serialize)]
pub(super) struct StatusDetailsWire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) reason: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct RateLimitWire<'a> {
    pub(super) name: &'a str,
    pub(super) limit: u64,
    pub(super) remaining: u64,
    pub(super) reset_seconds: f64,
}
