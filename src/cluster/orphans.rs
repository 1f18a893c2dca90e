//! Ending the calls a node left live when it was lost (or killed and started again): the rows a
//! call's own end writes (`call_ended` with reason `node_lost`, the call completed or failed, its
//! conversation completed), through the persistence actor, so that events are published and the
//! analysis job is queued as for any call. Ids are derived from the call, so two nodes ending
//! the same call write its end once.

use chrono::Utc;
use serde_json::json;
use switchboard_actors::domain::{
    CallStatus, ConversationStatus, MessageDirection, MessageType, SenderType, SystemEvent,
    SystemEventKind,
};
use switchboard_actors::persistence::{
    CallUpdate, ConversationUpdate, NewMessage, PersistItem, PersistenceHandle, Sender,
};
use uuid::Uuid;

use crate::store::cluster::OrphanCall;

/// Why such calls ended.
pub const REASON: &str = "node_lost";

/// The rows that end `call`, now.
pub fn end_rows(call: &OrphanCall) -> Vec<PersistItem> {
    let now = Utc::now();
    let live_since = call.answered_at.unwrap_or(call.started_at);
    let duration = (now - live_since).to_std().unwrap_or_default();
    let version = now.timestamp_micros();
    let message = NewMessage {
        id: Uuid::new_v5(&call.call_id, b"call_ended:node_lost"),
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
        content: SystemEventKind::CallEnded.as_str().to_owned(),
        timestamp: now,
        metadata: json!({
            "system_event_type": SystemEventKind::CallEnded.as_str(),
            "reason": REASON,
            "node": call.node,
            "duration_ms": duration.as_millis() as u64,
            "call_id": call.call_id,
            "is_automated": true,
        }),
        system_event: Some(SystemEvent {
            kind: SystemEventKind::CallEnded,
            call_id: call.call_id,
        }),
    };
    vec![
        PersistItem::Message(message),
        PersistItem::CallUpdate(CallUpdate {
            call_id: call.call_id,
            version,
            status: Some(if call.answered_at.is_some() {
                CallStatus::Completed
            } else {
                CallStatus::Failed
            }),
            ended_at: Some(now),
            duration_seconds: Some(duration.as_secs().min(i32::MAX as u64) as i32),
            ..Default::default()
        }),
        PersistItem::ConversationUpdate(ConversationUpdate {
            conversation_id: call.conversation_id,
            version,
            status: Some(ConversationStatus::Completed),
            completed_at: Some(now),
            last_activity_at: Some(now),
            ..Default::default()
        }),
    ]
}

/// Ends `calls` and waits until their rows are written; how many were ended.
pub async fn end(calls: &[OrphanCall], persistence: &PersistenceHandle) -> usize {
    if calls.is_empty() {
        return 0;
    }
    let rows: Vec<PersistItem> = calls.iter().flat_map(end_rows).collect();
    if let Err(err) = persistence.persist_all(rows) {
        tracing::error!(%err, "cannot queue the end of a lost node's calls");
        return 0;
    }
    if let Err(err) = persistence.flush().await {
        tracing::error!(%err, "the end of a lost node's calls is not written yet");
    }
    for call in calls {
        tracing::warn!(call_sid = %call.call_sid, node = %call.node, "call ended: its node was lost");
    }
    calls.len()
}
