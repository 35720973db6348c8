-- A tenant's feed of one event type, in order.
CREATE INDEX events_tenant_type_seq ON events (tenant_id, type, seq);
