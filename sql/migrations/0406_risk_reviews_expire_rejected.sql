-- Undecided reviews expire to rejected (issue 6), decided by
-- 'system:expiry'; versions before this one stored status 'expired'.
-- The CHECK constraint keeps allowing 'expired' for rows an older binary
-- writes during an upgrade; the list filter status=expired reads both.
UPDATE risk_reviews SET status = 'rejected' WHERE status = 'expired';
