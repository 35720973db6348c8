-- Committed events not yet placed in their tenant's feed.
CREATE INDEX events_unsequenced ON events (tenant_id, id) WHERE seq IS NULL;
