-- What the risk gate made of a resolved dispute's coverage (the part of
-- the refund paid from the guarantee because the money had already been
-- released), as for a payout: completed (paid), pending_review (held: its
-- entries are pending until a reviewer decides), blocked (nothing moved)
-- or rejected (the reviewer said no, or the review expired: nothing
-- moved) or voided (a chargeback booked while it waited for review: the
-- card network paid the buyer; nothing moved, its review was closed as
-- superseded). NULL when the outcome needed no coverage. Coverage used to be
-- paid without the gate, so a frozen or sanctioned buyer was paid.
ALTER TABLE disputes ADD COLUMN IF NOT EXISTS coverage_status TEXT CHECK (coverage_status IN ('completed', 'pending_review', 'blocked', 'rejected', 'voided'));
