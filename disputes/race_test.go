package disputes_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/risk"
)

// TestResolveRacesAutoReleaseAndApproval: on a disputed escrow whose
// inspection window is over and whose first milestone's release waits for a
// reviewer, the agent's resolution, the buyer's acceptance of an offer, the
// auto-release job and the reviewer's approval all run at once. Exactly one
// outcome happens, nothing is released outside it, and every unit funded is
// accounted for.
func TestResolveRacesAutoReleaseAndApproval(t *testing.T) {
	f := newFixture(t)
	// Releases over USD 600 wait for a reviewer.
	rules := append(risk.DefaultRules().Rules, risk.Rule{ID: "big_release", When: `operation == "release" && amount_usd_cents > 60000`,
		Action: risk.OutcomeReview, Reason: "big_release"})
	if _, err := f.risk.PutRules(f.ctx, f.tenant, risk.RuleSetInput{Rules: rules}, "test"); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		e := f.delivered("1000.00", func(r *escrow.CreateRequest) {
			h := 24
			r.Terms = &escrow.TermsInput{InspectionHours: &h}
			r.Milestones = []escrow.MilestoneInput{{Name: "goods", Amount: "600.00"}, {Name: "balance", Amount: "400.00"}}
		})
		zero := 0
		rel, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Milestone: &zero})
		if err != nil || rel.Release.Status != escrow.StatusPendingReview || rel.Release.ReviewID == nil {
			t.Fatalf("release before the claim: %v %+v", err, rel.Release)
		}
		d := f.open(e, disputes.ReasonNotAsDescribed, "1000.00")
		offer, err := f.svc.MakeOffer(f.ctx, f.tenant, d.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "500.00"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(25 * time.Hour) // the inspection window is over
		payload, _ := json.Marshal(map[string]string{"tenant_id": f.tenant.String(), "escrow_id": e.ID.String()})
		feesBefore := f.balance("fees:EUR")

		var wg sync.WaitGroup
		var resolveErr, acceptErr, autoErr, approveErr error
		start := make(chan struct{})
		run := func(fn func()) {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; fn() }()
		}
		run(func() {
			_, resolveErr = f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "not as described"}, "agent")
		})
		run(func() { _, acceptErr = f.svc.AcceptOffer(f.ctx, f.tenant, d.ID, offer.Offer.ID) })
		run(func() {
			autoErr = f.esc.HandleAutoRelease(f.ctx, jobs.Job{Kind: escrow.JobAutoRelease, Payload: payload})
		})
		run(func() {
			_, approveErr = f.risk.DecideReview(f.ctx, f.tenant, *rel.Release.ReviewID, true, "looks fine", "reviewer")
		})
		close(start)
		wg.Wait()

		if (resolveErr == nil) == (acceptErr == nil) {
			t.Fatalf("round %d: resolve %v, accept %v: want exactly one outcome", round, resolveErr, acceptErr)
		}
		for _, err := range []error{resolveErr, acceptErr} {
			if err != nil && !errors.Is(err, disputes.ErrInvalidStatus) {
				t.Fatalf("round %d: the losing resolution failed with %v, want invalid_state", round, err)
			}
		}
		if autoErr != nil || approveErr == nil {
			t.Fatalf("round %d: auto-release %v, approval %v: the approval must be refused", round, autoErr, approveErr)
		}
		got := f.checkEscrow(e.ID)
		wantRefund, wantRelease, wantState := dec("1000"), decimal.Zero, escrow.Refunded
		if acceptErr == nil {
			wantRefund, wantRelease, wantState = dec("500"), dec("500"), escrow.Completed
		}
		if got.State != wantState || !got.Refunded.Equal(wantRefund) || !got.Released.Equal(wantRelease) || !got.Held().IsZero() || !got.Pending.IsZero() {
			t.Fatalf("round %d: escrow %s refunded %s released %s held %s pending %s", round, got.State, got.Refunded, got.Released, got.Held(), got.Pending)
		}
		// Money conserved: what was funded sits with the buyer, the seller
		// and the fees, and nowhere else.
		fees := f.balance("fees:EUR").Sub(feesBefore)
		out := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR").Add(f.balance("seller:" + e.Seller.ID + ":payable:EUR")).Add(fees)
		if !out.Equal(got.Funded) || !f.balance("escrow:"+e.ID.String()).IsZero() {
			t.Fatalf("round %d: buyer + seller + fees = %s, funded %s", round, out, got.Funded)
		}
		// The outcome voided the release and closed its review.
		rv, err := f.risk.Review(f.ctx, f.tenant, *rel.Release.ReviewID)
		if err != nil || rv.Status != risk.ReviewRejected || rv.DecidedBy != risk.DecidedBySuperseded {
			t.Fatalf("round %d: review %v, %s by %q; want rejected by %s", round, err, rv.Status, rv.DecidedBy, risk.DecidedBySuperseded)
		}
	}
}
