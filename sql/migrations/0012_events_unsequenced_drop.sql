-- Unplaced events are found through events_tenant_seq (tenant_id, seq IS
-- NULL) instead. This partial index holds only the few events not yet
-- placed, of every tenant, so it is a page or two: under PostgreSQL's SSI
-- the placing transaction's read of it took a predicate lock on the page
-- every tenant's next event is inserted into, and aborted other tenants'
-- writes (see outbox.sequence). In events_tenant_seq a tenant's unplaced
-- events are the end of its own range.
DROP INDEX IF EXISTS events_unsequenced;
