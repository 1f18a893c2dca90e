-- Switchboard schema, version 1: omnichannel conversations with voice calls, messages, events and
-- recordings, every row scoped to an organization. Enumerated columns carry CHECK constraints that
-- match switchboard_actors::domain; children cascade from their parents.

CREATE TABLE organizations (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The default organization: single-tenant installations and everything written before accounts exist.
INSERT INTO organizations (id, name, slug)
VALUES ('00000000-0000-0000-0000-000000000001', 'Default organization', 'default');

CREATE TABLE customers (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT,
    phone       TEXT CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    email       TEXT CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    metadata    JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_org_phone ON customers (org_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX customers_org_email ON customers (org_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE conversations (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    customer_id         UUID REFERENCES customers (id) ON DELETE SET NULL,
    channel             TEXT NOT NULL CHECK (channel IN ('voice', 'sms', 'email')),
    status              TEXT NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'completed', 'failed')),
    initiated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at        TIMESTAMPTZ,
    satisfaction_score  SMALLINT CHECK (satisfaction_score BETWEEN 1 AND 10),
    sentiment           TEXT CHECK (sentiment IN ('positive', 'neutral', 'negative', 'mixed')),
    outcome             TEXT CHECK (outcome IN ('appointment_scheduled', 'appointment_rescheduled',
                                                'appointment_cancelled', 'info_request', 'complaint',
                                                'unresolved')),
    subject             TEXT,
    ai_summary          TEXT,
    metadata            JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (completed_at IS NULL OR completed_at >= initiated_at)
);
CREATE INDEX conversations_customer_initiated ON conversations (customer_id, initiated_at DESC);
CREATE INDEX conversations_channel_status ON conversations (channel, status);
CREATE INDEX conversations_last_activity ON conversations (last_activity_at DESC);
CREATE INDEX conversations_org_last_activity ON conversations (org_id, last_activity_at DESC);

CREATE TABLE calls (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id     UUID NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    call_sid            TEXT NOT NULL UNIQUE CHECK (length(call_sid) BETWEEN 1 AND 64),
    stream_sid          TEXT,
    account_sid         TEXT,
    from_number         TEXT NOT NULL,
    to_number           TEXT NOT NULL,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status              TEXT NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'ringing', 'in-progress', 'completed', 'busy',
                                          'failed', 'no-answer', 'canceled')),
    started_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    answered_at         TIMESTAMPTZ,
    ended_at            TIMESTAMPTZ,
    duration_seconds    INTEGER CHECK (duration_seconds >= 0),
    agent               TEXT,
    notes               TEXT,
    node                TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX calls_started_at ON calls (started_at DESC);
CREATE INDEX calls_org_started_at ON calls (org_id, started_at DESC);
CREATE INDEX calls_status ON calls (status);

CREATE TABLE messages (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id     UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_type        TEXT NOT NULL
                        CHECK (message_type IN ('transcript', 'system', 'summary', 'note', 'sms', 'email')),
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    sender              JSONB NOT NULL
                        CHECK (jsonb_typeof(sender) = 'object'
                               AND sender->>'type' IN ('customer', 'agent', 'ai', 'system', 'operator',
                                                      'supervisor')),
    content             TEXT NOT NULL,
    "timestamp"         TIMESTAMPTZ NOT NULL,
    metadata            JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_timestamp ON messages (conversation_id, "timestamp", id);
CREATE INDEX messages_conversation_type_timestamp ON messages (conversation_id, message_type, "timestamp");
CREATE INDEX messages_type ON messages (message_type);
CREATE INDEX messages_sender_type ON messages ((sender->>'type'));

CREATE TABLE events (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    conversation_id     UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id          UUID REFERENCES messages (id) ON DELETE CASCADE,
    event_type          TEXT NOT NULL
                        CHECK (event_type IN ('intent_detected', 'function_called', 'escalation_requested',
                                              'error', 'customer_sentiment_shift', 'appointment_action',
                                              'supervisor_action')),
    details             JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
    occurred_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_conversation_occurred ON events (conversation_id, occurred_at);
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_type ON events (event_type);

CREATE TABLE recordings (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    call_id         UUID NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('wav')),
    sample_rate     INTEGER NOT NULL CHECK (sample_rate > 0),
    channels        SMALLINT NOT NULL CHECK (channels BETWEEN 1 AND 2),
    duration_ms     BIGINT NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    bytes           BIGINT NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX recordings_call ON recordings (call_id);
