-- The payouts of a dispute outcome a chargeback voided (they waited for a
-- review or a confirmation when the card network took the money), as a
-- JSON array of payout ids. Their decision still stands: what the
-- chargeback did not take was paid out again when it was booked, and what
-- it took is paid out again when it is won (escrow/chargeback_resume.go).
-- '[]' on rows stored before this migration: nothing to resume.
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS voided_payout_ids JSONB NOT NULL DEFAULT '[]';
