package disputes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/risk"
)

// releaseWaitingBehindBlocked is a delivered 100.00 escrow whose release
// waits for review behind escrow.MaxPayoutsRead releases the gate blocked
// (each attempt stores a payout: a marketplace retrying against a frozen
// party is enough), with the default rules back in place. It returns the
// waiting release.
func (f *fixture) releaseWaitingBehindBlocked() (escrow.Escrow, escrow.Payout) {
	f.t.Helper()
	e := f.delivered("100.00", nil)
	f.gateAbove("release", risk.OutcomeBlock)
	for i := 0; i < escrow.MaxPayoutsRead; i++ {
		f.clock.Advance(time.Second) // payouts are created one after the other, as in production
		r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
		if err != nil || r.Release.Status != escrow.StatusBlocked {
			f.t.Fatalf("release %d: %v %s", i, err, r.Release.Status)
		}
	}
	f.clock.Advance(time.Second)
	f.gateAbove("release", risk.OutcomeReview)
	r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil || r.Release.Status != escrow.StatusPendingReview || r.Release.ReviewID == nil {
		f.t.Fatalf("release: %v %s", err, r.Release.Status)
	}
	if _, err := f.risk.PutRules(f.ctx, f.tenant, risk.RuleSetInput{Rules: risk.DefaultRules().Rules}, "test"); err != nil {
		f.t.Fatal(err)
	}
	return e, r.Release
}

// TestOutcomeVoidsWaitingPayoutPastReadLimit: a dispute outcome voids the
// payouts waiting for the gate however many payouts the escrow stored
// before them. voidPending used to read the escrow's first
// MaxPayoutsRead (1,000) payouts, oldest first, so after 1,000 blocked
// release attempts a release waiting for review was not voided: the
// outcome refunded the buyer in full (the held part from the guarantee)
// while the release still waited, and approving it paid the seller the
// same money.
func TestOutcomeVoidsWaitingPayoutPastReadLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 releases")
	}
	f := newFixture(t)
	e, rel := f.releaseWaitingBehindBlocked()
	d := f.escalated(e, disputes.ReasonDamaged, "100.00")
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}, "agent")
	if err != nil {
		t.Fatal(err)
	}
	st := out.Settlement
	if len(st.Voided) != 1 || st.Voided[0].ID != rel.ID || st.Refund == nil || st.Refund.Status != escrow.StatusCompleted ||
		!st.Refund.OrderAmount.Equal(dec("100")) || !st.Coverage.Needed.IsZero() {
		t.Fatalf("outcome: voided %d refund %+v coverage %+v; want the waiting release voided and 100.00 refunded from the escrow", len(st.Voided), st.Refund, st.Coverage)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *rel.ReviewID, true, "ok", "reviewer"); err == nil {
		t.Fatalf("after refund_full the waiting release was still approvable: buyer got %s, seller payable %s, of a 100.00 order",
			f.balance("buyer:"+e.Buyer.ID+":refund:EUR"), f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
	got := f.checkBooks(e.ID)
	if got.State != escrow.Refunded || !f.balance("buyer:"+e.Buyer.ID+":refund:EUR").Equal(dec("100")) ||
		!f.balance("seller:"+e.Seller.ID+":payable:EUR").IsZero() || !f.balance("guarantee:EUR").IsZero() {
		t.Fatalf("escrow %s, buyer %s, seller %s, guarantee %s", got.State, f.balance("buyer:"+e.Buyer.ID+":refund:EUR"),
			f.balance("seller:"+e.Seller.ID+":payable:EUR"), f.balance("guarantee:EUR"))
	}
}

// TestChargebackVoidsWaitingPayoutPastReadLimit: a chargeback voids the
// payouts waiting for the gate (the card network paid the buyer) through
// the same function, however many payouts the escrow stored before them.
func TestChargebackVoidsWaitingPayoutPastReadLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 releases")
	}
	f := newFixture(t)
	e, rel := f.releaseWaitingBehindBlocked()
	cb := f.chargeback(e, "100.00", "psp-1", 48*time.Hour)
	if !cb.FromHeld.Equal(dec("100")) || !cb.ClawedBack.IsZero() || !cb.Loss.IsZero() {
		t.Fatalf("chargeback %+v, want all of it from the money held", cb)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *rel.ReviewID, true, "ok", "reviewer"); err == nil {
		t.Fatalf("after the chargeback the waiting release was still approvable: seller payable %s", f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
	got := f.checkBooks(e.ID)
	if !got.Pending.IsZero() || !got.Held().IsZero() || !f.balance("seller:"+e.Seller.ID+":payable:EUR").IsZero() {
		t.Fatalf("escrow pending %s held %s, seller payable %s", got.Pending, got.Held(), f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
}

// TestVoidPendingChecksPendingTotal: the payouts an outcome voids must hold
// all of the escrow's pending amount; when they do not (a waiting payout
// the read missed), the outcome fails rather than leave a hold to be paid
// out after the money went elsewhere.
func TestVoidPendingChecksPendingTotal(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("release")
	e := f.delivered("100.00", nil)
	if r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: ptr("60.00")}); err != nil || r.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("release: %v %s", err, r.Release.Status)
	}
	d := f.escalated(e, disputes.ReasonDamaged, "100.00")
	// The escrow says more is pending than its waiting payouts hold.
	dbtest.MustExec(t, f.db, `UPDATE escrows SET pending_amount = pending_amount + 1 WHERE id = $1`, e.ID)
	if _, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}, "agent"); err == nil || !strings.Contains(err.Error(), "pending amount") {
		t.Fatalf("resolved although the waiting payouts do not hold the escrow's pending amount: %v", err)
	}
}

// TestChargebackVoidsMoreWaitingPayoutsThanAPage: a chargeback is money the
// card network already took, so it is booked however many payouts wait
// for the gate. waitingPayouts used to refuse more than 1,000 (the
// chargeback, and a dispute outcome, failed for as long as they waited);
// it now reads them in pages, and every one is voided.
func TestChargebackVoidsMoreWaitingPayoutsThanAPage(t *testing.T) {
	if testing.Short() {
		t.Skip("1,001 releases")
	}
	f := newFixture(t)
	e := f.delivered("100.00", nil)
	rules := append(risk.DefaultRules().Rules, risk.Rule{ID: "all_releases", When: `operation == "release"`, Action: risk.OutcomeReview, Reason: "all_releases"})
	if _, err := f.risk.PutRules(f.ctx, f.tenant, risk.RuleSetInput{Rules: rules}, "test"); err != nil {
		t.Fatal(err)
	}
	amt := "0.01"
	var last escrow.Payout
	for i := 0; i <= escrow.WaitingPayoutsPage; i++ {
		f.clock.Advance(time.Second)
		r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: &amt})
		if err != nil || r.Release.Status != escrow.StatusPendingReview {
			t.Fatalf("release %d: %v %s", i, err, r.Release.Status)
		}
		last = r.Release
	}
	by := f.clock.Now().Add(48 * time.Hour)
	cb, err := f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: "100.00", Currency: "EUR", PSPRef: "psp-many", Reason: "fraudulent", RespondBy: &by})
	if err != nil {
		t.Fatalf("chargeback of 100.00 with %d releases of 0.01 waiting: %v", escrow.WaitingPayoutsPage+1, err)
	}
	if !cb.FromHeld.Equal(dec("100")) || !cb.ClawedBack.IsZero() || !cb.Loss.IsZero() {
		t.Fatalf("chargeback %+v, want all of it from the money held", cb)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *last.ReviewID, true, "ok", "reviewer"); err == nil {
		t.Fatalf("after the chargeback the last waiting release was still approvable: seller payable %s", f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
	got := f.checkBooks(e.ID)
	if !got.Pending.IsZero() || !got.Held().IsZero() || !f.balance("seller:"+e.Seller.ID+":payable:EUR").IsZero() {
		t.Fatalf("escrow pending %s held %s, seller payable %s", got.Pending, got.Held(), f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
	var waiting int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM escrow_payouts WHERE escrow_id = $1 AND status IN ('pending_review', 'awaiting_confirmation')`, e.ID).Scan(&waiting); err != nil || waiting != 0 {
		t.Fatalf("%d payouts still wait (%v)", waiting, err)
	}
}
