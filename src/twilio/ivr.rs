//! Twilio's requests during a call the engine answers with TwiML, all signed like the voice
//! webhook and all for one call of the signing organization:
//!
//! - `POST /twilio/ivr/{call}/{menu}?attempt=N`: a menu's `<Gather>` answered (`Digits` or
//!   `SpeechResult`) or timed out (no input: the `<Redirect>` after it). The next step: the chosen
//!   option's action, the menu again, or its default once retries run out; each choice is an
//!   `ivr_choice` system message.
//! - `POST /twilio/voicemail/{call}`: the `<Record>`'s recording-status callback (the voicemail
//!   becomes a message of the conversation, with its URL and duration, once per RecordingSid) and
//!   its `action` (the call ends).
//! - `POST /twilio/after-stream/{call}`: `<Connect action>`, when the engine closed the media
//!   stream: a transfer dials its number; an AI lost for good runs the number's fallback (no dead
//!   air); any other end hangs up.

use std::sync::Arc;

use switchboard_actors::domain::SystemEventKind;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::TwilioSettings;
use super::answer::{AnsweredCall, Answering, menu_url, step_id};
use super::webhooks::{Webhook, call_sid, xml_escape};
use crate::agents::action::document;
use crate::agents::menu::Step;
use crate::http::ai::AiGate;
use crate::http::auth::AuthState;
use crate::http::deps::{Calls, Events};
use crate::http::error::ApiError;
use crate::store::Store;
use crate::store::agents::CallExit;

/// What the handlers here are given.
pub struct Context {
    pub store: Store,
    pub twilio: Arc<TwilioSettings>,
    pub auth: Arc<AuthState>,
    pub events: Events,
    pub ai: Arc<AiGate>,
    pub calls: Calls,
}

impl Context {
    fn answering(&self) -> Answering<'_> {
        Answering {
            store: &self.store,
            twilio: &self.twilio,
            ai: &self.ai,
            calls: &self.calls,
            events: &self.events,
        }
    }

    /// The call `call_id` names, if the request is Twilio's for it (signed by the call's
    /// organization, same CallSid); its number's fallback comes with it.
    async fn call(&self, hook: &Webhook, call_id: Uuid) -> Result<AnsweredCall, ApiError> {
        let account = hook
            .verify(&self.store, &self.twilio, &self.auth.keys.sealer)
            .await?;
        let sid = call_sid(hook)?;
        let call = self
            .store
            .stream_call(call_id)
            .await?
            .filter(|c| c.org_id == account.org_id && c.call_sid == sid)
            .ok_or_else(|| ApiError::NotFound(format!("call {call_id}")))?;
        let fallback = self
            .store
            .number_for_call(call.org_id, &call.to_number)
            .await?
            .and_then(|n| n.config.fallback);
        Ok(AnsweredCall {
            org_id: call.org_id,
            call_id: call.call_id,
            conversation_id: call.conversation_id,
            call_sid: call.call_sid,
            claimed: account.claimed,
            fallback,
        })
    }
}

fn xml(twiml: String) -> Response {
    warp::reply::with_header(twiml, "content-type", "text/xml").into_response()
}

/// `?attempt=N` of a menu URL (0 when absent or not a small number).
fn attempt(query: &str) -> u32 {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "attempt")
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .filter(|n| *n <= 10)
        .unwrap_or(0)
}

/// `POST /twilio/ivr/{call}/{menu}`.
pub async fn menu(
    call_id: Uuid,
    menu_id: Uuid,
    hook: Webhook,
    ctx: Arc<Context>,
) -> Result<Response, Rejection> {
    let call = ctx.call(&hook, call_id).await?;
    let menu = ctx
        .store
        .menu(call.org_id, menu_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("menu {menu_id}")))?;
    let attempt = attempt(&hook.query);
    let digits = hook.get("Digits");
    let speech = hook.get("SpeechResult");
    let answering = ctx.answering();
    let (action, choice) = match menu.step(attempt, digits, speech) {
        Step::Chosen { option, action, by } => (
            action,
            serde_json::json!({ "option": option, "input": by,
                                "by": if digits.is_some_and(|d| !d.is_empty()) { "dtmf" } else { "speech" } }),
        ),
        Step::Repeat { attempt, invalid } => {
            let url = menu_url(&ctx.twilio, call_id, menu_id, attempt);
            return Ok(xml(document(&menu.twiml(&url, invalid))));
        }
        Step::Default { action } => (
            action,
            serde_json::json!({ "option": "default",
                                "input": digits.or(speech).unwrap_or(""),
                                "by": "retries_exhausted" }),
        ),
    };
    let mut details = choice;
    details["menu_id"] = serde_json::json!(menu_id);
    details["menu"] = serde_json::json!(menu.name);
    details["attempt"] = serde_json::json!(attempt);
    details["action"] = serde_json::json!(action);
    answering.system_message(
        &call,
        step_id(call_id, &format!("ivr/{menu_id}/{attempt}")),
        SystemEventKind::IvrChoice,
        details,
    );
    let twiml = answering.action(&call, action).await?;
    Ok(xml(twiml))
}

/// `POST /twilio/voicemail/{call}`.
pub async fn voicemail(
    call_id: Uuid,
    hook: Webhook,
    ctx: Arc<Context>,
) -> Result<Response, Rejection> {
    let call = ctx.call(&hook, call_id).await?;
    let Some(status) = hook.get("RecordingStatus") else {
        // The <Record> action: the caller is done.
        return Ok(xml(document("<Hangup/>")));
    };
    if status == "completed" {
        let sid = hook.required("RecordingSid")?;
        if !switchboard_actors::twilio::is_sid("RE", sid) {
            return Err(ApiError::BadRequest(
                "RecordingSid is not a Twilio recording SID (RE + 32 hex digits)".into(),
            )
            .into());
        }
        let url = hook.required("RecordingUrl")?;
        let duration_s: u32 = hook
            .get("RecordingDuration")
            .unwrap_or("0")
            .parse()
            .map_err(|_| ApiError::BadRequest("RecordingDuration is not a number".into()))?;
        ctx.answering().system_message(
            &call,
            step_id(call_id, &format!("voicemail/{sid}")),
            SystemEventKind::Voicemail,
            serde_json::json!({ "recording_sid": sid, "recording_url": url,
                                "duration_s": duration_s }),
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /twilio/after-stream/{call}`.
pub async fn after_stream(
    call_id: Uuid,
    hook: Webhook,
    ctx: Arc<Context>,
) -> Result<Response, Rejection> {
    let call = ctx.call(&hook, call_id).await?;
    // The call's last rows were handed to this node's persistence actor before its stream
    // closed: written once this returns.
    if let Some(persistence) = &ctx.calls.persistence {
        let _ = persistence.flush().await;
    }
    let exit = ctx
        .store
        .call_exit(call.org_id, call_id)
        .await
        .map_err(ApiError::from)?;
    let twiml = match exit {
        Some(CallExit::Transfer { number }) => {
            document(&format!("<Dial>{}</Dial><Hangup/>", xml_escape(&number)))
        }
        Some(CallExit::AiUnavailable) => ctx.answering().fallback(&call),
        None => document("<Hangup/>"),
    };
    Ok(xml(twiml))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attempts_are_small_numbers() {
        assert_eq!(super::attempt("attempt=2"), 2);
        assert_eq!(super::attempt("x=1&attempt=1"), 1);
        assert_eq!(super::attempt("attempt=99"), 0);
        assert_eq!(super::attempt(""), 0);
    }
}
