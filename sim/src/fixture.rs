//! The history fixture: a realistic, reproducible call history written straight into PostgreSQL
//! with binary `COPY`, for the REST history benchmark (`benches/history.rs`) and for tests that
//! need more than a handful of rows.
//!
//! [`seed_history`] fills one organization with customers (E.164 phones, some frequent callers),
//! one voice conversation per call, calls spread over `days` with a business-hours profile, and
//! messages in time order within each call: `call_started` / `call_answered` / `call_ended` system
//! messages (`metadata.system_event_type`), alternating agent and caller transcripts with
//! `audio_start_time` / `audio_end_time` (seconds from the call's start; a transcript's timestamp
//! is the end of its audio) and `confidence_score`, occasional `barge_in`s (the agent's turn is cut
//! short), a few operator notes and one summary per completed call. Exactly one call, the "long
//! call", has `long_call_messages` transcripts. Every id is a version 7 UUID made from the row's
//! time with seeded random bits, so ids sort by time and the same spec gives the same rows.
//!
//! Rows are generated call by call from per-call random streams (see `plan`), in batches, and
//! several connections may write batches in parallel ([`seed_history_on`]); the tables are
//! vacuumed and analyzed at the end so that the first queries see planner statistics and
//! visibility maps as a long-running database would have them.

mod plan;
mod words;

use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use switchboard_actors::persistence::DEFAULT_ORG;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};
use uuid::Uuid;

pub use plan::COMPANY_NUMBER;
use plan::{CallRows, Plan, Speaker, at};
pub use words::{AGENTS, Rng, SEARCH_WORDS};

/// Calls generated and written per batch (one `COPY` per table per batch).
const BATCH_CALLS: usize = 1_000;
/// Calls recorded in [`FixtureReport::sample_calls`], spread evenly over the range.
const SAMPLE_CALLS: usize = 1_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureSpec {
    pub calls: usize,
    /// All messages, of every type; the total is exact.
    pub messages: usize,
    pub customers: usize,
    /// The calls are spread over this many days before `until`.
    pub days: u32,
    pub org_id: Uuid,
    /// Transcript messages of the one long call.
    pub long_call_messages: usize,
    pub seed: u64,
    /// The end of the time range (fixed, so the rows are reproducible).
    pub until: DateTime<Utc>,
}

impl FixtureSpec {
    /// The benchmark's history: 100,000 calls, 5,000,000 messages, 20,000 customers, 90 days.
    pub fn bench() -> FixtureSpec {
        FixtureSpec {
            calls: 100_000,
            messages: 5_000_000,
            customers: 20_000,
            days: 90,
            org_id: DEFAULT_ORG,
            long_call_messages: 1_000,
            seed: 0x5EED_CA11,
            until: Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap(),
        }
    }

    /// A small history for tests: 300 calls, 6,000 messages (the long call included).
    pub fn small() -> FixtureSpec {
        FixtureSpec {
            calls: 300,
            messages: 6_000,
            customers: 120,
            days: 7,
            ..FixtureSpec::bench()
        }
    }

    /// This spec with calls, messages and customers multiplied by `factor` (the long call and the
    /// time range unchanged).
    pub fn scaled(&self, factor: f64) -> FixtureSpec {
        let scale = |n: usize| ((n as f64 * factor).round() as usize).max(1);
        FixtureSpec {
            calls: scale(self.calls),
            messages: scale(self.messages),
            customers: scale(self.customers),
            ..self.clone()
        }
    }

    fn validate(&self) -> Result<(), FixtureError> {
        let bad = |what: &str| Err(FixtureError::Spec(what.to_owned()));
        if self.calls == 0 {
            return bad("calls must be at least 1");
        }
        if self.customers == 0 {
            return bad("customers must be at least 1");
        }
        if self.days == 0 {
            return bad("days must be at least 1");
        }
        if self.long_call_messages < 2 {
            return bad("long_call_messages must be at least 2");
        }
        if self.customers as u64 > 8_000_000_000 {
            return bad("customers must be at most 8,000,000,000 (ten-digit phone numbers)");
        }
        Ok(())
    }
}

/// A call of the fixture, for the benchmark's requests and for checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleCall {
    pub id: Uuid,
    pub call_sid: String,
    pub conversation_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub agent: Option<String>,
    pub status: String,
    pub started_at: DateTime<Utc>,
    /// All of its messages.
    pub messages: u32,
}

/// What was written, and how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureReport {
    pub spec: FixtureSpec,
    pub customers: u64,
    pub conversations: u64,
    pub calls: u64,
    pub messages: u64,
    /// The call with `spec.long_call_messages` transcripts.
    pub long_call: SampleCall,
    /// About a thousand calls spread evenly over the range, in start order.
    pub sample_calls: Vec<SampleCall>,
    pub first_call_at: DateTime<Utc>,
    pub last_call_at: DateTime<Utc>,
    /// Time spent in `COPY`.
    pub load_seconds: f64,
    /// Everything: generation, `COPY`, `VACUUM (ANALYZE)`.
    pub seconds: f64,
    /// All rows over `seconds`.
    pub rows_per_second: f64,
}

impl FixtureReport {
    pub fn rows(&self) -> u64 {
        self.customers + self.conversations + self.calls + self.messages
    }
}

/// The fixture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("bad fixture spec: {0}")]
    Spec(String),
    #[error("organization {0} already has calls; the fixture seeds an empty organization")]
    NotEmpty(Uuid),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("COPY into {table} confirmed {written} of {expected} rows")]
    Incomplete {
        table: &'static str,
        expected: u64,
        written: u64,
    },
}

/// Seeds `spec` on one connection. See the module documentation.
pub async fn seed_history(
    client: &Client,
    spec: &FixtureSpec,
) -> Result<FixtureReport, FixtureError> {
    seed_history_on(&[client], spec).await
}

/// Seeds `spec`, writing call batches on all of `clients` in parallel (the first also writes
/// the customers and runs the final `VACUUM (ANALYZE)`). The rows do not depend on how many
/// clients there are.
pub async fn seed_history_on(
    clients: &[&Client],
    spec: &FixtureSpec,
) -> Result<FixtureReport, FixtureError> {
    let started = Instant::now();
    spec.validate()?;
    let first = *clients
        .first()
        .ok_or_else(|| FixtureError::Spec("no connection to write on".into()))?;
    let plan = plan::plan(spec)?;
    ensure_empty_org(first, spec.org_id).await?;

    let load_started = Instant::now();
    let customers = copy_customers(first, spec, &plan).await?;
    let stride = (spec.calls / SAMPLE_CALLS).max(1);
    let workers = clients.iter().enumerate().map(|(w, client)| {
        let plan = &plan;
        async move {
            let batches = (0..spec.calls.div_ceil(BATCH_CALLS))
                .skip(w)
                .step_by(clients.len())
                .map(|b| b * BATCH_CALLS..((b + 1) * BATCH_CALLS).min(spec.calls));
            write_calls(client, spec, plan, batches, stride).await
        }
    });
    let mut written = Written::default();
    for part in try_join_all(workers).await? {
        written.merge(part);
    }
    let load_seconds = load_started.elapsed().as_secs_f64();

    first
        .batch_execute("VACUUM (ANALYZE) customers, conversations, calls, messages")
        .await?;

    written.samples.sort_by_key(|s| s.started_at);
    let seconds = started.elapsed().as_secs_f64();
    let mut report = FixtureReport {
        spec: spec.clone(),
        customers,
        conversations: written.calls,
        calls: written.calls,
        messages: written.messages,
        long_call: written.long_call.expect("the long call is in some batch"),
        sample_calls: written.samples,
        first_call_at: at(plan.calls[0].started_ms),
        last_call_at: at(plan.calls[spec.calls - 1].started_ms),
        load_seconds,
        seconds,
        rows_per_second: 0.0,
    };
    report.rows_per_second = report.rows() as f64 / seconds;
    Ok(report)
}

async fn ensure_empty_org(client: &Client, org_id: Uuid) -> Result<(), FixtureError> {
    client
        .execute(
            "INSERT INTO organizations (id, name, slug) VALUES ($1, 'Fixture organization', $2)
             ON CONFLICT (id) DO NOTHING",
            &[&org_id, &format!("fixture-{}", org_id.simple())],
        )
        .await?;
    let busy = client
        .query_opt("SELECT 1 FROM calls WHERE org_id = $1 LIMIT 1", &[&org_id])
        .await?
        .is_some();
    if busy {
        return Err(FixtureError::NotEmpty(org_id));
    }
    Ok(())
}

/// What one writer wrote.
#[derive(Default)]
struct Written {
    calls: u64,
    messages: u64,
    long_call: Option<SampleCall>,
    samples: Vec<SampleCall>,
}

impl Written {
    fn merge(&mut self, other: Written) {
        self.calls += other.calls;
        self.messages += other.messages;
        self.long_call = self.long_call.take().or(other.long_call);
        self.samples.extend(other.samples);
    }
}

async fn write_calls(
    client: &Client,
    spec: &FixtureSpec,
    plan: &Plan,
    batches: impl Iterator<Item = std::ops::Range<usize>>,
    stride: usize,
) -> Result<Written, FixtureError> {
    let mut written = Written::default();
    let mut rows: Vec<CallRows> = (0..BATCH_CALLS).map(|_| CallRows::default()).collect();
    for batch in batches {
        let rows = &mut rows[..batch.len()];
        for (index, out) in batch.clone().zip(rows.iter_mut()) {
            plan::build_call(spec, plan, index, out);
            if index % stride == 0 || index == plan.long_call {
                let sample = sample(plan, index, out);
                if index == plan.long_call {
                    written.long_call = Some(sample.clone());
                }
                if index % stride == 0 {
                    written.samples.push(sample);
                }
            }
        }
        copy_conversations(client, spec, plan, rows).await?;
        copy_calls(client, spec, rows).await?;
        written.messages += copy_messages(client, spec, plan, rows).await?;
        written.calls += rows.len() as u64;
    }
    Ok(written)
}

fn sample(plan: &Plan, index: usize, rows: &CallRows) -> SampleCall {
    let call = rows.call();
    SampleCall {
        id: call.id,
        call_sid: call.call_sid.clone(),
        conversation_id: call.conversation_id,
        customer_id: call.customer.map(|c| plan.customers[c as usize].id),
        agent: call.agent.map(str::to_owned),
        status: call.status.as_str().to_owned(),
        started_at: at(call.started_ms),
        messages: plan.calls[index].messages,
    }
}

/// Runs `COPY table (columns) FROM STDIN (FORMAT binary)` with the rows `write` produces.
macro_rules! copy_in {
    ($client:expr, $table:literal, $columns:literal, $types:expr, $expected:expr, |$writer:ident| $body:block) => {{
        let sink = $client
            .copy_in(concat!("COPY ", $table, " (", $columns, ") FROM STDIN (FORMAT binary)"))
            .await?;
        let $writer = BinaryCopyInWriter::new(sink, $types);
        let mut $writer = std::pin::pin!($writer);
        $body
        let written = $writer.finish().await?;
        let expected = $expected as u64;
        if written != expected {
            return Err(FixtureError::Incomplete {
                table: $table,
                expected,
                written,
            });
        }
        written
    }};
}

async fn copy_customers(
    client: &Client,
    spec: &FixtureSpec,
    plan: &Plan,
) -> Result<u64, FixtureError> {
    let types = [
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    Ok(copy_in!(
        client,
        "customers",
        "id, org_id, name, phone, email, created_at, updated_at",
        &types,
        plan.customers.len(),
        |writer| {
            for c in &plan.customers {
                let created = at(c.created_ms);
                writer
                    .as_mut()
                    .write(&[
                        &c.id,
                        &spec.org_id,
                        &c.name,
                        &c.phone,
                        &c.email,
                        &created,
                        &created,
                    ])
                    .await?;
            }
        }
    ))
}

async fn copy_conversations(
    client: &Client,
    spec: &FixtureSpec,
    plan: &Plan,
    rows: &[CallRows],
) -> Result<u64, FixtureError> {
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::INT2,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    Ok(copy_in!(
        client,
        "conversations",
        "id, org_id, customer_id, channel, status, initiated_at, last_activity_at, completed_at, \
         satisfaction_score, sentiment, outcome, subject, ai_summary, created_at, updated_at",
        &types,
        rows.len(),
        |writer| {
            for r in rows {
                let c = r.call();
                let customer_id = c.customer.map(|i| plan.customers[i as usize].id);
                let started = at(c.started_ms);
                let last = at(c.last_activity_ms);
                let completed = c.completed_ms.map(at);
                writer
                    .as_mut()
                    .write(&[
                        &c.conversation_id,
                        &spec.org_id,
                        &customer_id,
                        &"voice",
                        &c.conversation_status.as_str(),
                        &started,
                        &last,
                        &completed,
                        &c.satisfaction,
                        &c.sentiment.map(|s| s.as_str()),
                        &c.outcome.map(|o| o.as_str()),
                        &c.subject,
                        &c.summary,
                        &started,
                        &last,
                    ])
                    .await?;
            }
        }
    ))
}

async fn copy_calls(
    client: &Client,
    spec: &FixtureSpec,
    rows: &[CallRows],
) -> Result<u64, FixtureError> {
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::INT4,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    let account_sid = format!("AC{:016x}{:016x}", spec.seed, !spec.seed);
    Ok(copy_in!(
        client,
        "calls",
        "id, org_id, conversation_id, call_sid, stream_sid, account_sid, from_number, to_number, \
         direction, status, started_at, answered_at, ended_at, duration_seconds, agent, node, \
         created_at, updated_at",
        &types,
        rows.len(),
        |writer| {
            for r in rows {
                let c = r.call();
                let started = at(c.started_ms);
                let answered = c.answered_ms.map(at);
                let ended = c.ended_ms.map(at);
                let updated = at(c.last_activity_ms);
                writer
                    .as_mut()
                    .write(&[
                        &c.id,
                        &spec.org_id,
                        &c.conversation_id,
                        &c.call_sid,
                        &c.stream_sid,
                        &account_sid,
                        &c.from_number,
                        &c.to_number,
                        &if c.inbound { "inbound" } else { "outbound" },
                        &c.status.as_str(),
                        &started,
                        &answered,
                        &ended,
                        &c.duration_seconds,
                        &c.agent,
                        &"node-1",
                        &started,
                        &updated,
                    ])
                    .await?;
            }
        }
    ))
}

/// The `sender` JSON of a message.
#[derive(Debug, Serialize)]
struct SenderJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    identifier: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
}

async fn copy_messages(
    client: &Client,
    spec: &FixtureSpec,
    plan: &Plan,
    rows: &[CallRows],
) -> Result<u64, FixtureError> {
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::JSONB,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::JSONB,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    let expected: usize = rows.iter().map(|r| r.messages.len()).sum();
    Ok(copy_in!(
        client,
        "messages",
        "id, org_id, conversation_id, message_type, direction, sender, content, \"timestamp\", \
         metadata, created_at, updated_at",
        &types,
        expected,
        |writer| {
            for r in rows {
                let c = r.call();
                let caller = if c.inbound {
                    &c.from_number
                } else {
                    &c.to_number
                };
                let customer_name = c.customer.map(|i| plan.customers[i as usize].name.as_str());
                for m in &r.messages {
                    let sender = match m.speaker {
                        Speaker::Customer => SenderJson {
                            kind: "customer",
                            identifier: caller,
                            name: customer_name,
                            phone_number: Some(caller),
                        },
                        Speaker::Ai => SenderJson {
                            kind: "ai",
                            identifier: "ai",
                            name: c.agent,
                            phone_number: None,
                        },
                        Speaker::System => SenderJson {
                            kind: "system",
                            identifier: "system",
                            name: None,
                            phone_number: None,
                        },
                        Speaker::Operator(i) => SenderJson {
                            kind: "operator",
                            identifier: OPERATOR_IDS[i as usize % OPERATOR_IDS.len()],
                            name: Some(words::OPERATORS[i as usize]),
                            phone_number: None,
                        },
                    };
                    let timestamp = at(m.at_ms);
                    let params: [&(dyn ToSql + Sync); 11] = [
                        &m.id,
                        &spec.org_id,
                        &c.conversation_id,
                        &m.message_type.as_str(),
                        &m.direction.as_str(),
                        &Json(&sender),
                        &m.content,
                        &timestamp,
                        &Json(&m.metadata),
                        &timestamp,
                        &timestamp,
                    ];
                    writer.as_mut().write(&params).await?;
                }
            }
        }
    ))
}

const OPERATOR_IDS: &[&str] = &["op-101", "op-102", "op-103"];
