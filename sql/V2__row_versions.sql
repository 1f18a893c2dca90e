-- Version 2: last-writer-wins updates. Calls and conversations carry the version of the update that
-- last changed them; an update with a version not above it changes nothing, so a retried older
-- update never overwrites a newer one.
ALTER TABLE calls ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
