package disputes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/services"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// fixture wires escrow, risk and disputes on a fresh database, as
// cmd/escrowd does, with EUR rates so the gate can price amounts.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *db.DB
	clock  *clock.Fake
	esc    *escrow.Service
	risk   *risk.Service
	svc    *disputes.Service
	jobs   *jobs.Runner
	tenant uuid.UUID
	n      int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	d := dbtest.New(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	st := services.DefaultSettings()
	st.FXMaxRateAge = 24 * 365 * time.Hour
	set, err := services.New(d, clk, st)
	if err != nil {
		t.Fatal(err)
	}
	fxs, esc, rs, svc := set.FX, set.Escrows, set.Risk, set.Disputes
	tn, err := set.Tenants.CreateTenant(ctx, "disputes tests")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fxs.ImportRates(ctx, tn.ID, []fx.RateSet{{Base: "EUR", AsOf: clk.Now().Add(-time.Hour), Source: "test",
		Rates: map[string]decimal.Decimal{"USD": dec("1.0800")}}}); err != nil {
		t.Fatal(err)
	}
	r := jobs.NewRunner(d, clk, nil)
	set.RegisterJobs(r)
	return &fixture{t: t, ctx: ctx, db: d, clock: clk, esc: esc, risk: rs, svc: svc, jobs: r, tenant: tn.ID}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// create makes an escrow of amount EUR with a 2.5% fee paid by the seller.
func (f *fixture) create(amount string, mutate func(*escrow.CreateRequest)) escrow.Escrow {
	f.t.Helper()
	f.n++
	req := escrow.CreateRequest{OrderRef: fmt.Sprintf("order-%d", f.n), Amount: amount, Currency: "EUR",
		Buyer:  escrow.PartyInput{ID: fmt.Sprintf("buyer-%d", f.n), Name: "Ana Buyer", Country: "DE"},
		Seller: escrow.PartyInput{ID: fmt.Sprintf("seller-%d", f.n), Name: "Sam Seller", Country: "DE"},
		Fees:   &escrow.FeesInput{PlatformFeeBps: 250, PaidBy: escrow.PaidBySeller}}
	if mutate != nil {
		mutate(&req)
	}
	e, err := f.esc.Create(f.ctx, f.tenant, req)
	if err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return e
}

// delivered funds, ships and delivers an escrow.
func (f *fixture) delivered(amount string, mutate func(*escrow.CreateRequest)) escrow.Escrow {
	f.t.Helper()
	e := f.create(amount, mutate)
	if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: e.FundingTarget().StringFixed(2), Currency: "EUR", PaymentRef: uuid.NewString()}); err != nil {
		f.t.Fatalf("fund: %v", err)
	}
	if _, err := f.esc.Ship(f.ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1Z"}); err != nil {
		f.t.Fatalf("ship: %v", err)
	}
	e, err := f.esc.Deliver(f.ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{})
	if err != nil {
		f.t.Fatalf("deliver: %v", err)
	}
	return e
}

func (f *fixture) open(e escrow.Escrow, reason, amount string) disputes.Dispute {
	f.t.Helper()
	d, err := f.svc.Open(f.ctx, f.tenant, e.ID, disputes.OpenRequest{Reason: reason, ClaimedAmount: amount, Description: "the goods differ from the listing"})
	if err != nil {
		f.t.Fatalf("open dispute: %v", err)
	}
	return d
}

func (f *fixture) escrow(id uuid.UUID) escrow.Escrow {
	f.t.Helper()
	e, err := f.esc.Get(f.ctx, f.tenant, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) runJobs() {
	f.t.Helper()
	if _, err := f.jobs.RunAll(f.ctx, 20); err != nil {
		f.t.Fatal(err)
	}
}

// balance is the posted balance (normal side) of an account code; zero
// when the account does not exist.
func (f *fixture) balance(code string) decimal.Decimal { return f.balances(code).Posted }

// balances is the balance of an account code; zero when the account does
// not exist.
func (f *fixture) balances(code string) ledger.Balance {
	f.t.Helper()
	a, err := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, code)
	if err != nil {
		return ledger.Balance{}
	}
	b, err := ledger.GetBalance(f.ctx, f.db.Pool, f.tenant, a.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// checkEscrow asserts the escrow invariants: held = funded − released −
// refunded − pending ≥ 0, the escrow account's balance = held + pending
// (available = held), and the fee parts on the escrow are its payouts'.
func (f *fixture) checkEscrow(id uuid.UUID) escrow.Escrow {
	f.t.Helper()
	e := f.escrow(id)
	if e.Held().IsNegative() {
		f.t.Fatalf("held %s is negative", e.Held())
	}
	b, err := ledger.GetBalance(f.ctx, f.db.Pool, f.tenant, e.AccountID)
	if err != nil {
		f.t.Fatal(err)
	}
	if !b.Posted.Equal(e.Held().Add(e.Pending)) || !b.Available.Equal(e.Held()) {
		f.t.Fatalf("escrow account posted %s available %s, want held %s + pending %s", b.Posted, b.Available, e.Held(), e.Pending)
	}
	buyer, seller, err := escrow.PayoutFeeParts(f.ctx, f.db.Pool, e.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if !e.BuyerFeeParts.Equal(buyer) || !e.SellerFeeParts.Equal(seller) {
		f.t.Fatalf("escrow fee parts buyer %s seller %s, payouts say %s and %s", e.BuyerFeeParts, e.SellerFeeParts, buyer, seller)
	}
	return e
}

// checkBooks asserts the escrow invariants (checkEscrow) and that the
// tenant's trial balance is zero in every currency.
func (f *fixture) checkBooks(id uuid.UUID) escrow.Escrow {
	f.t.Helper()
	e := f.checkEscrow(id)
	tb, err := ledger.GetTrialBalance(f.ctx, f.db.Pool, f.tenant, nil, "")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range tb.Currencies {
		if !c.Balanced {
			f.t.Fatalf("trial balance %s: debits %s, credits %s", c.Currency, c.DebitTotal, c.CreditTotal)
		}
	}
	return e
}

// events lists the tenant's event types about subject, in order.
func (f *fixture) events(subject uuid.UUID) []string {
	f.t.Helper()
	evs, err := outbox.ListEvents(f.ctx, f.db, f.tenant, uuid.Nil, "", outbox.MaxListLimit)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.SubjectID == subject.String() {
			out = append(out, e.Type)
		}
	}
	return out
}

func contains(list []string, want ...string) bool {
	i := 0
	for _, s := range list {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}
