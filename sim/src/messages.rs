//! Realistic rows for the persistence path: what a call's transcript looks like in size and shape.

use switchboard_actors::domain::{MessageDirection, MessageType, SenderType};
use switchboard_actors::persistence::{DEFAULT_ORG, NewMessage, Sender};
use uuid::Uuid;

/// Transcript segment number `seq` of a conversation: ≈150 bytes of content, sender and metadata
/// JSON; even numbers are the caller, odd ones the AI agent. `metadata.seq` carries `seq` so that
/// readers can check order.
pub fn transcript(conversation_id: Uuid, seq: u64) -> NewMessage {
    let customer = seq.is_multiple_of(2);
    NewMessage {
        id: Uuid::now_v7(),
        org_id: DEFAULT_ORG,
        conversation_id,
        message_type: MessageType::Transcript,
        direction: if customer {
            MessageDirection::Inbound
        } else {
            MessageDirection::Outbound
        },
        sender: Sender {
            identifier: if customer { "+15550001111" } else { "ai" }.to_owned(),
            name: Some(if customer { "Ada Lovelace" } else { "Agent" }.to_owned()),
            sender_type: if customer {
                SenderType::Customer
            } else {
                SenderType::Ai
            },
            phone_number: customer.then(|| "+15550001111".to_owned()),
        },
        content: format!(
            "[{seq:06}] I'd like to move my appointment from Tuesday afternoon to Thursday morning, \
             ideally before ten, if the doctor has any openings."
        ),
        timestamp: chrono::Utc::now(),
        metadata: serde_json::json!({
            "seq": seq,
            "audio_start_time": seq as f64 * 2.5,
            "audio_end_time": seq as f64 * 2.5 + 2.1,
            "confidence_score": 0.94,
            "language": "en",
        }),
        system_event: None,
    }
}
