-- No foreign keys from escrow child rows to escrows: every action reads its
-- escrow FOR UPDATE in the same transaction anyway, and under PostgreSQL's
-- SSI each key check holds a predicate lock on the parent's index pages
-- that every new escrow writes, so unrelated actions abort each other
-- (measured in docs/performance.md; as 0101 did for ledger postings).
-- Both constraint names: PostgreSQL's and older CockroachDB's.
ALTER TABLE escrow_milestones DROP CONSTRAINT IF EXISTS escrow_milestones_escrow_id_fkey;
ALTER TABLE escrow_milestones DROP CONSTRAINT IF EXISTS fk_escrow_id_ref_escrows;
ALTER TABLE escrow_fundings DROP CONSTRAINT IF EXISTS escrow_fundings_escrow_id_fkey;
ALTER TABLE escrow_fundings DROP CONSTRAINT IF EXISTS fk_escrow_id_ref_escrows;
ALTER TABLE escrow_payouts DROP CONSTRAINT IF EXISTS escrow_payouts_escrow_id_fkey;
ALTER TABLE escrow_payouts DROP CONSTRAINT IF EXISTS fk_escrow_id_ref_escrows;
-- Transitions change the state; an index on it makes every transition
-- write index pages other actions read. Listing by state filters the
-- tenant's id-ordered index instead.
DROP INDEX IF EXISTS escrows_tenant_state;
