-- Whether a rule whose action is step_up held (or could not be evaluated)
-- on the decision, whatever outcome won (risk.Decision.StepUpAsked). A
-- review outranks step-up, but approving the review of a release the
-- buyer can confirm must still ask the buyer for the code (issue 6: large
-- transfers confirmed by the payer); the approval may come days after the
-- decision, so the decision records it. NULL on decisions stored before
-- this migration: derived then from their reasons and the rule set they
-- were made under (risk.RuleStore.stepUpAsked).
ALTER TABLE risk_decisions ADD COLUMN IF NOT EXISTS step_up_asked BOOLEAN;
