//! Post-call analysis in the store: the durable job queue (claimed with `FOR UPDATE SKIP LOCKED`
//! under a lease, see `sql/V10__analysis_and_usage.sql`), the organizations' analysis fields, and
//! the one transaction that writes a result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::analysis::fields::{AnalysisField, FieldType, MAX_FIELDS};
use crate::analysis::schema::Verdict;

/// A job a worker holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub org_id: Uuid,
    pub conversation_id: Uuid,
    /// This attempt's number (from 1).
    pub attempt: i32,
    pub reason: String,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnalysisJob {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// `completed` (the conversation ended), `rerun` or `backfill`.
    pub reason: String,
    pub attempts: i32,
    /// When a queued job becomes due.
    pub run_after: DateTime<Utc>,
    /// Why the last attempt failed (a failed job's reason).
    pub last_error: Option<String>,
    /// The model that answered (none when the conversation needed no model).
    pub model: Option<String>,
    pub latency_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "id, conversation_id, state, reason, attempts, run_after, last_error, \
                           model, latency_ms, created_at, updated_at, finished_at";

fn job(row: &tokio_postgres::Row) -> Result<AnalysisJob, StoreError> {
    Ok(AnalysisJob {
        id: row.try_get(0)?,
        conversation_id: row.try_get(1)?,
        state: row.try_get(2)?,
        reason: row.try_get(3)?,
        attempts: row.try_get(4)?,
        run_after: row.try_get(5)?,
        last_error: row.try_get(6)?,
        model: row.try_get(7)?,
        latency_ms: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
        finished_at: row.try_get(11)?,
    })
}

/// Whether a conversation's rows are all written (what a job waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Yes,
    /// Not yet: its call has not written its end.
    Waiting,
    /// The conversation is gone.
    Gone,
}

/// What a finished analysis writes.
#[derive(Debug, Clone)]
pub struct AnalysisResult<'a> {
    pub verdict: &'a Verdict,
    pub model: Option<&'a str>,
    pub latency: Option<Duration>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The summary message's time.
    pub at: DateTime<Utc>,
}

impl<'a> AnalysisResult<'a> {
    /// A verdict reached without a model call, now.
    pub fn without_model(verdict: &'a Verdict) -> Self {
        AnalysisResult {
            verdict,
            model: None,
            latency: None,
            input_tokens: 0,
            output_tokens: 0,
            at: Utc::now(),
        }
    }
}

/// What [`Store::complete_analysis`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub summary_message_id: Uuid,
    pub call_id: Option<Uuid>,
}

/// Why a re-run was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerunRefused {
    /// The conversation is still active.
    Active,
    /// A worker is running it now.
    Running,
}

/// Who the summary message is from.
pub fn summary_sender() -> Value {
    json!({ "type": "ai", "identifier": "analysis", "name": "Conversation analysis" })
}

/// The summary message of a conversation's analysis: one per conversation, replaced by a re-run.
pub fn summary_message_id(conversation_id: Uuid) -> Uuid {
    Uuid::new_v5(&conversation_id, b"switchboard.analysis.summary")
}

impl Store {
    /// Claims up to `limit` due jobs for `worker` (queued and due, or running under a lease that
    /// ran out), each under a lease of `lease`, and counts the attempt.
    pub async fn claim_analysis_jobs(
        &self,
        worker: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let client = self.pool.get().await?;
        let lease_ms = lease.as_millis() as f64;
        let rows = client
            .query(
                "UPDATE analysis_jobs j SET state = 'running', attempts = j.attempts + 1,
                        locked_by = $1, locked_until = now() + make_interval(secs => $2::float8 / 1000),
                        updated_at = now()
                 WHERE j.id IN (
                     SELECT id FROM analysis_jobs
                     WHERE (state = 'queued' AND run_after <= now())
                        OR (state = 'running' AND locked_until < now())
                     ORDER BY run_after
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 RETURNING j.id, j.org_id, j.conversation_id, j.attempts, j.reason",
                &[&worker, &lease_ms, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedJob {
                    id: r.try_get(0)?,
                    org_id: r.try_get(1)?,
                    conversation_id: r.try_get(2)?,
                    attempt: r.try_get(3)?,
                    reason: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Puts a held job back in the queue, due after `delay`. `error` is the failed attempt's
    /// reason; without one (the conversation had not settled) the attempt is not counted.
    pub async fn requeue_analysis_job(
        &self,
        job_id: Uuid,
        worker: &str,
        delay: Duration,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let delay_ms = delay.as_millis() as f64;
        let uncount: i32 = if error.is_some() { 0 } else { 1 };
        let changed = client
            .execute(
                "UPDATE analysis_jobs SET state = 'queued', locked_by = NULL, locked_until = NULL,
                        run_after = now() + make_interval(secs => $3::float8 / 1000),
                        attempts = attempts - $4, last_error = coalesce($5, last_error),
                        updated_at = now()
                 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
                &[&job_id, &worker, &delay_ms, &uncount, &error],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Marks a held job failed for good, with its reason.
    pub async fn fail_analysis_job(
        &self,
        job_id: Uuid,
        worker: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let changed = client
            .execute(
                "UPDATE analysis_jobs SET state = 'failed', locked_by = NULL, locked_until = NULL,
                        last_error = $3, finished_at = now(), updated_at = now()
                 WHERE id = $1 AND locked_by = $2 AND state = 'running'",
                &[&job_id, &worker, &error],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Whether the conversation's rows are written: its call wrote `call_ended`, never streamed,
    /// or completed more than `settle` ago; SMS and email threads are written as they happen.
    pub async fn analysis_settled(
        &self,
        conversation_id: Uuid,
        settle: Duration,
    ) -> Result<Settled, StoreError> {
        let client = self.pool.get().await?;
        let settle_ms = settle.as_millis() as f64;
        let row = client
            .query_opt(
                "SELECT v.channel <> 'voice'
                        OR c.stream_sid IS NULL
                        OR coalesce(v.completed_at, v.last_activity_at)
                           < now() - make_interval(secs => $2::float8 / 1000)
                        OR EXISTS (SELECT 1 FROM messages m
                                   WHERE m.conversation_id = v.id AND m.message_type = 'system'
                                     AND m.metadata->>'system_event_type' = 'call_ended')
                 FROM conversations v LEFT JOIN calls c ON c.conversation_id = v.id
                 WHERE v.id = $1",
                &[&conversation_id, &settle_ms],
            )
            .await?;
        Ok(match row {
            None => Settled::Gone,
            Some(r) if r.try_get::<_, Option<bool>>(0)?.unwrap_or(true) => Settled::Yes,
            Some(_) => Settled::Waiting,
        })
    }

    /// Writes a job's result in one transaction, if `worker` still holds the job: the summary
    /// message (one per conversation, replaced by a re-run), the conversation's fields, the
    /// analysis tokens on the organization's usage, and the job done. `None` when the job was
    /// not held any more (its lease ran out and another worker took it): nothing is written.
    pub async fn complete_analysis(
        &self,
        job: &ClaimedJob,
        worker: &str,
        result: &AnalysisResult<'_>,
    ) -> Result<Option<Completed>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM analysis_jobs
                 WHERE id = $1 AND locked_by = $2 AND state = 'running' FOR UPDATE",
                &[&job.id, &worker],
            )
            .await?;
        if held.is_none() {
            return Ok(None);
        }
        let verdict = result.verdict;
        let message_id = summary_message_id(job.conversation_id);
        let analysis = json!({
            "sentiment": verdict.sentiment.map(|s| s.as_str()),
            "satisfaction_score": verdict.satisfaction_score,
            "outcome": verdict.outcome.as_str(),
            "subject": verdict.subject,
            "custom": verdict.custom,
            "model": result.model,
            "skipped": verdict.skipped,
            "job_id": job.id,
        });
        let metadata = json!({ "automated": true, "analysis": analysis });
        let sender =
            json!({ "type": "ai", "identifier": "analysis", "name": "Conversation analysis" });
        tx.execute(
            r#"INSERT INTO messages (id, org_id, conversation_id, message_type, direction, sender,
                                    content, "timestamp", metadata)
               VALUES ($1, $2, $3, 'summary', 'internal', $4, $5, $6, $7)
               ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content,
                   "timestamp" = EXCLUDED."timestamp", metadata = EXCLUDED.metadata,
                   sender = EXCLUDED.sender, updated_at = now()"#,
            &[
                &message_id,
                &job.org_id,
                &job.conversation_id,
                &sender,
                &verdict.summary,
                &result.at,
                &metadata,
            ],
        )
        .await?;
        let custom = Value::Object(verdict.custom.clone());
        let call_id: Option<Uuid> = tx
            .query_opt(
                "WITH v AS (
                     UPDATE conversations SET satisfaction_score = $2, sentiment = $3, outcome = $4,
                            subject = $5, ai_summary = $6, analysis = $7, updated_at = now()
                     WHERE id = $1 RETURNING id)
                 SELECT c.id FROM v LEFT JOIN calls c ON c.conversation_id = v.id",
                &[
                    &job.conversation_id,
                    &verdict.satisfaction_score,
                    &verdict.sentiment.map(|s| s.as_str()),
                    &verdict.outcome.as_str(),
                    &verdict.subject,
                    &verdict.summary,
                    &custom,
                ],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
        let latency_ms = result
            .latency
            .map(|l| l.as_millis().min(i32::MAX as u128) as i32);
        tx.execute(
            "INSERT INTO usage_daily AS u (org_id, day, analysis_runs, analysis_input_tokens,
                                           analysis_output_tokens)
             VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, 1, $3, $4)
             ON CONFLICT (org_id, day) DO UPDATE
             SET analysis_runs = u.analysis_runs + 1,
                 analysis_input_tokens = u.analysis_input_tokens + EXCLUDED.analysis_input_tokens,
                 analysis_output_tokens = u.analysis_output_tokens + EXCLUDED.analysis_output_tokens",
            &[
                &job.org_id,
                &result.at,
                &i64::from(result.input_tokens),
                &i64::from(result.output_tokens),
            ],
        )
        .await?;
        tx.execute(
            "UPDATE analysis_jobs SET state = 'done', locked_by = NULL, locked_until = NULL,
                    last_error = NULL, model = $2, latency_ms = $3, finished_at = now(),
                    updated_at = now()
             WHERE id = $1",
            &[&job.id, &result.model, &latency_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Completed {
            summary_message_id: message_id,
            call_id,
        }))
    }

    /// The job of a conversation of `org_id`.
    pub async fn analysis_job(
        &self,
        org_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Option<AnalysisJob>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM analysis_jobs WHERE conversation_id = $1 AND org_id = $2"
                ),
                &[&conversation_id, &org_id],
            )
            .await?;
        row.as_ref().map(job).transpose()
    }

    /// Queues the conversation's analysis again (due now, attempts from zero).
    pub async fn rerun_analysis(
        &self,
        org_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Result<AnalysisJob, RerunRefused>, StoreError> {
        let client = self.pool.get().await?;
        let active: bool = client
            .query_one(
                "SELECT status = 'active' FROM conversations WHERE id = $1 AND org_id = $2",
                &[&conversation_id, &org_id],
            )
            .await?
            .try_get(0)?;
        if active {
            return Ok(Err(RerunRefused::Active));
        }
        let row = client
            .query_opt(
                &format!(
                    "INSERT INTO analysis_jobs (id, org_id, conversation_id, reason)
                     VALUES ($1, $2, $3, 'rerun')
                     ON CONFLICT (conversation_id) DO UPDATE
                     SET state = 'queued', reason = 'rerun', attempts = 0, run_after = now(),
                         last_error = NULL, locked_by = NULL, locked_until = NULL,
                         finished_at = NULL, updated_at = now()
                     WHERE analysis_jobs.state <> 'running'
                     RETURNING {JOB_COLUMNS}"
                ),
                &[&Uuid::now_v7(), &org_id, &conversation_id],
            )
            .await?;
        match row {
            Some(row) => Ok(Ok(job(&row)?)),
            None => Ok(Err(RerunRefused::Running)),
        }
    }

    /// Queues every conversation that ended since `since` and was never analysed (no job, or a
    /// failed one); returns how many were queued.
    pub async fn backfill_analysis(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "INSERT INTO analysis_jobs (id, org_id, conversation_id, reason)
                 SELECT gen_random_uuid(), org_id, id, 'backfill' FROM conversations
                 WHERE status <> 'active' AND coalesce(completed_at, last_activity_at) >= $1
                 ON CONFLICT (conversation_id) DO UPDATE
                 SET state = 'queued', reason = 'backfill', attempts = 0, run_after = now(),
                     last_error = NULL, finished_at = NULL, updated_at = now()
                 WHERE analysis_jobs.state = 'failed'",
                &[&since],
            )
            .await?)
    }

    /// The organization's analysis fields, by name.
    pub async fn analysis_fields(&self, org_id: Uuid) -> Result<Vec<AnalysisField>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT name, field_type, description, options FROM analysis_fields
                 WHERE org_id = $1 ORDER BY name",
                &[&org_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let kind: &str = r.try_get(1)?;
                Ok(AnalysisField {
                    name: r.try_get(0)?,
                    field_type: FieldType::parse(kind)
                        .ok_or_else(|| StoreError::Decode(format!("field type `{kind}`")))?,
                    description: r.try_get(2)?,
                    options: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Creates or replaces a field (validated by the caller). `false` when the organization
    /// already has [`MAX_FIELDS`] other fields.
    pub async fn put_analysis_field(
        &self,
        org_id: Uuid,
        field: &AnalysisField,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Serializes definitions of one organization so the count holds.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('analysis_fields'), hashtext($1::text))",
            &[&org_id.to_string()],
        )
        .await?;
        let others: i64 = tx
            .query_one(
                "SELECT count(*) FROM analysis_fields WHERE org_id = $1 AND name <> $2",
                &[&org_id, &field.name],
            )
            .await?
            .try_get(0)?;
        if others >= MAX_FIELDS as i64 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO analysis_fields (org_id, name, field_type, description, options)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id, name) DO UPDATE
             SET field_type = EXCLUDED.field_type, description = EXCLUDED.description,
                 options = EXCLUDED.options, updated_at = now()",
            &[
                &org_id,
                &field.name,
                &field.field_type.as_str(),
                &field.description,
                &field.options,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a field; `false` when there was none. Values already stored stay in the
    /// conversations' `analysis`.
    pub async fn delete_analysis_field(
        &self,
        org_id: Uuid,
        name: &str,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "DELETE FROM analysis_fields WHERE org_id = $1 AND name = $2",
                &[&org_id, &name],
            )
            .await?
            == 1)
    }
}
