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
