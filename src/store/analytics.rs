//! Organization-wide call analytics from the hourly rollups (V7) and the base tables: the
//! period's whole UTC hours are read from `call_stats_hourly` and `voice_sentiment_hourly`, its
//! partial hours at either end are counted in `calls` and `conversations` (index-only range
//! scans over at most two hours), and the groups are folded into totals, breakdowns and a
//! gap-free time series in Rust. The answer is exact: the rollups are kept in step by triggers.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::history::analytics::{Analytics, Interval, SeriesPoint, Totals};

/// `$1` org, `$2` bucket interval, `$3`/`$4` the whole hours `[from, to)` read from the rollup,
/// `$5`/`$6` the partial ranges' starts and ends scanned in `calls`.
const GROUPS: &str = "
SELECT date_trunc($2, hour, 'UTC'), status, direction, sum(calls)::bigint,
       sum(duration_sum)::bigint, sum(durations)::bigint
FROM call_stats_hourly
WHERE org_id = $1 AND hour >= $3 AND hour < $4
GROUP BY 1, 2, 3
HAVING sum(calls) <> 0
UNION ALL
SELECT date_trunc($2, c.started_at, 'UTC'), c.status, c.direction, count(*),
       coalesce(sum(c.duration_seconds), 0)::bigint, count(c.duration_seconds)
FROM unnest($5::timestamptz[], $6::timestamptz[]) AS r(lo, hi)
CROSS JOIN LATERAL (
    SELECT started_at, status, direction, duration_seconds FROM calls
    WHERE org_id = $1 AND started_at >= r.lo AND started_at < r.hi
) AS c
GROUP BY 1, 2, 3";

/// `$1` org, `$2`/`$3` the whole hours read from the rollup, `$4`/`$5` the partial ranges.
const SENTIMENTS: &str = "
SELECT sentiment, sum(n)::bigint FROM (
    SELECT sentiment, conversations AS n
    FROM voice_sentiment_hourly
    WHERE org_id = $1 AND hour >= $2 AND hour < $3
    UNION ALL
    SELECT coalesce(c.sentiment, 'unscored'), 1
    FROM unnest($4::timestamptz[], $5::timestamptz[]) AS r(lo, hi)
    CROSS JOIN LATERAL (
        SELECT sentiment FROM conversations
        WHERE org_id = $1 AND channel = 'voice' AND initiated_at >= r.lo AND initiated_at < r.hi
    ) AS c
) AS s
GROUP BY 1
HAVING sum(n) <> 0";

/// How a period `[start, end)` is read: the whole hours `rollup` from the rollups, the partial
/// `edges` (at most an hour each) from the base tables. A period inside one hour is all edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub rollup: (DateTime<Utc>, DateTime<Utc>),
    pub edges: [(DateTime<Utc>, DateTime<Utc>); 2],
}

impl Split {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Split {
        let floor = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap_or(t);
        let first_whole = {
            let f = floor(start);
            if f == start {
                f
            } else {
                f + Duration::hours(1)
            }
        };
        let last_whole = floor(end);
        if end <= start || first_whole >= last_whole {
            return Split {
                rollup: (end, end),
                edges: [(start, end), (end, end)],
            };
        }
        Split {
            rollup: (first_whole, last_whole),
            edges: [(start, first_whole), (last_whole, end)],
        }
    }
}

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
    /// The organization's calls started in `[start, end)`, and its voice conversations begun
    /// then by sentiment.
    pub async fn analytics(
        &self,
        org_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        interval: Interval,
    ) -> Result<Analytics, StoreError> {
        let client = self.pool.get().await?;
        let interval_name = interval.as_str();
        let split = Split::new(start, end);
        let (from, to) = split.rollup;
        let los = split.edges.map(|e| e.0);
        let his = split.edges.map(|e| e.1);
        let (los, his) = (&los[..], &his[..]);
        let groups_params: super::history::P<'_, 6> =
            [&org_id, &interval_name, &from, &to, &los, &his];
        let sentiment_params: super::history::P<'_, 5> = [&org_id, &from, &to, &los, &his];
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
    fn a_period_splits_into_whole_hours_and_two_partial_ends() {
        let s = Split::new(at("2026-11-01T00:30:00Z"), at("2026-11-01T05:10:00Z"));
        assert_eq!(
            s.rollup,
            (at("2026-11-01T01:00:00Z"), at("2026-11-01T05:00:00Z"))
        );
        assert_eq!(
            s.edges,
            [
                (at("2026-11-01T00:30:00Z"), at("2026-11-01T01:00:00Z")),
                (at("2026-11-01T05:00:00Z"), at("2026-11-01T05:10:00Z")),
            ]
        );
        // Aligned ends leave empty edges.
        let s = Split::new(at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"));
        assert_eq!(
            s.rollup,
            (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"))
        );
        assert!(s.edges.iter().all(|(lo, hi)| lo == hi));
        // Inside one hour, or across one boundary without a whole hour: all edge.
        for (a, b) in [
            ("2026-11-01T00:10:00Z", "2026-11-01T00:50:00Z"),
            ("2026-11-01T00:10:00Z", "2026-11-01T01:50:00Z"),
        ] {
            let s = Split::new(at(a), at(b));
            assert_eq!(s.rollup.0, s.rollup.1);
            assert_eq!(s.edges[0], (at(a), at(b)));
        }
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
