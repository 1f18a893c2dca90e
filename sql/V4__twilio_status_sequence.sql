-- Version 4: Twilio status callbacks arrive as separate requests and may come out of order. Each call
-- remembers the highest SequenceNumber applied; an older or repeated callback changes nothing.
ALTER TABLE calls ADD COLUMN twilio_sequence INTEGER NOT NULL DEFAULT -1;

-- Twilio's CallStatus also has `initiated` (outbound calls being placed).
ALTER TABLE calls DROP CONSTRAINT calls_status_check;
ALTER TABLE calls ADD CONSTRAINT calls_status_check
    CHECK (status IN ('queued', 'initiated', 'ringing', 'in-progress', 'completed', 'busy', 'failed',
                      'no-answer', 'canceled'));
