-- The ledger entries of a dispute's coverage (dispute.coverage,
-- dispute.receivable, dispute.recovery), in the order posted: pending
-- while the coverage waits for review, then the entries its approval
-- posted. '[]' when nothing was booked, and on rows stored before this
-- migration.
ALTER TABLE disputes ADD COLUMN IF NOT EXISTS coverage_entry_ids JSONB NOT NULL DEFAULT '[]';
