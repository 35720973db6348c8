package risk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	if amount, ok := strings.CutSuffix(amount, " GBP"); ok {
		r.amount, r.currency = amount, "GBP" // no USD rate in these tests
	}
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
		{"no USD amount", OperationRelease, "100.00 GBP", false, false, OutcomeReview, true},
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

// TestStepUpAfterReview: approving the review the gate opened for a
// decision that also asked for step-up opens the buyer's challenge, with
// a code that confirms; no other review does (not the review after too
// many wrong codes, not a pending one, not one without step-up), and a
// decision stored before step_up_asked existed derives it from its rules.
func TestStepUpAfterReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.PutRules(ctx, e.tenant, RuleSetInput{Rules: stepUpReviewRules}, "test"); err != nil {
		t.Fatal(err)
	}
	// review opens a review for a release of amount and returns it
	// approved, or pending.
	review := func(amount string, approve, unrecorded bool) (Review, *release) {
		e.t.Helper()
		r, d := e.decideForStepUp(OperationRelease, amount, true, false)
		if d.ReviewID == nil {
			e.t.Fatalf("%s: no review", d.Outcome)
		}
		if unrecorded { // as stored before migration 0405
			e.tx(func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE risk_decisions SET step_up_asked = NULL WHERE id = $1`, d.ID)
				return err
			})
		}
		if !approve {
			rv, err := e.svc.Review(ctx, e.tenant, *d.ReviewID)
			if err != nil {
				e.t.Fatal(err)
			}
			return rv, r
		}
		rv, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, true, "", "key:1")
		if err != nil {
			e.t.Fatal(err)
		}
		return rv, r
	}
	stepUp := func(rv Review) (string, bool) {
		e.t.Helper()
		var code string
		var ok bool
		e.tx(func(tx pgx.Tx) error {
			var err error
			code, _, ok, err = e.gate.StepUpAfterReview(ctx, tx, rv, e.clock.Now())
			return err
		})
		return code, ok
	}
	bruteForced := func() (Review, *release) {
		e.t.Helper()
		rv, r := review("12000.00", true, false)
		code, ok := stepUp(rv)
		if !ok {
			e.t.Fatal("no step-up after the first approval")
		}
		var res StepUpResult
		for range MaxStepUpAttempts {
			var err error
			if res, err = e.verify(r.subject, wrong(code)); err != nil {
				e.t.Fatal(err)
			}
		}
		if !res.Blocked || res.ReviewID == nil {
			e.t.Fatalf("after %d wrong codes: %+v", MaxStepUpAttempts, res)
		}
		second, err := e.svc.DecideReview(ctx, e.tenant, *res.ReviewID, true, "", "key:1")
		if err != nil {
			e.t.Fatal(err)
		}
		return second, r
	}
	for _, c := range []struct {
		name string
		make func() (Review, *release)
		want bool
	}{
		{"large, high score, approved", func() (Review, *release) { return review("12000.00", true, false) }, true},
		{"large, high score, still pending", func() (Review, *release) { return review("12000.00", false, false) }, false},
		{"small, high score, approved", func() (Review, *release) { return review("100.00", true, false) }, false},
		{"approved after too many wrong codes", bruteForced, false},
		{"large, stored before step_up_asked", func() (Review, *release) { return review("12000.00", true, true) }, true},
		{"small, stored before step_up_asked", func() (Review, *release) { return review("100.00", true, true) }, false},
		{"no USD amount, stored before step_up_asked", func() (Review, *release) { return review("100.00 GBP", true, true) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.clock.Advance(time.Hour)
			rv, r := c.make()
			open := e.count(`SELECT count(*) FROM risk_step_ups WHERE tenant_id = $1 AND subject_id = $2`, e.tenant, r.subject)
			code, ok := stepUp(rv)
			if ok != c.want {
				t.Fatalf("step-up after review: %v, want %v", ok, c.want)
			}
			after := e.count(`SELECT count(*) FROM risk_step_ups WHERE tenant_id = $1 AND subject_id = $2`, e.tenant, r.subject)
			if !ok {
				if after != open {
					t.Fatalf("%d challenges written without a step-up", after-open)
				}
				return
			}
			if res, err := e.verify(r.subject, code); err != nil || !res.Confirmed {
				t.Fatalf("the code: %+v %v", res, err)
			}
		})
	}
}
