-- How many of the escrow's claims (disputes) were resolved when the
-- chargeback was booked. A claim resolved since supersedes the dispute
-- outcome the chargeback suspended (voided_payout_ids, 0506): its outcome
-- decided the money, so a won chargeback does not pay that one out again.
-- The count is read in the booking's transaction, so it orders the claims
-- by the transactions themselves; comparing created_at missed a claim
-- opened in the same clock tick or on a node whose clock lags, and counted
-- withdrawn claims, which decide nothing. NULL on rows stored before this
-- migration: those compare the claims' resolved_at with created_at.
ALTER TABLE chargebacks ADD COLUMN IF NOT EXISTS claims_resolved INT8;
