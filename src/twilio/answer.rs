//! What the engine answers Twilio for a call, once it knows where the call goes: the AI agent
//! (`<Connect><Stream>`, after the admission checks: AI minutes, the realtime breaker, room in the
//! cluster; the fallback when one says no), a menu (`<Gather>`), or a transfer, voicemail or
//! goodbye that Twilio carries out itself. Used by the voice webhook and the IVR webhook alike.

use std::sync::Arc;

use switchboard_actors::ai_health::KeyScope;
use switchboard_actors::domain::{
    MessageDirection, MessageType, SenderType, SystemEvent, SystemEventKind,
};
use switchboard_actors::persistence::{NewMessage, PersistItem, Sender};
use uuid::Uuid;

use super::TwilioSettings;
use super::webhooks::{media_url, media_url_at, xml_escape};
use crate::agents::Action;
use crate::agents::action::document;
use crate::events::{EventKind, NewLiveEvent};
use crate::http::ai::{AiGate, Refusal};
use crate::http::deps::{Calls, Events};
use crate::http::error::ApiError;
use crate::store::Store;

/// The call being answered.
#[derive(Debug, Clone)]
pub struct AnsweredCall {
    pub org_id: Uuid,
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    pub call_sid: String,
    /// An organization claims the Twilio account (its media socket path names it).
    pub claimed: bool,
    /// The number's own fallback, if it has one.
    pub fallback: Option<Action>,
}

/// What answering needs.
pub struct Answering<'a> {
    pub store: &'a Store,
    pub twilio: &'a TwilioSettings,
    pub ai: &'a Arc<AiGate>,
    pub calls: &'a Calls,
    pub events: &'a Events,
}

/// A URL of the engine under the public base.
pub fn engine_url(twilio: &TwilioSettings, path: &str) -> String {
    format!(
        "{}/{path}",
        twilio.public_url.as_str().trim_end_matches('/')
    )
}

/// The IVR webhook of a call's menu, at attempt `attempt`.
pub fn menu_url(twilio: &TwilioSettings, call_id: Uuid, menu_id: Uuid, attempt: u32) -> String {
    engine_url(
        twilio,
        &format!("twilio/ivr/{call_id}/{menu_id}?attempt={attempt}"),
    )
}

/// The voicemail callback of a call.
pub fn voicemail_url(twilio: &TwilioSettings, call_id: Uuid) -> String {
    engine_url(twilio, &format!("twilio/voicemail/{call_id}"))
}

impl Answering<'_> {
    /// The TwiML document for `action` on `call`.
    pub async fn action(&self, call: &AnsweredCall, action: &Action) -> Result<String, ApiError> {
        match action {
            Action::Agent { profile_id } => {
                let assigned = self
                    .store
                    .assign_call_profile(call.org_id, call.call_id, *profile_id)
                    .await?;
                if assigned.is_none() {
                    // Deleted since the number or menu was saved: the line is misconfigured.
                    tracing::error!(call_sid = %call.call_sid, %profile_id, "the profile a call leads to is gone: fallback");
                    return Ok(self.fallback(call));
                }
                self.connect(call).await
            }
            Action::Menu { menu_id } => match self.store.menu(call.org_id, *menu_id).await? {
                Some(menu) => Ok(document(
                    &menu.twiml(&menu_url(self.twilio, call.call_id, *menu_id, 0), false),
                )),
                None => {
                    tracing::error!(call_sid = %call.call_sid, %menu_id, "the menu a call leads to is gone: fallback");
                    Ok(self.fallback(call))
                }
            },
            terminal => Ok(document(
                &terminal
                    .terminal_twiml(&voicemail_url(self.twilio, call.call_id))
                    .unwrap_or_default(),
            )),
        }
    }

    /// What callers get when the AI cannot take or keep their call: the number's fallback, else
    /// the configured one.
    pub fn fallback(&self, call: &AnsweredCall) -> String {
        match call
            .fallback
            .as_ref()
            .and_then(|a| a.terminal_twiml(&voicemail_url(self.twilio, call.call_id)))
        {
            Some(verbs) => document(&verbs),
            None => self.ai.fallback.twiml(),
        }
    }

    /// Connects the call to its AI agent, if the organization's minutes, the realtime breaker
    /// and the cluster's room allow; the fallback otherwise. When the engine ends its part of
    /// the call (a transfer, the AI lost for good), Twilio asks `twilio/after-stream/{call}`
    /// what to run next.
    pub async fn connect(&self, call: &AnsweredCall) -> Result<String, ApiError> {
        let (org_id, call_sid) = (call.org_id, call.call_sid.as_str());
        let admission = self.store.voice_admission(org_id).await?;
        let mut stream_node = None;
        let refusal = if admission.cap.reached() {
            Some(Refusal::CapReached)
        } else if !self
            .ai
            .admit_call(KeyScope::of(org_id, admission.own_openai_key))
        {
            Some(Refusal::BreakerOpen)
        } else if let Some(node) = &self.calls.node
            && let Err(full) = node.reserve(call.call_id)
        {
            match self.store.node_with_room(&node.id, node.fresh_s).await {
                Ok(Some(other)) => {
                    tracing::info!(%call_sid, node = %other.id, %full, "call sent to a node with room");
                    stream_node = Some(other);
                    None
                }
                Ok(None) => Some(Refusal::NoCapacity(full)),
                Err(err) => {
                    tracing::error!(%err, "cannot look for a node with room");
                    Some(Refusal::NoCapacity(full))
                }
            }
        } else {
            None
        };
        if let Some(refusal) = refusal {
            tracing::warn!(%call_sid, ?refusal, "call answered with the fallback TwiML");
            if refusal == Refusal::CapReached {
                self.events.bus.publish(
                    NewLiveEvent::new(
                        EventKind::UsageCapReached,
                        org_id,
                        serde_json::json!({
                            "call_id": call.call_id,
                            "call_sid": call_sid,
                            "ai_minutes_monthly_cap": admission.cap.cap_minutes,
                            "used_seconds": admission.cap.used_seconds,
                        }),
                    )
                    .conversation(call.conversation_id)
                    .call(Some(call.call_id)),
                );
            }
            return Ok(self.fallback(call));
        }
        let org_in_path = call.claimed.then_some(org_id);
        let node_base = stream_node
            .as_ref()
            .and_then(|n| url::Url::parse(&n.url).ok());
        let stream_url = match &node_base {
            Some(base) => media_url_at(base, org_in_path),
            None => media_url(self.twilio, org_in_path),
        };
        // The node that streams the call answers what follows it (its rows are flushed there).
        let after = match &node_base {
            Some(base) => format!(
                "{}/twilio/after-stream/{}",
                base.as_str().trim_end_matches('/'),
                call.call_id
            ),
            None => engine_url(
                self.twilio,
                &format!("twilio/after-stream/{}", call.call_id),
            ),
        };
        Ok(document(&format!(
            "<Connect action=\"{}\"><Stream url=\"{}\"><Parameter name=\"call_id\" value=\"{}\"/></Stream></Connect>",
            xml_escape(&after),
            xml_escape(&stream_url),
            call.call_id
        )))
    }

    /// Writes a system message of the call (through the persistence actor, like the call's own;
    /// `id` makes a retried webhook write it once).
    pub fn system_message(
        &self,
        call: &AnsweredCall,
        id: Uuid,
        kind: SystemEventKind,
        mut details: serde_json::Value,
    ) {
        let Some(persistence) = &self.calls.persistence else {
            return;
        };
        details["system_event_type"] = serde_json::json!(kind.as_str());
        details["call_id"] = serde_json::json!(call.call_id);
        details["is_automated"] = serde_json::json!(true);
        let row = NewMessage {
            id,
            org_id: call.org_id,
            conversation_id: call.conversation_id,
            message_type: MessageType::System,
            direction: MessageDirection::Internal,
            sender: Sender {
                identifier: "system".to_owned(),
                name: None,
                sender_type: SenderType::System,
                phone_number: None,
            },
            content: kind.as_str().to_owned(),
            timestamp: chrono::Utc::now(),
            metadata: details,
            system_event: Some(SystemEvent {
                kind,
                call_id: call.call_id,
            }),
        };
        if persistence.persist(PersistItem::Message(row)).is_err() {
            tracing::error!(call_sid = %call.call_sid, kind = kind.as_str(), "persistence buffer full: system message not written");
        }
    }
}

/// A stable id for a webhook's message: the same call and step give the same id.
pub fn step_id(call_id: Uuid, step: &str) -> Uuid {
    Uuid::new_v5(&call_id, step.as_bytes())
}
