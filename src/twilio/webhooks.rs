//! Twilio's webhooks: `POST /twilio/voice` (an incoming call: create its rows, publish
//! `call.created`, answer TwiML that connects the call's audio to the media socket) and `POST /twilio/status` (status callbacks, in
//! any order). Both are refused with 403, before anything is written, unless `X-Twilio-Signature`
//! is Twilio's for this URL and these parameters (when `twilio.validate_signatures` is on).

use std::sync::Arc;

use chrono::Utc;
use switchboard_actors::domain::{CallDirection, CallStatus, SystemEventKind};
use switchboard_actors::persistence::DEFAULT_ORG;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::answer::{AnsweredCall, Answering, step_id};
use super::{TwilioSettings, signature};
use crate::auth::seal::Sealer;
use crate::config::Secret;
use crate::events::{EventKind, NewLiveEvent};
use crate::http::ai::AiGate;
use crate::http::auth::AuthState;
use crate::http::deps::{Calls, Events};
use crate::http::error::ApiError;
use crate::http::extract::raw_query;
use crate::http::input;
use crate::store::Store;
use crate::store::calls::{CallStatusUpdate, NewInboundCall, StatusOutcome};

/// Twilio's form bodies are a few KiB; anything much larger is not Twilio.
pub const MAX_FORM_BYTES: u64 = 64 * 1024;

/// The path of the media websocket, as TwiML names it.
pub const MEDIA_PATH: &str = "twilio/media";

/// A webhook request as the handlers need it.
#[derive(Debug)]
pub struct Webhook {
    pub path: String,
    pub query: String,
    pub signature: Option<String>,
    pub form: Vec<(String, String)>,
}

/// The [`Webhook`] of a request: path, raw query, signature header and form body (size-limited).
pub fn webhook() -> impl Filter<Extract = (Webhook,), Error = Rejection> + Clone {
    warp::path::full()
        .and(raw_query())
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(warp::body::content_length_limit(MAX_FORM_BYTES))
        .and(warp::body::form::<Vec<(String, String)>>())
        .map(
            |path: warp::path::FullPath, query, signature, form| Webhook {
                path: path.as_str().to_owned(),
                query,
                signature,
                form,
            },
        )
}

impl Webhook {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn required(&self, key: &'static str) -> Result<&str, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("form parameter {key} is missing")))
    }

    /// The URL Twilio signed: the public base, the path, and the query as sent.
    fn signed_url(&self, twilio: &TwilioSettings) -> String {
        let base = twilio.public_url.as_str().trim_end_matches('/');
        if self.query.is_empty() {
            format!("{base}{}", self.path)
        } else {
            format!("{base}{}?{}", self.path, self.query)
        }
    }

    /// The organization the webhook belongs to (by its `AccountSid`), once its signature is
    /// checked with that organization's auth token (or the configured one, for accounts no
    /// organization claims and organizations without a token of their own); 403 otherwise.
    pub(crate) async fn verify(
        &self,
        store: &Store,
        twilio: &TwilioSettings,
        sealer: &Sealer,
    ) -> Result<TwilioAccount, ApiError> {
        // Twilio's parameters are short printable text: NUL or kilobytes of it are not Twilio.
        for (key, value) in &self.form {
            input::text(key, key, input::WEBHOOK_VALUE)?;
            input::text(key, value, input::WEBHOOK_VALUE)?;
        }
        let account = account_token(store, twilio, sealer, self.get("AccountSid")).await?;
        if !twilio.validate_signatures {
            return Ok(account);
        }
        let Some(given) = self.signature.as_deref() else {
            tracing::warn!(path = %self.path, "Twilio webhook without X-Twilio-Signature refused");
            return Err(ApiError::Forbidden("missing X-Twilio-Signature".into()));
        };
        let params: Vec<(&str, &str)> = self
            .form
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let url = self.signed_url(twilio);
        if signature::is_valid(account.token.expose(), &url, &params, given) {
            Ok(account)
        } else {
            tracing::warn!(path = %self.path, "Twilio webhook with a wrong signature refused");
            Err(ApiError::Forbidden(
                "X-Twilio-Signature does not match this request".into(),
            ))
        }
    }
}

/// Whose a Twilio account is, and the token its requests (webhooks and media sockets alike) are
/// signed with.
#[derive(Debug)]
pub struct TwilioAccount {
    pub org_id: Uuid,
    /// An organization claims the account (and its media socket names the organization).
    pub claimed: bool,
    pub token: Secret,
}

/// The one rule of Twilio signing tokens: an account an organization claims signs with that
/// organization's token (its own, sealed at rest, else the configured one); an account no
/// organization claims belongs to the default organization and signs with the configured token.
/// An `AccountSid` that is not a Twilio account SID is a 400 (before any lookup).
pub async fn account_token(
    store: &Store,
    twilio: &TwilioSettings,
    sealer: &Sealer,
    account_sid: Option<&str>,
) -> Result<TwilioAccount, ApiError> {
    if let Some(sid) = account_sid.filter(|s| !s.is_empty()) {
        if !switchboard_actors::twilio::is_account_sid(sid) {
            return Err(ApiError::BadRequest(
                "AccountSid is not a Twilio account SID (AC + 32 hex digits)".into(),
            ));
        }
        if let Some((org_id, sealed)) = store.org_for_twilio_account(sid).await? {
            return Ok(TwilioAccount {
                org_id,
                claimed: true,
                token: opened_token(twilio, sealer, org_id, sealed)?,
            });
        }
    }
    Ok(TwilioAccount {
        org_id: DEFAULT_ORG,
        claimed: false,
        token: twilio.auth_token.clone(),
    })
}

/// An organization's sealed token, opened; the configured one when it has none.
pub fn opened_token(
    twilio: &TwilioSettings,
    sealer: &Sealer,
    org_id: Uuid,
    sealed: Option<Vec<u8>>,
) -> Result<Secret, ApiError> {
    Ok(match sealed {
        Some(sealed) => Secret::new(sealer.open(org_id, "twilio_auth_token", &sealed)?),
        None => twilio.auth_token.clone(),
    })
}

/// The media socket's URL: `/twilio/media` for the default organization's unclaimed accounts,
/// `/twilio/media/{org}` for an organization's own account. The organization rides in the path,
/// which Twilio keeps and signs (it drops a query string, error 31922).
pub fn media_url(twilio: &TwilioSettings, org: Option<Uuid>) -> String {
    media_url_at(&twilio.public_url, org)
}

/// [`media_url`] on the node whose public URL is `base`.
pub fn media_url_at(base: &url::Url, org: Option<Uuid>) -> String {
    let url = signature::websocket_url(base, MEDIA_PATH);
    match org {
        Some(org_id) => format!("{url}/{org_id}"),
        None => url,
    }
}

/// A form parameter that must be a call SID (`CA` + 32 hex digits), checked before any use.
pub(crate) fn call_sid(hook: &Webhook) -> Result<&str, ApiError> {
    let sid = hook.required("CallSid")?;
    if switchboard_actors::twilio::is_call_sid(sid) {
        Ok(sid)
    } else {
        Err(ApiError::BadRequest(
            "CallSid is not a Twilio call SID (CA + 32 hex digits)".into(),
        ))
    }
}

/// `POST /twilio/voice`: create (or, for a repeated webhook, find) the call and answer TwiML.
pub async fn voice(
    hook: Webhook,
    store: Store,
    twilio: Arc<TwilioSettings>,
    auth: Arc<AuthState>,
    events: Events,
    ai: Arc<AiGate>,
    calls: Calls,
) -> Result<Response, Rejection> {
    let account = hook.verify(&store, &twilio, &auth.keys.sealer).await?;
    let org_id = account.org_id;
    let call_sid = call_sid(&hook)?.to_owned();
    let status = match hook.get("CallStatus") {
        None | Some("") => CallStatus::Ringing,
        Some(s) => s
            .parse()
            .map_err(|e: switchboard_actors::domain::UnknownValue| {
                ApiError::BadRequest(format!("CallStatus: {e}"))
            })?,
    };
    let direction = match hook.get("Direction").unwrap_or("inbound") {
        d if d.starts_with("outbound") || d == "trunking-originating" => CallDirection::Outbound,
        _ => CallDirection::Inbound,
    };
    let call = NewInboundCall {
        org_id,
        call_sid: call_sid.clone(),
        account_sid: hook.get("AccountSid").map(str::to_owned),
        from_number: hook
            .get("From")
            .or(hook.get("Caller"))
            .unwrap_or("")
            .to_owned(),
        to_number: hook
            .get("To")
            .or(hook.get("Called"))
            .unwrap_or("")
            .to_owned(),
        direction,
        status,
        node: None,
    };
    let ids = store
        .create_inbound_call(&call)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(%call_sid, call_id = %ids.call_id, created = ids.created, "incoming call");
    if ids.created {
        events.bus.publish(
            NewLiveEvent::new(
                EventKind::CallCreated,
                call.org_id,
                serde_json::json!({
                    "call_id": ids.call_id,
                    "conversation_id": ids.conversation_id,
                    "call_sid": call.call_sid,
                    "from": call.from_number,
                    "to": call.to_number,
                    "direction": call.direction,
                    "status": call.status,
                }),
            )
            .conversation(ids.conversation_id)
            .call(Some(ids.call_id)),
        );
    }
    let answering = Answering {
        store: &store,
        twilio: &twilio,
        ai: &ai,
        calls: &calls,
        events: &events,
    };
    let mut answered = AnsweredCall {
        org_id,
        call_id: ids.call_id,
        conversation_id: ids.conversation_id,
        call_sid: call_sid.clone(),
        claimed: account.claimed,
        fallback: None,
    };
    // A number of the organization's: its profile or menu, in its hours. Any other number
    // gets the configured agent.
    let twiml = match store.number_for_call(org_id, &call.to_number).await? {
        Some(number) => {
            answered.fallback = number.config.fallback.clone();
            let (action, closed) = number.config.entry(Utc::now());
            if closed {
                answering.system_message(
                    &answered,
                    step_id(ids.call_id, "after_hours"),
                    SystemEventKind::AfterHours,
                    serde_json::json!({ "number": call.to_number, "action": action }),
                );
            }
            answering.action(&answered, &action).await?
        }
        None => answering.connect(&answered).await?,
    };
    Ok(warp::reply::with_header(twiml, "content-type", "text/xml").into_response())
}

/// `POST /twilio/status`: apply a status callback (older and repeated ones change nothing).
pub async fn status(
    hook: Webhook,
    store: Store,
    twilio: Arc<TwilioSettings>,
    auth: Arc<AuthState>,
    events: Events,
) -> Result<Response, Rejection> {
    let org_id = hook
        .verify(&store, &twilio, &auth.keys.sealer)
        .await?
        .org_id;
    let call_sid = call_sid(&hook)?;
    let status: CallStatus = hook.required("CallStatus")?.parse().map_err(
        |e: switchboard_actors::domain::UnknownValue| {
            ApiError::BadRequest(format!("CallStatus: {e}"))
        },
    )?;
    let number = |key: &'static str| -> Result<Option<i32>, ApiError> {
        hook.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u32>()
                    .ok()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{key} is not a whole number from 0 to {}",
                            i32::MAX
                        ))
                    })
            })
            .transpose()
    };
    let update = CallStatusUpdate {
        status,
        sequence: number("SequenceNumber")?,
        duration_seconds: number("CallDuration")?,
        at: hook
            .get("Timestamp")
            .and_then(|t| chrono::DateTime::parse_from_rfc2822(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now),
    };
    match store
        .apply_call_status(org_id, call_sid, &update)
        .await
        .map_err(ApiError::from)?
    {
        StatusOutcome::Applied(call) => {
            // Dashboards see calls that end without ever reaching the engine's media socket
            // (busy, no-answer, failed, canceled) change too.
            let mut data = serde_json::json!({
                "call_id": call.call_id,
                "call_sid": call_sid,
                "status": status,
            });
            if let Some(at) = call.answered_at {
                data["answered_at"] = serde_json::json!(at);
            }
            if let Some(at) = call.ended_at {
                data["ended_at"] = serde_json::json!(at);
            }
            if let Some(seconds) = call.duration_seconds {
                data["duration_seconds"] = serde_json::json!(seconds);
            }
            events.bus.publish(
                NewLiveEvent::new(EventKind::CallUpdated, org_id, data)
                    .conversation(call.conversation_id)
                    .call(Some(call.call_id)),
            );
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        StatusOutcome::Ignored => Ok(StatusCode::NO_CONTENT.into_response()),
        StatusOutcome::UnknownCall => Err(ApiError::NotFound(format!("call {call_sid}")).into()),
    }
}

pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
