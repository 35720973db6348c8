-- Sanctions matches a reviewer cleared as false positives (risk/clearances.go):
-- the party (as buyer or as seller), under the name screened (normalised),
-- is not the list entry. Screening skips a cleared entry for that party and
-- name; any other name, entry, role or party still matches. The last
-- decision on a review of the match wins: an approval writes the row, a
-- rejection deletes it.
CREATE TABLE IF NOT EXISTS risk_clearances (
	tenant_id UUID NOT NULL,
	party TEXT NOT NULL,
	party_id TEXT NOT NULL,
	ent_num INT8 NOT NULL,
	name_key TEXT NOT NULL,
	name TEXT NOT NULL,
	review_id UUID NOT NULL,
	cleared_by TEXT NOT NULL,
	cleared_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant_id, party_id, party, ent_num, name_key)
);
