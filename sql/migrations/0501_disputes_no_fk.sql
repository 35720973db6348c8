-- As 0302 for escrow child rows: disputes and chargebacks name their
-- escrow without a foreign key (the escrow row is read FOR UPDATE in the
-- same transaction).
ALTER TABLE disputes DROP CONSTRAINT IF EXISTS disputes_escrow_id_fkey;
ALTER TABLE disputes DROP CONSTRAINT IF EXISTS fk_escrow_id_ref_escrows;
ALTER TABLE chargebacks DROP CONSTRAINT IF EXISTS chargebacks_escrow_id_fkey;
ALTER TABLE chargebacks DROP CONSTRAINT IF EXISTS fk_escrow_id_ref_escrows;
