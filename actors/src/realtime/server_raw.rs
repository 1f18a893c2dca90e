//! Borrowing `serde` shapes of server events: the union of the fields of all known
//! events, every field optional so that missing ones can be reported by name.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::json::CowStr;

#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) response_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) item_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) previous_item_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) call_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) name: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) arguments: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) delta: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) transcript: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) text: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) event: Option<CowStr<'a>>,
    pub(super) audio_start_ms: Option<u64>,
    pub(super) audio_end_ms: Option<u64>,
    pub(super) content_index: Option<u32>,
    pub(super) output_index: Option<u32>,
    pub(super) received_at: Option<u64>,
    #[serde(borrow)]
    pub(super) session: Option<RawSession<'a>>,
    #[serde(borrow)]
    pub(super) item: Option<RawItem<'a>>,
    #[serde(borrow)]
    pub(super) response: Option<RawResponse<'a>>,
    #[serde(borrow)]
    pub(super) error: Option<RawError<'a>>,
    #[serde(borrow)]
    pub(super) rate_limits: Option<Vec<RawRateLimit<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct RawSession<'a> {
    #[serde(borrow)]
    pub(super) id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) model: Option<CowStr<'a>>,
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<CowStr<'a>>,
    pub(super) audio: Option<IgnoredAny>,
    pub(super) output_modalities: Option<IgnoredAny>,
    pub(super) modalities: Option<IgnoredAny>,
    pub(super) input_audio_format: Option<IgnoredAny>,
}

#[derive(Deserialize)]
pub(super) struct RawItem<'a> {
    #[serde(borrow)]
    pub(super) id: Option<CowStr<'a>>,
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) role: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) status: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) call_id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) name: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawResponse<'a> {
    #[serde(borrow)]
    pub(super) id: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) status: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) status_details: Option<RawStatusDetails<'a>>,
    pub(super) usage: Option<RawUsage>,
}

/// `response.usage` (the detail objects are not read).
#[derive(Deserialize)]
pub(super) struct RawUsage {
    pub(super) input_tokens: Option<u64>,
    pub(super) output_tokens: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct RawStatusDetails<'a> {
    #[serde(borrow)]
    pub(super) reason: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) error: Option<RawStatusError<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawStatusError<'a> {
    #[serde(borrow)]
    pub(super) code: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawError<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) code: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) message: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) param: Option<CowStr<'a>>,
    #[serde(borrow)]
    pub(super) event_id: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
pub(super) struct RawRateLimit<'a> {
    #[serde(borrow)]
    pub(super) name: Option<CowStr<'a>>,
    pub(super) limit: Option<u64>,
    pub(super) remaining: Option<u64>,
    pub(super) reset_seconds: Option<f64>,
}
