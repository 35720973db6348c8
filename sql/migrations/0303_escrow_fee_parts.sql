-- The buyer's and the seller's fee parts taken by an escrow's payouts that
-- count (completed, pending review, awaiting confirmation), carried on the
-- escrow row. Each payout used to sum them from escrow_payouts, and under
-- PostgreSQL's SSI that read locked index pages every other escrow's new
-- payout writes into, so concurrent payouts of unrelated escrows aborted
-- each other (docs/performance.md). The escrow code keeps them with the
-- other totals (applyPayout, holdPayout); the UPDATE fills existing rows.
-- Stop the old binaries before this migration: one still paying out after
-- it would not keep the sums.
ALTER TABLE escrows ADD COLUMN IF NOT EXISTS buyer_fee_parts NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE escrows ADD COLUMN IF NOT EXISTS seller_fee_parts NUMERIC NOT NULL DEFAULT 0;
UPDATE escrows SET
	buyer_fee_parts = COALESCE((SELECT sum(p.buyer_fee_part) FROM escrow_payouts p
		WHERE p.escrow_id = escrows.id AND p.status IN ('completed', 'pending_review', 'awaiting_confirmation')), 0),
	seller_fee_parts = COALESCE((SELECT sum(p.seller_fee_part) FROM escrow_payouts p
		WHERE p.escrow_id = escrows.id AND p.status IN ('completed', 'pending_review', 'awaiting_confirmation')), 0);
