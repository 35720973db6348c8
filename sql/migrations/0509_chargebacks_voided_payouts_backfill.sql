-- Chargebacks stored before 0506 read voided_payout_ids '[]', so a won one
-- left the dispute outcome it had voided undone (money held, a plain
-- release paying the seller what refund_full gave the buyer). Fill it for
-- the chargebacks not decided yet. ApplyChargeback voids the payouts
-- waiting for a review or a confirmation (voidPending) in the booking's
-- transaction, with the same clock reading that is the chargeback's
-- created_at, and a rejected payout is never updated again; the outcome's
-- are those of trigger 'dispute'. Order does not matter (the code takes
-- refunds first). Stop the old binaries before this migration: a
-- chargeback they book after it is not filled.
UPDATE chargebacks SET voided_payout_ids = COALESCE((
		SELECT jsonb_agg(p.id::TEXT) FROM escrow_payouts p
		WHERE p.escrow_id = chargebacks.escrow_id AND p.trigger = 'dispute' AND p.status = 'rejected' AND p.updated_at = chargebacks.created_at), '[]')
	WHERE status IN ('needs_response', 'under_review') AND voided_payout_ids = '[]';
