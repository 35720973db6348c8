-- Postings carry no foreign keys. Measured with escrowd bench-ledger on
-- PostgreSQL (SERIALIZABLE): the check of the key to ledger_entries reads
-- the right-most leaf page of an index that every concurrent writer inserts
-- into (ids are UUIDv7), and its predicate lock turned concurrent entries
-- into serialization failures (about 10% of transactions at 8 writers);
-- the key to ledger_accounts takes a KEY SHARE row lock on the account of
-- every posting (a write of the account row: WAL, and multixacts on hot
-- accounts). What they guarded is checked inside the posting transaction
-- (ledger.writeEntry reads the entry's accounts by tenant and compares
-- currencies; the entry row is written first in the same transaction), and
-- re-derived by `escrowd ledger verify` (issue posting_integrity).
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_entry;

ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account;
