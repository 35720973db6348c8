-- An event's place in its tenant's feed (GET /v1/events), given after its
-- transaction has committed, in commit order (outbox.sequence): an event id
-- is made when the event is written, so ids do not follow commits.
ALTER TABLE events ADD COLUMN seq INT8;
