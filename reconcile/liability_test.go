package reconcile_test

import (
	"testing"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/reconcile"
)

// TestLiabilityThroughWonChargeback: a chargeback takes held money out of
// the escrow account and a win puts it back a day later. The liability
// ties on every date: before the chargeback, between it and the win (the
// payout counts until its reversal), and after.
func TestLiabilityThroughWonChargeback(t *testing.T) {
	f := newFixture(t)
	e := f.escrowFunded("100.00", "EUR", "", nil) // 2026-03-02
	f.clock.Advance(24 * time.Hour)               // 2026-03-03
	by := f.clock.Now().Add(72 * time.Hour)
	cb, err := f.disp.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: "40.00", Currency: "EUR", PSPRef: "psp-liab", Reason: "fraudulent", RespondBy: &by})
	if err != nil || !cb.FromHeld.Equal(dec("40")) {
		t.Fatalf("chargeback %+v: %v", cb, err)
	}
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
		at, err := reconcile.ParseAsOf(tc.asOf, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := f.svc.EscrowLiability(f.ctx, f.tenant, at)
		if err != nil {
			t.Fatal(err)
		}
		if rep.MismatchCount != 0 || len(rep.Currencies) != 1 {
			t.Fatalf("as of %q: %d mismatches %+v, currencies %+v", tc.asOf, rep.MismatchCount, rep.Mismatches, rep.Currencies)
		}
		if c := rep.Currencies[0]; !c.Ties || !c.LedgerBalance.Equal(dec(tc.held)) || !c.EscrowHeld.Equal(dec(tc.held)) {
			t.Errorf("as of %q: %+v, want %s held", tc.asOf, c, tc.held)
		}
	}
}
