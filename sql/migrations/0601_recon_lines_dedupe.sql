-- Lines of CSV statements carry a key made of everything the line says (and
-- its occurrence among identical lines of its file). A CSV export without a
-- statement id is identified by its SHA-256, so two exports that overlap
-- (the last 30 days, downloaded every week) are two statements; a line
-- whose key another statement of the account already holds is not stored
-- again (reconcile/dedupe.go). camt.053 lines have no key (NULL, distinct).
ALTER TABLE recon_lines ADD COLUMN IF NOT EXISTS dedupe_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS recon_lines_account_dedupe ON recon_lines (account_id, dedupe_key);
