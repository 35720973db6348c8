-- A chargeback may be in a currency the escrow was funded in through an FX
-- quote (the currency the PSP captured and takes back), not only in the
-- escrow's. escrow_amount is the chargeback in the escrow's currency, at
-- the rate of the escrow's fundings in the chargeback's currency
-- (fx.ReverseAmount); from_held, clawed_back, loss_amount and
-- receivable_amount are in the escrow's currency. NULL on rows stored
-- before this migration, all in the escrow's currency: it reads as amount
-- (COALESCE in disputes).
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS escrow_amount NUMERIC;
