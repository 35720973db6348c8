-- The risk decision on a dispute's coverage (risk_decisions.id; the
-- decision's subject is the dispute, subject type 'coverage'). NULL when
-- no coverage was paid through the gate.
ALTER TABLE disputes ADD COLUMN IF NOT EXISTS coverage_decision_id UUID;
