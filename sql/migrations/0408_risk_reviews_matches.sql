-- Every sanctions match a review holds (a JSON array of
-- risk.ScreeningMatch): when both parties match, or one party matches
-- several entries, approving the review clears each of them, not only the
-- best one that matched_entry keeps. NULL on reviews stored before this
-- column and on reviews without a match: read as [matched_entry] then.
ALTER TABLE risk_reviews ADD COLUMN IF NOT EXISTS matched_entries JSONB;
