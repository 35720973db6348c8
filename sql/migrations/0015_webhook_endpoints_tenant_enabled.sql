-- A tenant's enabled endpoints, read in every write's transaction (outbox.Emit)
-- and by Redeliver and the count against outbox.MaxEndpoints, all with
-- disabled_at IS NULL: through this partial index they never read the
-- disabled ones, which stay as history (up to outbox.MaxEndpointsInAll).
CREATE INDEX IF NOT EXISTS webhook_endpoints_tenant_enabled ON webhook_endpoints (tenant_id) WHERE disabled_at IS NULL;
