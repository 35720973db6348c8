-- The risk decision's summary on each payout (decisions never change), so
-- payouts are shown without reading the risk package's tables.
ALTER TABLE escrow_payouts ADD COLUMN risk JSONB;
