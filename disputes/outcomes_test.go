package disputes_test

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/valid"
)

// TestOutcomesPostingsAndBalances resolves a 1,000.00 EUR escrow (2.5% fee
// paid by the seller) with each outcome and checks the payouts and every
// balance the outcome touches: held, seller payable, buyer refund, fees,
// guarantee and the seller receivable.
func TestOutcomesPostingsAndBalances(t *testing.T) {
	f := newFixture(t)
	z := "0"
	type want struct {
		refund, release, fee                  string // gross refund, gross release, fee taken
		payable, buyer, guarantee, receivable string
		covered                               string
		capped                                bool
		state                                 escrow.State
	}
	for _, tc := range []struct {
		name      string
		completed bool // released before the claim: coverage
		limit     *string
		outcome   string
		amount    *string
		want      want
	}{
		{name: "refund_full", outcome: disputes.OutcomeRefundFull,
			want: want{refund: "1000", release: z, fee: z, payable: z, buyer: "1000", guarantee: z, receivable: z, covered: z, state: escrow.Refunded}},
		{name: "refund_partial", outcome: disputes.OutcomeRefundPartial, amount: ptr("300.00"),
			// the seller's fee on the refunded 300 (7.50) is waived; 17.50 of it is taken on the 700 released
			want: want{refund: "300", release: "700", fee: "17.5", payable: "682.5", buyer: "300", guarantee: z, receivable: z, covered: z, state: escrow.Completed}},
		{name: "release_full", outcome: disputes.OutcomeReleaseFull,
			want: want{refund: z, release: "1000", fee: "25", payable: "975", buyer: z, guarantee: z, receivable: z, covered: z, state: escrow.Completed}},
		{name: "coverage capped at the limit", completed: true, limit: ptr("400.00"), outcome: disputes.OutcomeRefundFull,
			// 400 covered (of 1,000 asked) and recovered at once from the seller's 975 payable
			want: want{refund: z, release: z, fee: z, payable: "575", buyer: "400", guarantee: z, receivable: z, covered: "400", capped: true, state: escrow.Completed}},
		{name: "coverage with a receivable", completed: true, outcome: disputes.OutcomeRefundPartial, amount: ptr("990.00"),
			// 990 covered; the seller's payable holds 975; the seller owes 15
			want: want{refund: z, release: z, fee: z, payable: z, buyer: "990", guarantee: z, receivable: "15", covered: "990", state: escrow.Completed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := f.delivered("1000.00", func(r *escrow.CreateRequest) { r.Terms = &escrow.TermsInput{CoverageLimit: tc.limit} })
			if tc.completed {
				if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
					t.Fatal(err)
				}
			}
			feesBefore := f.balance("fees:EUR")
			d := f.open(e, disputes.ReasonNotAsDescribed, "1000.00")
			if got := f.escrow(e.ID); got.State != escrow.Disputed {
				t.Fatalf("escrow %s after the claim", got.State)
			}
			if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
				t.Fatal(err)
			}
			out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: tc.outcome, RefundAmount: tc.amount, Rationale: "photos show damage"}, "agent-7")
			if err != nil {
				t.Fatal(err)
			}
			w, st := tc.want, out.Settlement
			gross := func(p *escrow.Payout) decimal.Decimal {
				if p == nil {
					return decimal.Zero
				}
				if p.Status != escrow.StatusCompleted || p.Trigger != escrow.TriggerDispute {
					t.Fatalf("payout %s %s, want completed dispute", p.Status, p.Trigger)
				}
				return p.Gross
			}
			if !gross(st.Refund).Equal(dec(w.refund)) || !gross(st.Release).Equal(dec(w.release)) {
				t.Fatalf("refund %s release %s, want %s / %s", gross(st.Refund), gross(st.Release), w.refund, w.release)
			}
			r := out.Dispute.Resolution
			if out.Dispute.Status != disputes.Resolved || r == nil || r.Outcome != tc.outcome || !r.Covered.Equal(dec(w.covered)) || r.Capped != w.capped {
				t.Fatalf("dispute %s resolution %+v", out.Dispute.Status, r)
			}
			got := f.checkEscrow(e.ID)
			if got.State != w.state || !got.Held().IsZero() || !got.Pending.IsZero() {
				t.Fatalf("escrow %s held %s pending %s, want %s with nothing held", got.State, got.Held(), got.Pending, w.state)
			}
			for code, v := range map[string]string{
				"seller:" + e.Seller.ID + ":payable:EUR":    w.payable,
				"buyer:" + e.Buyer.ID + ":refund:EUR":       w.buyer,
				"guarantee:EUR":                             w.guarantee,
				"receivable:seller:" + e.Seller.ID + ":EUR": w.receivable,
				"escrow:" + e.ID.String():                   z,
			} {
				if b := f.balance(code); !b.Equal(dec(v)) {
					t.Errorf("%s = %s, want %s", code, b, v)
				}
			}
			if fee := f.balance("fees:EUR").Sub(feesBefore); !fee.Equal(dec(w.fee)) {
				t.Errorf("fees taken %s, want %s", fee, w.fee)
			}
			if !contains(f.events(e.ID), "dispute.opened", "dispute.escalated", "dispute.resolved") {
				t.Errorf("events %v", f.events(e.ID))
			}
		})
	}
}

// TestCoverageLimitCountsEarlierClaims: a second claim on a completed
// escrow gets only what is left of the coverage limit.
func TestCoverageLimitCountsEarlierClaims(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("500.00", func(r *escrow.CreateRequest) { r.Terms = &escrow.TermsInput{CoverageLimit: ptr("300.00")} })
	if _, err := f.esc.Accept(f.ctx, f.tenant, e.ID, 0); err != nil {
		t.Fatal(err)
	}
	resolve := func(amount string) disputes.Outcome {
		d := f.open(e, disputes.ReasonDamaged, amount)
		if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartySeller}); err != nil {
			t.Fatal(err)
		}
		out, err := f.svc.Resolve(f.ctx, f.tenant, d.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeRefundPartial, RefundAmount: &amount, Rationale: "r"}, "a")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if r := resolve("200.00").Dispute.Resolution; !r.Covered.Equal(dec("200")) || r.Capped {
		t.Fatalf("first claim %+v", r)
	}
	if r := resolve("200.00").Dispute.Resolution; !r.Covered.Equal(dec("100")) || !r.Capped {
		t.Fatalf("second claim %+v, want 100 covered and capped", r)
	}
	// 500 paid, 300 covered so far: at most 200 more can be claimed (and
	// the coverage limit is used up).
	_, err := f.svc.Open(f.ctx, f.tenant, e.ID, disputes.OpenRequest{Reason: disputes.ReasonDamaged, ClaimedAmount: "200.01", Description: "d"})
	if fe, ok := valid.As(err); !ok || fe[0].Field != "claimed_amount" {
		t.Fatalf("claim above what is left: %v", err)
	}
	if b := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); !b.Equal(dec("300")) {
		t.Fatalf("buyer refund %s, want 300", b)
	}
	f.checkEscrow(e.ID)
	third := resolve("1.00")
	if r := third.Dispute.Resolution; !r.Covered.IsZero() || !r.Capped {
		t.Fatalf("third claim %+v, want nothing covered, capped", r)
	}
	var ise *disputes.InvalidStatusError
	if _, err := f.svc.Resolve(f.ctx, f.tenant, third.Dispute.ID, disputes.ResolveRequest{Outcome: disputes.OutcomeReleaseFull, Rationale: "r"}, "a"); !errors.As(err, &ise) {
		t.Fatalf("resolving twice: %v, want invalid_state", err)
	}
}

func ptr(s string) *string { return &s }
