package risk

import (
	"cel.dev/cel-go/interpreter"
)

// Outcomes of a risk decision, from least to most severe. Rule actions
// use the same names.
const (
	// OutcomeApprove lets the operation go ahead.
	OutcomeApprove = "approve"
	// OutcomeStepUp asks the acting party to authenticate again.
	OutcomeStepUp = "step_up"
	// OutcomeReview holds the operation for a person to look at.
	OutcomeReview = "review"
	// OutcomeBlock refuses the operation.
	OutcomeBlock = "block"
)

// severity orders outcomes: block > review > step_up > approve. Review
// outranks step-up: the buyer's code proves who confirms, not that the
// payout is sound, so a payout a rule, the score or a scoring error sends
// to review waits for a person even when it is also large (issue 6: an
// error while scoring gives review; score ≥ 65 gives review). The step-up
// is not dropped: Decision.StepUpAsked records it, and once the review is
// approved a release the buyer can confirm still waits for the buyer's
// code (Gate.StepUpAfterReview), since a reviewer's approval says the
// payout is sound, not that the payer confirmed it.
func severity(outcome string) int {
	switch outcome {
	case OutcomeBlock:
		return 3
	case OutcomeReview:
		return 2
	case OutcomeStepUp:
		return 1
	}
	return 0
}

// moreSevere returns the more severe of a and b.
func moreSevere(a, b string) string {
	if severity(b) > severity(a) {
		return b
	}
	return a
}

// Reason explains part of a Decision.
type Reason struct {
	// Code is the rule's reason code, or ReasonScoringError.
	Code string `json:"code"`
	// Points are what the rule added to the score.
	Points int `json:"points"`
	// Rule is the ID of the rule.
	Rule string `json:"rule"`
}

// Decision is the result of evaluating a rule set on one operation.
type Decision struct {
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Score is the sum of the points of the rules that held, clamped
	// to 0..100.
	Score int `json:"score"`
	// Reasons lists, in rule order, each rule that held, and each rule
	// that failed (as ReasonScoringError).
	Reasons []Reason `json:"reasons"`
	// RulesVersion is the version of the rule set used.
	RulesVersion int `json:"rules_version"`
	// StepUpAsked is true when a rule whose action is step_up held, or
	// could not be evaluated (failing closed: it may have held), whatever
	// outcome won. A review or block outranks it, but the step-up stays
	// owed: see Gate.StepUpAfterReview.
	StepUpAsked bool `json:"step_up_asked"`
	// Features are the inputs, kept so the decision can be explained
	// and replayed.
	Features Features `json:"features"`
}

// Evaluate applies the rules to f. It is pure: the same rules and
// features always give the same decision.
//
// The outcome is the most severe of: the actions of the rules that
// held; block if the score reaches the block threshold, review if it
// reaches the review threshold; approve otherwise. It fails closed: a
// rule that cannot be evaluated (a missing context key, division by
// zero, the cost limit) adds a ReasonScoringError reason and makes the
// outcome at least review, and when its action is step_up it counts as
// asking for step-up (StepUpAsked). The other rules are still evaluated,
// so a failing rule never hides a block.
func (c *Compiled) Evaluate(f Features) Decision {
	d := Decision{
		Outcome:      OutcomeApprove,
		RulesVersion: c.set.Version,
		Features:     f.clone(),
	}
	act, err := interpreter.NewActivation(f.Activation())
	if err != nil { // cannot happen for a map; fail closed regardless
		d.Outcome = OutcomeReview
		d.Reasons = []Reason{{Code: ReasonScoringError}}
		return d
	}
	score := 0
	for i, prg := range c.programs {
		r := &c.set.Rules[i]
		out, _, err := prg.Eval(act)
		var held, ok bool
		if err == nil && out != nil {
			held, ok = out.Value().(bool)
		}
		if !ok {
			d.Reasons = append(d.Reasons, Reason{Code: ReasonScoringError, Rule: r.ID})
			d.Outcome = moreSevere(d.Outcome, OutcomeReview)
			d.StepUpAsked = d.StepUpAsked || r.Action == OutcomeStepUp
			continue
		}
		if !held {
			continue
		}
		score += r.Points
		d.Reasons = append(d.Reasons, Reason{Code: r.Reason, Points: r.Points, Rule: r.ID})
		d.Outcome = moreSevere(d.Outcome, r.Action)
		d.StepUpAsked = d.StepUpAsked || r.Action == OutcomeStepUp
	}
	d.Score = min(max(score, 0), 100)
	switch {
	case d.Score >= c.set.BlockThreshold:
		d.Outcome = OutcomeBlock
	case d.Score >= c.set.ReviewThreshold:
		d.Outcome = moreSevere(d.Outcome, OutcomeReview)
	}
	return d
}
