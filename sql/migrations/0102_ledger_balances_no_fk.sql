-- Balance rows carry no foreign key to their account, for the reasons of
-- 0101: they are inserted in the transaction that creates the account
-- (ledger.EnsureAccount), and the key's check ran a row-locking read of the
-- account (FOR KEY SHARE) for each of them, eight per party account. The
-- second statement is the name CockroachDB gives the same key.
ALTER TABLE ledger_balances DROP CONSTRAINT IF EXISTS ledger_balances_account_id_fkey;

ALTER TABLE ledger_balances DROP CONSTRAINT IF EXISTS fk_account_id_ref_ledger_accounts;
