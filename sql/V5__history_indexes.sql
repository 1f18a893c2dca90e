-- Version 5: indexes for the REST history (keyset pagination and full-text search).
--
-- Lists page by keyset on (sort column, id), newest first; each list's index carries the id so a
-- page is one index range scan whatever the page number, stable while new rows arrive.
CREATE INDEX calls_org_started_id ON calls (org_id, started_at DESC, id DESC);
DROP INDEX calls_org_started_at;
CREATE INDEX calls_org_from_started ON calls (org_id, from_number, started_at DESC);

CREATE INDEX conversations_org_activity_id ON conversations (org_id, last_activity_at DESC, id DESC);
DROP INDEX conversations_org_last_activity;
CREATE INDEX conversations_customer_initiated_id ON conversations (customer_id, initiated_at DESC, id DESC);
DROP INDEX conversations_customer_initiated;

-- Full-text search over what people said and wrote (`q`): the 'simple' configuration (no stemming,
-- no stop words) because calls come in many languages. System messages are not searchable, which
-- keeps the index off most of the automated rows. GIN's pending list (fastupdate) absorbs bursts
-- of inserts from the persistence actor.
CREATE INDEX messages_content_fts ON messages USING gin (to_tsvector('simple', content))
    WHERE message_type <> 'system';
