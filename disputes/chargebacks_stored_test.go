package disputes_test

import (
	"io/fs"
	"testing"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/valid"
	escrowdsql "github.com/escrowd/escrowd/sql"
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

// TestChargebackStoredBefore0506IsBackfilled: a chargeback booked before
// migration 0506 that voided a dispute outcome's waiting refund read
// voided_payout_ids '[]', so when it was won after the upgrade the money
// stayed held in a delivered escrow and a plain release paid the seller
// what refund_full gave the buyer. Migration 0509 fills the column of
// undecided chargebacks from the payouts their booking voided, and the won
// chargeback refunds the buyer as the outcome decided.
func TestChargebackStoredBefore0506IsBackfilled(t *testing.T) {
	f := newFixture(t)
	e, out := f.refundFullWaiting()
	cb := f.chargeback(e, "100.00", "psp-old-row", 48*time.Hour) // takes it all: nothing resumed at booking, old code or new
	other := f.chargeback(f.delivered("100.00", nil), "10.00", "psp-other", 48*time.Hour)
	// As stored before 0506.
	if _, err := f.db.Pool.Exec(f.ctx, `UPDATE chargebacks SET voided_payout_ids = DEFAULT`); err != nil {
		t.Fatal(err)
	}
	body, err := fs.ReadFile(escrowdsql.Migrations(), "0509_chargebacks_voided_payouts_backfill.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range db.SplitStatements(string(body)) {
		if _, err := f.db.Pool.Exec(f.ctx, stmt); err != nil {
			t.Fatalf("0509: %v", err)
		}
	}
	for _, c := range []struct {
		id   disputes.Chargeback
		want int
	}{{cb, 1}, {other, 0}} {
		got, err := f.svc.GetChargeback(f.ctx, f.tenant, c.id.ID)
		if err != nil || len(got.VoidedPayoutIDs) != c.want || c.want == 1 && got.VoidedPayoutIDs[0] != out.Settlement.Refund.ID {
			t.Fatalf("chargeback %s backfilled %v (%v), want %d: the refund %s", c.id.PSPRef, got.VoidedPayoutIDs, err, c.want, out.Settlement.Refund.ID)
		}
	}
	f.defend(cb)
	if _, err := f.svc.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.esc.Release(f.ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{}); err == nil {
		t.Fatalf("a plain release after the won chargeback paid the seller %s although the outcome is refund_full",
			f.balance("seller:"+e.Seller.ID+":payable:EUR"))
	}
	f.approvePending()
	got := f.checkBooks(e.ID)
	if buyer := f.balance("buyer:" + e.Buyer.ID + ":refund:EUR"); got.State != escrow.Refunded || !buyer.Equal(dec("100")) {
		t.Fatalf("escrow %s, buyer refunded %s; want refunded, 100", got.State, buyer)
	}
}
