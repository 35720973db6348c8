-- Skipping CSV lines that another statement of the account holds became the
-- importer's choice (skip_duplicates=true): a line's key cannot tell a line
-- exported twice from a second identical transfer in a later file, so
-- without the option both must be storable, and the index of 0601 may not
-- be unique. camt.053 lines, and lines imported before 0601, have no key
-- (NULL) and are never matched as duplicates. (The index is created by
-- CREATE UNIQUE INDEX, so CockroachDB drops it without CASCADE.)
DROP INDEX IF EXISTS recon_lines_account_dedupe;
CREATE INDEX IF NOT EXISTS recon_lines_account_dedupe_key ON recon_lines (account_id, dedupe_key);
