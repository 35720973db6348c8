-- A chargeback won while a claim was open owes the dispute outcome it
-- suspended (voided_payout_ids, 0506): the open claim decides the money if
-- it is resolved, and if it is withdrawn, which decides nothing, the
-- suspended outcome is paid out again then (disputes.Withdraw,
-- escrow.Service.EndDispute). Cleared when that claim ends either way.
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS resume_owed BOOL NOT NULL DEFAULT false;
