package disputes_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/risk"
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

// lastEvent is the payload of the tenant's last event of typ about subject.
func (f *fixture) lastEvent(subject uuid.UUID, typ string) map[string]any {
	f.t.Helper()
	evs, err := outbox.ListEvents(f.ctx, f.db, f.tenant, uuid.Nil, typ, outbox.MaxListLimit)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].SubjectID == subject.String() {
			var p map[string]any
			if err := json.Unmarshal(evs[i].Payload, &p); err != nil {
				f.t.Fatal(err)
			}
			return p
		}
	}
	f.t.Fatalf("no %s event about %s; events %v", typ, subject, f.events(subject))
	return nil
}

// TestHeldCoverageDecisionIsOnTheEscrowTimeline: when the coverage that
// waited for review is paid (approved) or not (rejected, expired), an
// event about the escrow says so, as dispute.resolved said it was held.
// Nothing did: the only later event was the risk review's, whose subject
// is the dispute (the reviewer's
// TestReview70HeldCoverageOutcomeNotOnEscrowTimeline).
func TestHeldCoverageDecisionIsOnTheEscrowTimeline(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		decide                   func(f *fixture)
		typ, status, covered, by string
	}{
		{"approved", (*fixture).approvePending, "dispute.coverage_completed", escrow.StatusCompleted, "1000.00", "reviewer"},
		{"rejected", (*fixture).rejectPending, "dispute.coverage_rejected", escrow.StatusRejected, "0.00", "reviewer"},
		{"expired", func(f *fixture) { f.clock.Advance(73 * time.Hour); f.runJobs() }, "dispute.coverage_rejected", escrow.StatusRejected, "0.00", risk.DecidedByExpiry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			e, d := f.completedClaim(nil)
			f.refundFull(d)
			before := len(f.events(e.ID))
			tc.decide(f)
			after := f.events(e.ID)
			if len(after) != before+1 || after[before] != tc.typ {
				t.Fatalf("escrow events after the decision %v, want one %s", after[before:], tc.typ)
			}
			p := f.lastEvent(e.ID, tc.typ)
			if p["dispute_id"] != d.ID.String() || p["escrow_id"] != e.ID.String() || p["coverage_status"] != tc.status ||
				p["coverage_amount"] != "1000.00" || p["covered_amount"] != tc.covered || p["decided_by"] != tc.by || p["review_id"] == nil {
				t.Fatalf("%s %v", tc.typ, p)
			}
		})
	}
}
