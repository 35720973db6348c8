package disputes_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// defend adds the seller's tracking evidence to cb and submits it.
func (f *fixture) defend(cb disputes.Chargeback) {
	f.t.Helper()
	ev := photo
	ev.Party, ev.Kind = disputes.PartySeller, "tracking"
	if _, err := f.svc.AddChargebackEvidence(f.ctx, f.tenant, cb.ID, ev); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.SubmitChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) chargeback(e escrow.Escrow, amount, ref string, respondIn time.Duration) disputes.Chargeback {
	f.t.Helper()
	by := f.clock.Now().Add(respondIn)
	cb, err := f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: amount, Currency: "EUR", PSPRef: ref, Reason: "fraudulent", RespondBy: &by})
	if err != nil {
		f.t.Fatalf("chargeback: %v", err)
	}
	return cb
}

// TestChargebackOfHeldMoneyWon: money still held is taken from the escrow
// account; a won chargeback reverses the postings and the money is held
// again.
func TestChargebackOfHeldMoneyWon(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("100.00", nil)
	cash := f.balance("cash:psp:EUR")
	cb := f.chargeback(e, "100.00", "psp-1", 48*time.Hour)
	if cb.Status != disputes.NeedsResponse || !cb.FromHeld.Equal(dec("100")) || !cb.ClawedBack.IsZero() || !cb.Loss.IsZero() || len(cb.EntryIDs) != 1 {
		t.Fatalf("chargeback %+v", cb)
	}
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Delivered || !got.Held().IsZero() || !got.Refunded.Equal(dec("100")) || !f.balance("cash:psp:EUR").Equal(cash.Sub(dec("100"))) {
		t.Fatalf("after the chargeback: %s held %s refunded %s", got.State, got.Held(), got.Refunded)
	}
	_, err := f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: "1.00", Currency: "EUR", PSPRef: "psp-1b", Reason: "x", RespondBy: &cb.RespondBy})
	if fe, ok := valid.As(err); !ok || fe[0].Field != "amount" {
		t.Fatalf("more than was captured: %v", err)
	}
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); !errors.Is(err, disputes.ErrInvalidStatus) {
		t.Fatalf("won before submission: %v", err)
	}
	f.defend(cb)
	won, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID)
	if err != nil || won.Status != disputes.Won {
		t.Fatalf("won: %v %s", err, won.Status)
	}
	got = f.checkEscrow(e.ID)
	if got.State != escrow.Delivered || !got.Held().Equal(dec("100")) || !got.Refunded.IsZero() || !f.balance("cash:psp:EUR").Equal(cash) {
		t.Fatalf("after winning: %s held %s refunded %s", got.State, got.Held(), got.Refunded)
	}
	en, err := ledger.GetEntry(f.ctx, f.db.Pool, f.tenant, cb.EntryIDs[0])
	if err != nil || en.Kind != "escrow.chargeback" {
		t.Fatalf("entry %v %s", err, en.Kind)
	}
	// The money is the seller's again: the escrow completes as usual.
	if res, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil || res.Escrow.State != escrow.Completed {
		t.Fatalf("accept after the won chargeback: %v", err)
	}
	if !contains(f.events(e.ID), "chargeback.opened", "chargeback.won") {
		t.Fatalf("events %v", f.events(e.ID))
	}
}

// TestChargebackOfReleasedMoneyLost: released money is clawed back from
// the seller's payable balance; the shortfall is a loss, of which the
// seller owes what it was paid.
func TestChargebackOfReleasedMoneyLost(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("200.00", nil)
	if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
		t.Fatal(err)
	}
	payable := "seller:" + e.Seller.ID + ":payable:EUR"
	// The seller withdrew 150.00 of its 195.00 payable.
	pa, _ := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, payable)
	ca, _ := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, "cash:psp:EUR")
	if _, err := (&ledger.Service{DB: f.db, Clock: f.clock}).PostAdjustment(f.ctx, ledger.Adjustment{TenantID: f.tenant, Reference: "payout-1",
		Reason: "payout to the seller's bank", Postings: []ledger.Posting{
			{AccountID: pa.ID, Direction: ledger.SideDebit, Amount: dec("150"), Currency: "EUR"},
			{AccountID: ca.ID, Direction: ledger.SideCredit, Amount: dec("150"), Currency: "EUR"}}}); err != nil {
		t.Fatal(err)
	}
	cash := f.balance("cash:psp:EUR")
	cb := f.chargeback(e, "200.00", "psp-2", 48*time.Hour)
	// 45 clawed back; 155 lost, of which the seller owes 150 (it was paid
	// 195 and gave back 45); the 5 of fees is the platform's loss.
	if !cb.FromHeld.IsZero() || !cb.ClawedBack.Equal(dec("45")) || !cb.Loss.Equal(dec("155")) || !cb.Receivable.Equal(dec("150")) || len(cb.EntryIDs) != 2 {
		t.Fatalf("chargeback %+v", cb)
	}
	for code, want := range map[string]string{payable: "0", "receivable:seller:" + e.Seller.ID + ":EUR": "150", "chargeback:loss:EUR": "5"} {
		if b := f.balance(code); !b.Equal(dec(want)) {
			t.Errorf("%s = %s, want %s", code, b, want)
		}
	}
	if !f.balance("cash:psp:EUR").Equal(cash.Sub(dec("200"))) {
		t.Fatalf("cash %s", f.balance("cash:psp:EUR"))
	}
	lost, err := f.svc.LoseChargeback(f.ctx, f.tenant, cb.ID)
	if err != nil || lost.Status != disputes.Lost {
		t.Fatalf("lost: %v", err)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Completed {
		t.Fatalf("escrow %s", got.State)
	}
	if _, err := f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: "0.01", Currency: "EUR", PSPRef: "psp-2", Reason: "x", RespondBy: &cb.RespondBy}); !errors.Is(err, disputes.ErrDuplicatePSPRef) {
		t.Fatalf("same psp_ref: %v", err)
	}
}

// TestChargebackNotAnsweredIsLost: at respond_by a chargeback still
// needing a response is lost (a job), and evidence is refused after it.
func TestChargebackNotAnsweredIsLost(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("50.00", nil)
	cb := f.chargeback(e, "20.00", "psp-3", 48*time.Hour)
	f.clock.Advance(47 * time.Hour)
	f.runJobs()
	if got, _ := f.svc.GetChargeback(f.ctx, f.tenant, cb.ID); got.Status != disputes.NeedsResponse {
		t.Fatalf("lost early: %s", got.Status)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.svc.AddChargebackEvidence(f.ctx, f.tenant, cb.ID, photo); !errors.Is(err, disputes.ErrEvidenceDeadlinePassed) {
		t.Fatalf("evidence after respond_by: %v", err)
	}
	f.runJobs()
	if got, _ := f.svc.GetChargeback(f.ctx, f.tenant, cb.ID); got.Status != disputes.Lost {
		t.Fatalf("after respond_by: %s", got.Status)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Delivered || !got.Held().Equal(dec("30")) {
		t.Fatalf("escrow %s held %s", got.State, got.Held())
	}
}

// TestWonChargebackReopensWithoutAutoRelease: an escrow that settled while
// a chargeback was open and is reopened when the chargeback is won holds
// the money again and waits for the marketplace: the auto-release job of
// its first inspection window, left pending when it settled, does not
// release it.
func TestWonChargebackReopensWithoutAutoRelease(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("100.00", func(r *escrow.CreateRequest) { h := 48; r.Terms = &escrow.TermsInput{InspectionHours: &h} })
	cb := f.chargeback(e, "40.00", "psp-reopen", 30*24*time.Hour)
	if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	reopened := f.checkEscrow(e.ID)
	if reopened.State != escrow.Delivered || !reopened.Held().Equal(dec("40")) {
		t.Fatalf("after the won chargeback: %s holding %s, want delivered holding 40", reopened.State, reopened.Held())
	}
	f.clock.Advance(72 * time.Hour) // past the first inspection window
	f.runJobs()
	got := f.checkEscrow(e.ID)
	if got.State != escrow.Delivered || !got.Held().Equal(dec("40")) || !got.Released.Equal(reopened.Released) {
		t.Fatalf("after the old auto-release time: %s holding %s released %s, want it untouched", got.State, got.Held(), got.Released)
	}
}

// TestChargebackWonDuringClaimOnCompletedEscrow: a chargeback won while a
// claim on a completed escrow is open puts money back into the disputed
// escrow, which ReverseChargeback does not reopen (it is disputed). When
// the dispute ends leaving that money held (withdrawn, or resolved with a
// payout the gate blocks), the escrow is reopened as a won chargeback
// reopens one, instead of returning to completed with money no action can
// move; the marketplace then moves it.
func TestChargebackWonDuringClaimOnCompletedEscrow(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(f *fixture, d disputes.Dispute)
		// then moves the 60 held out of the reopened escrow, as the
		// marketplace would.
		then  func(f *fixture, e escrow.Escrow) error
		state escrow.State // once the 60 is paid out
	}{
		{"withdrawn", func(f *fixture, d disputes.Dispute) {
			if _, err := f.svc.Withdraw(f.ctx, f.tenant, d.ID, disputes.WithdrawRequest{Reason: "settled with the seller"}); err != nil {
				f.t.Fatal(err)
			}
		}, func(f *fixture, e escrow.Escrow) error {
			_, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			return err
		}, escrow.Completed},
		{"resolved, release blocked", func(f *fixture, d disputes.Dispute) {
			f.gateAbove("release", risk.OutcomeBlock)
			if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
				f.t.Fatal(err)
			}
			out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeReleaseFull, Rationale: "as described"}, "agent")
			if err != nil || out.Settlement.Release == nil || out.Settlement.Release.Status != escrow.StatusBlocked {
				f.t.Fatalf("resolve: %v, release %+v; want it blocked", err, out.Settlement.Release)
			}
		}, func(f *fixture, e escrow.Escrow) error {
			_, err := f.esc.Refund(f.ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "60.00", Reason: "the seller cannot be paid"})
			return err
		}, escrow.Completed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.delivered("100.00", nil)
			cb := f.chargeback(e, "60.00", "psp-strand", 30*24*time.Hour)
			if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
				t.Fatal(err)
			}
			if got := f.checkBooks(e.ID); got.State != escrow.Completed {
				t.Fatalf("after accept: %s", got.State)
			}
			d := f.open(e, disputes.ReasonDamaged, "10.00")
			f.defend(cb)
			if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
				t.Fatal(err)
			}
			if got := f.checkBooks(e.ID); got.State != escrow.Disputed || !got.Held().Equal(dec("60")) {
				t.Fatalf("after the won chargeback: escrow %s holds %s, want disputed holding 60", got.State, got.Held())
			}
			tc.end(f, d)
			got := f.checkBooks(e.ID)
			if got.State != escrow.Delivered || got.ClosedAt != nil || !got.Held().Equal(dec("60")) {
				t.Fatalf("after the dispute: escrow %s holds %s, closed at %v; want delivered (reopened) holding 60", got.State, got.Held(), got.ClosedAt)
			}
			if err := tc.then(f, e); err != nil {
				t.Fatalf("moving the 60 held: %v", err)
			}
			if got := f.checkBooks(e.ID); got.State != tc.state || got.Held().IsPositive() || got.Pending.IsPositive() {
				t.Fatalf("escrow %s holds %s pending %s, want %s with nothing held", got.State, got.Held(), got.Pending, tc.state)
			}
		})
	}
}

// TestClaimsAfterChargebacks: what a chargeback gave the buyer back
// through the card network is not claimed again through a dispute, in
// order money (the buyer's fee on it is not order money), and does not use
// up the guarantee's coverage limit; a chargeback of held money counts
// once (it is a refund of the escrow); a won chargeback gives the claim
// back.
func TestClaimsAfterChargebacks(t *testing.T) {
	buyerFee := func(r *escrow.CreateRequest) {
		r.Fees = &escrow.FeesInput{PlatformFeeBps: 250, PaidBy: escrow.PaidByBuyer}
	}
	limit200 := func(r *escrow.CreateRequest) { r.Terms = &escrow.TermsInput{CoverageLimit: ptr("200.00")} }
	for _, tc := range []struct {
		name        string
		mutate      func(*escrow.CreateRequest)
		released    bool
		chargebacks []string
		win         bool
		claimable   string // the most a claim may ask
		covered     string // by the guarantee when that claim is resolved refund_full
	}{
		{name: "released money charged back", released: true, chargebacks: []string{"300.00"}, claimable: "200", covered: "200"},
		{name: "coverage limit untouched by the chargeback", mutate: limit200, released: true, chargebacks: []string{"300.00"}, claimable: "200", covered: "200"},
		{name: "buyer's fee is not order money", mutate: buyerFee, released: true, chargebacks: []string{"256.25"}, claimable: "250", covered: "250"},
		// Two chargebacks of 100.00: 200 × 500 / 512.50 = 195.12 of order money.
		{name: "two chargebacks with the buyer's fee", mutate: buyerFee, released: true, chargebacks: []string{"100.00", "100.00"}, claimable: "304.88", covered: "304.88"},
		{name: "held money charged back counts once", chargebacks: []string{"100.00"}, claimable: "400", covered: "0"},
		{name: "won chargeback gives the claim back", released: true, chargebacks: []string{"300.00"}, win: true, claimable: "500", covered: "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.delivered("500.00", tc.mutate)
			if tc.released {
				if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
					t.Fatal(err)
				}
			}
			for i, amount := range tc.chargebacks {
				cb := f.chargeback(e, amount, fmt.Sprintf("psp-%s-%d", e.ID, i), 48*time.Hour)
				if tc.win {
					f.defend(cb)
					if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			over := dec(tc.claimable).Add(dec("0.01")).StringFixed(2)
			_, err := f.svc.Open(f.ctx, f.tenant, e.ID, disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: over, Description: "d"})
			if fe, ok := valid.As(err); !ok || fe[0].Field != "claimed_amount" {
				t.Fatalf("claim of %s: %v, want refused", over, err)
			}
			d := f.open(e, disputes.ReasonDamaged, dec(tc.claimable).StringFixed(2))
			if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
				t.Fatal(err)
			}
			out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "r"}, "agent")
			if err != nil {
				t.Fatal(err)
			}
			if r := out.Dispute.Resolution; r == nil || !r.RefundAmount.Equal(dec(tc.claimable)) || !r.Covered.Equal(dec(tc.covered)) || r.Capped {
				t.Fatalf("resolution %+v, want %s refunded, %s of it covered, not capped", r, tc.claimable, tc.covered)
			}
			f.checkEscrow(e.ID)
		})
	}
}

// TestChargebackOfPartlyFundedEscrow: an escrow still awaiting the rest of
// its funding (disputed before it arrived) is charged back, in two parts,
// for all it holds. What it holds is order money first, as claims and
// dispute refunds count it, not all the open order money (which once left
// the buyer fee parts negative), nor order money and fee in proportion
// (which left the buyer a claim the guarantee then paid: more back than
// paid). The dispute then has nothing left to refund or cover.
func TestChargebackOfPartlyFundedEscrow(t *testing.T) {
	f := newFixture(t)
	e := f.create("500.00", func(r *escrow.CreateRequest) {
		r.Fees = &escrow.FeesInput{PlatformFeeBps: 250, PaidBy: escrow.PaidByBuyer}
	})
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "256.25", Currency: "EUR", PaymentRef: "part-1"}); err != nil {
		t.Fatal(err)
	}
	d := f.open(e, disputes.ReasonNotReceived, "250.00")
	for i, amount := range []string{"100.00", "156.25"} {
		if cb := f.chargeback(e, amount, fmt.Sprintf("psp-part-%d", i), 48*time.Hour); !cb.FromHeld.Equal(dec(amount)) {
			t.Fatalf("chargeback %s: %s from held", amount, cb.FromHeld)
		}
	}
	got := f.checkEscrow(e.ID)
	order := decimal.Zero
	for _, m := range got.Milestones {
		order = order.Add(m.Refunded)
	}
	if !got.Held().IsZero() || !order.Equal(dec("256.25")) || !got.BuyerFeeParts.IsZero() {
		t.Fatalf("escrow held %s, order money refunded %s, buyer fee parts %s; want 0, 256.25, 0", got.Held(), order, got.BuyerFeeParts)
	}
	if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
		t.Fatal(err)
	}
	out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundFull, Rationale: "r"}, "agent")
	if err != nil {
		t.Fatal(err)
	}
	if r := out.Dispute.Resolution; r == nil || !r.RefundAmount.IsZero() || !r.Covered.IsZero() {
		t.Fatalf("resolution %+v, want nothing refunded or covered: the card network returned all 256.25 paid", r)
	}
}
