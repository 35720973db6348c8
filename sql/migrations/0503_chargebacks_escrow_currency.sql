-- The escrow's currency, the currency of escrow_amount and of the parts
-- (0502). NULL on rows stored before this migration: it reads as currency.
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS escrow_currency TEXT;
