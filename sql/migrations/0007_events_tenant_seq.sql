-- A tenant's feed, in order; one event per place.
CREATE UNIQUE INDEX events_tenant_seq ON events (tenant_id, seq);
