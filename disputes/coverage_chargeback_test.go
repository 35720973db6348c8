package disputes_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/ledger"
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
// Since the chargeback voids the held coverage (and closes its review)
// the reviewer cannot reject it any more; the seller still keeps nothing.
func TestHeldCoverageIsNotClawedBackYet(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	rv := *f.refundFull(d).Settlement.Coverage.ReviewID
	cb := f.chargeback(e, "1000.00", "psp-then-reject", 48*time.Hour)
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, rv, false, "no", "reviewer"); !errors.Is(err, risk.ErrReviewDecided) {
		t.Fatalf("reject the coverage's review after the chargeback: %v, want review_decided", err)
	}
	f.checkBooks(e.ID)
	payable := f.balance("seller:" + e.Seller.ID + ":payable:EUR")
	recv := f.balance("receivable:seller:" + e.Seller.ID + ":EUR")
	t.Logf("chargeback: clawed back %s, loss %s, receivable %s; seller payable %s, receivable %s, chargeback loss %s",
		cb.ClawedBack, cb.Loss, cb.Receivable, payable, recv, f.balance("chargeback:loss:EUR"))
	if payable.Sub(recv).IsPositive() {
		t.Errorf("seller keeps %s (payable %s, owes %s) after a 1,000.00 chargeback of money it was paid; want 0 net", payable.Sub(recv), payable, recv)
	}
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Dispute.Resolution; r.CoverageStatus != disputes.CoverageVoided || !r.Covered.IsZero() {
		t.Fatalf("resolution %+v, want the coverage voided", r)
	}
}

// TestChargebackVoidsHeldCoverage: a 1,000.00 EUR order is released
// (seller payable 975.00), the buyer wins refund_full and the coverage
// (all 1,000.00, from the guarantee) waits for review; then the card
// network charges the 1,000.00 back. The chargeback voided every payout
// waiting for the gate, but not the held coverage: the reviewer then
// approved it and the buyer was paid 1,000.00 by the card network and
// 1,000.00 by the guarantee (the reviewer's
// TestReview70ChargebackWhileCoverageHeldPaysBuyerTwice). Now the
// chargeback voids the coverage first: its entries are released, its
// review is closed as superseded (approving it is review_decided), the
// resolution covers nothing (voided, event dispute.coverage_voided), and
// the chargeback claws the seller's 975.00 back, as for any released
// money (loss 25.00, the fee, with no receivable).
func TestChargebackVoidsHeldCoverage(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	out := f.refundFull(d)
	c := out.Settlement.Coverage
	if c.Status != escrow.StatusPendingReview || !c.Covered.Equal(dec("1000")) || c.ReviewID == nil {
		t.Fatalf("coverage %+v, want 1,000.00 held for review", c)
	}
	if r := out.Dispute.Resolution; r.CoverageReviewID == nil || *r.CoverageReviewID != *c.ReviewID {
		t.Fatalf("resolution %+v, want the coverage's review %s", r, *c.ReviewID)
	}
	cb := f.chargeback(e, "1000.00", "psp-while-held", 48*time.Hour)
	if !cb.FromHeld.IsZero() || !cb.ClawedBack.Equal(dec("975")) || !cb.Loss.Equal(dec("25")) || !cb.Receivable.IsZero() {
		t.Fatalf("chargeback from held %s, clawed back %s, loss %s, receivable %s; want 975.00 clawed back, 25.00 lost",
			cb.FromHeld, cb.ClawedBack, cb.Loss, cb.Receivable)
	}
	rv, err := f.risk.Review(f.ctx, f.tenant, *c.ReviewID)
	if err != nil || rv.Status != risk.ReviewRejected || rv.DecidedBy != risk.DecidedBySuperseded {
		t.Fatalf("coverage review %+v %v, want rejected by %s", rv, err, risk.DecidedBySuperseded)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *c.ReviewID, true, "ok", "reviewer"); !errors.Is(err, risk.ErrReviewDecided) {
		t.Fatalf("approve the coverage after the chargeback: %v, want review_decided", err)
	}
	f.coverageBalances(e, "0", "0", "0", "0", "0")
	if !f.balance("chargeback:loss:EUR").Equal(dec("25")) {
		t.Fatalf("chargeback loss %s", f.balance("chargeback:loss:EUR"))
	}
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Dispute.Resolution; r.CoverageStatus != disputes.CoverageVoided || !r.Covered.IsZero() || !r.Recovered.IsZero() ||
		!r.Receivable.IsZero() || len(r.CoverageEntryIDs) != 0 {
		t.Fatalf("resolution after the chargeback %+v, want the coverage voided", r)
	}
	p := f.lastEvent(e.ID, "dispute.coverage_voided")
	if p["dispute_id"] != d.ID.String() || p["chargeback_id"] != cb.ID.String() || p["coverage_amount"] != "1000.00" ||
		p["covered_amount"] != "0.00" || p["coverage_status"] != disputes.CoverageVoided || p["review_id"] != c.ReviewID.String() {
		t.Fatalf("dispute.coverage_voided %v", p)
	}
}

// TestNoNewClaimWhileCoverageWaits: while an earlier claim's coverage
// waits for review a new claim is refused (payouts_pending), as while a
// payout of an earlier claim's outcome waits: a chargeback booked during
// the new claim would void the coverage, and the new claim, withdrawn,
// would leave the award undone. Once the review is decided the buyer may
// claim again.
func TestNoNewClaimWhileCoverageWaits(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	amt := "400.00"
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: &amt, Rationale: "scratched"}, "agent-7")
	if err != nil || out.Settlement.Coverage.Status != escrow.StatusPendingReview {
		t.Fatalf("resolve: %v %+v", err, out.Settlement.Coverage)
	}
	req := disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: "100.00", Description: "another defect"}
	if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
		t.Fatalf("a new claim of 100.00 (600.00 still claimable) while the coverage waits: %v, want payouts_pending", err)
	}
	f.approvePending()
	if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); err != nil {
		t.Fatalf("a new claim once the coverage was paid: %v", err)
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

// TestVoidedCoverageIsPaidAgainWhenTheChargebackIsDecided: the agent's
// refund_full still stands after a chargeback voided its coverage, so the
// coverage is paid again, through the gate, once the card network has
// decided: all of it when the chargeback is won (the reversal took the
// buyer's money back), what the chargeback did not pay the buyer when it
// is lost or expires (nothing when it paid everything). In every branch
// the buyer ends with 1,000.00 (card network plus guarantee), the seller
// with nothing (payable 0, owing 25.00, the fee the platform kept, except
// when the card network took the 1,000.00 and the platform bears the
// 25.00 as a chargeback loss), and the books balance. While the
// chargeback is undecided no new claim is accepted: what the buyer could
// claim is what the coverage owes.
func TestVoidedCoverageIsPaidAgainWhenTheChargebackIsDecided(t *testing.T) {
	for _, tc := range []struct {
		name, amount, decision string
		resumed                string // coverage paid again, "" for none
		buyer, receivable      string // buyer:<b>:refund, receivable:seller after the decision
		loss                   string // chargeback:loss
	}{
		{"full won", "1000.00", "won", "1000.00", "1000", "25", "0"},
		{"full lost", "1000.00", "lost", "", "0", "0", "25"},
		{"partial won", "400.00", "won", "1000.00", "1000", "25", "0"},
		{"partial lost", "400.00", "lost", "600.00", "600", "25", "0"},
		{"partial expired", "400.00", "expired", "600.00", "600", "25", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			e, d := f.completedClaim(nil)
			first := *f.refundFull(d).Settlement.Coverage.ReviewID
			cb := f.chargeback(e, tc.amount, "psp-"+tc.decision, 48*time.Hour)
			req := disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: "0.01", Description: "d"}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("a new claim while the chargeback that voided the coverage is undecided: %v, want payouts_pending", err)
			}
			var err error
			switch tc.decision {
			case "won":
				f.defend(cb)
				_, err = f.svc.WinChargeback(f.ctx, f.tenant, cb.ID)
			case "lost":
				_, err = f.svc.LoseChargeback(f.ctx, f.tenant, cb.ID)
			case "expired":
				f.clock.Advance(49 * time.Hour)
				f.runJobs()
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.decision, err)
			}
			got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			r := got.Dispute.Resolution
			if tc.resumed == "" {
				if r.CoverageStatus != disputes.CoverageVoided || !r.Covered.IsZero() {
					t.Fatalf("resolution %+v, want the coverage still voided", r)
				}
				if n := len(f.events(e.ID)); contains(f.events(e.ID), "dispute.coverage_resumed") {
					t.Fatalf("coverage resumed (%d events)", n)
				}
			} else {
				if r.CoverageStatus != escrow.StatusPendingReview || !r.Covered.Equal(dec(tc.resumed)) || r.CoverageReviewID == nil || *r.CoverageReviewID == first {
					t.Fatalf("resolution %+v, want %s paid again, waiting for a new review", r, tc.resumed)
				}
				p := f.lastEvent(e.ID, "dispute.coverage_resumed")
				if p["chargeback_id"] != cb.ID.String() || p["coverage_amount"] != tc.resumed || p["coverage_status"] != escrow.StatusPendingReview ||
					p["review_id"] != r.CoverageReviewID.String() {
					t.Fatalf("dispute.coverage_resumed %v", p)
				}
				f.checkBooks(e.ID)
				f.approvePending()
				if p := f.lastEvent(e.ID, "dispute.coverage_completed"); p["coverage_amount"] != tc.resumed {
					t.Fatalf("dispute.coverage_completed %v", p)
				}
			}
			f.coverageBalances(e, tc.buyer, "0", "0", tc.receivable, "0")
			if loss := f.balance("chargeback:loss:EUR"); !loss.Equal(dec(tc.loss)) {
				t.Fatalf("chargeback loss %s, want %s", loss, tc.loss)
			}
			// Decided: the buyer may claim again (nothing is left to claim).
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("a new claim after the decision: %v", err)
			}
		})
	}
}

// TestCoverageCountsTheOutcomesRefund: refunds add up for the gate
// (escrow_payouts_usd_24h), so that splitting a refund does not avoid the
// review a refund over USD 10,000 gets. A dispute outcome on a 16,000.00
// EUR order with one 8,000.00 milestone released pays the buyer 8,000.00
// from the escrow and 8,000.00 from the guarantee: the coverage was
// decided on its own (cover passed no EscrowPayouts), so EUR 16,000 (USD
// 17,280) reached the buyer in one resolution with no review (the
// reviewer's TestReview70CoverageSplitFromOutcomeRefundSkipsLargeRefundReview).
// Now the coverage counts the outcome's refund: stepped up by
// large_amount_24h, and, unattended, held for review.
func TestCoverageCountsTheOutcomesRefund(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("16000.00", func(r *escrow.CreateRequest) {
		r.Milestones = []escrow.MilestoneInput{{Name: "a", Amount: "8000.00"}, {Name: "b", Amount: "8000.00"}}
	})
	m := 0
	if r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Milestone: &m}); err != nil || r.Release.Status != escrow.StatusCompleted {
		t.Fatalf("release milestone 0: %v %+v", err, r.Release)
	}
	d := f.escalated(e, disputes.ReasonNotAsDescribed, "16000.00")
	st := f.refundFull(d).Settlement
	if st.Refund == nil || st.Refund.Status != escrow.StatusCompleted || !st.Refund.Gross.Equal(dec("8000")) {
		t.Fatalf("refund from the escrow %+v, want 8,000.00 paid", st.Refund)
	}
	c := st.Coverage
	if c.Status != escrow.StatusPendingReview || !c.Covered.Equal(dec("8000")) || !hasReason(c.Risk, risk.ReasonLargeAmount24h) {
		t.Fatalf("coverage %s %s %+v, want 8,000.00 held for review by %s: the buyer gets EUR 16,000 in one outcome",
			c.Covered, c.Status, c.Risk, risk.ReasonLargeAmount24h)
	}
	f.checkBooks(e.ID)
	f.coverageBalances(e, "8000", "7800", "0", "0", "0") // the payable (8,000.00 less the fee) held for the recovery
}

// TestCoverageCountsEarlierCoverage: coverage of an earlier claim on the
// escrow, paid in the last 24 hours, counts too: two claims of 6,000.00
// covered from the guarantee on a 16,000.00 EUR order released in full
// (two milestones a day apart, each under USD 10,000) are EUR 12,000 (USD
// 12,960) to the buyer, and the second waits for review.
func TestCoverageCountsEarlierCoverage(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("16000.00", func(r *escrow.CreateRequest) {
		r.Milestones = []escrow.MilestoneInput{{Name: "a", Amount: "8000.00"}, {Name: "b", Amount: "8000.00"}}
	})
	for m := range 2 {
		if r, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Milestone: &m}); err != nil || r.Release.Status != escrow.StatusCompleted {
			t.Fatalf("release milestone %d: %v %+v", m, err, r.Release)
		}
		f.clock.Advance(25 * time.Hour)
	}
	amt := "6000.00"
	resolve := func() escrow.Coverage {
		t.Helper()
		d := f.escalated(e, disputes.ReasonDamaged, amt)
		out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: &amt, Rationale: "r"}, "agent")
		if err != nil {
			t.Fatal(err)
		}
		return out.Settlement.Coverage
	}
	if c := resolve(); c.Status != escrow.StatusCompleted || !c.Covered.Equal(dec("6000")) {
		t.Fatalf("first coverage %s %s %+v, want 6,000.00 paid", c.Covered, c.Status, c.Risk)
	}
	f.clock.Advance(time.Hour)
	if c := resolve(); c.Status != escrow.StatusPendingReview || !hasReason(c.Risk, risk.ReasonLargeAmount24h) {
		t.Fatalf("second coverage %s %s %+v, want 6,000.00 held for review by %s", c.Covered, c.Status, c.Risk, risk.ReasonLargeAmount24h)
	}
	f.checkBooks(e.ID)
}

// TestHeldRecoveryTakesWhatThePayableStillHas: while the coverage waits
// for review the recovery only holds the seller's payable, and finance
// can still pay the seller out (an adjustment debiting the payable; the
// account has no overdraft guard). Approving the coverage then committed
// the whole recovery and drove the payable to −975.00 instead of booking
// what the seller owes as a receivable (the reviewer's
// TestReview70HeldRecoveryDoesNotStopSellerPayout). Now the approval
// recovers what the payable still has and the rest stays receivable.
func TestHeldRecoveryTakesWhatThePayableStillHas(t *testing.T) {
	for _, tc := range []struct {
		name, paidOut, recovered, receivable string
	}{
		{"all paid out", "975", "0", "1000"},
		{"part paid out", "500", "475", "525"},
		{"nothing paid out", "0", "975", "25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			e, d := f.completedClaim(nil)
			f.refundFull(d)
			payable := "seller:" + e.Seller.ID + ":payable:EUR"
			if dec(tc.paidOut).IsPositive() {
				pa, err := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, payable)
				if err != nil {
					t.Fatal(err)
				}
				ca, err := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, "cash:psp:EUR")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := (&ledger.Service{DB: f.db, Clock: f.clock}).PostAdjustment(f.ctx, ledger.Adjustment{TenantID: f.tenant, Reference: "payout-held",
					Reason: "payout to the seller's bank", Postings: []ledger.Posting{
						{AccountID: pa.ID, Direction: ledger.SideDebit, Amount: dec(tc.paidOut), Currency: "EUR"},
						{AccountID: ca.ID, Direction: ledger.SideCredit, Amount: dec(tc.paidOut), Currency: "EUR"}}}); err != nil {
					t.Fatalf("seller payout while the recovery waits: %v", err)
				}
			}
			f.approvePending()
			f.coverageBalances(e, "1000", "0", "0", tc.receivable, "0")
			got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r := got.Dispute.Resolution; r.CoverageStatus != escrow.StatusCompleted || !r.Covered.Equal(dec("1000")) ||
				!r.Recovered.Equal(dec(tc.recovered)) || !r.Receivable.Equal(dec(tc.receivable)) {
				t.Fatalf("resolution %+v, want recovered %s, receivable %s", r, tc.recovered, tc.receivable)
			}
			p := f.lastEvent(e.ID, "dispute.coverage_completed")
			if p["recovered_amount"] != dec(tc.recovered).StringFixed(2) || p["receivable_amount"] != dec(tc.receivable).StringFixed(2) {
				t.Fatalf("dispute.coverage_completed %v", p)
			}
		})
	}
}
