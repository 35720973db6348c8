-- As chargebacks_parts of 0500, on the amount in the escrow's currency
-- (escrow_amount, amount on rows stored before 0502). It can be zero: a
-- chargeback of a few minor units of a currency with more of them (0.001
-- KWD of a EUR escrow) can be worth less than half a cent. (A CHECK passes
-- on NULL: escrow_amount >= 0 holds for the older rows.)
ALTER TABLE chargebacks ADD CONSTRAINT chargebacks_parts CHECK (from_held + clawed_back + loss_amount = COALESCE(escrow_amount, amount) AND escrow_amount >= 0);
