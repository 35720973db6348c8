-- The risk review of a dispute's coverage the gate held (subject type
-- 'coverage', subject the dispute), so that a chargeback that voids the
-- coverage can close it (risk.Gate.WithdrawReview). NULL when the
-- coverage was not held; 0515 fills it for coverage held before.
ALTER TABLE disputes ADD COLUMN IF NOT EXISTS coverage_review_id UUID;
