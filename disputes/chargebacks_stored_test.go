package disputes_test

import (
	"testing"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/internal/valid"
)

// TestChargebackStoredBeforeEscrowAmount: a chargeback stored before
// migration 0502 has no escrow_amount or escrow_currency; it was in the
// escrow's currency, so it reads, and counts against what is left to
// charge back, as its amount.
func TestChargebackStoredBeforeEscrowAmount(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("100.00", nil)
	old := f.chargeback(e, "40.00", "psp-old", 48*time.Hour)
	if _, err := f.db.Pool.Exec(f.ctx, `UPDATE chargebacks SET escrow_amount = NULL, escrow_currency = NULL WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.GetChargeback(f.ctx, f.tenant, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.EscrowAmount.Equal(dec("40")) || got.EscrowCurrency != "EUR" || !got.FromHeld.Equal(dec("40")) {
		t.Fatalf("older chargeback reads escrow amount %s %s, from held %s", got.EscrowAmount, got.EscrowCurrency, got.FromHeld)
	}
	by := f.clock.Now().Add(48 * time.Hour)
	_, err = f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, chargebackRequest("60.01", "EUR", "psp-over", by))
	if fe, ok := valid.As(err); !ok || fe[0].Field != "amount" || fe[0].Code != "amount_mismatch" {
		t.Fatalf("more than the 60.00 left after the older chargeback: %v", err)
	}
	rest, err := f.svc.OpenChargeback(f.ctx, f.tenant, e.ID, chargebackRequest("60.00", "EUR", "psp-rest", by))
	if err != nil || !rest.EscrowAmount.Equal(dec("60")) || rest.EscrowCurrency != "EUR" || !rest.FromHeld.Equal(dec("60")) {
		t.Fatalf("the rest: %+v, %v", rest, err)
	}
	f.checkEscrow(e.ID)
}

func chargebackRequest(amount, currency, pspRef string, by time.Time) disputes.ChargebackRequest {
	return disputes.ChargebackRequest{Amount: amount, Currency: currency, PSPRef: pspRef, Reason: "fraudulent", RespondBy: &by}
}
