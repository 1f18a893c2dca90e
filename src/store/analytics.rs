//! Organization-wide call analytics: two index-only range scans sent together — the period's
//! calls grouped by bucket, status and direction, and its voice conversations grouped by
//! sentiment (a voice conversation is created with its call, at the same instant) — folded into
//! totals, breakdowns and a gap-free time series in Rust.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::history::analytics::{Analytics, Interval, SeriesPoint, Totals};

const GROUPS: &str = "
SELECT date_trunc($4, started_at, 'UTC') AS bucket, status, direction, count(*),
       coalesce(sum(duration_seconds), 0)::bigint, count(duration_seconds)
FROM calls
WHERE org_id = $1 AND started_at >= $2 AND started_at < $3
GROUP BY 1, 2, 3";

const SENTIMENTS: &str = "
SELECT coalesce(sentiment, 'unscored'), count(*)
FROM conversations
WHERE org_id = $1 AND channel = 'voice' AND initiated_at >= $2 AND initiated_at < $3
GROUP BY 1";

/// One group of the scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub bucket: DateTime<Utc>,
    pub status: String,
    pub direction: String,
    pub calls: i64,
    pub duration_sum: i64,
    pub durations: i64,
}

impl Store {
    /// The organization's calls started in `[start, end)`.
    pub async fn analytics(
        &self,
        org_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        interval: Interval,
    ) -> Result<Analytics, StoreError> {
        let client = self.pool.get().await?;
        let interval_name = interval.as_str();
        let groups_params: super::history::P<'_, 4> = [&org_id, &start, &end, &interval_name];
        let sentiment_params: super::history::P<'_, 3> = [&org_id, &start, &end];
        let (rows, sentiments) = tokio::try_join!(
            client.query(GROUPS, &groups_params),
            client.query(SENTIMENTS, &sentiment_params),
        )?;
        let by_sentiment = sentiments
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<BTreeMap<String, i64>, StoreError>>()?;
        let groups = rows
            .iter()
            .map(|r| {
                Ok(Group {
                    bucket: r.try_get(0)?,
                    status: r.try_get(1)?,
                    direction: r.try_get(2)?,
                    calls: r.try_get(3)?,
                    duration_sum: r.try_get(4)?,
                    durations: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(fold(start, end, interval, &groups, by_sentiment))
    }
}

/// The start of the bucket holding `at` (weeks start on Monday, all in UTC), as PostgreSQL's
/// `date_trunc(interval, at, 'UTC')`.
pub fn bucket_start(at: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let day = at.duration_trunc(Duration::days(1)).unwrap_or(at);
    match interval {
        Interval::Hour => at.duration_trunc(Duration::hours(1)).unwrap_or(at),
        Interval::Day => day,
        Interval::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
    }
}

/// How many buckets `[start, end)` spans.
pub fn bucket_count(start: DateTime<Utc>, end: DateTime<Utc>, interval: Interval) -> i64 {
    if end <= start {
        return 0;
    }
    let first = bucket_start(start, interval);
    let last = bucket_start(end - Duration::microseconds(1), interval);
    (last - first).num_seconds() / interval.duration().num_seconds() + 1
}

/// Totals, breakdowns and the series (every bucket, empty ones too) from the scan's groups.
pub fn fold(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    interval: Interval,
    groups: &[Group],
    by_sentiment: BTreeMap<String, i64>,
) -> Analytics {
    let mut totals = Totals {
        calls: 0,
        completed: 0,
        failed: 0,
        total_duration_seconds: 0,
        average_duration_seconds: None,
    };
    let (mut by_status, mut by_direction) = (BTreeMap::new(), BTreeMap::new());
    // bucket → (calls, completed, duration sum, calls with a duration)
    let mut buckets: BTreeMap<DateTime<Utc>, (i64, i64, i64, i64)> = BTreeMap::new();
    let mut durations = 0;
    for g in groups {
        totals.calls += g.calls;
        match g.status.as_str() {
            "completed" => totals.completed += g.calls,
            "failed" | "busy" | "no-answer" | "canceled" => totals.failed += g.calls,
            _ => {}
        }
        totals.total_duration_seconds += g.duration_sum;
        durations += g.durations;
        *by_status.entry(g.status.clone()).or_insert(0) += g.calls;
        *by_direction.entry(g.direction.clone()).or_insert(0) += g.calls;
        let b = buckets.entry(g.bucket).or_default();
        b.0 += g.calls;
        if g.status == "completed" {
            b.1 += g.calls;
        }
        b.2 += g.duration_sum;
        b.3 += g.durations;
    }
    totals.average_duration_seconds = average(totals.total_duration_seconds, durations);
    let mut series = Vec::new();
    if end > start {
        let mut bucket = bucket_start(start, interval);
        while bucket < end {
            let (calls, completed, sum, n) = buckets.get(&bucket).copied().unwrap_or_default();
            series.push(SeriesPoint {
                bucket_start: bucket,
                calls,
                completed,
                average_duration_seconds: average(sum, n),
            });
            bucket += interval.duration(); // UTC: every bucket is exactly one interval long
        }
    }
    Analytics {
        start_date: start,
        end_date: end,
        interval,
        totals,
        by_status,
        by_direction,
        by_sentiment,
        series,
    }
}

fn average(sum: i64, n: i64) -> Option<f64> {
    (n > 0).then(|| (sum as f64 / n as f64 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_match_date_trunc_in_utc() {
        let t = at("2026-11-26T17:45:12Z"); // a Thursday
        assert_eq!(bucket_start(t, Interval::Hour), at("2026-11-26T17:00:00Z"));
        assert_eq!(bucket_start(t, Interval::Day), at("2026-11-26T00:00:00Z"));
        assert_eq!(bucket_start(t, Interval::Week), at("2026-11-23T00:00:00Z"));
        assert_eq!(
            bucket_count(
                at("2026-11-01T00:00:00Z"),
                at("2026-11-08T00:00:00Z"),
                Interval::Day
            ),
            7
        );
        assert_eq!(
            bucket_count(
                at("2026-11-01T00:30:00Z"),
                at("2026-11-01T02:00:01Z"),
                Interval::Hour
            ),
            3
        );
    }

    #[test]
    fn series_has_every_bucket_and_totals_add_up() {
        let g = |bucket: &str, status: &str, calls, sum, n| Group {
            bucket: at(bucket),
            status: status.into(),
            direction: "inbound".into(),
            calls,
            duration_sum: sum,
            durations: n,
        };
        let groups = [
            g("2026-11-01T00:00:00Z", "completed", 3, 300, 3),
            g("2026-11-01T00:00:00Z", "no-answer", 1, 0, 0),
            g("2026-11-03T00:00:00Z", "completed", 1, 60, 1),
        ];
        let a = fold(
            at("2026-11-01T00:00:00Z"),
            at("2026-11-04T00:00:00Z"),
            Interval::Day,
            &groups,
            BTreeMap::from([("unscored".to_owned(), 1)]),
        );
        assert_eq!(a.totals.calls, 5);
        assert_eq!(a.totals.completed, 4);
        assert_eq!(a.totals.failed, 1);
        assert_eq!(a.totals.total_duration_seconds, 360);
        assert_eq!(a.totals.average_duration_seconds, Some(90.0));
        assert_eq!(a.by_status["completed"], 4);
        assert_eq!(a.by_sentiment["unscored"], 1);
        assert_eq!(a.series.len(), 3);
        assert_eq!((a.series[0].calls, a.series[0].completed), (4, 3));
        assert_eq!(a.series[0].average_duration_seconds, Some(100.0));
        assert_eq!(
            (a.series[1].calls, a.series[1].average_duration_seconds),
            (0, None)
        );
        assert_eq!(a.series[2].calls, 1);
    }
}
