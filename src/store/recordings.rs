//! Call recordings as the history API serves them: a call named by its UUID or its CallSid, and the
//! latest WAV file recorded for it (written by [`Store::insert_recording`]).
//!
//! Every read is scoped to an organization: a call of another organization is as absent as a call
//! that never existed.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::history::CallKey;

/// A call and its latest recording, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecording {
    pub call_id: Uuid,
    pub call_sid: String,
    /// `None`: the call exists but nothing was recorded.
    pub recording: Option<RecordingFile>,
}

/// A recording row: where the WAV file is and what the recorder said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    pub recording_id: Uuid,
    pub path: PathBuf,
    /// The size the recorder wrote; the file on disk is what is served.
    pub bytes: u64,
    pub sample_rate: u32,
    pub channels: u16,
    pub duration_ms: u64,
    pub created_at: DateTime<Utc>,
}

/// The call (by id or by CallSid, in one organization) and its newest recording.
const CALL_RECORDING: &str = "
SELECT c.id, c.call_sid, r.id, r.path, r.bytes, r.sample_rate, r.channels, r.duration_ms, r.created_at
FROM calls c
LEFT JOIN LATERAL (
    SELECT id, path, bytes, sample_rate, channels, duration_ms, created_at
    FROM recordings
    WHERE call_id = c.id AND org_id = c.org_id
    ORDER BY created_at DESC, id DESC
    LIMIT 1
) r ON true
WHERE c.org_id = $1 AND (c.id = $2 OR c.call_sid = $3)";

impl Store {
    /// The call `call` names in organization `org_id` and its latest recording; `None` when the
    /// organization has no such call.
    pub async fn call_recording(
        &self,
        org_id: Uuid,
        call: &CallKey,
    ) -> Result<Option<CallRecording>, StoreError> {
        let (id, sid): (Option<Uuid>, Option<&str>) = match call {
            CallKey::Id(id) => (Some(*id), None),
            CallKey::Sid(sid) => (None, Some(sid)),
        };
        let client = self.pool.get().await?;
        let row = client
            .query_opt(CALL_RECORDING, &[&org_id, &id, &sid])
            .await?;
        Ok(row.map(|r| {
            let recording_id: Option<Uuid> = r.get(2);
            CallRecording {
                call_id: r.get(0),
                call_sid: r.get(1),
                recording: recording_id.map(|recording_id| RecordingFile {
                    recording_id,
                    path: PathBuf::from(r.get::<_, String>(3)),
                    bytes: non_negative(r.get(4)),
                    sample_rate: non_negative(i64::from(r.get::<_, i32>(5))) as u32,
                    channels: non_negative(i64::from(r.get::<_, i16>(6))) as u16,
                    duration_ms: non_negative(r.get(7)),
                    created_at: r.get(8),
                }),
            }
        }))
    }
}

/// The schema's CHECKs keep these columns non-negative; a negative value would read as 0.
fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
