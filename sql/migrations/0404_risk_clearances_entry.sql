-- A clearance remembers the list entry it was decided on (a fingerprint of
-- its names, type, programs and remarks, risk.SanctionsEntry.Fingerprint):
-- when a later list changes the entry (OFAC adds an alias, a date of
-- birth), the clearance no longer applies and the match is reviewed again.
-- Clearances written before this migration have '' and apply whatever the
-- entry says, as before.
ALTER TABLE risk_clearances ADD COLUMN IF NOT EXISTS entry_fingerprint TEXT NOT NULL DEFAULT '';
