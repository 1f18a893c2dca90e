-- Version 6: covering indexes for the history's hot reads, measured on 100,000 calls / 5,000,000
-- messages (see the history bench):
--
-- * the calls list and its capped count filter on status, direction and agent while walking
--   (org_id, started_at, id): with those columns in the index, both are index-only scans;
-- * organization analytics group a period's calls by status and direction (calls index) and its
--   voice conversations by sentiment (conversations index), each an index-only range scan
--   instead of a join of the two tables.
CREATE INDEX calls_org_started_cover ON calls (org_id, started_at DESC, id DESC)
    INCLUDE (status, direction, duration_seconds, agent, conversation_id);
DROP INDEX calls_org_started_id;

CREATE INDEX conversations_org_initiated_cover ON conversations (org_id, channel, initiated_at)
    INCLUDE (sentiment);
