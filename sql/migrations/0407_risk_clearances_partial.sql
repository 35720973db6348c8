-- Whether a clearance was written by approving a possible match (the
-- partial-name rule) only. Such a clearance clears that possible match,
-- never a full match of the same party, name and entry: the same name can
-- become a full match when the list's other entries or the threshold
-- change, and a full match must be judged as one. Clearances written
-- before this column are full ones (false).
ALTER TABLE risk_clearances ADD COLUMN IF NOT EXISTS partial BOOL NOT NULL DEFAULT false;
