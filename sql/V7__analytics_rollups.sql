-- Version 7: hourly rollups for organization analytics.
--
-- `GET /api/v1/analytics` summarizes a period's calls. Scanning them costs in proportion to the
-- period (100,000 calls: about 15 ms of CPU per request, which saturates two cores at ~150
-- requests/s). These tables hold one row per organization, UTC hour and group instead, kept
-- exact by statement-level triggers, so a request reads the whole hours of its period here and
-- scans only the partial hours at its two ends in the base tables.
--
-- Each trigger nets the statement's changes first (new rows count +1, old rows -1), so updates
-- that leave the grouped columns alone (version, updated_at, last_activity_at) write nothing,
-- and it applies the rest in key order, so two writers never wait for each other's rollup rows
-- in opposite orders. A rollup row is locked from a writer's change to its commit: writers of
-- calls in the same hour, status and direction take turns on it at that point, which is far
-- above a call center's rate of status changes.
--
-- There is no foreign key to organizations: rows of a deleted organization are netted to zero
-- by the cascade, and the readers skip groups of zero calls.

CREATE TABLE call_stats_hourly (
    org_id          UUID NOT NULL,
    hour            TIMESTAMPTZ NOT NULL,
    status          TEXT NOT NULL,
    direction       TEXT NOT NULL,
    calls           BIGINT NOT NULL,
    duration_sum    BIGINT NOT NULL,
    durations       BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, status, direction)
);

-- Voice conversations by the hour they began and their sentiment ('unscored' until scored).
CREATE TABLE voice_sentiment_hourly (
    org_id          UUID NOT NULL,
    hour            TIMESTAMPTZ NOT NULL,
    sentiment       TEXT NOT NULL,
    conversations   BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, sentiment)
);

INSERT INTO call_stats_hourly
SELECT org_id, date_trunc('hour', started_at, 'UTC'), status, direction, count(*),
       coalesce(sum(duration_seconds), 0), count(duration_seconds)
FROM calls
GROUP BY 1, 2, 3, 4;

INSERT INTO voice_sentiment_hourly
SELECT org_id, date_trunc('hour', initiated_at, 'UTC'), coalesce(sentiment, 'unscored'), count(*)
FROM conversations
WHERE channel = 'voice'
GROUP BY 1, 2, 3;

-- A changed calls row as the rollup sees it: `sign` is +1 for a row as it is now, -1 for a row as
-- it was.
CREATE TYPE call_stats_change AS (
    org_id UUID, started_at TIMESTAMPTZ, status TEXT, direction TEXT, duration_seconds INTEGER,
    sign INTEGER
);

CREATE FUNCTION call_stats_apply(changes call_stats_change[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO call_stats_hourly AS s (org_id, hour, status, direction, calls, duration_sum, durations)
    SELECT org_id, date_trunc('hour', started_at, 'UTC'), status, direction, sum(sign),
           sum(sign * coalesce(duration_seconds, 0)::bigint)::bigint,
           sum(sign * (duration_seconds IS NOT NULL)::int)
    FROM unnest(changes)
    GROUP BY 1, 2, 3, 4
    HAVING sum(sign) <> 0
        OR sum(sign * coalesce(duration_seconds, 0)::bigint) <> 0
        OR sum(sign * (duration_seconds IS NOT NULL)::int) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (org_id, hour, status, direction) DO UPDATE
    SET calls = s.calls + EXCLUDED.calls,
        duration_sum = s.duration_sum + EXCLUDED.duration_sum,
        durations = s.durations + EXCLUDED.durations
$$;

-- Transition tables allow one event per trigger, so the three triggers share this function and
-- it reads the tables its event has.
CREATE FUNCTION calls_track_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM call_stats_apply(ARRAY(
            SELECT (org_id, started_at, status, direction, duration_seconds, 1)::call_stats_change
            FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM call_stats_apply(ARRAY(
            SELECT (org_id, started_at, status, direction, duration_seconds, -1)::call_stats_change
            FROM old_rows));
    ELSE
        PERFORM call_stats_apply(ARRAY(
            SELECT (org_id, started_at, status, direction, duration_seconds, 1)::call_stats_change
            FROM new_rows
            UNION ALL
            SELECT (org_id, started_at, status, direction, duration_seconds, -1)::call_stats_change
            FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_stats_insert AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION calls_track_stats();
CREATE TRIGGER calls_stats_update AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION calls_track_stats();
CREATE TRIGGER calls_stats_delete AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION calls_track_stats();

CREATE TYPE voice_sentiment_change AS (
    org_id UUID, channel TEXT, initiated_at TIMESTAMPTZ, sentiment TEXT, sign INTEGER
);

CREATE FUNCTION voice_sentiment_apply(changes voice_sentiment_change[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO voice_sentiment_hourly AS s (org_id, hour, sentiment, conversations)
    SELECT org_id, date_trunc('hour', initiated_at, 'UTC'), coalesce(sentiment, 'unscored'),
           sum(sign)
    FROM unnest(changes)
    WHERE channel = 'voice'
    GROUP BY 1, 2, 3
    HAVING sum(sign) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (org_id, hour, sentiment) DO UPDATE
    SET conversations = s.conversations + EXCLUDED.conversations
$$;

CREATE FUNCTION conversations_track_sentiment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM voice_sentiment_apply(ARRAY(
            SELECT (org_id, channel, initiated_at, sentiment, 1)::voice_sentiment_change
            FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM voice_sentiment_apply(ARRAY(
            SELECT (org_id, channel, initiated_at, sentiment, -1)::voice_sentiment_change
            FROM old_rows));
    ELSE
        PERFORM voice_sentiment_apply(ARRAY(
            SELECT (org_id, channel, initiated_at, sentiment, 1)::voice_sentiment_change
            FROM new_rows
            UNION ALL
            SELECT (org_id, channel, initiated_at, sentiment, -1)::voice_sentiment_change
            FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_sentiment_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_track_sentiment();
CREATE TRIGGER conversations_sentiment_update AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_track_sentiment();
CREATE TRIGGER conversations_sentiment_delete AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversations_track_sentiment();
