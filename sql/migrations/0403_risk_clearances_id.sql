-- Each clearance gets an id, so a risk reviewer can list clearances and
-- revoke one (GET /v1/risk/clearances, POST /v1/risk/clearances/{id}/revoke).
-- Before, a clearance approved by mistake could only be undone by
-- rejecting another review of the same match or by freezing the party.
-- Existing rows get a random id; an approval of the same match again keeps
-- the row's id (risk/clearances.go).
ALTER TABLE risk_clearances ADD COLUMN IF NOT EXISTS id UUID NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX IF NOT EXISTS risk_clearances_tenant_id ON risk_clearances (tenant_id, id);
