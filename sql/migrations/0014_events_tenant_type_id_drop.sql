-- Read only by outbox.ListEvents with a type, which only tests call: the
-- feed of one type reads events_tenant_type_seq.
DROP INDEX IF EXISTS events_tenant_type_id;
