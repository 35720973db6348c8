package risk

import (
	"context"
	"testing"
)

// Rules of these tests: the shipped large_amount step-up, a rule scoring
// 70 (review from 65) when the context says so, and a step-up rule that
// fails at run time when the context lacks "segment".
var stepUpReviewRules = []Rule{
	DefaultRules().Rules[0],
	{ID: "suspect", When: `"suspect" in context`, Points: 70, Reason: "suspect"},
	{ID: "vip_large", When: `"probe" in context && context["segment"] == "vip"`, Action: OutcomeStepUp, Reason: "vip_large"},
}

// decideForStepUp runs the gate on a payout of amount; suspect adds 70
// points, probe makes the vip_large step-up rule fail at run time.
func (e *env) decideForStepUp(op, amount string, suspect, probe bool) (*release, GateDecision) {
	e.t.Helper()
	r := e.newRelease("b", "s")
	r.amount = amount
	if suspect {
		r.ctx["suspect"] = "1"
	}
	if probe {
		r.ctx["probe"] = "1"
	}
	in := r.input(e.tenant)
	if op == OperationRefund {
		in.Operation, in.SubjectType = OperationRefund, "refund"
	}
	d, err := e.tryDecide(in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, d
}

// TestDecideRecordsStepUp: the decision records that a step-up rule held,
// or failed at run time, whatever outcome won, and the stored decision
// says so.
func TestDecideRecordsStepUp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.PutRules(ctx, e.tenant, RuleSetInput{Rules: stepUpReviewRules}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name           string
		op, amount     string
		suspect, probe bool
		outcome        string
		asked          bool
	}{
		{"large", OperationRelease, "12000.00", false, false, OutcomeStepUp, true},
		{"large, high score", OperationRelease, "12000.00", true, false, OutcomeReview, true},
		{"large refund, high score", OperationRefund, "12000.00", true, false, OutcomeReview, true},
		{"small, high score", OperationRelease, "100.00", true, false, OutcomeReview, false},
		{"small, step-up rule fails", OperationRelease, "100.00", false, true, OutcomeReview, true},
		{"small", OperationRelease, "100.00", false, false, OutcomeApprove, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			_, d := e.decideForStepUp(c.op, c.amount, c.suspect, c.probe)
			if d.Outcome != c.outcome || d.StepUpAsked != c.asked {
				t.Fatalf("%s step_up_asked %v %v, want %s %v", d.Outcome, d.StepUpAsked, reasonCodes(d.Decision), c.outcome, c.asked)
			}
			stored, err := e.svc.Decision(ctx, e.tenant, d.ID)
			if err != nil || stored.StepUpAsked != c.asked {
				t.Fatalf("stored step_up_asked %v %v, want %v", stored.StepUpAsked, err, c.asked)
			}
		})
	}
}
