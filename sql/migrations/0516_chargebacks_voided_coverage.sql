-- The coverage of claims a chargeback voided because it waited for review
-- when the card network took the money, as a JSON array of
-- {dispute_id, amount, taken}: amount what it covered, taken the order
-- part of what the chargeback took beyond the money the escrow held, up
-- to amount. When the chargeback is decided the coverage is paid again
-- (disputes/coverage_resume.go): amount when won, amount less taken when
-- lost. '[]' when it voided none, and on rows stored before this
-- migration.
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS voided_coverage JSONB NOT NULL DEFAULT '[]';
