-- Version 10: post-call analysis jobs, organizations' own analysis fields, and usage metering.
--
-- Analysis. A conversation that leaves `active` (its call ended; later an SMS or email thread
-- closes) gets one job, queued by a trigger in the same transaction as the status change, so no
-- completion is ever missed whichever path wrote it (the call's persistence batch or Twilio's
-- status callback). Workers of any number of engines claim due jobs with FOR UPDATE SKIP LOCKED
-- and hold them under a lease: a job whose engine died is taken again once its lease runs out.
-- A job's result is committed only by the worker that still holds it (state and lease checked in
-- the same transaction), so a job is never applied twice.

CREATE TABLE analysis_jobs (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id     UUID NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    state               TEXT NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'done', 'failed')),
    -- What queued it: the conversation's completion, a re-run over REST, or a backfill.
    reason              TEXT NOT NULL CHECK (reason IN ('completed', 'rerun', 'backfill')),
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_after           TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by           TEXT,
    locked_until        TIMESTAMPTZ,
    last_error          TEXT,
    -- How the last run ended: the model used (null when no model call was needed), its latency.
    model               TEXT,
    latency_ms          INTEGER,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ,
    CHECK (state <> 'running' OR (locked_by IS NOT NULL AND locked_until IS NOT NULL))
);
CREATE INDEX analysis_jobs_due ON analysis_jobs (run_after) WHERE state = 'queued';
CREATE INDEX analysis_jobs_leased ON analysis_jobs (locked_until) WHERE state = 'running';
CREATE INDEX analysis_jobs_org_state ON analysis_jobs (org_id, state);

CREATE FUNCTION conversations_queue_analysis() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analysis_jobs (id, org_id, conversation_id, reason)
    VALUES (gen_random_uuid(), NEW.org_id, NEW.id, 'completed')
    ON CONFLICT (conversation_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversations_queue_analysis AFTER UPDATE OF status ON conversations
    FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status <> 'active')
    EXECUTE FUNCTION conversations_queue_analysis();

-- An organization's own analysis fields, added to the schema the model answers and stored in
-- `conversations.analysis` under their names.
CREATE TABLE analysis_fields (
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    field_type      TEXT NOT NULL CHECK (field_type IN ('text', 'number', 'boolean', 'one_of')),
    description     TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    options         TEXT[] NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name),
    CHECK ((field_type = 'one_of') = (cardinality(options) > 0))
);

ALTER TABLE conversations
    ADD COLUMN analysis JSONB CHECK (analysis IS NULL OR jsonb_typeof(analysis) = 'object');
CREATE INDEX conversations_analysis ON conversations USING gin (analysis jsonb_path_ops)
    WHERE analysis IS NOT NULL;

-- Usage. What the AI did on a call is kept on the call (cumulative, written with the call's
-- updates); a row trigger adds each increase, and each call and its duration once, to the
-- organization's day (UTC, the day the call started). The persistence path writes calls by
-- version, so a batch written again changes nothing and adds nothing: the figures stay exact.
ALTER TABLE calls
    ADD COLUMN ai_audio_in_ms   BIGINT NOT NULL DEFAULT 0 CHECK (ai_audio_in_ms >= 0),
    ADD COLUMN ai_audio_out_ms  BIGINT NOT NULL DEFAULT 0 CHECK (ai_audio_out_ms >= 0),
    ADD COLUMN ai_input_tokens  BIGINT NOT NULL DEFAULT 0 CHECK (ai_input_tokens >= 0),
    ADD COLUMN ai_output_tokens BIGINT NOT NULL DEFAULT 0 CHECK (ai_output_tokens >= 0);

CREATE TABLE usage_daily (
    org_id                  UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day                     DATE NOT NULL,
    calls                   BIGINT NOT NULL DEFAULT 0,
    call_seconds            BIGINT NOT NULL DEFAULT 0,
    ai_audio_in_ms          BIGINT NOT NULL DEFAULT 0,
    ai_audio_out_ms         BIGINT NOT NULL DEFAULT 0,
    ai_input_tokens         BIGINT NOT NULL DEFAULT 0,
    ai_output_tokens        BIGINT NOT NULL DEFAULT 0,
    analysis_runs           BIGINT NOT NULL DEFAULT 0,
    analysis_input_tokens   BIGINT NOT NULL DEFAULT 0,
    analysis_output_tokens  BIGINT NOT NULL DEFAULT 0,
    sms                     BIGINT NOT NULL DEFAULT 0,
    emails                  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day)
);

INSERT INTO usage_daily (org_id, day, calls, call_seconds)
SELECT org_id, (started_at AT TIME ZONE 'UTC')::date, count(*),
       coalesce(sum(duration_seconds), 0)
FROM calls
GROUP BY 1, 2;

-- Statement-level, like the analytics rollups: each statement's increases are summed per
-- organization and day and applied in key order, so two writers never wait for each other's
-- usage rows in opposite orders.
CREATE FUNCTION usage_apply(rows_in JSONB) RETURNS void LANGUAGE sql AS $$
    INSERT INTO usage_daily AS u (org_id, day, calls, call_seconds, ai_audio_in_ms, ai_audio_out_ms,
                                  ai_input_tokens, ai_output_tokens)
    SELECT org_id, day, sum(calls), sum(call_seconds), sum(ai_audio_in_ms), sum(ai_audio_out_ms),
           sum(ai_input_tokens), sum(ai_output_tokens)
    FROM jsonb_to_recordset(rows_in) AS r(org_id UUID, day DATE, calls BIGINT, call_seconds BIGINT,
                                         ai_audio_in_ms BIGINT, ai_audio_out_ms BIGINT,
                                         ai_input_tokens BIGINT, ai_output_tokens BIGINT)
    GROUP BY 1, 2
    HAVING sum(calls) + sum(call_seconds) + sum(ai_audio_in_ms) + sum(ai_audio_out_ms)
           + sum(ai_input_tokens) + sum(ai_output_tokens) > 0
    ORDER BY 1, 2
    ON CONFLICT (org_id, day) DO UPDATE
    SET calls = u.calls + EXCLUDED.calls,
        call_seconds = u.call_seconds + EXCLUDED.call_seconds,
        ai_audio_in_ms = u.ai_audio_in_ms + EXCLUDED.ai_audio_in_ms,
        ai_audio_out_ms = u.ai_audio_out_ms + EXCLUDED.ai_audio_out_ms,
        ai_input_tokens = u.ai_input_tokens + EXCLUDED.ai_input_tokens,
        ai_output_tokens = u.ai_output_tokens + EXCLUDED.ai_output_tokens
$$;

CREATE FUNCTION calls_meter_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM usage_apply((
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'org_id', org_id, 'day', (started_at AT TIME ZONE 'UTC')::date, 'calls', 1,
                'call_seconds', coalesce(duration_seconds, 0),
                'ai_audio_in_ms', ai_audio_in_ms, 'ai_audio_out_ms', ai_audio_out_ms,
                'ai_input_tokens', ai_input_tokens, 'ai_output_tokens', ai_output_tokens)), '[]')
            FROM new_rows));
    ELSE
        PERFORM usage_apply((
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'org_id', n.org_id, 'day', (n.started_at AT TIME ZONE 'UTC')::date, 'calls', 0,
                'call_seconds',
                    greatest(coalesce(n.duration_seconds, 0) - coalesce(o.duration_seconds, 0), 0),
                'ai_audio_in_ms', greatest(n.ai_audio_in_ms - o.ai_audio_in_ms, 0),
                'ai_audio_out_ms', greatest(n.ai_audio_out_ms - o.ai_audio_out_ms, 0),
                'ai_input_tokens', greatest(n.ai_input_tokens - o.ai_input_tokens, 0),
                'ai_output_tokens', greatest(n.ai_output_tokens - o.ai_output_tokens, 0))), '[]')
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE coalesce(n.duration_seconds, 0) > coalesce(o.duration_seconds, 0)
               OR n.ai_audio_in_ms > o.ai_audio_in_ms OR n.ai_audio_out_ms > o.ai_audio_out_ms
               OR n.ai_input_tokens > o.ai_input_tokens OR n.ai_output_tokens > o.ai_output_tokens));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_meter_insert AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION calls_meter_usage();
CREATE TRIGGER calls_meter_update AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION calls_meter_usage();

-- Per-organization limits: a monthly cap of AI minutes (call minutes handled by the AI agent,
-- calendar month in UTC); null: no cap.
CREATE TABLE organization_limits (
    org_id                  UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    ai_minutes_monthly_cap  INTEGER CHECK (ai_minutes_monthly_cap >= 0),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
