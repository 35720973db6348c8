-- Pending-entry resolutions carry no foreign keys to ledger_entries, for the
-- reasons of 0101 and 0102: a resolution is written in the transaction that
-- reads the pending entry (ledger.Commit, Void, Expire) and, for a commit,
-- writes the posted entry, and each key check read the entries' primary key
-- index under SERIALIZABLE, a page every new entry may insert into, so
-- concurrent resolutions and postings aborted each other. `ledger verify`
-- still checks entries and balances. The second name of each pair is the
-- one CockroachDB gives the same key.
ALTER TABLE ledger_pending_resolutions DROP CONSTRAINT IF EXISTS ledger_pending_resolutions_pending_id_fkey;
ALTER TABLE ledger_pending_resolutions DROP CONSTRAINT IF EXISTS fk_pending_id_ref_ledger_entries;
ALTER TABLE ledger_pending_resolutions DROP CONSTRAINT IF EXISTS ledger_pending_resolutions_entry_id_fkey;
ALTER TABLE ledger_pending_resolutions DROP CONSTRAINT IF EXISTS fk_entry_id_ref_ledger_entries;
