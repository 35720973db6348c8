package escrow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/services"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

type fixture struct {
	t      *testing.T
	db     *db.DB
	clock  *clock.Fake
	svc    *escrow.Service
	risk   *risk.Service
	fx     *fx.Service
	jobs   *jobs.Runner
	tenant uuid.UUID
	n      int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := dbtest.New(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	set, err := services.New(d, clk, services.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	fxs, svc, rs := set.FX, set.Escrows, set.Risk
	tn, err := set.Tenants.CreateTenant(context.Background(), "escrow tests")
	if err != nil {
		t.Fatal(err)
	}
	// Rates, so the gate can price amounts in USD (without them it fails
	// closed and sends every payout to review).
	if _, err := fxs.ImportRates(context.Background(), tn.ID, []fx.RateSet{{Base: "EUR", AsOf: clk.Now().Add(-time.Hour), Source: "test",
		Rates: map[string]decimal.Decimal{"USD": dec("1.0800"), "JPY": dec("160.00"), "GBP": dec("0.8500")}}}); err != nil {
		t.Fatal(err)
	}
	r := jobs.NewRunner(d, clk, nil)
	set.RegisterJobs(r)
	return &fixture{t: t, db: d, clock: clk, svc: svc, risk: rs, fx: fxs, jobs: r, tenant: tn.ID}
}

func (f *fixture) create(amount, currency string, mutate func(*escrow.CreateRequest)) escrow.Escrow {
	f.t.Helper()
	f.n++
	req := escrow.CreateRequest{
		OrderRef: fmt.Sprintf("order-%d", f.n), Amount: amount, Currency: currency,
		Buyer:  escrow.PartyInput{ID: fmt.Sprintf("buyer-%d", f.n), Name: "Ana Buyer", Country: "DE"},
		Seller: escrow.PartyInput{ID: fmt.Sprintf("seller-%d", f.n), Name: "Sam Seller", Country: "CN"},
	}
	if mutate != nil {
		mutate(&req)
	}
	e, err := f.svc.Create(context.Background(), f.tenant, req)
	if err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return e
}

func (f *fixture) fund(e escrow.Escrow, amount string) escrow.Escrow {
	f.t.Helper()
	out, err := f.svc.Fund(context.Background(), f.tenant, e.ID, 0, escrow.FundRequest{Amount: amount, Currency: e.Currency, PaymentRef: uuid.NewString()})
	if err != nil {
		f.t.Fatalf("fund: %v", err)
	}
	return out
}

// checkInvariants: held = funded − released − refunded − pending ≥ 0, the
// escrow account's ledger balance equals held plus pending, and the fee
// parts on the escrow are its payouts'.
func (f *fixture) checkInvariants(e escrow.Escrow) {
	f.t.Helper()
	got, err := f.svc.Get(context.Background(), f.tenant, e.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if got.Held().IsNegative() {
		f.t.Fatalf("held %s is negative", got.Held())
	}
	bal, err := ledger.GetBalance(context.Background(), f.db.Pool, f.tenant, got.AccountID)
	if err != nil {
		f.t.Fatal(err)
	}
	if !bal.Posted.Equal(got.Held().Add(got.Pending)) {
		f.t.Fatalf("escrow ledger balance %s != held %s + pending %s", bal.Posted, got.Held(), got.Pending)
	}
	if !bal.Available.Equal(got.Held()) {
		f.t.Fatalf("escrow available %s != held %s", bal.Available, got.Held())
	}
	// The fee parts carried on the escrow are those of its payouts that
	// count.
	buyer, seller, err := escrow.PayoutFeeParts(context.Background(), f.db.Pool, e.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if !got.BuyerFeeParts.Equal(buyer) || !got.SellerFeeParts.Equal(seller) {
		f.t.Fatalf("escrow fee parts buyer %s seller %s, payouts say %s and %s", got.BuyerFeeParts, got.SellerFeeParts, buyer, seller)
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestLifecycleWithFee(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.create("1200.00", "EUR", func(r *escrow.CreateRequest) {
		r.Fees = &escrow.FeesInput{PlatformFeeBps: 250, PaidBy: escrow.PaidBySeller}
	})
	if e.State != escrow.AwaitingFunding || !e.FeeTotal.Equal(dec("30")) {
		t.Fatalf("created %s fee %s", e.State, e.FeeTotal)
	}
	e = f.fund(e, "200.00")
	if e.State != escrow.AwaitingFunding || !e.Funded.Equal(dec("200")) {
		t.Fatalf("partial funding: %s %s", e.State, e.Funded)
	}
	_, err := f.svc.Fund(ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "1000.01", Currency: "EUR", PaymentRef: "too-much"})
	if fe, ok := valid.As(err); !ok || fe.Code() != "amount_mismatch" {
		t.Fatalf("over-funding: %v, want amount_mismatch", err)
	}
	e = f.fund(e, "1000.00")
	if e.State != escrow.Funded {
		t.Fatalf("after full funding: %s", e.State)
	}
	f.checkInvariants(e)
	if e, err = f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1Z"}); err != nil || e.State != escrow.Shipped {
		t.Fatalf("ship: %v %s", err, e.State)
	}
	if e, err = f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); err != nil || e.State != escrow.Delivered {
		t.Fatalf("deliver: %v", err)
	}
	res, err := f.svc.Accept(ctx, f.tenant, e.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Escrow.State != escrow.Completed || len(res.Releases) != 1 {
		t.Fatalf("accept: %s, %d releases", res.Escrow.State, len(res.Releases))
	}
	r := res.Releases[0]
	if r.Status != escrow.StatusCompleted || !r.Fee.Equal(dec("30")) || !r.Net.Equal(dec("1170")) || !r.Gross.Equal(dec("1200")) {
		t.Fatalf("release %+v", r)
	}
	f.checkInvariants(res.Escrow)
	seller, err := ledger.AccountByCode(ctx, f.db.Pool, f.tenant, "seller:"+res.Escrow.Seller.ID+":payable:EUR")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := ledger.GetBalance(ctx, f.db.Pool, f.tenant, seller.ID); !b.Posted.Equal(dec("1170")) {
		t.Fatalf("seller payable %s, want 1170", b.Posted)
	}
	fees, _ := ledger.AccountByCode(ctx, f.db.Pool, f.tenant, "fees:EUR")
	if b, _ := ledger.GetBalance(ctx, f.db.Pool, f.tenant, fees.ID); !b.Posted.Equal(dec("30")) {
		t.Fatalf("fees %s, want 30", b.Posted)
	}
}

func TestMilestonesAndPartialRefund(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.create("1000.00", "USD", func(r *escrow.CreateRequest) {
		r.Milestones = []escrow.MilestoneInput{{Name: "deposit", Amount: "300.00"}, {Name: "balance", Amount: "700.00"}}
		r.Fees = &escrow.FeesInput{PlatformFeeBps: 100, FixedFee: "1.00", PaidBy: escrow.PaidBySplit}
	})
	// fee 10.00 + 1.00 = 11.00, the buyer pays half (5.50) on top.
	if !e.FeeTotal.Equal(dec("11")) || !e.BuyerFee.Equal(dec("5.5")) || !e.FundingTarget().Equal(dec("1005.5")) {
		t.Fatalf("fees %s / %s / target %s", e.FeeTotal, e.BuyerFee, e.FundingTarget())
	}
	e = f.fund(e, "1005.50")
	zero := 0
	rel, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Milestone: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Release.Status != escrow.StatusCompleted || !rel.Release.OrderAmount.Equal(dec("300")) || rel.Escrow.Milestones[0].State() != "released" {
		t.Fatalf("milestone release %+v %s", rel.Release, rel.Escrow.Milestones[0].State())
	}
	f.checkInvariants(rel.Escrow)
	ref, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "200.00", Reason: "one pallet short"})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Refund.Status != escrow.StatusCompleted || rel.Escrow.State != escrow.Funded {
		t.Fatalf("refund %+v", ref.Refund)
	}
	f.checkInvariants(ref.Escrow)
	// More than is left is refused, naming the field.
	_, err = f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "500.01", Reason: "x"})
	if fe, ok := valid.As(err); !ok || fe[0].Field != "amount" {
		t.Fatalf("over-refund: %v", err)
	}
	// Release the rest: everything is paid out, fee parts add up exactly.
	rest, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := rest.Escrow
	if got.State != escrow.Completed || !got.Held().IsZero() {
		t.Fatalf("after the last release: %s held %s", got.State, got.Held())
	}
	total := got.Released.Add(got.Refunded)
	if !total.Equal(got.Funded) {
		t.Fatalf("released %s + refunded %s != funded %s", got.Released, got.Refunded, got.Funded)
	}
	f.checkInvariants(got)
}

func TestCancelBeforeAndAfterFunding(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.create("50.00", "EUR", nil)
	res, err := f.svc.Cancel(ctx, f.tenant, a.ID, 0, escrow.CancelRequest{Reason: "buyer changed mind"})
	if err != nil || res.Escrow.State != escrow.Cancelled {
		t.Fatalf("cancel unfunded: %v %s", err, res.Escrow.State)
	}
	b := f.fund(f.create("80.00", "EUR", nil), "80.00")
	res, err = f.svc.Cancel(ctx, f.tenant, b.ID, 0, escrow.CancelRequest{Reason: "out of stock"})
	if err != nil || res.Escrow.State != escrow.Cancelled || !res.Refund.Gross.Equal(dec("80")) {
		t.Fatalf("cancel funded: %v %s %+v", err, res.Escrow.State, res.Refund)
	}
	f.checkInvariants(res.Escrow)
	c := f.fund(f.create("10.00", "EUR", nil), "10.00")
	if _, err := f.svc.Ship(ctx, f.tenant, c.ID, 0, escrow.ShipRequest{Carrier: "UPS", TrackingNumber: "9"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Cancel(ctx, f.tenant, c.ID, 0, escrow.CancelRequest{Reason: "late"})
	var ise *escrow.InvalidStateError
	if !errors.As(err, &ise) || ise.State != escrow.Shipped {
		t.Fatalf("cancel shipped: %v, want invalid_state naming shipped", err)
	}
}

// TestTransitionTable drives an escrow into each state and tries each
// action: allowed actions must not fail with invalid_state, the others must.
func TestTransitionTable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	into := map[escrow.State]func() escrow.Escrow{
		escrow.AwaitingFunding: func() escrow.Escrow { return f.create("100.00", "EUR", nil) },
		escrow.Funded:          func() escrow.Escrow { return f.fund(f.create("100.00", "EUR", nil), "100.00") },
		escrow.Shipped: func() escrow.Escrow {
			e := f.fund(f.create("100.00", "EUR", nil), "100.00")
			e, _ = f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"})
			return e
		},
		escrow.Delivered: func() escrow.Escrow {
			e := f.fund(f.create("100.00", "EUR", nil), "100.00")
			_, _ = f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"})
			e, _ = f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{})
			return e
		},
		escrow.Completed: func() escrow.Escrow {
			e := f.fund(f.create("100.00", "EUR", nil), "100.00")
			r, _ := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			return r.Escrow
		},
		escrow.Cancelled: func() escrow.Escrow {
			r, _ := f.svc.Cancel(ctx, f.tenant, f.create("100.00", "EUR", nil).ID, 0, escrow.CancelRequest{Reason: "x"})
			return r.Escrow
		},
		escrow.Expired: func() escrow.Escrow {
			h := 1
			e := f.create("100.00", "EUR", func(r *escrow.CreateRequest) { r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} })
			f.clock.Advance(2 * time.Hour)
			if _, err := f.jobs.RunAll(ctx, 10); err != nil {
				t.Fatal(err)
			}
			e, _ = f.svc.Get(ctx, f.tenant, e.ID)
			return e
		},
		escrow.Refunded: func() escrow.Escrow {
			e := f.fund(f.create("100.00", "EUR", nil), "100.00")
			r, _ := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "100.00", Reason: "x"})
			return r.Escrow
		},
	}
	do := map[escrow.Action]func(e escrow.Escrow) error{
		escrow.ActFund: func(e escrow.Escrow) error {
			_, err := f.svc.Fund(ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "1.00", Currency: "EUR", PaymentRef: uuid.NewString()})
			return err
		},
		escrow.ActShip: func(e escrow.Escrow) error {
			_, err := f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"})
			return err
		},
		escrow.ActDeliver: func(e escrow.Escrow) error {
			_, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{})
			return err
		},
		escrow.ActAccept: func(e escrow.Escrow) error { _, err := f.svc.Accept(ctx, f.tenant, e.ID, 0); return err },
		escrow.ActRelease: func(e escrow.Escrow) error {
			_, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			return err
		},
		escrow.ActRefund: func(e escrow.Escrow) error {
			_, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "1.00", Reason: "x"})
			return err
		},
		escrow.ActCancel: func(e escrow.Escrow) error {
			_, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "x"})
			return err
		},
	}
	for state, mk := range into {
		for action, run := range do {
			t.Run(string(state)+"/"+string(action), func(t *testing.T) {
				e := mk()
				if e.State != state {
					t.Fatalf("setup reached %s, want %s", e.State, state)
				}
				err := run(e)
				if escrow.Allowed(state, action) {
					if errors.Is(err, escrow.ErrInvalidState) {
						t.Fatalf("%s allowed in %s by the table but refused: %v", action, state, err)
					}
				} else if !errors.Is(err, escrow.ErrInvalidState) {
					t.Fatalf("%s in %s: %v, want invalid_state", action, state, err)
				}
			})
		}
	}
}

func TestIfMatch(t *testing.T) {
	f := newFixture(t)
	e := f.fund(f.create("10.00", "EUR", nil), "10.00")
	_, err := f.svc.Ship(context.Background(), f.tenant, e.ID, e.Version-1, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"})
	if !errors.Is(err, escrow.ErrVersionMismatch) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if _, err := f.svc.Ship(context.Background(), f.tenant, e.ID, e.Version, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
		t.Fatal(err)
	}
}

func TestExpiryAndAutoReleaseJobs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	unfunded := f.create("70.00", "EUR", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} })
	partial := f.fund(f.create("70.00", "EUR", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} }), "20.00")
	delivered := f.fund(f.create("90.00", "EUR", func(r *escrow.CreateRequest) {
		h, d := 48, 24
		r.Terms = &escrow.TermsInput{InspectionHours: &h, FundingDeadlineHours: &d}
	}), "90.00")
	if _, err := f.svc.Ship(ctx, f.tenant, delivered.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx, f.tenant, delivered.ID, 0, escrow.DeliverRequest{}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(23 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.svc.Get(ctx, f.tenant, unfunded.ID); e.State != escrow.AwaitingFunding {
		t.Fatalf("expired early: %s", e.State)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{unfunded.ID, partial.ID} {
		e, _ := f.svc.Get(ctx, f.tenant, id)
		if e.State != escrow.Expired || !e.Held().IsZero() {
			t.Fatalf("after the deadline: %s held %s", e.State, e.Held())
		}
		f.checkInvariants(e)
	}
	if e, _ := f.svc.Get(ctx, f.tenant, delivered.ID); e.State != escrow.Delivered {
		t.Fatalf("auto-released early: %s", e.State)
	}
	// The funded escrow's expiry job was not cancelled: it ran at the
	// deadline and left the escrow alone.
	var status string
	if err := f.db.Pool.QueryRow(ctx, `SELECT status FROM jobs WHERE kind = $1 AND dedupe_key = $2`, escrow.JobExpire, delivered.ID.String()).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "done" {
		t.Fatalf("expiry job of the funded escrow: %s, want done (a no-op)", status)
	}
	f.clock.Advance(24 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	e, _ := f.svc.Get(ctx, f.tenant, delivered.ID)
	if e.State != escrow.Completed || !e.Released.Equal(dec("90")) {
		t.Fatalf("after the inspection window: %s released %s", e.State, e.Released)
	}
	f.checkInvariants(e)
}

// TestFundingClosesAtTheDeadline: an escrow is expired at its funding
// deadline, not when the expiry job gets to it. From the deadline on,
// funding is refused as in an expired escrow (409 invalid_state naming
// expired), in the escrow's currency and through an FX quote (which is not
// consumed); the job then expires the escrow and refunds what arrived
// before. Funding used to be accepted until the job ran: a full funding
// made the escrow funded (and the job left it alone), a partial one was
// booked and refunded at once.
func TestFundingClosesAtTheDeadline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hour := func(r *escrow.CreateRequest) { h := 1; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} }
	unfunded := f.create("70.00", "EUR", hour)
	partial := f.fund(f.create("70.00", "EUR", hour), "20.00")
	quoted := f.create("70.00", "EUR", hour)
	fund := func(e escrow.Escrow, amount string) error {
		_, err := f.svc.Fund(ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: amount, Currency: "EUR", PaymentRef: uuid.NewString()})
		return err
	}
	refused := func(what string, err error) {
		t.Helper()
		var ise *escrow.InvalidStateError
		if !errors.As(err, &ise) || ise.State != escrow.Expired || ise.Action != escrow.ActFund {
			t.Fatalf("%s: %v, want invalid_state naming expired", what, err)
		}
	}
	f.clock.Advance(time.Hour - time.Second)
	if err := fund(partial, "10.00"); err != nil {
		t.Fatalf("funding a second before the deadline: %v", err)
	}
	f.clock.Advance(time.Second) // the deadline; the job has not run
	refused("full funding at the deadline", fund(unfunded, "70.00"))
	refused("partial funding at the deadline", fund(partial, "40.00"))
	q, err := f.fx.Quote(ctx, f.tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: ptr(dec("70.00"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Fund(ctx, f.tenant, quoted.ID, 0, escrow.FundRequest{Amount: q.SellAmount.StringFixed(2), Currency: "USD", PaymentRef: uuid.NewString(), FxQuoteID: q.ID.String()})
	refused("funding through a quote at the deadline", err)
	// The quote was not consumed: another escrow can use it.
	if e, err := f.svc.Fund(ctx, f.tenant, f.create("70.00", "EUR", nil).ID, 0, escrow.FundRequest{Amount: q.SellAmount.StringFixed(2), Currency: "USD",
		PaymentRef: uuid.NewString(), FxQuoteID: q.ID.String()}); err != nil || e.State != escrow.Funded {
		t.Fatalf("the quote after the refusal: %v %s", err, e.State)
	}
	for _, e := range []escrow.Escrow{unfunded, partial, quoted} {
		got, _ := f.svc.Get(ctx, f.tenant, e.ID)
		if got.State != escrow.AwaitingFunding || !got.Refunded.IsZero() {
			t.Fatalf("%s before the job: %s funded %s refunded %s", e.OrderRef, got.State, got.Funded, got.Refunded)
		}
	}
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e      escrow.Escrow
		funded string
	}{{unfunded, "0"}, {partial, "30"}, {quoted, "0"}} {
		got, _ := f.svc.Get(ctx, f.tenant, c.e.ID)
		if got.State != escrow.Expired || !got.Funded.Equal(dec(c.funded)) || !got.Refunded.Equal(dec(c.funded)) || !got.Held().IsZero() {
			t.Fatalf("%s after the job: %s funded %s refunded %s held %s; want expired with %s funded and refunded",
				c.e.OrderRef, got.State, got.Funded, got.Refunded, got.Held(), c.funded)
		}
		f.checkInvariants(got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentPayoutsNeverExceedHeld: fifty concurrent releases and
// refunds on one escrow never move more than was held.
func TestConcurrentPayoutsNeverExceedHeld(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("100.00", "EUR", nil), "100.00")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := decimal.Zero
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			amount := "7.00"
			if i%2 == 0 {
				r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: amount, Reason: "r"})
				if err == nil {
					mu.Lock()
					ok = ok.Add(r.Refund.Gross)
					mu.Unlock()
				}
				return
			}
			a := amount
			r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Amount: &a})
			if err == nil {
				mu.Lock()
				ok = ok.Add(r.Release.Gross)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got, _ := f.svc.Get(ctx, f.tenant, e.ID)
	if ok.GreaterThan(dec("100")) || !ok.Equal(got.Released.Add(got.Refunded)) {
		t.Fatalf("paid out %s (escrow says %s + %s) of 100", ok, got.Released, got.Refunded)
	}
	if !ok.Equal(dec("98")) { // 14 payouts of 7.00 fit in 100.00
		t.Fatalf("paid out %s, want 98.00 (14 of 7.00)", ok)
	}
	f.checkInvariants(got)
}

func TestFrozenPartyBlocksRelease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("40.00", "EUR", nil), "40.00")
	if _, err := f.risk.Freeze(ctx, f.tenant, e.Seller.ID, "investigation"); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Release.Status != escrow.StatusBlocked || r.Release.Risk == nil || r.Release.Risk.Decision != risk.OutcomeBlock {
		t.Fatalf("release %+v", r.Release)
	}
	found := false
	for _, rr := range r.Release.Risk.Reasons {
		found = found || rr.Code == "party_frozen"
	}
	if !found || !r.Escrow.Held().Equal(dec("40")) {
		t.Fatalf("reasons %v held %s: want party_frozen and nothing moved", r.Release.Risk.Reasons, r.Escrow.Held())
	}
	f.checkInvariants(r.Escrow)
}

func TestCreateValidation(t *testing.T) {
	ok := escrow.CreateRequest{OrderRef: "o", Amount: "10.00", Currency: "EUR",
		Buyer: escrow.PartyInput{ID: "b", Name: "B", Country: "DE"}, Seller: escrow.PartyInput{ID: "s", Name: "S", Country: "FR"}}
	for _, tc := range []struct {
		name  string
		edit  func(*escrow.CreateRequest)
		field string
		code  string
	}{
		{"unknown currency", func(r *escrow.CreateRequest) { r.Currency = "XXX" }, "currency", "unknown_currency"},
		{"JPY decimals", func(r *escrow.CreateRequest) { r.Currency, r.Amount = "JPY", "10.5" }, "amount", "invalid_amount"},
		{"KWD decimals", func(r *escrow.CreateRequest) { r.Currency, r.Amount = "KWD", "1.2345" }, "amount", "invalid_amount"},
		{"zero", func(r *escrow.CreateRequest) { r.Amount = "0.00" }, "amount", "invalid_amount"},
		{"milestones sum", func(r *escrow.CreateRequest) {
			r.Milestones = []escrow.MilestoneInput{{Name: "a", Amount: "3.00"}, {Name: "b", Amount: "3.00"}}
		}, "milestones", "validation_failed"},
		{"milestone amount", func(r *escrow.CreateRequest) { r.Milestones = []escrow.MilestoneInput{{Name: "a", Amount: "x"}} }, "milestones[0].amount", "invalid_amount"},
		{"order ref", func(r *escrow.CreateRequest) { r.OrderRef = " " }, "order_ref", "validation_failed"},
		{"country", func(r *escrow.CreateRequest) { r.Buyer.Country = "Germany" }, "buyer.country", "validation_failed"},
		{"same parties", func(r *escrow.CreateRequest) { r.Seller.ID = "b" }, "seller.id", "validation_failed"},
		{"paid_by", func(r *escrow.CreateRequest) { r.Fees = &escrow.FeesInput{PaidBy: "nobody"} }, "fees.paid_by", "validation_failed"},
		{"inspection", func(r *escrow.CreateRequest) { h := -1; r.Terms = &escrow.TermsInput{InspectionHours: &h} }, "terms.inspection_hours", "validation_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			_, err := r.Validate()
			fe, isField := valid.As(err)
			if !isField || fe[0].Field != tc.field || fe.Code() != tc.code {
				t.Fatalf("got %v, want %s on %s", err, tc.code, tc.field)
			}
		})
	}
	if _, err := ok.Validate(); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
}

// TestNoCancelWhilePayoutsWait: an escrow with a payout waiting for review
// cannot be cancelled; once the review rejects it, it can, and nothing is
// lost on the way.
func TestNoCancelWhilePayoutsWait(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.rules(
		risk.Rule{ID: "review_all", When: "operation == 'release'", Action: risk.OutcomeReview, Reason: "manual_check"},
	)
	e := f.fund(f.create("100.00", "EUR", nil), "100.00")
	r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil || r.Release.Status != escrow.StatusPendingReview || r.Release.ReviewID == nil {
		t.Fatalf("release: %v %+v", err, r.Release)
	}
	if _, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "x"}); !errors.Is(err, escrow.ErrPayoutsPending) {
		t.Fatalf("cancel while a release waits: %v, want ErrPayoutsPending", err)
	}
	f.checkInvariants(r.Escrow)
	if _, err := f.risk.DecideReview(ctx, f.tenant, *r.Release.ReviewID, false, "no", "tester"); err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "x"})
	if err != nil || c.Escrow.State != escrow.Cancelled || !c.Escrow.Refunded.Equal(dec("100")) || !c.Escrow.Released.IsZero() {
		t.Fatalf("cancel after the rejection: %v %+v", err, c.Escrow)
	}
	f.checkInvariants(c.Escrow)
}

// TestWaitingCancellationHoldsTheEscrow: while a cancellation's refund
// waits for review the escrow stays funded with its order money pending,
// and it does not move on: ship and release are refused (payouts_pending),
// so the approval cancels an escrow that was never shipped. A rejection
// leaves it funded, to be shipped and delivered. (Shipping used to go
// through, and the approval then cancelled the shipped and delivered
// escrow with everything refunded: the buyer kept goods and money.) A
// release waiting for review holds nothing back: the deposit's escrow
// ships.
func TestWaitingCancellationHoldsTheEscrow(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(fmt.Sprintf("approved=%v", approve), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.rules(risk.Rule{ID: "review_payouts", When: "operation == 'refund' || operation == 'release'", Action: risk.OutcomeReview, Reason: "manual_check"})
			ship := func(e escrow.Escrow) (escrow.Escrow, error) {
				return f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1Z"})
			}
			twoParts := func(r *escrow.CreateRequest) {
				r.Milestones = []escrow.MilestoneInput{{Name: "deposit", Amount: "30.00"}, {Name: "rest", Amount: "70.00"}}
			}
			deposit := f.fund(f.create("100.00", "EUR", twoParts), "100.00")
			zero := 0
			if r, err := f.svc.Release(ctx, f.tenant, deposit.ID, 0, escrow.ReleaseRequest{Milestone: &zero}); err != nil || r.Release.Status != escrow.StatusPendingReview {
				t.Fatalf("release of the deposit: %v %+v", err, r.Release)
			}
			if got, err := ship(deposit); err != nil || got.State != escrow.Shipped {
				t.Fatalf("ship while a release waits: %v %s", err, got.State)
			}

			e := f.fund(f.create("100.00", "EUR", twoParts), "100.00")
			c, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "buyer changed mind"})
			if err != nil || c.Refund.Status != escrow.StatusPendingReview || c.Escrow.State != escrow.Funded || !c.Escrow.Pending.Equal(dec("100")) {
				t.Fatalf("cancel: %v %+v %s pending %s", err, c.Refund, c.Escrow.State, c.Escrow.Pending)
			}
			waits := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, escrow.ErrPayoutsPending) {
					t.Fatalf("%s while the cancellation waits: %v, want ErrPayoutsPending", what, err)
				}
			}
			_, err = ship(e)
			waits("ship", err)
			_, err = f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
			waits("release", err)
			_, err = f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{Milestone: &zero})
			waits("release of a milestone", err)
			got, _ := f.svc.Get(ctx, f.tenant, e.ID)
			if got.State != escrow.Funded || got.ShippedAt != nil || got.Version != c.Escrow.Version {
				t.Fatalf("after the refusals: %s shipped %v version %d, want funded, unshipped, version %d", got.State, got.ShippedAt, got.Version, c.Escrow.Version)
			}
			f.checkInvariants(got)

			if _, err := f.risk.DecideReview(ctx, f.tenant, *c.Refund.ReviewID, approve, "", "tester"); err != nil {
				t.Fatal(err)
			}
			got, _ = f.svc.Get(ctx, f.tenant, e.ID)
			f.checkInvariants(got)
			if approve {
				if got.State != escrow.Cancelled || !got.Refunded.Equal(dec("100")) || got.ShippedAt != nil || got.ClosedAt == nil {
					t.Fatalf("after the approval: %s refunded %s shipped %v; want cancelled, everything refunded, never shipped", got.State, got.Refunded, got.ShippedAt)
				}
				return
			}
			if got.State != escrow.Funded || !got.Held().Equal(dec("100")) || !got.Pending.IsZero() {
				t.Fatalf("after the rejection: %s held %s pending %s; want funded with everything held", got.State, got.Held(), got.Pending)
			}
			if got, err = ship(got); err != nil || got.State != escrow.Shipped {
				t.Fatalf("ship after the rejection: %v %s", err, got.State)
			}
			if got, err = f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); err != nil || got.State != escrow.Delivered {
				t.Fatalf("deliver after the rejection: %v %s", err, got.State)
			}
		})
	}
}

// TestApprovalDoesNotCancelAShippedEscrow: an escrow shipped while its
// cancellation's refund waited for review (as Ship allowed before it
// checked for one; written here by hand) is not cancelled by the
// approval, which would refund the shipped order in full: the approval
// is refused as invalid_state and changes nothing, the review stays
// pending, and deliver is refused while it waits. Once the review is
// rejected the escrow goes on.
func TestApprovalDoesNotCancelAShippedEscrow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.rules(risk.Rule{ID: "review_refunds", When: "operation == 'refund'", Action: risk.OutcomeReview, Reason: "manual_check"})
	e := f.fund(f.create("100.00", "EUR", nil), "100.00")
	c, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "buyer changed mind"})
	if err != nil || c.Refund.Status != escrow.StatusPendingReview {
		t.Fatalf("cancel: %v %+v", err, c.Refund)
	}
	if _, err := f.db.Pool.Exec(ctx, `UPDATE escrows SET state = 'shipped', shipped_at = $2, shipment = $3::JSONB, version = version + 1 WHERE id = $1`,
		e.ID, f.clock.Now(), `{"carrier": "DHL", "tracking_number": "1Z"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); !errors.Is(err, escrow.ErrPayoutsPending) {
		t.Fatalf("deliver while the cancellation waits: %v, want ErrPayoutsPending", err)
	}
	_, err = f.risk.DecideReview(ctx, f.tenant, *c.Refund.ReviewID, true, "ok", "tester")
	if !errors.Is(err, escrow.ErrInvalidState) {
		t.Fatalf("approval of the shipped escrow's cancellation: %v, want invalid_state", err)
	}
	got, _ := f.svc.Get(ctx, f.tenant, e.ID)
	if got.State != escrow.Shipped || !got.Pending.Equal(dec("100")) || !got.Refunded.IsZero() {
		t.Fatalf("after the approval: %s pending %s refunded %s; want shipped with the refund pending", got.State, got.Pending, got.Refunded)
	}
	f.checkInvariants(got)
	if rvs, err := f.risk.ListReviews(ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10); err != nil || len(rvs) != 1 || rvs[0].ID != *c.Refund.ReviewID {
		t.Fatalf("pending reviews %v %v; want the cancellation's", rvs, err)
	}
	if _, err := f.risk.DecideReview(ctx, f.tenant, *c.Refund.ReviewID, false, "shipped", "tester"); err != nil {
		t.Fatal(err)
	}
	got, err = f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{})
	if err != nil || got.State != escrow.Delivered || !got.Held().Equal(dec("100")) {
		t.Fatalf("deliver after the rejection: %v %s held %s", err, got.State, got.Held())
	}
	f.checkInvariants(got)
}

// TestStepUpTimesOut: a release over USD 10,000 waits for the buyer's
// code; unconfirmed after ConfirmationTimeout it is voided and the money
// is held again.
func TestStepUpTimesOut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("12000.00", "USD", nil), "12000.00")
	r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil || r.Release.Status != escrow.StatusAwaitingConfirmation {
		t.Fatalf("release: %v %+v", err, r.Release)
	}
	f.clock.Advance(escrow.ConfirmationTimeout - time.Minute)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.svc.GetRelease(ctx, f.tenant, r.Release.ID); p.Status != escrow.StatusAwaitingConfirmation {
		t.Fatalf("voided early: %s", p.Status)
	}
	f.clock.Advance(2 * time.Minute)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.GetRelease(ctx, f.tenant, r.Release.ID)
	got, _ := f.svc.Get(ctx, f.tenant, e.ID)
	if p.Status != escrow.StatusRejected || !got.Held().Equal(dec("12000")) || !got.Pending.IsZero() {
		t.Fatalf("after the timeout: release %s, held %s pending %s", p.Status, got.Held(), got.Pending)
	}
	f.checkInvariants(got)
}

// TestExpiryHeldBackByTheGate: an escrow partly funded at its deadline
// expires even when the gate holds the refund of what arrived back: it is
// expired at once and cannot be funded any more. The refund waits for its
// review (approval refunds, the escrow stays expired); after a rejection
// or a block the money stays in the expired escrow, where a refund moves
// it. (It used to stay awaiting_funding, with no expiry left to run, so
// the order could still be funded to completion after its deadline.)
func TestExpiryHeldBackByTheGate(t *testing.T) {
	for _, c := range []struct {
		name    string
		outcome string
		approve bool
	}{
		{"review approved", risk.OutcomeReview, true},
		{"review rejected", risk.OutcomeReview, false},
		{"blocked", risk.OutcomeBlock, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.rules(
				risk.Rule{ID: "hold_refunds", When: "operation == 'refund'", Action: c.outcome, Reason: "manual_check"},
			)
			e := f.fund(f.create("70.00", "EUR", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} }), "20.00")
			f.clock.Advance(25 * time.Hour)
			if _, err := f.jobs.RunAll(ctx, 10); err != nil {
				t.Fatal(err)
			}
			got, _ := f.svc.Get(ctx, f.tenant, e.ID)
			wantPending := dec("20")
			if c.outcome == risk.OutcomeBlock {
				wantPending = decimal.Zero
			}
			if got.State != escrow.Expired || got.ClosedAt == nil || !got.Pending.Equal(wantPending) || !got.Refunded.IsZero() {
				t.Fatalf("at the deadline: %s pending %s refunded %s closed %v; want expired pending %s", got.State, got.Pending, got.Refunded, got.ClosedAt, wantPending)
			}
			f.checkInvariants(got)
			if _, err := f.svc.Fund(ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "50.00", Currency: "EUR", PaymentRef: "late"}); !errors.Is(err, escrow.ErrInvalidState) {
				t.Fatalf("funding after the deadline: %v, want ErrInvalidState", err)
			}
			if c.outcome == risk.OutcomeReview {
				rvs, err := f.risk.ListReviews(ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10)
				if err != nil || len(rvs) != 1 {
					t.Fatalf("reviews %d %v", len(rvs), err)
				}
				if _, err := f.risk.DecideReview(ctx, f.tenant, rvs[0].ID, c.approve, "", "tester"); err != nil {
					t.Fatal(err)
				}
			}
			got, _ = f.svc.Get(ctx, f.tenant, e.ID)
			wantRefunded, wantHeld := decimal.Zero, dec("20")
			if c.approve {
				wantRefunded, wantHeld = dec("20"), decimal.Zero
			}
			if got.State != escrow.Expired || !got.Refunded.Equal(wantRefunded) || !got.Held().Equal(wantHeld) || !got.Pending.IsZero() {
				t.Fatalf("after the gate: %s refunded %s held %s pending %s", got.State, got.Refunded, got.Held(), got.Pending)
			}
			f.checkInvariants(got)
			if n := count(f.events(got), "escrow.expired"); n != 1 {
				t.Fatalf("%d escrow.expired events, want 1", n)
			}
			if c.approve {
				return
			}
			// The money the gate kept is refunded by hand, once the
			// rule allows it.
			f.rules()
			r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "20.00", Reason: "deadline passed"})
			if err != nil || r.Escrow.State != escrow.Expired || !r.Escrow.Held().IsZero() || !r.Escrow.Refunded.Equal(dec("20")) {
				t.Fatalf("refund in the expired escrow: %v %+v", err, r.Escrow)
			}
			f.checkInvariants(r.Escrow)
		})
	}
}

func count(evs []event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.typ == typ {
			n++
		}
	}
	return n
}

// TestFreezeStopsHeldPayouts: a payout the gate let through to review or
// step-up before a party was frozen does not move while it is frozen: the
// reviewer's approval and the buyer's code are refused (party_frozen) and
// the money stays held; once unfrozen, the approval goes through.
func TestFreezeStopsHeldPayouts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.rules(
		risk.Rule{ID: "review_small", When: "operation == 'release' && amount_usd_cents < 100000", Action: risk.OutcomeReview, Reason: "manual_check"},
		risk.Rule{ID: "large", When: "amount_usd_cents > 1000000", Action: risk.OutcomeStepUp, Reason: risk.ReasonLargeAmount},
	)
	reviewed := f.fund(f.create("100.00", "USD", nil), "100.00")
	rr, err := f.svc.Release(ctx, f.tenant, reviewed.ID, 0, escrow.ReleaseRequest{})
	if err != nil || rr.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("release for review: %v %+v", err, rr.Release)
	}
	stepped := f.fund(f.create("12000.00", "USD", nil), "12000.00")
	rs, err := f.svc.Release(ctx, f.tenant, stepped.ID, 0, escrow.ReleaseRequest{})
	if err != nil || rs.Release.Status != escrow.StatusAwaitingConfirmation {
		t.Fatalf("release for step-up: %v %+v", err, rs.Release)
	}
	var code string // handed to the marketplace in the event
	if err := f.db.Pool.QueryRow(ctx, `SELECT payload->>'code' FROM events WHERE tenant_id = $1 AND type = 'release.confirmation_required'`,
		f.tenant).Scan(&code); err != nil {
		t.Fatal(err)
	}
	for _, party := range []string{reviewed.Seller.ID, stepped.Buyer.ID} {
		if _, err := f.risk.Freeze(ctx, f.tenant, party, "account takeover"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.risk.DecideReview(ctx, f.tenant, *rr.Release.ReviewID, true, "", "rev"); !errors.Is(err, risk.ErrPartyFrozen) {
		t.Fatalf("approval while the seller is frozen: %v, want ErrPartyFrozen", err)
	}
	if _, err := f.svc.ConfirmRelease(ctx, f.tenant, rs.Release.ID, code); !errors.Is(err, risk.ErrPartyFrozen) {
		t.Fatalf("the buyer's code while the buyer is frozen: %v, want ErrPartyFrozen", err)
	}
	for _, e := range []escrow.Escrow{reviewed, stepped} {
		got, _ := f.svc.Get(ctx, f.tenant, e.ID)
		if !got.Released.IsZero() || !got.Pending.Equal(e.Amount) {
			t.Fatalf("escrow %s: released %s pending %s; want nothing released, all pending", e.OrderRef, got.Released, got.Pending)
		}
		f.checkInvariants(got)
	}
	if _, err := f.risk.Unfreeze(ctx, f.tenant, reviewed.Seller.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.risk.DecideReview(ctx, f.tenant, *rr.Release.ReviewID, true, "", "rev"); err != nil {
		t.Fatalf("approval after the unfreeze: %v", err)
	}
	if got, _ := f.svc.Get(ctx, f.tenant, reviewed.ID); !got.Released.Equal(reviewed.Amount) {
		t.Fatalf("released %s after the approval", got.Released)
	}
}

// TestTimelineHidesTheCode: the buyer's one-time code is in the
// release.confirmation_required event the marketplace receives, but not
// in the escrow's timeline, which finance, dispute agents and risk
// reviewers read too.
func TestTimelineHidesTheCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("12000.00", "USD", nil), "12000.00")
	if r, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{}); err != nil || r.Release.Status != escrow.StatusAwaitingConfirmation {
		t.Fatalf("release: %v %+v", err, r.Release)
	}
	items, err := f.svc.Timeline(ctx, f.tenant, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, it := range items {
		if it.Type != "release.confirmation_required" {
			continue
		}
		seen = true
		if _, ok := it.Data["code"]; ok || it.Data["code_expires_at"] == nil {
			t.Fatalf("timeline item %v: want code_expires_at and no code", it.Data)
		}
	}
	if !seen {
		t.Fatal("no release.confirmation_required in the timeline")
	}
}

// TestRefundLeavesOutTheBuyersLocation: the escrow's risk context is the
// buyer's session; on a refund the seller acts, so the buyer's countries
// are not compared with the seller's (a spurious ip_country_mismatch on
// every cross-border refund), while a release still compares the IP's
// country with the buyer's and with the device's.
func TestRefundLeavesOutTheBuyersLocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	reasons := func(p escrow.Payout) []string {
		var out []string
		for _, r := range p.Risk.Reasons {
			out = append(out, r.Code)
		}
		return out
	}
	ordered := func(ref, country, deviceCountry string) escrow.Escrow {
		return f.fund(f.create("100.00", "USD", func(r *escrow.CreateRequest) {
			r.OrderRef, r.RiskContext = ref, &escrow.RiskContextInput{Country: country, DeviceCountry: deviceCountry}
		}), "100.00")
	}
	e := ordered("refunded", "DE", "RU")
	if e.Buyer.Country == e.Seller.Country || e.Buyer.Country != "DE" {
		t.Fatalf("fixture: buyer %s seller %s; want a DE buyer and a foreign seller", e.Buyer.Country, e.Seller.Country)
	}
	r, err := f.svc.Refund(ctx, f.tenant, e.ID, 0, escrow.RefundRequest{Amount: "100.00", Reason: "not shipped"})
	if err != nil {
		t.Fatal(err)
	}
	if got := reasons(r.Refund); slices.Contains(got, risk.ReasonIPCountryMismatch) || slices.Contains(got, risk.ReasonDeviceCountryMismatch) ||
		!slices.Contains(got, risk.ReasonCrossBorder) {
		t.Fatalf("refund reasons %v: want cross_border and no ip_country_mismatch or device_country_mismatch", got)
	}
	for _, c := range []struct {
		ref, country, deviceCountry string
		ip, device                  bool
	}{
		{"released-fr", "FR", "", true, false},
		{"released-de-ru", "DE", "RU", false, true},
		{"released-de-de", "DE", "DE", false, false},
	} {
		e = ordered(c.ref, c.country, c.deviceCountry)
		rel, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := reasons(rel.Release)
		if slices.Contains(got, risk.ReasonIPCountryMismatch) != c.ip || slices.Contains(got, risk.ReasonDeviceCountryMismatch) != c.device {
			t.Errorf("%s: release reasons %v (buyer in DE, session country %q, device country %q): want ip_country_mismatch %v, device_country_mismatch %v",
				c.ref, got, c.country, c.deviceCountry, c.ip, c.device)
		}
	}
}

// TestExpiryAroundAWaitingRefund: at the funding deadline a
// cancellation's refund still waits for review; the escrow expires
// anyway (it used to fail the expiry job until its attempts ran out) and
// after the review is rejected it cannot be funded.
func TestExpiryAroundAWaitingRefund(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.rules(
		risk.Rule{ID: "hold_refunds", When: "operation == 'refund'", Action: risk.OutcomeReview, Reason: "manual_check"},
	)
	e := f.fund(f.create("70.00", "EUR", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{FundingDeadlineHours: &h} }), "20.00")
	c, err := f.svc.Cancel(ctx, f.tenant, e.ID, 0, escrow.CancelRequest{Reason: "buyer changed mind"})
	if err != nil || c.Refund.Status != escrow.StatusPendingReview {
		t.Fatalf("cancel: %v %+v", err, c.Refund)
	}
	f.clock.Advance(25 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, f.tenant, e.ID)
	if got.State != escrow.Expired || !got.Pending.Equal(dec("20")) || got.ClosedAt == nil {
		t.Fatalf("at the deadline: %s pending %s closed %v; want expired with the refund pending", got.State, got.Pending, got.ClosedAt)
	}
	f.checkInvariants(got)
	if _, err := f.risk.DecideReview(ctx, f.tenant, *c.Refund.ReviewID, false, "", "tester"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Fund(ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: "50.00", Currency: "EUR", PaymentRef: "late"}); !errors.Is(err, escrow.ErrInvalidState) {
		t.Fatalf("funding after the deadline: %v, want ErrInvalidState", err)
	}
	got, _ = f.svc.Get(ctx, f.tenant, e.ID)
	if got.State != escrow.Expired || !got.Held().Equal(dec("20")) || count(f.events(got), "escrow.expired") != 1 {
		t.Fatalf("after the rejection: %s held %s, events %v", got.State, got.Held(), f.events(got))
	}
	f.checkInvariants(got)
}

// rules replaces the tenant's risk rules with rules (none: no rule holds).
func (f *fixture) rules(rules ...risk.Rule) {
	f.t.Helper()
	if _, err := f.risk.PutRules(context.Background(), f.tenant, risk.RuleSetInput{Rules: append([]risk.Rule{}, rules...)}, "test"); err != nil {
		f.t.Fatal(err)
	}
}
