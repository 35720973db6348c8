-- Read only by outbox.ListEvents, which only tests call: the feed (Poll)
-- reads events_tenant_seq, timelines events_tenant_subject. Every event
-- wrote an entry here for nothing.
DROP INDEX IF EXISTS events_tenant_id;
