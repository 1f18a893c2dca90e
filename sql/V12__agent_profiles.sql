-- Version 12 (issue 19): agent profiles per number, webhook tools, IVR menus, business hours.
--
-- A profile is versioned: every edit inserts a new row in `agent_profile_versions` and moves
-- `current_version`; a call keeps the version it ran with (`calls.profile_id`, `profile_version`),
-- so history says exactly which instructions, voice and tools answered. A profile a number or a
-- menu points at cannot be deleted (the store checks menus' JSON; numbers by foreign key); a
-- deleted profile keeps its versions (`deleted_at`) so past calls still show theirs.

CREATE TABLE agent_profiles (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    UNIQUE (id, org_id)
);
CREATE UNIQUE INDEX agent_profiles_name ON agent_profiles (org_id, lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE agent_profile_versions (
    profile_id      UUID NOT NULL,
    org_id          UUID NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    config          JSONB NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    created_by      UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, version),
    FOREIGN KEY (profile_id, org_id) REFERENCES agent_profiles (id, org_id) ON DELETE CASCADE
);

-- The organization's webhook tools (definition: description, JSON-schema parameters, URL,
-- timeout, what the agent says while waiting, which arguments are secret).
CREATE TABLE webhook_tools (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (name ~ '^[A-Za-z0-9_-]{1,64}$'),
    definition      JSONB NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- IVR menus as data: prompt, options by digit and keyword, each with an action; timeout, retries
-- and the default action.
CREATE TABLE ivr_menus (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    definition      JSONB NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (id, org_id)
);
CREATE UNIQUE INDEX ivr_menus_name ON ivr_menus (org_id, lower(name));

-- The organization's phone numbers (the `To` of the voice webhook): a profile or a menu, the
-- business hours (`hours`: weekly schedule in a time zone, holidays) with the after-hours action,
-- and the fallback run when the AI cannot take or keep the call.
CREATE TABLE phone_numbers (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    number          TEXT NOT NULL UNIQUE CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    label           TEXT NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    profile_id      UUID,
    menu_id         UUID,
    hours           JSONB CHECK (hours IS NULL OR jsonb_typeof(hours) = 'object'),
    after_hours     JSONB CHECK (after_hours IS NULL OR jsonb_typeof(after_hours) = 'object'),
    fallback        JSONB CHECK (fallback IS NULL OR jsonb_typeof(fallback) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(profile_id, menu_id) = 1),
    FOREIGN KEY (profile_id, org_id) REFERENCES agent_profiles (id, org_id),
    FOREIGN KEY (menu_id, org_id) REFERENCES ivr_menus (id, org_id)
);
CREATE INDEX phone_numbers_org ON phone_numbers (org_id, number);

-- The profile version a call ran with, and the number that answered it.
ALTER TABLE calls ADD COLUMN profile_id UUID;
ALTER TABLE calls ADD COLUMN profile_version INTEGER;
ALTER TABLE calls ADD CONSTRAINT calls_profile_version
    FOREIGN KEY (profile_id, profile_version) REFERENCES agent_profile_versions (profile_id, version);

-- The secret the organization's tool webhooks are signed with (sealed like its other credentials).
ALTER TABLE org_credentials ADD COLUMN tool_secret BYTEA;
