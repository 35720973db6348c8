package disputes_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/risk"
)

// completedClaim is a delivered 1,000.00 EUR escrow (2.5% fee paid by the
// seller) the buyer accepted, so its money is released (seller payable
// 975.00), with a not_as_described claim of all of it escalated to an
// agent: refund_full is paid by the guarantee (coverage).
func (f *fixture) completedClaim(mutate func(*escrow.CreateRequest)) (escrow.Escrow, disputes.Dispute) {
	f.t.Helper()
	e := f.delivered("1000.00", mutate)
	if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
		f.t.Fatal(err)
	}
	return e, f.escalated(e, disputes.ReasonNotAsDescribed, "1000.00")
}

func (f *fixture) refundFull(d disputes.Dispute) disputes.Outcome {
	f.t.Helper()
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "photos show damage"}, "agent-7")
	if err != nil {
		f.t.Fatalf("resolve refund_full: %v", err)
	}
	return out
}

// coverageBalances checks the accounts coverage books on: the buyer's
// refund, the seller's payable (posted and available) and receivable, and
// the guarantee.
func (f *fixture) coverageBalances(e escrow.Escrow, buyer, payable, payableAvailable, receivable, guarantee string) {
	f.t.Helper()
	got := map[string]string{}
	want := map[string]string{"buyer": buyer, "payable": payable, "payable available": payableAvailable, "receivable": receivable, "guarantee": guarantee}
	got["buyer"] = f.balance("buyer:" + e.Buyer.ID + ":refund:EUR").String()
	got["payable"] = f.balance("seller:" + e.Seller.ID + ":payable:EUR").String()
	got["payable available"] = f.available("seller:" + e.Seller.ID + ":payable:EUR").String()
	got["receivable"] = f.balance("receivable:seller:" + e.Seller.ID + ":EUR").String()
	got["guarantee"] = f.balance("guarantee:EUR").String()
	for k, w := range want {
		if !dec(got[k]).Equal(dec(w)) {
			f.t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}
	f.checkBooks(e.ID)
}

// available is the available balance (posted less pending outflows) of an
// account code; zero when the account does not exist.
func (f *fixture) available(code string) decimal.Decimal { return f.balances(code).Available }

func hasReason(r *escrow.RiskSummary, code string) bool {
	if r == nil {
		return false
	}
	for _, x := range r.Reasons {
		if x.Code == code {
			return true
		}
	}
	return false
}

// TestCoverageToFrozenPartyIsBlocked: issue 6 says that while a party is
// frozen every refund payout to or from it is blocked (party_frozen), and
// that every refund passes the gate. Coverage (a dispute won after the
// money was released, paid from the guarantee) is a refund to the buyer:
// it used to be posted without asking the gate, so a frozen buyer was
// paid 1,000.00. Now the gate blocks it and nothing moves: no coverage,
// receivable or recovery, covered_amount 0, coverage status blocked, the
// decision stored with party_frozen. The outcome still resolves the
// claim, and once the freeze is lifted the buyer may claim it again.
func TestCoverageToFrozenPartyIsBlocked(t *testing.T) {
	for _, frozen := range []string{disputes.PartyBuyer, disputes.PartySeller} {
		t.Run(frozen, func(t *testing.T) {
			f := newFixture(t)
			e, d := f.completedClaim(nil)
			party := e.Buyer.ID
			if frozen == disputes.PartySeller {
				party = e.Seller.ID
			}
			if _, err := f.risk.Freeze(f.ctx, f.tenant, party, "suspected account takeover"); err != nil {
				t.Fatal(err)
			}
			out := f.refundFull(d)
			c, r := out.Settlement.Coverage, out.Dispute.Resolution
			if c.Status != escrow.StatusBlocked || !c.Covered.IsZero() || !c.Needed.Equal(dec("1000")) || len(c.EntryIDs) != 0 ||
				c.Risk == nil || c.Risk.Decision != risk.OutcomeBlock || !hasReason(c.Risk, risk.ReasonPartyFrozen) {
				t.Fatalf("coverage %+v risk %+v, want blocked by party_frozen with nothing covered", c, c.Risk)
			}
			if r.CoverageStatus != escrow.StatusBlocked || !r.Covered.IsZero() || !r.Recovered.IsZero() || !r.Receivable.IsZero() ||
				r.CoverageDecisionID == nil || *r.CoverageDecisionID != c.Risk.DecisionID {
				t.Fatalf("resolution %+v", r)
			}
			f.coverageBalances(e, "0", "975", "975", "0", "0")
			if got := f.escrow(e.ID); got.State != escrow.Completed {
				t.Fatalf("escrow %s after the outcome", got.State)
			}
			// Nothing was covered: after the unfreeze the buyer can claim it again.
			if _, err := f.risk.Unfreeze(f.ctx, f.tenant, party); err != nil {
				t.Fatal(err)
			}
			again := f.refundFull(f.escalated(e, disputes.ReasonNotAsDescribed, "1000.00"))
			if c := again.Settlement.Coverage; c.Status != escrow.StatusCompleted || !c.Covered.Equal(dec("1000")) {
				t.Fatalf("second claim's coverage %+v", c)
			}
			f.coverageBalances(e, "1000", "0", "0", "25", "0")
		})
	}
}

// TestCoverageToSanctionedBuyerIsBlocked: a buyer whose name is on the
// sanctions list (loaded after the money was released) is not paid the
// coverage: sanctions_match blocks it, as it blocks any refund.
func TestCoverageToSanctionedBuyerIsBlocked(t *testing.T) {
	f := newFixture(t)
	e, d := f.completedClaim(func(r *escrow.CreateRequest) { r.Buyer.Name = "Mohammad Shawqi Islambouli" })
	csv := `2682,"ISLAMBOULI, Mohammad Shawqi","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-` + "\n"
	if _, err := f.risk.LoadSanctions(f.ctx, f.tenant, strings.NewReader(csv), "test"); err != nil {
		t.Fatal(err)
	}
	out := f.refundFull(d)
	if c := out.Settlement.Coverage; c.Status != escrow.StatusBlocked || !c.Covered.IsZero() || !hasReason(c.Risk, risk.ReasonSanctionsMatch) {
		t.Fatalf("coverage %+v risk %+v, want blocked by sanctions_match", c, c.Risk)
	}
	f.coverageBalances(e, "0", "975", "975", "0", "0")
}

// TestCoverageWaitsForReview: coverage the gate sends to review is held,
// as a refund payout is: its entries are pending (the buyer is not paid,
// the seller's payable is held for the recovery) and the resolution
// counts it as covered, so the coverage limit and what the buyer may
// still claim count it. Approving the review posts it; the books balance
// at every step.
func TestCoverageWaitsForReview(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	out := f.refundFull(d)
	c, r := out.Settlement.Coverage, out.Dispute.Resolution
	if c.Status != escrow.StatusPendingReview || c.ReviewID == nil || !c.Covered.Equal(dec("1000")) || !c.Recovered.Equal(dec("975")) ||
		!c.Receivable.Equal(dec("25")) || len(c.EntryIDs) != 3 {
		t.Fatalf("coverage %+v, want 1,000.00 held for review", c)
	}
	if r.CoverageStatus != escrow.StatusPendingReview || !r.Covered.Equal(dec("1000")) || len(r.CoverageEntryIDs) != 3 {
		t.Fatalf("resolution %+v", r)
	}
	f.coverageBalances(e, "0", "975", "0", "0", "0")
	// Held as covered: nothing is left to claim (and no claim is accepted
	// while it waits: TestNoNewClaimWhileCoverageWaits).
	if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: "0.01", Description: "d"}); err == nil {
		t.Fatal("a new claim while the whole order's coverage waits for review")
	}
	rv := f.pendingReview()
	if rv.ID != *c.ReviewID || rv.SubjectType != escrow.SubjectCoverage || rv.SubjectID != d.ID {
		t.Fatalf("review %+v, want the coverage of dispute %s", rv, d.ID)
	}
	decided, err := f.risk.DecideReview(f.ctx, f.tenant, rv.ID, true, "ok", "reviewer")
	if err != nil || decided.SubjectStatus != escrow.StatusCompleted {
		t.Fatalf("approve: %v %q", err, decided.SubjectStatus)
	}
	f.coverageBalances(e, "1000", "0", "0", "25", "0")
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Dispute.Resolution; r.CoverageStatus != escrow.StatusCompleted || !r.Covered.Equal(dec("1000")) || len(r.CoverageEntryIDs) != 3 || r.CoverageEntryIDs[0] == c.EntryIDs[0] {
		t.Fatalf("resolution after approval %+v, want completed with the posted entries", r)
	}
}

// TestCoverageRejectedMovesNothing: a coverage whose review is rejected
// moves nothing, its held entries released, and the resolution covered
// nothing: the buyer may claim the money again.
func TestCoverageRejectedMovesNothing(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	f.refundFull(d)
	f.rejectPending()
	f.coverageBalances(e, "0", "975", "975", "0", "0")
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Dispute.Resolution; r.CoverageStatus != escrow.StatusRejected || !r.Covered.IsZero() || !r.Recovered.IsZero() || !r.Receivable.IsZero() {
		t.Fatalf("resolution after rejection %+v", r)
	}
	f.open(e, disputes.ReasonNotAsDescribed, "1000.00")
}

// TestCoverageApprovalRefusedWhileFrozen: a freeze after the gate held the
// coverage stops its approval, as it stops a held payout's: the review
// stays pending and nothing moves until the freeze is lifted.
func TestCoverageApprovalRefusedWhileFrozen(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e, d := f.completedClaim(nil)
	f.refundFull(d)
	rv := f.pendingReview()
	if _, err := f.risk.Freeze(f.ctx, f.tenant, e.Buyer.ID, "chargeback fraud"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, rv.ID, true, "ok", "reviewer"); !errors.Is(err, risk.ErrPartyFrozen) {
		t.Fatalf("approve while the buyer is frozen: %v, want party_frozen", err)
	}
	if f.pendingReview().ID != rv.ID {
		t.Fatal("the review is no longer pending")
	}
	f.coverageBalances(e, "0", "975", "0", "0", "0")
	if _, err := f.risk.Unfreeze(f.ctx, f.tenant, e.Buyer.ID); err != nil {
		t.Fatal(err)
	}
	f.approvePending()
	f.coverageBalances(e, "1000", "0", "0", "25", "0")
}
