package disputes_test

import (
	"testing"
	"time"

	"github.com/escrowd/escrowd/escrow"
)

// TestHeldCoverageIsNotClawedBackYet: a chargeback counts what the
// escrow's coverage already took back from the seller (ClawedBefore), so
// that the seller is not asked for the same money twice. Coverage still
// waiting for review took nothing: its recovery is a pending hold that a
// rejection releases. It used to count (covered_amount of every resolved
// dispute), so a 1,000.00 chargeback while 1,000.00 of coverage waited
// clawed nothing back and booked no receivable; the rejection then gave
// the seller its 975.00 back, and the seller kept money the card network
// returned to the buyer (the reviewer's
// TestReview70ChargebackWhileCoverageHeldThenRejectedSellerKeepsMoney).
func TestHeldCoverageIsNotClawedBackYet(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	f.refundFull(d)
	cb := f.chargeback(e, "1000.00", "psp-then-reject", 48*time.Hour)
	f.rejectPending()
	f.checkBooks(e.ID)
	payable := f.balance("seller:" + e.Seller.ID + ":payable:EUR")
	recv := f.balance("receivable:seller:" + e.Seller.ID + ":EUR")
	t.Logf("chargeback: clawed back %s, loss %s, receivable %s; after rejection seller payable %s, receivable %s, chargeback loss %s",
		cb.ClawedBack, cb.Loss, cb.Receivable, payable, recv, f.balance("chargeback:loss:EUR"))
	if payable.Sub(recv).IsPositive() {
		t.Errorf("seller keeps %s (payable %s, owes %s) after a 1,000.00 chargeback of money it was paid; want 0 net", payable.Sub(recv), payable, recv)
	}
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Dispute.Resolution; r.CoverageStatus != escrow.StatusRejected || !r.Covered.IsZero() {
		t.Fatalf("resolution %+v, want the coverage rejected", r)
	}
}
