-- Version 9: accounts and credentials.
--
-- Users log in with an email and a password (argon2id hash) and hold a role in one organization.
-- A login opens a session; the session's refresh tokens form one family, rotated on every use:
-- each token is stored only as its SHA-256 (they are 256-bit random values, so a fast hash is
-- enough), and presenting one that was already used revokes the whole session (theft detection).
-- API keys are stored the same way. An organization's own Twilio and OpenAI credentials are sealed
-- with an AEAD key from the configuration; the database never holds them in the clear.

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    display_name    TEXT NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    password_hash   TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (id, org_id)
);
-- An email logs in to one account, whatever its case.
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_org ON users (org_id, created_at);

CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL,
    user_id         UUID NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT,
    FOREIGN KEY (user_id, org_id) REFERENCES users (id, org_id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash      BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id      UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    -- The first characters of the key, shown in listings so that a key can be recognized.
    prefix          TEXT NOT NULL,
    key_hash        BYTEA NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- Sealed values are nonce (12 bytes) || ciphertext || tag, with the organization and the field as
-- associated data, so a value copied to another row or column does not open.
CREATE TABLE org_credentials (
    org_id              UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    twilio_account_sid  TEXT UNIQUE CHECK (twilio_account_sid ~ '^AC[0-9a-fA-F]{32}$'),
    twilio_auth_token   BYTEA,
    openai_api_key      BYTEA,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Security events (logins, keys, roles, credentials) belong to an organization but to no
-- conversation.
ALTER TABLE events ALTER COLUMN conversation_id DROP NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_event_type_check;
ALTER TABLE events ADD CONSTRAINT events_event_type_check
    CHECK (event_type IN ('intent_detected', 'function_called', 'escalation_requested', 'error',
                          'customer_sentiment_shift', 'appointment_action', 'supervisor_action',
                          'security'));
CREATE INDEX events_org_security ON events (org_id, occurred_at DESC) WHERE event_type = 'security';
