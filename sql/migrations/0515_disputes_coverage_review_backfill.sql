-- Coverage held for review before 0514: its review is the one its risk
-- decision opened.
UPDATE disputes SET coverage_review_id = (SELECT review_id FROM risk_decisions WHERE risk_decisions.id = disputes.coverage_decision_id)
WHERE coverage_status = 'pending_review' AND coverage_review_id IS NULL AND coverage_decision_id IS NOT NULL;
