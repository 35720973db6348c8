package escrow_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/risk"
)

// decided returns the reason codes and the escrow_payouts_usd_24h feature
// of payout p's risk decision.
func (f *fixture) decided(p escrow.Payout) (reasons []string, payoutsUSD decimal.Decimal) {
	f.t.Helper()
	if p.Risk == nil {
		f.t.Fatalf("payout %s has no risk decision", p.ID)
	}
	for _, r := range p.Risk.Reasons {
		reasons = append(reasons, r.Code)
	}
	var s string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT features->>'escrow_payouts_usd_24h' FROM risk_decisions WHERE tenant_id = $1 AND id = $2`,
		f.tenant, p.Risk.DecisionID).Scan(&s); err != nil {
		f.t.Fatalf("decision %s: %v", p.Risk.DecisionID, err)
	}
	return reasons, dec(s)
}

func has(codes []string, code string) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// TestLargeTransferSplitIsSteppedUp (review 63): issue 6 says large
// transfers (over USD 10,000) are confirmed by the payer (default rule:
// above 10,000 USD → step_up). The gate looked only at each payout's own
// amount, so the buyer's one acceptance of a USD 30,000 order in four
// milestones, or the same order released by amount in chunks under
// 10,000, moved all of it with no step-up at all, while a single release
// of it was stepped up. Now no more than USD 10,000 reaches the seller
// without the buyer's code.
func TestLargeTransferSplitIsSteppedUp(t *testing.T) {
	ctx := context.Background()
	limit := dec("10000")
	t.Run("accept of a four-milestone order", func(t *testing.T) {
		f := newFixture(t)
		e := f.create("30000.00", "USD", func(r *escrow.CreateRequest) {
			r.Milestones = []escrow.MilestoneInput{{Name: "a", Amount: "7500.00"}, {Name: "b", Amount: "7500.00"}, {Name: "c", Amount: "7500.00"}, {Name: "d", Amount: "7500.00"}}
		})
		e = f.fund(e, "30000.00")
		if _, err := f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); err != nil {
			t.Fatal(err)
		}
		res, err := f.svc.Accept(ctx, f.tenant, e.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		stepped, moved := 0, decimal.Zero
		for _, p := range res.Releases {
			reasons, _ := f.decided(p)
			switch p.Status {
			case escrow.StatusCompleted:
				moved = moved.Add(p.Gross)
			case escrow.StatusAwaitingConfirmation:
				stepped++
				if !has(reasons, risk.ReasonLargeAmount) && !has(reasons, risk.ReasonLargeAmount24h) {
					t.Errorf("release %s stepped up for %v", p.ID, reasons)
				}
			default:
				t.Errorf("release %s is %s %v", p.ID, p.Status, reasons)
			}
		}
		if stepped == 0 || moved.GreaterThan(limit) || !res.Escrow.Released.Equal(moved) {
			t.Fatalf("one acceptance moved USD %s to the seller (escrow %s, released %s) with %d of %d releases stepped up",
				moved, res.Escrow.State, res.Escrow.Released, stepped, len(res.Releases))
		}
		f.checkInvariants(res.Escrow)
	})
	t.Run("release by amount in chunks", func(t *testing.T) {
		f := newFixture(t)
		e := f.create("30000.00", "USD", nil)
		e = f.fund(e, "30000.00")
		want := []struct {
			status, reason string
			payoutsUSD     string
		}{
			{escrow.StatusCompleted, "", "9999"},
			{escrow.StatusAwaitingConfirmation, risk.ReasonLargeAmount24h, "19998"},
			{escrow.StatusAwaitingConfirmation, risk.ReasonLargeAmount24h, "29997"},
			{escrow.StatusAwaitingConfirmation, risk.ReasonLargeAmount24h, "30000"},
		}
		for i, amt := range []string{"9999.00", "9999.00", "9999.00", "3.00"} {
			a := amt
			r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: &a})
			if err != nil {
				t.Fatal(err)
			}
			reasons, usd := f.decided(r.Release)
			if w := want[i]; r.Release.Status != w.status || (w.reason != "" && !has(reasons, w.reason)) || !usd.Equal(dec(w.payoutsUSD)) {
				t.Errorf("release %d of %s: %s %v, escrow_payouts_usd_24h %s; want %s %s, %s", i, amt, r.Release.Status, reasons, usd, w.status, w.reason, w.payoutsUSD)
			}
		}
		got, _ := f.svc.Get(ctx, f.tenant, e.ID)
		if got.Released.GreaterThan(limit) {
			t.Fatalf("USD %s released in chunks with no step-up; escrow %s", got.Released, got.State)
		}
		f.checkInvariants(got)
	})
}

// TestEscrowPayoutsWindow: escrow_payouts_usd_24h counts the escrow's
// payouts of the same kind completed in the last 24 hours or waiting, and
// not those completed before, nor voided ones, nor those of the other
// kind; refunds add up as releases do.
func TestEscrowPayoutsWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e := f.fund(f.create("30000.00", "USD", nil), "30000.00")
	release := func(amount, status, payoutsUSD string) escrow.Payout {
		t.Helper()
		r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: &amount})
		if err != nil {
			t.Fatal(err)
		}
		reasons, usd := f.decided(r.Release)
		if r.Release.Status != status || !usd.Equal(dec(payoutsUSD)) {
			t.Fatalf("release of %s: %s %v, escrow_payouts_usd_24h %s; want %s, %s", amount, r.Release.Status, reasons, usd, status, payoutsUSD)
		}
		return r.Release
	}
	release("6000.00", escrow.StatusCompleted, "6000")
	waiting := release("5000.00", escrow.StatusAwaitingConfirmation, "11000")
	// The code is never entered: the release is voided after
	// ConfirmationTimeout (24 h), when the first one is 24 h old too.
	f.clock.Advance(escrow.ConfirmationTimeout + 1)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if p := f.payout(waiting.ID); p.Status != escrow.StatusRejected {
		t.Fatalf("the waiting release is %s, want voided", p.Status)
	}
	release("1000.00", escrow.StatusCompleted, "1000")

	refund := func(amount, status, payoutsUSD string) {
		t.Helper()
		r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: amount, Reason: "partly returned"})
		if err != nil {
			t.Fatal(err)
		}
		reasons, usd := f.decided(r.Refund)
		if r.Refund.Status != status || !usd.Equal(dec(payoutsUSD)) {
			t.Fatalf("refund of %s: %s %v, escrow_payouts_usd_24h %s; want %s, %s", amount, r.Refund.Status, reasons, usd, status, payoutsUSD)
		}
		if status == escrow.StatusPendingReview && !has(reasons, risk.ReasonLargeAmount24h) {
			t.Fatalf("refund of %s held for %v, want %s", amount, reasons, risk.ReasonLargeAmount24h)
		}
	}
	refund("9500.00", escrow.StatusCompleted, "9500")
	// Over USD 10,000 of refunds: the step-up a refund cannot be
	// confirmed by goes to review.
	refund("1000.00", escrow.StatusPendingReview, "10500")
	got, _ := f.svc.Get(ctx, f.tenant, e.ID)
	f.checkInvariants(got)
}

// TestChargebackIsNotARecentRefund: a chargeback's refund payout (the card
// network paid the buyer; it never passed the gate) does not count among
// the escrow's refunds for escrow_payouts_usd_24h.
func TestChargebackIsNotARecentRefund(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e := f.fund(f.create("30000.00", "USD", nil), "30000.00")
	if err := f.db.Tx(ctx, func(tx pgx.Tx) error {
		_, err := f.svc.ApplyChargeback(ctx, tx, f.tenant, e.ID, escrow.ChargebackInput{ChargebackID: uuid.New(), Amount: dec("9000"), Currency: "USD", PSPRef: "cb-1"}, f.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "2000.00", Reason: "partly returned"})
	if err != nil {
		t.Fatal(err)
	}
	reasons, usd := f.decided(r.Refund)
	if r.Refund.Status != escrow.StatusCompleted || !usd.Equal(dec("2000")) {
		t.Fatalf("refund after a chargeback of USD 9,000: %s %v, escrow_payouts_usd_24h %s; want completed, 2000", r.Refund.Status, reasons, usd)
	}
}

// deliveredInMilestones is a funded, shipped and delivered USD escrow of amount in the
// given milestones, with an inspection window of hours.
func (f *fixture) deliveredInMilestones(amount string, hours int, milestones ...string) escrow.Escrow {
	f.t.Helper()
	ctx := context.Background()
	e := f.create(amount, "USD", func(r *escrow.CreateRequest) {
		r.Terms = &escrow.TermsInput{InspectionHours: &hours}
		for i, m := range milestones {
			r.Milestones = append(r.Milestones, escrow.MilestoneInput{Name: string(rune('a' + i)), Amount: m})
		}
	})
	e = f.fund(e, amount)
	if _, err := f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
		f.t.Fatal(err)
	}
	e, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// TestAcceptanceDecidedOnce: an acceptance releases every open milestone
// in one payout that the gate decides on once: a USD 30,000 order in four
// milestones is one step-up with one code, which releases all of it; an
// order under USD 10,000 in milestones is one completed release; the
// auto-release of the large order is one review.
func TestAcceptanceDecidedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	e := f.deliveredInMilestones("30000.00", 48, "7500.00", "7500.00", "7500.00", "7500.00")
	res, err := f.svc.Accept(ctx, f.tenant, e.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Releases) != 1 {
		t.Fatalf("%d releases, want one of every milestone", len(res.Releases))
	}
	p := res.Releases[0]
	reasons, usd := f.decided(p)
	if p.Status != escrow.StatusAwaitingConfirmation || !p.OrderAmount.Equal(dec("30000")) || p.MilestoneIdx != nil || len(p.Allocation) != 4 ||
		!has(reasons, risk.ReasonLargeAmount) || !usd.Equal(dec("30000")) {
		t.Fatalf("release %s of %s (milestone %v, %d milestones) %v, escrow_payouts_usd_24h %s", p.Status, p.OrderAmount, p.MilestoneIdx, len(p.Allocation), reasons, usd)
	}
	codes := f.codes(p.ID)
	if len(codes) != 1 || !res.Escrow.Released.IsZero() || res.Escrow.State != escrow.Delivered {
		t.Fatalf("%d codes; escrow %s released %s", len(codes), res.Escrow.State, res.Escrow.Released)
	}
	got, err := f.svc.ConfirmRelease(ctx, f.tenant, p.ID, codes[0])
	if err != nil || got.Release.Status != escrow.StatusCompleted || got.Escrow.State != escrow.Completed || !got.Escrow.Released.Equal(dec("30000")) {
		t.Fatalf("confirm: %v; release %s, escrow %s released %s", err, got.Release.Status, got.Escrow.State, got.Escrow.Released)
	}
	for _, m := range got.Escrow.Milestones {
		if m.State() != "released" {
			t.Errorf("milestone %d is %s", m.Index, m.State())
		}
	}
	f.checkInvariants(got.Escrow)

	small := f.deliveredInMilestones("900.00", 48, "300.00", "600.00")
	res, err = f.svc.Accept(ctx, f.tenant, small.ID, 0)
	if err != nil || len(res.Releases) != 1 || res.Releases[0].Status != escrow.StatusCompleted || res.Escrow.State != escrow.Completed {
		t.Fatalf("accept of USD 900 in two milestones: %v, %+v, escrow %s", err, res.Releases, res.Escrow.State)
	}
	f.checkInvariants(res.Escrow)

	// Nobody is there for the auto-release to enter a code: one review.
	auto := f.deliveredInMilestones("30000.00", 24, "7500.00", "7500.00", "7500.00", "7500.00")
	f.clock.Advance(25 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	after, err := f.svc.Get(ctx, f.tenant, auto.ID)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM escrow_payouts WHERE escrow_id = $1 AND status = $2`, auto.ID, escrow.StatusPendingReview).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || !after.Pending.Equal(dec("30000")) || !after.Released.IsZero() {
		t.Fatalf("auto-release: %d payouts pending review, escrow %s pending %s released %s", n, after.State, after.Pending, after.Released)
	}
	f.checkInvariants(after)
}
