package disputes_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/risk"
)

// reviewAbove makes the tenant's gate send payouts of op above 50 USD to
// review, on top of the default rules.
func (f *fixture) reviewAbove(op string) { f.gateAbove(op, risk.OutcomeReview) }

// gateAbove makes the tenant's gate answer outcome (review, block) for
// payouts of op above 50 USD, on top of the default rules.
func (f *fixture) gateAbove(op, outcome string) {
	f.t.Helper()
	rules := append(risk.DefaultRules().Rules, risk.Rule{ID: "big_" + op, When: `operation == "` + op + `" && amount_usd_cents > 5000`,
		Action: outcome, Reason: "big_" + op})
	if _, err := f.risk.PutRules(f.ctx, f.tenant, risk.RuleSetInput{Rules: rules}, "test"); err != nil {
		f.t.Fatal(err)
	}
}

// funded creates an escrow of amount EUR and funds it in full.
func (f *fixture) funded(amount string) escrow.Escrow {
	f.t.Helper()
	e := f.create(amount, nil)
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: amount, Currency: "EUR", PaymentRef: "p1"}); err != nil {
		f.t.Fatal(err)
	}
	return e
}

// escalated opens a dispute on e and has the seller escalate it.
func (f *fixture) escalated(e escrow.Escrow, reason, amount string) disputes.Dispute {
	f.t.Helper()
	d := f.open(e, reason, amount)
	if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// refundFullWaiting is a delivered 100.00 escrow whose claim an agent
// resolved refund_full, the refund waiting for a risk review (refunds go
// to review): the outcome a chargeback then suspends.
func (f *fixture) refundFullWaiting() (escrow.Escrow, disputes.Outcome) {
	f.t.Helper()
	f.reviewAbove("refund")
	e := f.delivered("100.00", nil)
	d := f.escalated(e, disputes.ReasonDamaged, "100.00")
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}, "agent")
	if err != nil || out.Settlement.Refund == nil || out.Settlement.Refund.Status != escrow.StatusPendingReview {
		f.t.Fatalf("resolve refund_full: %v %+v", err, out.Settlement.Refund)
	}
	return e, out
}

// TestChargebackVoidsPayoutsOnHold: a chargeback that arrives while a
// dispute refund waits for review voids the refund and takes the money
// from the escrow, so the buyer is not paid twice (the refund approved
// after the card network paid).
func TestChargebackVoidsPayoutsOnHold(t *testing.T) {
	f := newFixture(t)
	e, out := f.refundFullWaiting()
	cb := f.chargeback(e, "100.00", "psp-double", 48*time.Hour)
	if !cb.FromHeld.Equal(e.Amount) || !cb.Loss.IsZero() {
		t.Fatalf("chargeback took %s from the escrow and booked a loss of %s, want %s and 0", cb.FromHeld, cb.Loss, e.Amount)
	}
	// The voided refund's review left the reviewers' queue.
	if rvs, err := f.risk.ListReviews(f.ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10); err != nil || len(rvs) != 0 {
		t.Fatalf("pending reviews after the chargeback: %d, %v; want none", len(rvs), err)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *out.Settlement.Refund.ReviewID, true, "ok", "reviewer"); !errors.Is(err, risk.ErrReviewDecided) {
		t.Fatalf("approving the voided refund: %v, want ErrReviewDecided", err)
	}
	if _, err := f.svc.LoseChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	got := f.checkEscrow(e.ID)
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.IsZero() {
		t.Fatalf("buyer refunded %s on top of the %s chargeback", refund, cb.Amount)
	}
	if !f.balance("chargeback:loss:EUR").IsZero() || got.Held().IsPositive() {
		t.Fatalf("loss %s, escrow %s holds %s", f.balance("chargeback:loss:EUR"), got.State, got.Held())
	}
}

// TestLargeDisputeRefundGoesToReview: a refund the default rules would
// step up (over USD 10,000) cannot be confirmed by the buyer's code, so it
// goes to review, and the approval refunds the buyer.
func TestLargeDisputeRefundGoesToReview(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("20000.00", nil)
	d := f.escalated(e, disputes.ReasonDamaged, "20000.00")
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}, "agent")
	if err != nil {
		t.Fatal(err)
	}
	rf := out.Settlement.Refund
	if rf == nil || rf.Status != escrow.StatusPendingReview || rf.ReviewID == nil {
		t.Fatalf("refund %+v, want pending_review with a review", rf)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *rf.ReviewID, true, "ok", "reviewer"); err != nil {
		t.Fatal(err)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Refunded || !got.Refunded.Equal(e.Amount) {
		t.Fatalf("escrow %s, refunded %s, want refunded %s", got.State, got.Refunded, e.Amount)
	}
}

// TestWonChargebackAfterCancelRefundsBuyer: money a won chargeback puts
// back into an escrow cancelled meanwhile goes to the buyer, as the
// cancellation's refund did, instead of staying in a state with no action.
func TestWonChargebackAfterCancelRefundsBuyer(t *testing.T) {
	f := newFixture(t)
	e := f.funded("100.00")
	cb := f.chargeback(e, "40.00", "psp-cancel", 48*time.Hour)
	c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "buyer changed mind"})
	if err != nil || c.Escrow.ClosedAt == nil {
		t.Fatalf("cancel: %v, closed at %v", err, c.Escrow.ClosedAt)
	}
	closedAt := *c.Escrow.ClosedAt
	f.clock.Advance(time.Hour)
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Cancelled || got.Held().IsPositive() || !got.Refunded.Equal(e.Amount) {
		t.Fatalf("escrow %s holds %s, refunded %s; want cancelled, 0 held, %s refunded", got.State, got.Held(), got.Refunded, e.Amount)
	}
	if got.ClosedAt == nil || !got.ClosedAt.Equal(closedAt) || count(f.events(e.ID), "escrow.cancelled") != 1 {
		t.Fatalf("closed_at %v (was %s), events %v: want the close unchanged and one escrow.cancelled", got.ClosedAt, closedAt, f.events(e.ID))
	}
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.Equal(e.Amount) {
		t.Fatalf("buyer refunded %s, want %s", refund, e.Amount)
	}
}

// TestApprovalWaitsForDispute: a release waiting for review when a claim
// is opened is not approved while the claim is open; the claim's outcome
// voids it. (A payout of an earlier claim's outcome cannot wait through a
// claim: the claim is refused, TestClaimRefusedWhileOutcomePayoutWaits.)
func TestApprovalWaitsForDispute(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("release")
	e := f.delivered("1000.00", nil)
	amt := "100.00"
	rel, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: &amt})
	if err != nil || rel.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("release: %v %+v", err, rel.Release)
	}
	f.open(e, disputes.ReasonNotAsDescribed, "900.00")
	var state *escrow.InvalidStateError
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *rel.Release.ReviewID, true, "ok", "reviewer"); !errors.As(err, &state) {
		t.Fatalf("approval during the dispute: %v, want an invalid state error", err)
	}
	if got := f.checkEscrow(e.ID); got.Released.IsPositive() || got.State != escrow.Disputed {
		t.Fatalf("escrow %s released %s during the dispute", got.State, got.Released)
	}
}

// TestClaimWindowAfterUndeliveredClose: an escrow released in full before
// delivery takes claims for claim_window_days after it closed, not
// forever.
func TestClaimWindowAfterUndeliveredClose(t *testing.T) {
	f := newFixture(t)
	e := f.funded("100.00")
	if res, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{}); err != nil || res.Escrow.State != escrow.Completed {
		t.Fatalf("release: %v", err)
	}
	req := disputes.OpenRequest{Reason: disputes.ReasonNotReceived, ClaimedAmount: "100.00", Description: "never came"}
	f.clock.Advance(time.Duration(e.Terms.ClaimWindowDays)*24*time.Hour + time.Minute)
	var closed *disputes.ClaimWindowError
	if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.As(err, &closed) {
		t.Fatalf("claim %d days after the close: %v, want a claim window error", e.Terms.ClaimWindowDays, err)
	}
	f.clock.Advance(-48 * time.Hour) // back within the window
	if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); err != nil {
		t.Fatalf("claim within the window: %v", err)
	}
}

// TestChargebackOnCancelledEscrow: a payment refunded by a cancellation
// can still be charged back; the chargeback is booked as on a refunded
// escrow (nothing held, nothing released: all of it a loss), and winning
// it moves the money back without reopening the escrow.
func TestChargebackOnCancelledEscrow(t *testing.T) {
	f := newFixture(t)
	e := f.funded("100.00")
	if _, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"}); err != nil {
		t.Fatal(err)
	}
	cb := f.chargeback(e, "100.00", "psp-after-cancel", 48*time.Hour)
	if !cb.FromHeld.IsZero() || !cb.Loss.Equal(e.Amount) {
		t.Fatalf("chargeback took %s from the escrow, loss %s; want 0 and %s", cb.FromHeld, cb.Loss, e.Amount)
	}
	if loss := f.balance("chargeback:loss:EUR"); !loss.Equal(e.Amount) {
		t.Fatalf("chargeback:loss %s, want %s", loss, e.Amount)
	}
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Cancelled || got.Held().IsPositive() || !f.balance("chargeback:loss:EUR").IsZero() {
		t.Fatalf("after the win: escrow %s holds %s, loss %s", got.State, got.Held(), f.balance("chargeback:loss:EUR"))
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// pendingReview is the tenant's one pending review.
func (f *fixture) pendingReview() risk.Review {
	f.t.Helper()
	rvs, err := f.risk.ListReviews(f.ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10)
	if err != nil || len(rvs) != 1 {
		f.t.Fatalf("pending reviews: %d, %v; want one", len(rvs), err)
	}
	return rvs[0]
}

// TestWonChargebackAfterCancelStaysClosed: when the gate holds the refund
// of money a won chargeback brought back into a cancelled escrow, the
// escrow stays cancelled; after a rejection the money is still the
// buyer's, and a refund (allowed in a cancelled escrow) moves it.
func TestWonChargebackAfterCancelStaysClosed(t *testing.T) {
	f := newFixture(t)
	e := f.funded("100.00")
	cb := f.chargeback(e, "100.00", "psp-all", 48*time.Hour)
	c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
	if err != nil || c.Escrow.State != escrow.Cancelled {
		t.Fatalf("cancel: %v", err)
	}
	f.reviewAbove("refund")
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Cancelled || !got.Pending.Equal(e.Amount) || got.ClosedAt == nil || !got.ClosedAt.Equal(*c.Escrow.ClosedAt) {
		t.Fatalf("after the win: escrow %s, pending %s, closed at %v; want cancelled, %s pending, closed as before", got.State, got.Pending, got.ClosedAt, e.Amount)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, f.pendingReview().ID, false, "no", "reviewer"); err != nil {
		t.Fatal(err)
	}
	if got = f.checkEscrow(e.ID); got.State != escrow.Cancelled || !got.Held().Equal(e.Amount) {
		t.Fatalf("after the rejection: escrow %s holds %s", got.State, got.Held())
	}
	r, err := f.esc.Refund(f.ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "100.00", Reason: "the order is cancelled"})
	if err != nil || r.Refund.Status != escrow.StatusPendingReview {
		t.Fatalf("refund in the cancelled escrow: %v, %+v", err, r.Refund)
	}
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, *r.Refund.ReviewID, true, "ok", "reviewer"); err != nil {
		t.Fatal(err)
	}
	got = f.checkEscrow(e.ID)
	if got.State != escrow.Cancelled || got.Held().IsPositive() || count(f.events(e.ID), "escrow.cancelled") != 1 {
		t.Fatalf("escrow %s holds %s, events %v", got.State, got.Held(), f.events(e.ID))
	}
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.Equal(e.Amount) {
		t.Fatalf("buyer refunded %s, want %s", refund, e.Amount)
	}
}

// TestPartialChargebackKeepsTheCancellation: a chargeback voids a
// cancellation's refund waiting for review, takes its part, and the
// cancellation still stands: the rest is refunded and the escrow closes.
func TestPartialChargebackKeepsTheCancellation(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e := f.funded("100.00")
	c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
	if err != nil || c.Refund.Status != escrow.StatusPendingReview {
		t.Fatalf("cancel: %v, %+v", err, c.Refund)
	}
	cb := f.chargeback(e, "60.00", "psp-part", 48*time.Hour) // the 40 left is under the review rule's 50 USD
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Cancelled || got.Held().IsPositive() || got.ClosedAt == nil {
		t.Fatalf("after the chargeback: escrow %s holds %s, closed at %v; want cancelled, nothing held", got.State, got.Held(), got.ClosedAt)
	}
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.Add(cb.FromHeld).Equal(e.Amount) {
		t.Fatalf("buyer refunded %s and charged back %s, want %s in all", refund, cb.FromHeld, e.Amount)
	}
}

// TestChargebackWhileAwaitingFunding: money captured for an escrow still
// awaiting the rest of its funding can be charged back; the chargeback
// takes it from the escrow, which keeps waiting for its funding, and
// winning it holds the money again. (It was refused with 409, leaving
// cash:psp out of step with the PSP's statement.)
func TestChargebackWhileAwaitingFunding(t *testing.T) {
	f := newFixture(t)
	e := f.create("100.00", nil)
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "40.00", Currency: "EUR", PaymentRef: "part"}); err != nil {
		t.Fatal(err)
	}
	if cash := f.balance("cash:psp:EUR"); !cash.Equal(dec("40.00")) {
		t.Fatalf("cash:psp:EUR %s after the funding, want 40.00", cash)
	}
	cb := f.chargeback(e, "40.00", "psp-awaiting", 48*time.Hour)
	if !cb.FromHeld.Equal(dec("40.00")) || !cb.Loss.IsZero() {
		t.Fatalf("chargeback took %s from the escrow, loss %s; want 40.00 and 0", cb.FromHeld, cb.Loss)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.AwaitingFunding || !got.Held().IsZero() {
		t.Fatalf("after the chargeback: escrow %s holds %s; want awaiting_funding holding 0", got.State, got.Held())
	}
	if cash := f.balance("cash:psp:EUR"); !cash.IsZero() {
		t.Fatalf("cash:psp:EUR %s, want 0: the PSP gave the 40.00 back", cash)
	}
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.AwaitingFunding || !got.Held().Equal(dec("40.00")) {
		t.Fatalf("after the win: escrow %s holds %s; want awaiting_funding holding 40.00", got.State, got.Held())
	}
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "60.00", Currency: "EUR", PaymentRef: "rest"}); err != nil {
		t.Fatal(err)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Funded || !got.Held().Equal(e.Amount) {
		t.Fatalf("after the rest: escrow %s holds %s; want funded holding %s", got.State, got.Held(), e.Amount)
	}
}

// TestPartialChargebackAfterExpiry: an escrow expired at its deadline
// while the gate holds the refund of its partial funding; a chargeback
// voids that refund, takes its part, and the rest goes back to the buyer.
// The escrow stays expired, closed when it expired, announced once.
func TestPartialChargebackAfterExpiry(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e := f.create("500.00", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} })
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "100.00", Currency: "EUR", PaymentRef: "part"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(25 * time.Hour)
	f.runJobs()
	expired := f.checkEscrow(e.ID)
	if expired.State != escrow.Expired || !expired.Pending.Equal(dec("100")) || expired.ClosedAt == nil {
		t.Fatalf("at the deadline: %s pending %s closed %v; want expired, 100 pending", expired.State, expired.Pending, expired.ClosedAt)
	}
	f.clock.Advance(time.Hour)
	cb := f.chargeback(e, "60.00", "psp-part", 48*time.Hour) // the 40 left is under the review rule's 50 USD
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Expired || got.Held().IsPositive() || got.Pending.IsPositive() || !got.ClosedAt.Equal(*expired.ClosedAt) {
		t.Fatalf("after the chargeback: escrow %s holds %s pending %s closed at %v; want expired at %v, nothing held", got.State, got.Held(), got.Pending, got.ClosedAt, expired.ClosedAt)
	}
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.Add(cb.FromHeld).Equal(dec("100")) {
		t.Fatalf("buyer refunded %s and charged back %s, want 100 in all", refund, cb.FromHeld)
	}
	if n := count(f.events(e.ID), "escrow.expired"); n != 1 {
		t.Fatalf("%d escrow.expired events, want 1: %v", n, f.events(e.ID))
	}
}

// TestDisputeRefusedWhileCancellationRefundWaits: while a cancellation's
// refund waits for review, a dispute cannot be opened (409
// payouts_pending), as a release cannot: its outcome would void the
// cancellation's refund, and release_full would pay the seller for a
// cancelled order, or a partly funded escrow would lose its cancellation
// and take more funding. Once the reviewer rejects the refund the escrow
// goes on from where it was, and a claim may be made.
func TestDisputeRefusedWhileCancellationRefundWaits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fund   string // of the 500.00 order
		reason string
		state  escrow.State // after the rejection
	}{
		{"funded", "500.00", disputes.ReasonNotReceived, escrow.Funded},
		{"partly funded", "100.00", disputes.ReasonLateShipment, escrow.AwaitingFunding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			e := f.create("500.00", nil)
			if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: tc.fund, Currency: "EUR", PaymentRef: "p1"}); err != nil {
				t.Fatal(err)
			}
			c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
			if err != nil || c.Refund.Status != escrow.StatusPendingReview {
				t.Fatalf("cancel: %v, %+v", err, c.Refund)
			}
			before := f.checkEscrow(e.ID)
			req := disputes.OpenRequest{Reason: tc.reason, ClaimedAmount: "10.00", Description: "never came"}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("claim while the cancellation's refund waits: %v, want ErrPayoutsPending", err)
			}
			got := f.checkEscrow(e.ID)
			if got.State != before.State || got.Version != before.Version || !got.Pending.Equal(dec(tc.fund)) {
				t.Fatalf("escrow %s v%d pending %s, want it untouched (%s v%d, %s pending)", got.State, got.Version, got.Pending, before.State, before.Version, tc.fund)
			}
			if _, err := f.risk.DecideReview(f.ctx, f.tenant, *c.Refund.ReviewID, false, "keep the order", "reviewer"); err != nil {
				t.Fatal(err)
			}
			if got := f.checkEscrow(e.ID); got.State != tc.state || !got.Held().Equal(dec(tc.fund)) {
				t.Fatalf("after the rejection: escrow %s holds %s, want %s holding %s", got.State, got.Held(), tc.state, tc.fund)
			}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); err != nil {
				t.Fatalf("claim after the rejection: %v", err)
			}
		})
	}
}

// TestClaimRefusedWhileOutcomePayoutWaits: while a payout of a claim's
// outcome waits for review, a new claim is 409 payouts_pending, as while
// a cancellation's refund waits. A chargeback booked during the new claim
// would void the payout and, with a claim open, neither pay out its rest
// again nor keep the outcome; withdrawn, the claim decided nothing, yet the
// auto-release then paid the seller what refund_full gave the buyer. Once
// the reviewer decides (here: rejects) a claim may be made.
func TestClaimRefusedWhileOutcomePayoutWaits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome disputes.ResolveRequest
		review  string // the operation whose payouts above 50 USD go to review
	}{
		{"refund_full's refund", disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}, "refund"},
		{"refund_partial's release", disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: ptr("30.00"), Rationale: "scratched"}, "release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove(tc.review)
			e := f.delivered("100.00", nil)
			d := f.escalated(e, disputes.ReasonDamaged, "100.00")
			if _, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, tc.outcome, "agent"); err != nil {
				t.Fatal(err)
			}
			before := f.checkEscrow(e.ID)
			if !before.Pending.IsPositive() {
				t.Fatalf("after the outcome: escrow %s pending %s, want its payout waiting", before.State, before.Pending)
			}
			req := disputes.OpenRequest{Reason: disputes.ReasonNotAsDescribed, ClaimedAmount: "10.00", Description: "more is wrong"}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("claim while the outcome's payout waits: %v, want ErrPayoutsPending", err)
			}
			if got := f.checkEscrow(e.ID); got.State != before.State || got.Version != before.Version || !got.Pending.Equal(before.Pending) {
				t.Fatalf("escrow %s v%d pending %s, want it untouched (%s v%d, %s pending)", got.State, got.Version, got.Pending, before.State, before.Version, before.Pending)
			}
			f.rejectPending()
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); err != nil {
				t.Fatalf("claim after the rejection: %v", err)
			}
		})
	}
}

// TestChargebackAfterRefusedClaimKeepsOutcome: refund_full whose refund
// waits for review; a second claim is refused, so a 30 chargeback is
// booked with no claim open: it voids the refund, takes 30 and the 70
// rest waits for review again, during which a claim is still refused.
// refund_full stands: the buyer ends with 70 refunded (and 30 through the
// card network) when the chargeback is lost, 100 when it is won; the
// seller with nothing. Before, the second claim was opened, the chargeback
// during it suspended nothing, and once the claim was withdrawn the
// auto-release paid the seller 68.25 (lost) or 97.50 (won).
func TestChargebackAfterRefusedClaimKeepsOutcome(t *testing.T) {
	for _, win := range []bool{false, true} {
		t.Run(map[bool]string{false: "lost", true: "won"}[win], func(t *testing.T) {
			f := newFixture(t)
			e, _ := f.refundFullWaiting()
			req := disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: "10.00", Description: "more is broken"}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("claim while refund_full's refund waits: %v, want ErrPayoutsPending", err)
			}
			cb := f.chargeback(e, "30.00", "psp-refused-claim", 48*time.Hour)
			if len(cb.VoidedPayoutIDs) != 1 {
				t.Fatalf("chargeback suspended %v, want refund_full's refund", cb.VoidedPayoutIDs)
			}
			if _, err := f.svc.Open(f.ctx, f.tenant, e.ID, req); !errors.Is(err, escrow.ErrPayoutsPending) {
				t.Fatalf("claim while the 70 rest waits: %v, want ErrPayoutsPending", err)
			}
			f.defend(cb)
			if win {
				if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
					t.Fatal(err)
				}
			} else if _, err := f.svc.LoseChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			f.approvePending()
			f.clock.Advance(4 * 24 * time.Hour) // past the inspection window
			f.runJobs()
			f.approvePending()
			got := f.checkBooks(e.ID)
			buyer, seller := f.balance("buyer:"+e.Buyer.ID+":refund:EUR"), f.balance("seller:"+e.Seller.ID+":payable:EUR")
			wantBuyer := dec("70") // the card network paid 30
			if win {
				wantBuyer = dec("100")
			}
			if !buyer.Equal(wantBuyer) || seller.IsPositive() || got.Held().IsPositive() || got.Pending.IsPositive() {
				t.Fatalf("escrow %s holds %s pending %s, buyer refunded %s, seller payable %s; want buyer %s, seller 0",
					got.State, got.Held(), got.Pending, buyer, seller, wantBuyer)
			}
		})
	}
}

// approvePending approves every pending review of the tenant, as a
// reviewer would.
func (f *fixture) approvePending() {
	f.t.Helper()
	rvs, err := f.risk.ListReviews(f.ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, rv := range rvs {
		if _, err := f.risk.DecideReview(f.ctx, f.tenant, rv.ID, true, "ok", "reviewer"); err != nil {
			f.t.Fatalf("approve review %s: %v", rv.ID, err)
		}
	}
}

// rejectPending rejects the tenant's one pending review, as a reviewer
// would.
func (f *fixture) rejectPending() {
	f.t.Helper()
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, f.pendingReview().ID, false, "no", "reviewer"); err != nil {
		f.t.Fatal(err)
	}
}

// TestChargebackKeepsDisputeOutcome: a chargeback voids the payouts of a
// dispute outcome that wait for review (the card network paid the buyer),
// but the agent's decision still stands. What the chargeback did not take
// is paid out again at once, and what it took is paid out again when the
// chargeback is won, through the gate, with the same kind and trigger; the
// chargeback counts against the outcome's refund first. Whichever way the
// card network decides, the money ends as the agent decided: before, a
// won chargeback left the escrow delivered with the money held and nothing
// scheduled, and a plain release paid the seller what refund_full gave
// the buyer.
func TestChargebackKeepsDisputeOutcome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		refund     string // refund_partial's amount; "" is refund_full
		chargeback string
		win        bool
		resumed    int // payouts paid out again when the chargeback is booked
		buyer      string
		seller     string // payable, after the 2.5% fee
		state      escrow.State
	}{
		{"refund_full, all charged back, won", "", "100.00", true, 0, "100", "0", escrow.Refunded},
		{"refund_full, part charged back, won", "", "40.00", true, 1, "100", "0", escrow.Refunded},
		{"refund_full, part charged back, lost", "", "40.00", false, 1, "60", "0", escrow.Refunded},
		{"refund_partial, release voided, won", "30.00", "40.00", true, 1, "30", "68.25", escrow.Completed},
		{"refund_partial, release voided, lost", "30.00", "40.00", false, 1, "30", "29.25", escrow.Completed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			req := disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "broken"}
			if tc.refund != "" {
				f.reviewAbove("release") // replaces the refund rule: the 30.00 refund is under it anyway
				req = disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: &tc.refund, Rationale: "scratched"}
			}
			e := f.delivered("100.00", nil)
			d := f.escalated(e, disputes.ReasonDamaged, "100.00")
			out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, req, "agent")
			if err != nil {
				t.Fatal(err)
			}
			waiting := out.Settlement.Refund
			if tc.refund != "" {
				waiting = out.Settlement.Release
			}
			if waiting == nil || waiting.Status != escrow.StatusPendingReview {
				t.Fatalf("outcome payout %+v, want one pending review", waiting)
			}
			cb := f.chargeback(e, tc.chargeback, "psp-outcome", 48*time.Hour)
			if len(cb.VoidedPayoutIDs) != 1 || cb.VoidedPayoutIDs[0] != waiting.ID {
				t.Fatalf("chargeback voided outcome payouts %v, want [%s]", cb.VoidedPayoutIDs, waiting.ID)
			}
			if stored, err := f.svc.GetChargeback(f.ctx, f.tenant, cb.ID); err != nil || len(stored.VoidedPayoutIDs) != 1 || stored.VoidedPayoutIDs[0] != waiting.ID {
				t.Fatalf("stored chargeback: %v, voided %v", err, stored.VoidedPayoutIDs)
			}
			got := f.checkBooks(e.ID)
			if n := f.payoutsAgain(e.ID, waiting); n != tc.resumed {
				t.Fatalf("after the chargeback: %d %s payouts paid out again, want %d", n, waiting.Kind, tc.resumed)
			}
			if got.Held().IsPositive() {
				t.Fatalf("after the chargeback: escrow %s holds %s with no decision on it", got.State, got.Held())
			}
			f.defend(cb)
			if tc.win {
				if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
					t.Fatal(err)
				}
			} else if _, err := f.svc.LoseChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			if got := f.checkBooks(e.ID); got.Held().IsPositive() {
				t.Fatalf("after the decision: escrow %s holds %s with no decision on it", got.State, got.Held())
			}
			if _, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{}); err == nil {
				t.Fatalf("a plain release after the decision paid the seller")
			}
			f.approvePending()
			got = f.checkBooks(e.ID)
			buyer, seller := f.balance("buyer:"+e.Buyer.ID+":refund:EUR"), f.balance("seller:"+e.Seller.ID+":payable:EUR")
			if got.State != tc.state || !buyer.Equal(dec(tc.buyer)) || !seller.Equal(dec(tc.seller)) || got.Held().IsPositive() || got.Pending.IsPositive() {
				t.Fatalf("escrow %s holds %s pending %s, buyer refunded %s, seller payable %s; want %s, buyer %s, seller %s",
					got.State, got.Held(), got.Pending, buyer, seller, tc.state, tc.buyer, tc.seller)
			}
		})
	}
}

// payoutsAgain counts the payouts of escrow id paid out again for p: of
// its kind, trigger and reason, not voided.
func (f *fixture) payoutsAgain(id uuid.UUID, p *escrow.Payout) int {
	f.t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM escrow_payouts WHERE escrow_id = $1 AND id <> $2 AND kind = $3 AND trigger = $4
		AND reason = $5 AND status <> $6`, id, p.ID, p.Kind, p.Trigger, p.Reason, escrow.StatusRejected).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestWonChargebackFinishesWaitingCancellation: a chargeback voids a
// cancellation's refund waiting for review, takes its part, and the rest
// waits for review again; when the chargeback is won, the money it brings
// back is refunded with the cancellation's trigger too, so the
// cancellation ends with everything back with the buyer, as it would have
// once closed (refundClosed). Before, that money stayed in a funded escrow
// after the cancellation went through, which could then be shipped.
func TestWonChargebackFinishesWaitingCancellation(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("refund")
	e := f.funded("100.00")
	c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
	if err != nil || c.Refund.Status != escrow.StatusPendingReview {
		t.Fatalf("cancel: %v, %+v", err, c.Refund)
	}
	cb := f.chargeback(e, "30.00", "psp-cancel-part", 48*time.Hour) // the 70 left waits for review again
	if got := f.checkBooks(e.ID); got.State != escrow.Funded || !got.Pending.Equal(dec("70")) {
		t.Fatalf("after the chargeback: escrow %s pending %s, want funded with 70 pending", got.State, got.Pending)
	}
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	// One refund of everything waits (TestWonChargebackKeepsCancellationOneDecision).
	got := f.checkBooks(e.ID)
	if got.State != escrow.Funded || got.Held().IsPositive() || !got.Pending.Equal(dec("100")) {
		t.Fatalf("after the win: escrow %s holds %s pending %s, want funded, nothing held, 100 pending", got.State, got.Held(), got.Pending)
	}
	if _, err := f.esc.Ship(f.ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1Z"}); !errors.Is(err, escrow.ErrPayoutsPending) {
		t.Fatalf("ship while the cancellation waits: %v, want ErrPayoutsPending", err)
	}
	f.approvePending()
	got = f.checkBooks(e.ID)
	if got.State != escrow.Cancelled || got.Held().IsPositive() || got.Pending.IsPositive() {
		t.Fatalf("after the approval: escrow %s holds %s pending %s, want cancelled with nothing held", got.State, got.Held(), got.Pending)
	}
	if refund := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !refund.Equal(e.Amount) {
		t.Fatalf("buyer refunded %s, want %s", refund, e.Amount)
	}
}

// TestWonChargebackKeepsCancellationOneDecision: a chargeback of 50 voids
// a cancellation's refund waiting for review and the 50 rest waits again;
// when the chargeback is won, the refund waiting is voided and one refund
// of everything (100, trigger cancel) waits instead, so the reviewer
// decides the cancellation once. Before, a second refund of the 50 the
// win brought back waited beside the first: rejecting it and approving
// the first left a funded escrow refunded 50 by its cancellation and
// holding 50, which could be shipped.
func TestWonChargebackKeepsCancellationOneDecision(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(map[bool]string{true: "approved", false: "rejected"}[approve], func(t *testing.T) {
			f := newFixture(t)
			f.reviewAbove("refund")
			e := f.funded("100.00")
			if c, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "out of stock"}); err != nil || c.Refund.Status != escrow.StatusPendingReview {
				t.Fatalf("cancel: %v", err)
			}
			cb := f.chargeback(e, "50.00", "psp-split", 48*time.Hour)
			f.defend(cb)
			if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			var n int
			var amount decimal.Decimal
			if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*), COALESCE(sum(order_amount), 0) FROM escrow_payouts
				WHERE escrow_id = $1 AND status = 'pending_review' AND kind = 'refund' AND trigger = 'cancel'`, e.ID).Scan(&n, &amount); err != nil {
				t.Fatal(err)
			}
			if n != 1 || !amount.Equal(dec("100")) {
				t.Fatalf("%d cancel refunds of %s wait, want one of 100", n, amount)
			}
			rv := f.pendingReview()
			if _, err := f.risk.DecideReview(f.ctx, f.tenant, rv.ID, approve, "decided", "reviewer"); err != nil {
				t.Fatal(err)
			}
			got := f.checkBooks(e.ID)
			buyer := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR")
			_, shipErr := f.esc.Ship(f.ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1Z"})
			if approve {
				if got.State != escrow.Cancelled || got.Held().IsPositive() || !buyer.Equal(dec("100")) || shipErr == nil {
					t.Fatalf("approved: escrow %s holds %s, buyer refunded %s, ship %v; want cancelled, buyer 100, no shipping", got.State, got.Held(), buyer, shipErr)
				}
				return
			}
			// Rejected: the cancellation did not happen at all, as when
			// its refund is rejected without a chargeback.
			if got.State != escrow.Funded || !got.Held().Equal(dec("100")) || got.Refunded.IsPositive() || buyer.IsPositive() {
				t.Fatalf("rejected: escrow %s holds %s, refunded %s, buyer %s; want funded holding 100, nothing refunded", got.State, got.Held(), got.Refunded, buyer)
			}
		})
	}
}

// TestWonChargebackPaysNoSellerOfCancelledOrder: a dispute on a funded
// escrow resolves refund_partial; its release waits for review, a
// chargeback takes it all (nothing resumed), and the marketplace cancels
// the now empty escrow. When the chargeback is won, refundClosed's refund
// of the 70 is blocked by the gate: the money stays held in the cancelled
// escrow for a refund. Before, the suspended release then paid it to the
// seller of the cancelled order (release is not allowed in cancelled).
func TestWonChargebackPaysNoSellerOfCancelledOrder(t *testing.T) {
	f := newFixture(t)
	f.reviewAbove("release")
	e := f.funded("100.00")
	d := f.escalated(e, disputes.ReasonNotReceived, "100.00")
	amt := "30.00"
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: &amt, Rationale: "late"}, "agent")
	if err != nil || out.Settlement.Release == nil || out.Settlement.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("resolve: %v %+v", err, out.Settlement.Release)
	}
	cb := f.chargeback(e, "70.00", "psp-cancelled", 48*time.Hour)
	if got := f.checkBooks(e.ID); got.State != escrow.Funded || got.Held().IsPositive() || got.Pending.IsPositive() {
		t.Fatalf("after the chargeback: %s held %s pending %s", got.State, got.Held(), got.Pending)
	}
	if _, err := f.esc.Cancel(f.ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "order called off"}); err != nil {
		t.Fatal(err)
	}
	if got := f.checkBooks(e.ID); got.State != escrow.Cancelled {
		t.Fatalf("after cancel: %s", got.State)
	}
	f.gateAbove("refund", risk.OutcomeBlock)
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	f.approvePending()
	got := f.checkBooks(e.ID)
	if seller := f.balance("seller:" + e.Seller.ID + ":payable:EUR"); seller.IsPositive() || got.Released.IsPositive() {
		t.Fatalf("cancelled escrow (%s) released %s, seller payable %s; want nothing paid to the seller", got.State, got.Released, seller)
	}
	if got.State != escrow.Cancelled || !got.Held().Equal(dec("70")) {
		t.Fatalf("escrow %s holds %s, want cancelled holding the 70 for a refund", got.State, got.Held())
	}
}

// TestClaimResolvedSinceChargebackSupersedesOutcome: refund_full whose
// refund waits; a 40 chargeback voids it (the 60 rest is refunded again,
// and waits); a second claim opened after the chargeback resolves
// release_full, which decides the money: when the chargeback is won, the
// 40 stays held for the marketplace, nothing goes to the buyer. The claim
// counts as later because the chargeback recorded how many claims were
// resolved when it was booked (claims_resolved): before, created_at was
// compared, and a claim opened in the same clock tick (here the fake
// clock; across nodes, any skew) did not count, so the first outcome's 40
// was refunded although the later claim said release_full.
func TestClaimResolvedSinceChargebackSupersedesOutcome(t *testing.T) {
	for _, gap := range []time.Duration{time.Millisecond, 0} {
		t.Run(gap.String(), func(t *testing.T) {
			f := newFixture(t)
			e, _ := f.refundFullWaiting()
			cb := f.chargeback(e, "40.00", "psp-same-tick", 48*time.Hour)
			f.rejectPending() // the 60 rest: no payout of an outcome may wait when a claim is opened
			f.clock.Advance(gap)
			d2 := f.escalated(e, disputes.ReasonNotAsDescribed, "60.00")
			if _, err := f.svc.Resolve(f.ctx, f.tenant, d2.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeReleaseFull, Rationale: "as described after all"}, "agent"); err != nil {
				t.Fatal(err)
			}
			f.defend(cb)
			if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			f.approvePending()
			got := f.checkBooks(e.ID)
			buyer := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR")
			if !got.Held().Equal(dec("40")) || buyer.IsPositive() {
				t.Fatalf("claim opened %s after the chargeback: escrow %s holds %s, buyer refunded %s; want the later claim to supersede (40 held, nothing refunded)",
					gap, got.State, got.Held(), buyer)
			}
		})
	}
}

// TestWithdrawnClaimKeepsSuspendedOutcome: refund_full whose refund waits
// for review; a 40 chargeback voids it (the 60 rest is refunded again,
// and waits). A reviewer rejects the 60 (a claim cannot be opened while
// an outcome's payout waits), which stays in the escrow. A second claim
// opened after the chargeback is withdrawn, before or after the
// chargeback is won: it decided nothing, so the 40 the win brings back is
// refunded as the first outcome decided, at the win or at the withdrawal
// (the resume owed). Before, a withdrawn claim counted as superseding the
// outcome, and the 40 went to the seller with the auto-release. The 60
// goes to the seller with the auto-release that the withdrawal before the
// win restarts; after a resume no auto-release restarts and it stays
// held for the marketplace (EndDispute). A second claim resolved instead
// decides the money, and once it has, a third claim withdrawn resumes
// nothing.
func TestWithdrawnClaimKeepsSuspendedOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    string // how the second claim ends: withdrawn before the win, withdrawn after, resolved after
		buyer  string
		seller string
		held   string // the rejected 60, where no auto-release took it
	}{
		{"withdrawn before the win", "withdrawn before", "40", "58.5", "0"},
		{"withdrawn after the win", "withdrawn after", "40", "0", "60"},
		{"resolved release_full after the win", "resolved after", "0", "97.5", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			e, _ := f.refundFullWaiting()
			cb := f.chargeback(e, "40.00", "psp-withdrawn", 48*time.Hour)
			f.rejectPending() // the 60 rest: no payout of an outcome may wait when a claim is opened
			f.clock.Advance(time.Minute)
			d2 := f.escalated(e, disputes.ReasonDamaged, "10.00")
			end := func() {
				if tc.end == "resolved after" {
					if _, err := f.svc.Resolve(f.ctx, f.tenant, d2.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeReleaseFull, Rationale: "fine"}, "agent"); err != nil {
						t.Fatal(err)
					}
					return
				}
				if _, err := f.svc.Withdraw(f.ctx, f.tenant, d2.ID, disputes.WithdrawRequest{Reason: "opened by mistake"}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.end == "withdrawn before" {
				end()
			}
			f.defend(cb)
			if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			if tc.end != "withdrawn before" {
				if got := f.checkBooks(e.ID); got.State != escrow.Disputed || !got.Held().Equal(dec("100")) {
					t.Fatalf("won during the second claim: escrow %s holds %s, want disputed holding 100 (the rejected 60 and the 40)", got.State, got.Held())
				}
				end()
			}
			f.checkBooks(e.ID)
			f.approvePending()
			f.clock.Advance(4 * 24 * time.Hour) // past the inspection window
			f.runJobs()
			if tc.end == "resolved after" { // the resolved claim took the owed resume with it
				d3 := f.open(e, disputes.ReasonDamaged, "10.00")
				if _, err := f.svc.Withdraw(f.ctx, f.tenant, d3.ID, disputes.WithdrawRequest{Reason: "no"}); err != nil {
					t.Fatal(err)
				}
				f.approvePending()
			}
			got := f.checkBooks(e.ID)
			buyer, seller := f.balance("buyer:"+e.Buyer.ID+":refund:EUR"), f.balance("seller:"+e.Seller.ID+":payable:EUR")
			if !buyer.Equal(dec(tc.buyer)) || !seller.Equal(dec(tc.seller)) || !got.Held().Equal(dec(tc.held)) || got.Pending.IsPositive() {
				t.Fatalf("escrow %s holds %s pending %s, buyer refunded %s, seller payable %s; want buyer %s, seller %s, %s held",
					got.State, got.Held(), got.Pending, buyer, seller, tc.buyer, tc.seller, tc.held)
			}
		})
	}
}

// TestResolvedClaimClearsOwedResume: a chargeback won during a claim
// leaves the suspended outcome owed, and resolving that claim clears it,
// observably: the resolution's release is rejected by a reviewer, so the
// escrow holds the money again, and a third claim withdrawn later must not
// pay out the superseded refund_full (the buyer gets nothing). The
// "resolved after" case of TestWithdrawnClaimKeepsSuspendedOutcome cannot
// see a stale flag: after its release_full nothing is open. (helper-59)
func TestResolvedClaimClearsOwedResume(t *testing.T) {
	f := newFixture(t)
	e, _ := f.refundFullWaiting()
	cb := f.chargeback(e, "40.00", "psp-owed", 48*time.Hour)
	f.rejectPending() // the 60 rest: no payout of an outcome may wait when a claim is opened
	f.clock.Advance(time.Minute)
	d2 := f.escalated(e, disputes.ReasonDamaged, "10.00")
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	f.reviewAbove("release") // the release_full below waits for review
	out, err := f.svc.Resolve(f.ctx, f.tenant, d2.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeReleaseFull, Rationale: "fine"}, "agent")
	if err != nil || out.Settlement.Release == nil {
		t.Fatalf("resolve: %v", err)
	}
	rv := f.pendingReview()
	if _, err := f.risk.DecideReview(f.ctx, f.tenant, rv.ID, false, "no", "reviewer"); err != nil {
		t.Fatal(err)
	}
	d3 := f.open(e, disputes.ReasonDamaged, "10.00")
	if _, err := f.svc.Withdraw(f.ctx, f.tenant, d3.ID, disputes.WithdrawRequest{Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	got := f.checkBooks(e.ID)
	if buyer := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); buyer.IsPositive() || got.Pending.IsPositive() {
		t.Fatalf("third claim withdrawn: escrow %s holds %s pending %s, buyer refunded %s; the superseded refund_full was resumed", got.State, got.Held(), got.Pending, buyer)
	}
}
