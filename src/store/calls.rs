//! Voice calls as Twilio reports them: the incoming-call webhook creates the conversation, the call
//! and (found or created by phone number) the customer; status callbacks move the call along.

use chrono::{DateTime, Utc};
use switchboard_actors::domain::{CallDirection, CallStatus, ConversationStatus};
use uuid::Uuid;

use super::{Store, StoreError};

/// An incoming call, from Twilio's voice webhook.
#[derive(Debug, Clone)]
pub struct NewInboundCall {
    pub org_id: Uuid,
    pub call_sid: String,
    pub account_sid: Option<String>,
    pub from_number: String,
    pub to_number: String,
    pub direction: CallDirection,
    pub status: CallStatus,
    /// This engine's node name, where the media socket will land.
    pub node: Option<String>,
}

/// The rows behind a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallIds {
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    pub customer_id: Option<Uuid>,
    /// False when the webhook was a repeat and the call already existed.
    pub created: bool,
}

/// A status callback.
#[derive(Debug, Clone)]
pub struct CallStatusUpdate {
    pub status: CallStatus,
    /// Twilio's `SequenceNumber` (from 0), when given.
    pub sequence: Option<i32>,
    /// `CallDuration` in seconds (completed calls).
    pub duration_seconds: Option<i32>,
    pub at: DateTime<Utc>,
}

/// What a status callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The call moved to the callback's status; what it is now.
    Applied(AppliedStatus),
    /// Older or repeated (by sequence), or it would move a finished call back: nothing changed.
    Ignored,
    /// No call with that CallSid.
    UnknownCall,
}

/// A call as a status callback left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedStatus {
    pub call_id: Uuid,
    pub conversation_id: Uuid,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
}

impl Store {
    /// Creates the customer (by phone, if E.164), the voice conversation and the call, or returns
    /// the existing ones when Twilio repeats the webhook for the same CallSid.
    pub async fn create_inbound_call(&self, call: &NewInboundCall) -> Result<CallIds, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if let Some(row) = tx
            .query_opt(
                "SELECT c.id, c.conversation_id, v.customer_id FROM calls c
                 JOIN conversations v ON v.id = c.conversation_id WHERE c.call_sid = $1",
                &[&call.call_sid],
            )
            .await?
        {
            return Ok(CallIds {
                call_id: row.get(0),
                conversation_id: row.get(1),
                customer_id: row.get(2),
                created: false,
            });
        }
        let customer_id: Option<Uuid> = if is_e164(&call.from_number) {
            let row = tx
                .query_one(
                    "INSERT INTO customers (id, org_id, phone) VALUES ($1, $2, $3)
                     ON CONFLICT (org_id, phone) WHERE phone IS NOT NULL
                     DO UPDATE SET updated_at = now()
                     RETURNING id",
                    &[&Uuid::now_v7(), &call.org_id, &call.from_number],
                )
                .await?;
            Some(row.get(0))
        } else {
            None
        };
        let conversation_id = Uuid::now_v7();
        let call_id = Uuid::now_v7();
        tx.execute(
            "INSERT INTO conversations (id, org_id, customer_id, channel, status) VALUES ($1, $2, $3, 'voice', 'active')",
            &[&conversation_id, &call.org_id, &customer_id],
        )
        .await?;
        let inserted = tx
            .execute(
                "INSERT INTO calls (id, org_id, conversation_id, call_sid, account_sid, from_number, to_number,
                                    direction, status, node)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (call_sid) DO NOTHING",
                &[
                    &call_id,
                    &call.org_id,
                    &conversation_id,
                    &call.call_sid,
                    &call.account_sid,
                    &call.from_number,
                    &call.to_number,
                    &call.direction.as_str(),
                    &call.status.as_str(),
                    &call.node,
                ],
            )
            .await?;
        if inserted == 0 {
            // A concurrent repeat of the webhook won the race: use its rows.
            drop(tx);
            return Box::pin(self.create_inbound_call(call)).await;
        }
        tx.commit().await?;
        Ok(CallIds {
            call_id,
            conversation_id,
            customer_id,
            created: true,
        })
    }

    /// Applies a status callback unless it is older than one already applied (by sequence) or would
    /// move a finished call back to an earlier status. A final status completes the conversation
    /// (`completed`, or `failed` for busy / failed / no-answer / canceled).
    pub async fn apply_call_status(
        &self,
        org_id: Uuid,
        call_sid: &str,
        update: &CallStatusUpdate,
    ) -> Result<StatusOutcome, StoreError> {
        let client = self.pool.get().await?;
        let finals: Vec<&str> = CallStatus::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        let status = update.status.as_str();
        let sequence = update.sequence.unwrap_or(i32::MAX);
        let row = client
            .query_opt(
                "UPDATE calls SET
                    status = $2,
                    twilio_sequence = CASE WHEN $3 = 2147483647 THEN twilio_sequence ELSE $3 END,
                    answered_at = CASE WHEN $2 = 'in-progress' THEN coalesce(answered_at, $4) ELSE answered_at END,
                    ended_at = CASE WHEN $2 = ANY($6) THEN coalesce(ended_at, $4) ELSE ended_at END,
                    duration_seconds = coalesce($5, duration_seconds),
                    updated_at = now()
                 WHERE call_sid = $1 AND org_id = $7
                   AND ($3 > twilio_sequence)
                   AND NOT (status = ANY($6) AND NOT ($2 = ANY($6)))
                 RETURNING id, conversation_id, answered_at, ended_at, duration_seconds",
                &[&call_sid, &status, &sequence, &update.at, &update.duration_seconds, &finals, &org_id],
            )
            .await?;
        let Some(row) = row else {
            let exists = client
                .query_opt(
                    "SELECT 1 FROM calls WHERE call_sid = $1 AND org_id = $2",
                    &[&call_sid, &org_id],
                )
                .await?
                .is_some();
            return Ok(if exists {
                StatusOutcome::Ignored
            } else {
                StatusOutcome::UnknownCall
            });
        };
        let applied = AppliedStatus {
            call_id: row.get(0),
            conversation_id: row.get(1),
            answered_at: row.get(2),
            ended_at: row.get(3),
            duration_seconds: row.get(4),
        };
        if update.status.is_final() {
            let conversation = applied.conversation_id;
            let outcome = if update.status == CallStatus::Completed {
                ConversationStatus::Completed
            } else {
                ConversationStatus::Failed
            };
            client
                .execute(
                    "UPDATE conversations SET status = $2, completed_at = coalesce(completed_at, greatest($3, initiated_at)),
                            last_activity_at = greatest(last_activity_at, $3), updated_at = now()
                     WHERE id = $1 AND status = 'active'",
                    &[&conversation, &outcome.as_str(), &update.at],
                )
                .await?;
        }
        Ok(StatusOutcome::Applied(applied))
    }
}

/// `+` then 2 to 15 digits, the first not 0.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    #[test]
    fn e164() {
        assert!(super::is_e164("+14155550100"));
        assert!(!super::is_e164("14155550100"));
        assert!(!super::is_e164("+0123"));
        assert!(!super::is_e164("anonymous"));
        assert!(!super::is_e164("+1234567890123456"));
    }
}

/// What a media stream needs to know about its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCall {
    pub call_id: Uuid,
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    pub call_sid: String,
    pub from_number: String,
    /// The number called.
    pub to_number: String,
    /// The call has ended (a stream for it is a replay).
    pub ended: bool,
}

impl Store {
    /// The call a media stream's `start` names (by the `call_id` parameter of the TwiML).
    pub async fn stream_call(&self, call_id: Uuid) -> Result<Option<StreamCall>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT id, org_id, conversation_id, call_sid, from_number, ended_at IS NOT NULL,
                        to_number
                 FROM calls WHERE id = $1",
                &[&call_id],
            )
            .await?;
        Ok(row.map(|r| StreamCall {
            call_id: r.get(0),
            org_id: r.get(1),
            conversation_id: r.get(2),
            call_sid: r.get(3),
            from_number: r.get(4),
            ended: r.get(5),
            to_number: r.get(6),
        }))
    }

    /// Records a finished call's WAV file.
    pub async fn insert_recording(
        &self,
        call: &StreamCall,
        info: &switchboard_actors::audio::RecordingInfo,
    ) -> Result<Uuid, StoreError> {
        let client = self.pool.get().await?;
        let id = Uuid::now_v7();
        client
            .execute(
                "INSERT INTO recordings (id, org_id, call_id, path, format, sample_rate, channels, duration_ms, bytes)
                 VALUES ($1, $2, $3, $4, 'wav', $5, $6, $7, $8)",
                &[
                    &id,
                    &call.org_id,
                    &call.call_id,
                    &info.path.display().to_string(),
                    &(info.sample_rate as i32),
                    &(info.channels as i16),
                    &(info.duration_ms as i64),
                    &(info.bytes as i64),
                ],
            )
            .await?;
        Ok(id)
    }
}

/// A finished call at a glance (for `demo` and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    pub call_id: Uuid,
    pub status: String,
    pub messages: i64,
    pub recording_path: Option<String>,
}

impl Store {
    pub async fn call_summary(&self, call_sid: &str) -> Result<Option<CallSummary>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT c.id, c.status,
                        (SELECT count(*) FROM messages m WHERE m.conversation_id = c.conversation_id),
                        (SELECT r.path FROM recordings r WHERE r.call_id = c.id ORDER BY r.created_at DESC LIMIT 1)
                 FROM calls c WHERE c.call_sid = $1",
                &[&call_sid],
            )
            .await?;
        Ok(row.map(|r| CallSummary {
            call_id: r.get(0),
            status: r.get(1),
            messages: r.get(2),
            recording_path: r.get(3),
        }))
    }
}
