//! The analysis workers of one engine: a dispatcher that claims due jobs (at most
//! `analysis.concurrency` at a time) and one task per job.
//!
//! A job waits until its conversation's rows are written ([`Settled`]), asks the REST breaker of
//! its key whether the provider may be called (an open breaker puts the job back, uncounted, for
//! when it may half-open), runs the model (none for a conversation without customer speech),
//! and writes the result in one transaction while it still holds the job. A failure is retried
//! with exponential backoff (a 429's `Retry-After` when longer) until `analysis.max_attempts`,
//! then the job is marked failed with the reason. Several engines on one database share the
//! queue: each job is claimed by one of them (`FOR UPDATE SKIP LOCKED`), and a job held by an
//! engine that died is taken again when its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use switchboard_actors::ai_health::{Admission, AiHealth, AiService, KeyScope};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::client::{self, ModelError, ModelSettings, Transport};
use super::schema::Verdict;
use super::transcript;
use crate::auth::seal::Sealer;
use crate::config::{Config, Secret};
use crate::events::{EventBus, EventKind, NewLiveEvent};
use crate::store::analysis::{AnalysisResult, ClaimedJob, Settled, summary_sender};
use crate::store::{Store, StoreError};

/// What a conversation with no customer speech gets instead of a model call.
pub const NO_CUSTOMER_SPEECH: &str =
    "Not analysed by the model: the customer said nothing in this conversation.";

/// How long a job waits before looking again whether its conversation has settled.
const SETTLE_POLL: Duration = Duration::from_secs(1);

/// What the workers use.
#[derive(Clone)]
pub struct WorkerDeps {
    pub store: Store,
    pub events: EventBus,
    pub health: Arc<AiHealth>,
    pub sealer: Sealer,
    /// The engine's key, for organizations without their own.
    pub engine_key: Secret,
    pub model: ModelSettings,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub poll: Duration,
    pub settle: Duration,
    /// This engine's name in `locked_by`.
    pub worker: String,
}

impl WorkerDeps {
    pub fn from_config(
        config: &Config,
        store: Store,
        events: EventBus,
        health: Arc<AiHealth>,
        sealer: Sealer,
    ) -> WorkerDeps {
        let a = &config.analysis;
        WorkerDeps {
            store,
            events,
            health,
            sealer,
            engine_key: config.ai.api_key.clone(),
            model: ModelSettings {
                api_base: config.ai.api_base.to_string(),
                model: a.model.clone(),
                system_prompt: a.prompt.clone(),
                timeout: Duration::from_secs(a.timeout_s),
            },
            concurrency: a.concurrency as usize,
            max_attempts: a.max_attempts,
            retry_base: Duration::from_secs(a.retry_base_s),
            retry_max: Duration::from_secs(a.retry_max_s),
            poll: Duration::from_millis(a.poll_ms),
            settle: Duration::from_secs(a.settle_s),
            worker: format!(
                "{}-{}-{}",
                std::process::id(),
                Utc::now().timestamp(),
                &Uuid::new_v4().simple().to_string()[..8]
            ),
        }
    }

    /// How long a claimed job is this engine's: a model call's timeout and room to write.
    fn lease(&self) -> Duration {
        self.model.timeout * 2 + Duration::from_secs(30)
    }

    /// The wait before attempt `attempt + 1` (exponential, capped, a little spread per job).
    fn backoff(&self, attempt: i32, job: Uuid) -> Duration {
        let doubled = self
            .retry_base
            .saturating_mul(1u32 << (attempt.clamp(1, 20) - 1) as u32);
        let spread = Duration::from_millis((job.as_u128() % 500) as u64);
        doubled.min(self.retry_max) + spread
    }
}

/// The running workers; [`AnalysisWorkers::stop`] ends them.
pub struct AnalysisWorkers {
    stop: watch::Sender<bool>,
    dispatcher: JoinHandle<()>,
}

impl AnalysisWorkers {
    pub fn start(deps: WorkerDeps) -> AnalysisWorkers {
        let (stop, stopped) = watch::channel(false);
        tracing::info!(worker = %deps.worker, concurrency = deps.concurrency, "analysis workers started");
        let dispatcher = tokio::spawn(dispatch(Arc::new(deps), stopped));
        AnalysisWorkers { stop, dispatcher }
    }

    /// Stops claiming, lets the jobs in flight finish for up to `grace` (the others are
    /// abandoned: their lease runs out and any engine takes them again).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut dispatcher = self.dispatcher;
        if tokio::time::timeout(grace, &mut dispatcher).await.is_err() {
            dispatcher.abort();
        }
    }
}

async fn dispatch(deps: Arc<WorkerDeps>, mut stopped: watch::Receiver<bool>) {
    let transport = Transport::new(deps.model.timeout);
    let mut running = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        let free = deps.concurrency.saturating_sub(running.len());
        let mut claimed = 0;
        if free > 0 {
            match deps
                .store
                .claim_analysis_jobs(&deps.worker, deps.lease(), free as i64)
                .await
            {
                Ok(jobs) => {
                    claimed = jobs.len();
                    for job in jobs {
                        running.spawn(run(Arc::clone(&deps), transport.clone(), job));
                    }
                }
                Err(err) => tracing::warn!(%err, "cannot claim analysis jobs"),
            }
        }
        // A full claim may have more due behind it: look again at once when slots are free.
        if claimed > 0 && claimed == free {
            tokio::select! {
                _ = running.join_next() => {}
                _ = stopped.changed() => {}
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(deps.poll) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stopped.changed() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

/// How one attempt ended.
enum Outcome {
    Done,
    /// Not yet (waiting for rows or for the breaker): back in the queue uncounted.
    Later(Duration),
    Failed(ModelError),
}

async fn run(deps: Arc<WorkerDeps>, transport: Transport, job: ClaimedJob) {
    let outcome = attempt(&deps, &transport, &job).await;
    let written = match outcome {
        Ok(Outcome::Done) => Ok(true),
        Ok(Outcome::Later(delay)) => {
            deps.store
                .requeue_analysis_job(job.id, &deps.worker, delay, None)
                .await
        }
        Ok(Outcome::Failed(err)) => {
            let reason = err.to_string();
            if err.is_retryable() && job.attempt < deps.max_attempts as i32 {
                let delay = deps
                    .backoff(job.attempt, job.id)
                    .max(err.retry_after().unwrap_or_default());
                tracing::info!(job = %job.id, attempt = job.attempt, %reason, ?delay, "analysis attempt failed; retrying");
                deps.store
                    .requeue_analysis_job(job.id, &deps.worker, delay, Some(&reason))
                    .await
            } else {
                tracing::warn!(job = %job.id, attempt = job.attempt, %reason, "analysis failed");
                deps.store
                    .fail_analysis_job(job.id, &deps.worker, &reason)
                    .await
            }
        }
        Err(err) => {
            // The database failed us: the job is retried once its lease runs out.
            tracing::warn!(job = %job.id, %err, "analysis job interrupted by a storage error");
            Ok(true)
        }
    };
    match written {
        Ok(true) => {}
        Ok(false) => tracing::warn!(job = %job.id, "analysis job was taken over (lease expired)"),
        Err(err) => tracing::warn!(job = %job.id, %err, "cannot record the analysis job's state"),
    }
}

async fn attempt(
    deps: &WorkerDeps,
    transport: &Transport,
    job: &ClaimedJob,
) -> Result<Outcome, StoreError> {
    match deps
        .store
        .analysis_settled(job.conversation_id, deps.settle)
        .await?
    {
        Settled::Yes => {}
        Settled::Waiting => return Ok(Outcome::Later(SETTLE_POLL)),
        // Deleted with its conversation (the job row cascades): nothing to do.
        Settled::Gone => return Ok(Outcome::Done),
    }
    let messages = deps
        .store
        .conversation_messages(job.conversation_id)
        .await?;
    let fields = deps.store.analysis_fields(job.org_id).await?;
    let rendered = transcript::render(&messages);
    if rendered.customer_lines == 0 {
        let verdict = Verdict::without_model(NO_CUSTOMER_SPEECH, &fields);
        finish(deps, job, AnalysisResult::without_model(&verdict)).await?;
        return Ok(Outcome::Done);
    }
    let (key, scope) = key_of(deps, job.org_id).await?;
    if let Admission::Refused { retry_in } = deps.health.admit(AiService::Rest, scope) {
        // Looked at again soon: the breaker may close on another job's probe before then.
        return Ok(Outcome::Later(
            retry_in.clamp(Duration::from_millis(200), Duration::from_secs(5)),
        ));
    }
    let user = transcript::user_message(&rendered);
    match client::analyse(transport, &deps.model, key.expose(), &user, &fields).await {
        Ok(answer) => {
            deps.health.success(AiService::Rest, scope, answer.latency);
            let result = AnalysisResult {
                verdict: &answer.verdict,
                model: Some(&answer.model),
                latency: Some(answer.latency),
                input_tokens: answer.input_tokens,
                output_tokens: answer.output_tokens,
                at: Utc::now(),
            };
            finish(deps, job, result).await?;
            Ok(Outcome::Done)
        }
        Err(err) => {
            if err.is_provider_failure() {
                deps.health
                    .failure(AiService::Rest, scope, &err.to_string());
            } else {
                // The provider answered: it is up, whatever the answer was worth.
                deps.health.success(AiService::Rest, scope, Duration::ZERO);
            }
            Ok(Outcome::Failed(err))
        }
    }
}

/// The organization's own key, else the engine's.
async fn key_of(deps: &WorkerDeps, org_id: Uuid) -> Result<(Secret, KeyScope), StoreError> {
    let credentials = deps.store.credentials(org_id).await?;
    if let Some(sealed) = credentials.openai_api_key {
        match deps.sealer.open(org_id, "openai_api_key", &sealed) {
            Ok(key) => return Ok((Secret::new(key), KeyScope::Org(org_id))),
            Err(err) => {
                tracing::error!(%org_id, %err, "the organization's OpenAI key does not open; using the engine's")
            }
        }
    }
    Ok((deps.engine_key.clone(), KeyScope::Engine))
}

/// Writes `result` (if this engine still holds the job) and publishes it.
async fn finish(
    deps: &WorkerDeps,
    job: &ClaimedJob,
    result: AnalysisResult<'_>,
) -> Result<(), StoreError> {
    let AnalysisResult {
        verdict,
        model,
        latency,
        at,
        ..
    } = result;
    let Some(done) = deps
        .store
        .complete_analysis(job, &deps.worker, &result)
        .await?
    else {
        tracing::warn!(job = %job.id, "analysis result dropped: the job was taken over");
        return Ok(());
    };
    let analysis = json!({
        "job_id": job.id,
        "summary_message_id": done.summary_message_id,
        "summary": verdict.summary,
        "subject": verdict.subject,
        "sentiment": verdict.sentiment.map(|s| s.as_str()),
        "satisfaction_score": verdict.satisfaction_score,
        "outcome": verdict.outcome.as_str(),
        "custom": verdict.custom,
        "model": model,
        "skipped": verdict.skipped,
        "latency_ms": latency.map(|l| l.as_millis() as u64),
    });
    let summary = json!({
        "id": done.summary_message_id,
        "conversation_id": job.conversation_id,
        "message_type": "summary",
        "direction": "internal",
        "sender": summary_sender(),
        "content": verdict.summary,
        "timestamp": at,
        "metadata": {"automated": true},
    });
    deps.events.publish_all(vec![
        NewLiveEvent::new(EventKind::MessageCreated, job.org_id, summary)
            .conversation(job.conversation_id)
            .call(done.call_id)
            .at(at),
        NewLiveEvent::new(EventKind::ConversationAnalyzed, job.org_id, analysis)
            .conversation(job.conversation_id)
            .call(done.call_id)
            .at(at),
    ]);
    tracing::info!(job = %job.id, conversation = %job.conversation_id, model = ?model, "conversation analysed");
    Ok(())
}
