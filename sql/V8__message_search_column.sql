-- Version 8: full-text search reads a stored tsvector.
--
-- A word common enough to be in thousands of messages is searched by walking the newest calls and
-- probing each one's messages for it (see store/history.rs). With only an expression index, every
-- probe parsed each message's text again (about 10 µs a message, 15 ms for a page of calls); the
-- stored column is parsed once, when the message is written, and the index reads it too, so
-- writes parse a message once as before. System messages are not searchable and store NULL.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS search tsvector
    GENERATED ALWAYS AS (
        CASE WHEN message_type <> 'system' THEN to_tsvector('simple', content) END
    ) STORED;
CREATE INDEX IF NOT EXISTS messages_search ON messages USING gin (search)
    WHERE message_type <> 'system';
DROP INDEX IF EXISTS messages_content_fts;
