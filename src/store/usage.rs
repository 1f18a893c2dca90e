//! Usage metering in the store: the organizations' days (kept exact by the triggers of
//! `sql/V10__analysis_and_usage.sql` and the analysis transaction), read by period, and the
//! monthly cap of AI minutes that the voice webhook checks.

use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Store, StoreError};

/// What an organization used over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct UsageFigures {
    pub calls: i64,
    pub call_seconds: i64,
    pub ai_audio_in_seconds: f64,
    pub ai_audio_out_seconds: f64,
    /// Realtime tokens (from the sessions' `response.done` usage).
    pub ai_input_tokens: i64,
    pub ai_output_tokens: i64,
    pub analysis_runs: i64,
    pub analysis_input_tokens: i64,
    pub analysis_output_tokens: i64,
    pub sms: i64,
    pub emails: i64,
}

/// One bucket of a usage series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageBucket {
    /// The bucket's first day (UTC).
    pub start: NaiveDate,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

/// A bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageInterval {
    Day,
    Week,
    Month,
}

impl UsageInterval {
    pub fn parse(text: &str) -> Option<UsageInterval> {
        match text {
            "day" => Some(UsageInterval::Day),
            "week" => Some(UsageInterval::Week),
            "month" => Some(UsageInterval::Month),
            _ => None,
        }
    }

    fn trunc(self) -> &'static str {
        match self {
            UsageInterval::Day => "day",
            UsageInterval::Week => "week",
            UsageInterval::Month => "month",
        }
    }
}

/// An organization's AI minutes this month against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapState {
    /// Call seconds this calendar month (UTC).
    pub used_seconds: i64,
    /// Minutes; `None`: no cap.
    pub cap_minutes: Option<i32>,
}

impl CapState {
    pub fn reached(&self) -> bool {
        self.cap_minutes
            .is_some_and(|cap| self.used_seconds >= i64::from(cap) * 60)
    }
}

/// What the voice webhook needs to decide whether the AI takes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceAdmission {
    pub own_openai_key: bool,
    pub cap: CapState,
}

const FIGURES: &str = "coalesce(sum(calls), 0)::int8, coalesce(sum(call_seconds), 0)::int8, \
     coalesce(sum(ai_audio_in_ms), 0)::int8, coalesce(sum(ai_audio_out_ms), 0)::int8, \
     coalesce(sum(ai_input_tokens), 0)::int8, coalesce(sum(ai_output_tokens), 0)::int8, \
     coalesce(sum(analysis_runs), 0)::int8, coalesce(sum(analysis_input_tokens), 0)::int8, \
     coalesce(sum(analysis_output_tokens), 0)::int8, coalesce(sum(sms), 0)::int8, \
     coalesce(sum(emails), 0)::int8";

fn figures(row: &tokio_postgres::Row, at: usize) -> Result<UsageFigures, StoreError> {
    let ms = |i: usize| -> Result<f64, StoreError> {
        Ok(row.try_get::<_, i64>(at + i)? as f64 / 1000.0)
    };
    Ok(UsageFigures {
        calls: row.try_get(at)?,
        call_seconds: row.try_get(at + 1)?,
        ai_audio_in_seconds: ms(2)?,
        ai_audio_out_seconds: ms(3)?,
        ai_input_tokens: row.try_get(at + 4)?,
        ai_output_tokens: row.try_get(at + 5)?,
        analysis_runs: row.try_get(at + 6)?,
        analysis_input_tokens: row.try_get(at + 7)?,
        analysis_output_tokens: row.try_get(at + 8)?,
        sms: row.try_get(at + 9)?,
        emails: row.try_get(at + 10)?,
    })
}

impl Store {
    /// The organization's usage from `start` to `end` (inclusive days, UTC): totals and the
    /// series by `interval` (buckets with no usage are left out).
    pub async fn usage(
        &self,
        org_id: Uuid,
        start: NaiveDate,
        end: NaiveDate,
        interval: UsageInterval,
    ) -> Result<(UsageFigures, Vec<UsageBucket>), StoreError> {
        let client = self.pool.get().await?;
        let totals = client
            .query_one(
                &format!(
                    "SELECT {FIGURES} FROM usage_daily WHERE org_id = $1 AND day BETWEEN $2 AND $3"
                ),
                &[&org_id, &start, &end],
            )
            .await?;
        let rows = client
            .query(
                &format!(
                    "SELECT date_trunc($4, day::timestamp)::date, {FIGURES} FROM usage_daily
                     WHERE org_id = $1 AND day BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1"
                ),
                &[&org_id, &start, &end, &interval.trunc()],
            )
            .await?;
        let series = rows
            .iter()
            .map(|r| {
                Ok(UsageBucket {
                    start: r.try_get(0)?,
                    figures: figures(r, 1)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((figures(&totals, 0)?, series))
    }

    /// Every organization's usage to date (the Prometheus counters).
    pub async fn usage_by_org(&self) -> Result<Vec<(Uuid, UsageFigures)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT org_id, {FIGURES} FROM usage_daily GROUP BY org_id ORDER BY org_id"
                ),
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, figures(r, 1)?)))
            .collect()
    }

    /// Whether the organization has its own OpenAI key, and its AI minutes against its cap —
    /// one round trip for the voice webhook.
    pub async fn voice_admission(&self, org_id: Uuid) -> Result<VoiceAdmission, StoreError> {
        let client = self.pool.get().await?;
        let today = Utc::now().date_naive();
        let month_start = today.with_day(1).unwrap_or(today);
        let row = client
            .query_one(
                "SELECT
                     EXISTS (SELECT 1 FROM org_credentials
                             WHERE org_id = $1 AND openai_api_key IS NOT NULL),
                     (SELECT ai_minutes_monthly_cap FROM organization_limits WHERE org_id = $1),
                     (SELECT coalesce(sum(call_seconds), 0)::int8 FROM usage_daily
                      WHERE org_id = $1 AND day >= $2)",
                &[&org_id, &month_start],
            )
            .await?;
        Ok(VoiceAdmission {
            own_openai_key: row.try_get(0)?,
            cap: CapState {
                cap_minutes: row.try_get(1)?,
                used_seconds: row.try_get(2)?,
            },
        })
    }

    /// The organization's monthly cap of AI minutes (`None`: no cap).
    pub async fn usage_cap(&self, org_id: Uuid) -> Result<Option<i32>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT ai_minutes_monthly_cap FROM organization_limits WHERE org_id = $1",
                &[&org_id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten())
    }

    /// Sets (or with `None` lifts) the organization's monthly cap of AI minutes.
    pub async fn set_usage_cap(&self, org_id: Uuid, cap: Option<i32>) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO organization_limits (org_id, ai_minutes_monthly_cap) VALUES ($1, $2)
                 ON CONFLICT (org_id) DO UPDATE
                 SET ai_minutes_monthly_cap = EXCLUDED.ai_minutes_monthly_cap, updated_at = now()",
                &[&org_id, &cap],
            )
            .await?;
        Ok(())
    }
}

impl Store {
    /// Every organization's id.
    pub async fn organization_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT id FROM organizations ORDER BY id", &[])
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}
