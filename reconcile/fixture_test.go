package reconcile_test

import (
	"context"
	"fmt"
	"github.com/escrowd/escrowd/disputes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/services"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
)

// fixture is a fresh database with one tenant, the escrow service to
// generate ledger activity (FX rates imported so the risk gate approves)
// and the reconciliation service.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *db.DB
	clock  *clock.Fake
	fx     *fx.Service
	esc    *escrow.Service
	disp   *disputes.Service
	ledger *ledger.Service
	svc    *reconcile.Service
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
	f := &fixture{t: t, ctx: context.Background(), db: d, clock: clk, fx: set.FX, esc: set.Escrows, disp: set.Disputes, ledger: set.Ledger, svc: set.Reconcile}
	tn, err := set.Tenants.CreateTenant(f.ctx, "reconcile tests")
	if err != nil {
		t.Fatal(err)
	}
	f.tenant = tn.ID
	f.rates()
	return f
}

// rates imports EUR rates an hour old, so quotes and the gate work now.
func (f *fixture) rates() {
	f.t.Helper()
	if _, err := f.fx.ImportRates(f.ctx, f.tenant, []fx.RateSet{{Base: "EUR", AsOf: f.clock.Now().Add(-time.Hour), Source: fmt.Sprintf("test-%d", f.clock.Now().Unix()),
		Rates: map[string]decimal.Decimal{"USD": dec("1.0800"), "GBP": dec("0.8500")}}}); err != nil {
		f.t.Fatal(err)
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// account creates an asset account of the tenant.
func (f *fixture) account(code, currency string) ledger.Account {
	f.t.Helper()
	a, err := f.ledger.CreateAccount(f.ctx, ledger.AccountSpec{TenantID: f.tenant, Code: code, Currency: currency, Kind: ledger.KindAsset})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// escrowFunded creates an escrow of amount and funds it in full with
// paymentRef (a fresh one if ""): cash:psp:<cur> is debited.
func (f *fixture) escrowFunded(amount, currency, paymentRef string, mutate func(*escrow.CreateRequest)) escrow.Escrow {
	f.t.Helper()
	e := f.create(amount, currency, mutate)
	if paymentRef == "" {
		paymentRef = uuid.NewString()
	}
	out, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: e.FundingTarget().String(), Currency: currency, PaymentRef: paymentRef})
	if err != nil {
		f.t.Fatalf("fund: %v", err)
	}
	return out
}

func (f *fixture) create(amount, currency string, mutate func(*escrow.CreateRequest)) escrow.Escrow {
	f.t.Helper()
	f.n++
	req := escrow.CreateRequest{
		OrderRef: fmt.Sprintf("order-%d", f.n), Amount: amount, Currency: currency,
		Buyer:  escrow.PartyInput{ID: fmt.Sprintf("buyer-%d", f.n), Name: "Ana Buyer", Country: "DE", Email: "ana@example.com", Phone: "+49 170 1234567"},
		Seller: escrow.PartyInput{ID: fmt.Sprintf("seller-%d", f.n%3), Name: "Sam Seller", Country: "CN"},
	}
	if mutate != nil {
		mutate(&req)
	}
	e, err := f.esc.Create(f.ctx, f.tenant, req)
	if err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return e
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// liabilityAt is the escrow liability report as of asOf (a date, or "" for
// now).
func (f *fixture) liabilityAt(asOf string) reconcile.LiabilityReport {
	f.t.Helper()
	at, err := reconcile.ParseAsOf(asOf, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	rep, err := f.svc.EscrowLiability(f.ctx, f.tenant, at)
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

// chargebackNextDay funds an escrow of 100.00 EUR, moves the clock a day
// and opens a chargeback of 40.00 of held money on it.
func (f *fixture) chargebackNextDay(pspRef string) disputes.Chargeback {
	f.t.Helper()
	e := f.escrowFunded("100.00", "EUR", "", nil)
	f.clock.Advance(24 * time.Hour)
	by := f.clock.Now().Add(72 * time.Hour)
	cb, err := f.disp.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: "40.00", Currency: "EUR", PSPRef: pspRef, Reason: "fraudulent", RespondBy: &by})
	if err != nil || !cb.FromHeld.Equal(dec("40")) {
		f.t.Fatalf("chargeback %+v: %v", cb, err)
	}
	return cb
}

// camtStatement is a camt.053.001.02 document of one EUR statement with
// the given id, opening and closing balances (credit) and entries.
func camtStatement(id, opening, closing string, entries ...string) []byte {
	bal := func(code, amt string) string {
		return `<Bal><Tp><CdOrPrtry><Cd>` + code + `</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">` + amt + `</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>`
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>m</MsgId><CreDtTm>2026-03-02T18:00:00Z</CreDtTm></GrpHdr>
<Stmt><Id>` + id + `</Id><CreDtTm>2026-03-02T18:00:00Z</CreDtTm><Acct><Id><IBAN>NL77ABNA0574908765</IBAN></Id><Ccy>EUR</Ccy></Acct>` +
		bal("OPBD", opening) + bal("CLBD", closing) + strings.Join(entries, "") + `</Stmt></BkToCstmrStmt></Document>`)
}

// camtEntry is a booked camt.053 entry of amt EUR (ind CRDT or DBIT)
// followed by extra elements (NtryRef, dates, references).
func camtEntry(amt, ind, extra string) string {
	return `<Ntry><Amt Ccy="EUR">` + amt + `</Amt><CdtDbtInd>` + ind + `</CdtDbtInd><Sts>BOOK</Sts>` + extra + `</Ntry>`
}
