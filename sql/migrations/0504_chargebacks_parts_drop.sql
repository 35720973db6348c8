-- The parts of a chargeback add up to its amount in the escrow's currency,
-- which is no longer always amount (0502): the CHECK of 0500 goes, and
-- 0505 adds it back on escrow_amount.
ALTER TABLE chargebacks DROP CONSTRAINT IF EXISTS chargebacks_parts;
