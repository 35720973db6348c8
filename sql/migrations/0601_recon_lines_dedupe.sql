-- Lines of CSV statements carry a key made of everything the line says and
-- its occurrence among identical lines of its file (reconcile/dedupe.go).
-- A CSV export without a statement id is identified by its SHA-256, so two
-- exports that overlap (the last 30 days, downloaded every week) are two
-- statements; imported with skip_duplicates=true, a line whose key another
-- statement of the account already holds is not stored again. The index is
-- not unique: without that option two identical transfers in two files
-- are two lines. camt.053 lines, and lines imported before this migration,
-- have no key (NULL) and are never matched as duplicates.
ALTER TABLE recon_lines ADD COLUMN IF NOT EXISTS dedupe_key TEXT;
CREATE INDEX IF NOT EXISTS recon_lines_account_dedupe ON recon_lines (account_id, dedupe_key);
