//! The supervisor routes in the OpenAPI document. One warp route serves the six control actions
//! (`POST /api/v1/calls/{id}/{action}`); each is documented as its own operation here, as the
//! README and the role table name them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ErrorBody;

/// A whisper: guidance for the AI that the caller does not hear.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhisperBody {
    /// 1 to 4,000 characters.
    pub text: String,
}

/// What a control action answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDone {
    pub call_id: uuid::Uuid,
    pub call_sid: String,
    pub action: String,
}

/// One live call and the supervisor sockets on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveCallDoc {
    pub id: uuid::Uuid,
    pub call_sid: String,
    pub conversation_id: uuid::Uuid,
    pub from_number: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `{session, supervisor: {id, name}, since}` for each socket.
    pub supervisors: Vec<serde_json::Value>,
}

/// `{items, total}` of the live calls on this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveCalls {
    pub items: Vec<LiveCallDoc>,
    pub total: usize,
}

#[utoipa::path(get, path = "/api/v1/calls/live", tag = "supervisors",
    responses((status = 200, body = LiveCalls, description = "The live calls of the organization on this node, with who supervises them"),
              (status = 403, body = ErrorBody)))]
pub fn live() {}

#[utoipa::path(get, path = "/api/v1/calls/{id}/supervise", tag = "supervisors",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid"),
           ("codec" = Option<String>, Query, description = "opus (default) or pcm16"),
           ("rate" = Option<u32>, Query, description = "Opus 16000|48000 (default 48000); PCM16 8000|16000|48000 (default 16000)"),
           ("channels" = Option<String>, Query, description = "mix (default) or stereo (caller left, agent right)"),
           ("input_codec" = Option<String>, Query, description = "the supervisor's audio: opus or pcm16 (default: codec)"),
           ("input_rate" = Option<u32>, Query, description = "the supervisor's audio rate (default: rate)"),
           ("access_token" = Option<String>, Query, description = "for browsers, instead of the header")),
    responses((status = 101, description = "The supervisor websocket: a `ready` text, then one binary audio message per 20 ms and the call's live events as text; actions as text, audio as binary"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The call is not live")))]
pub fn supervise() {}

#[utoipa::path(post, path = "/api/v1/calls/{id}/whisper", tag = "supervisors",
    params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
    request_body = WhisperBody,
    responses((status = 200, body = ActionDone), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn whisper() {}

macro_rules! action {
    ($name:ident, $path:literal, $what:literal) => {
        #[utoipa::path(post, path = $path, tag = "supervisors", description = $what,
            params(("id" = String, Path, description = "The call's UUID or Twilio CallSid")),
            responses((status = 200, body = ActionDone), (status = 404, body = ErrorBody),
                      (status = 409, body = ErrorBody, description = "Not live, or not in a state for this action")))]
        pub fn $name() {}
    };
}

action!(
    barge,
    "/api/v1/calls/{id}/barge",
    "Mix the supervisor's audio (sent on its socket) into what the caller hears."
);
action!(unbarge, "/api/v1/calls/{id}/unbarge", "End a barge-in.");
action!(
    takeover,
    "/api/v1/calls/{id}/takeover",
    "Silence the AI; the supervisor speaks to the caller."
);
action!(
    release,
    "/api/v1/calls/{id}/release",
    "Hand the call back to the AI with what the caller said meanwhile."
);
action!(hangup, "/api/v1/calls/{id}/hangup", "End the call.");
