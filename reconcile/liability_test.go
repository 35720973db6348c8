package reconcile_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
)

// TestLiabilityThroughWonChargeback: a chargeback takes held money out of
// the escrow account and a win puts it back a day later. The liability
// ties on every date: before the chargeback, between it and the win (the
// payout counts until its reversal), and after.
func TestLiabilityThroughWonChargeback(t *testing.T) {
	f := newFixture(t)
	cb := f.chargebackNextDay("psp-liab") // funded 2026-03-02, charged back 2026-03-03
	if _, err := f.disp.SubmitChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(24 * time.Hour) // 2026-03-04
	if _, err := f.disp.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ asOf, held string }{
		{"2026-03-02", "100"},
		{"2026-03-03", "60"}, // charged back, not won yet
		{"2026-03-04", "100"},
		{"", "100"},
	} {
		rep := f.liabilityAt(tc.asOf)
		if rep.MismatchCount != 0 || len(rep.Currencies) != 1 {
			t.Fatalf("as of %q: %d mismatches %+v, currencies %+v", tc.asOf, rep.MismatchCount, rep.Mismatches, rep.Currencies)
		}
		if c := rep.Currencies[0]; !c.Ties || !c.LedgerBalance.Equal(dec(tc.held)) || !c.EscrowHeld.Equal(dec(tc.held)) {
			t.Errorf("as of %q: %+v, want %s held", tc.asOf, c, tc.held)
		}
	}
}

// TestComplianceThroughWonChargeback: a report of a closed period does not
// change when a chargeback is won later. The chargeback's payout stays
// listed in its period, and the reversal is listed in the period it was
// booked in.
func TestComplianceThroughWonChargeback(t *testing.T) {
	f := newFixture(t)
	cb := f.chargebackNextDay("psp-comp") // funded 2026-03-02, charged back 2026-03-03
	ids := map[string]uuid.UUID{}         // transaction id by kind
	report := func(day string) []string {
		t.Helper()
		p, err := reconcile.ParsePeriod(day, day)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := f.svc.Compliance(f.ctx, f.tenant, reconcile.ComplianceQuery{Period: p, ThresholdUSD: dec("1")})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range rep.Transactions {
			if x.RateMissing {
				t.Errorf("%s: %+v: no USD rate", day, x)
			}
			ids[x.Kind] = x.ID
			if (x.Kind == "refund_reversal") != (x.ReversesPayoutID != nil) || x.ReversesPayoutID != nil && *x.ReversesPayoutID != ids["refund"] {
				t.Errorf("%s: %s reverses %v, want the refund's id %s on the reversal only", day, x.Kind, x.ReversesPayoutID, ids["refund"])
			}
			out = append(out, x.Kind+" "+x.Amount.String())
		}
		return out
	}
	before := fmt.Sprint(report("2026-03-03"))
	if _, err := f.disp.SubmitChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(24 * time.Hour) // 2026-03-04
	if _, err := f.disp.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	if before != "[refund 40]" || fmt.Sprint(report("2026-03-03")) != before {
		t.Fatalf("2026-03-03 before the win %s, after %v; want [refund 40] both times", before, report("2026-03-03"))
	}
	if got := fmt.Sprint(report("2026-03-04")); got != "[refund_reversal 40]" {
		t.Fatalf("2026-03-04: %s, want [refund_reversal 40]", got)
	}
	if ids["refund"] == ids["refund_reversal"] {
		t.Fatalf("the payout and its reversal share the id %s", ids["refund"])
	}
}

// TestEscrowLiabilityIgnoresFinanceEscrowCodes: finance may create accounts
// under escrow: codes that name no escrow (escrow:suspense) and post to
// them. They hold no escrow's money, so the liability and settlement
// reports' ledger figures leave them out and still tie.
func TestEscrowLiabilityIgnoresFinanceEscrowCodes(t *testing.T) {
	f := newFixture(t)
	f.escrowFunded("10.00", "EUR", "p1", nil)
	cash, err := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, "cash:psp:EUR")
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range []string{"escrow:suspense", "escrow:", "escrow:unidentified-psp-credits"} {
		acc, err := f.ledger.CreateAccount(f.ctx, ledger.AccountSpec{TenantID: f.tenant, Code: code, Currency: "EUR", Kind: ledger.KindLiability})
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		amt := decimal.NewFromInt(int64(i + 1))
		if _, err := f.ledger.PostAdjustment(f.ctx, ledger.Adjustment{TenantID: f.tenant, Reference: fmt.Sprintf("susp-%d", i), Reason: "unidentified PSP credit parked",
			Postings: []ledger.Posting{
				{AccountID: cash.ID, Direction: ledger.SideDebit, Amount: amt, Currency: "EUR"},
				{AccountID: acc.ID, Direction: ledger.SideCredit, Amount: amt, Currency: "EUR"},
			}}); err != nil {
			t.Fatalf("adjustment on %s: %v", code, err)
		}
	}

	liab := f.liabilityAt("")
	if len(liab.Currencies) != 1 {
		t.Fatalf("liability currencies: %+v", liab.Currencies)
	}
	if c := liab.Currencies[0]; !c.Ties || !c.LedgerBalance.Equal(dec("10")) || liab.MismatchCount != 0 {
		t.Errorf("liability: %+v (mismatches %d), want ledger 10 held 10, ties", c, liab.MismatchCount)
	}

	period, err := reconcile.ParsePeriod("2026-03-02", "2026-03-02")
	if err != nil {
		t.Fatal(err)
	}
	set, err := f.svc.Settlement(f.ctx, f.tenant, reconcile.SettlementQuery{Period: period})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Totals) != 1 {
		t.Fatalf("settlement totals: %+v", set.Totals)
	}
	if tot := set.Totals[0]; !tot.Ties || !tot.LedgerClosing.Equal(dec("10")) || !tot.ClosingHeld.Equal(dec("10")) {
		t.Errorf("settlement: closing held %s, ledger %s, ties %t; want 10, 10, true", tot.ClosingHeld, tot.LedgerClosing, tot.Ties)
	}
}
