-- Version 3: messages and events reach their organization through their conversation.
--
-- One composite foreign key (conversation_id, org_id) -> conversations (id, org_id) replaces the two
-- separate ones: a message can no longer claim another organization than its conversation's (tenant
-- isolation held by the schema), deleting an organization still cascades (through conversations),
-- and the write path checks one key per row instead of two. The separate org_id key made every
-- concurrent writer share-lock the same organizations row, which serialized batch inserts.
ALTER TABLE conversations ADD CONSTRAINT conversations_id_org_key UNIQUE (id, org_id);

ALTER TABLE messages DROP CONSTRAINT messages_org_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE messages ADD CONSTRAINT messages_conversation_fkey
    FOREIGN KEY (conversation_id, org_id) REFERENCES conversations (id, org_id) ON DELETE CASCADE;

ALTER TABLE events DROP CONSTRAINT events_org_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_conversation_id_fkey;
ALTER TABLE events ADD CONSTRAINT events_conversation_fkey
    FOREIGN KEY (conversation_id, org_id) REFERENCES conversations (id, org_id) ON DELETE CASCADE;
