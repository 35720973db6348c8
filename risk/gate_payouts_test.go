package risk

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// TestDecideCountsTheEscrowsPayouts: the gate adds the payout to what
// the escrow paid out by the same operation (GateInput.EscrowPayouts),
// converts the sum to USD as one amount, and steps up when it passes USD
// 10,000 though the payout alone does not (large_amount_24h).
func TestDecideCountsTheEscrowsPayouts(t *testing.T) {
	e := newEnv(t)
	e.establish("b", "s")
	decide := func(amount, currency, prior string) GateDecision {
		t.Helper()
		r := e.newRelease("b", "s")
		r.amount, r.currency = amount, currency
		in := r.input(e.tenant)
		in.EscrowPayouts = decimal.RequireFromString(prior)
		gd, err := e.tryDecide(in)
		if err != nil {
			t.Fatal(err)
		}
		return gd
	}
	for _, tt := range []struct {
		amount, currency, prior string
		outcome, usd, payouts   string
		reason                  string
	}{
		{"4000.00", "EUR", "0", OutcomeApprove, "4320", "4320", ""},
		{"4000.00", "EUR", "5000.00", OutcomeApprove, "4320", "9720", ""},
		{"4000.00", "EUR", "5300.00", OutcomeStepUp, "4320", "10044", ReasonLargeAmount24h},
		{"9999.99", "USD", "0.02", OutcomeStepUp, "9999.99", "10000.01", ReasonLargeAmount24h},
	} {
		d := decide(tt.amount, tt.currency, tt.prior)
		if d.Outcome != tt.outcome || !d.Features.AmountUSD.Equal(decimal.RequireFromString(tt.usd)) ||
			!d.Features.EscrowPayoutsUSD24h.Equal(decimal.RequireFromString(tt.payouts)) || (tt.reason != "" && !hasReason(d.Decision, tt.reason)) {
			t.Errorf("%s %s after %s: %s %v, amount_usd %s, escrow_payouts_usd_24h %s; want %s %s, %s, %s", tt.amount, tt.currency, tt.prior,
				d.Outcome, reasonCodes(d.Decision), d.Features.AmountUSD, d.Features.EscrowPayoutsUSD24h, tt.outcome, tt.reason, tt.usd, tt.payouts)
		}
	}

	r := e.newRelease("b", "s")
	in := r.input(e.tenant)
	in.EscrowPayouts = decimal.RequireFromString("-1")
	if _, err := e.tryDecide(in); !errors.Is(err, ErrInvalidGateInput) {
		t.Errorf("negative escrow payouts: %v, want ErrInvalidGateInput", err)
	}
}

// countingRates is tableRates counting its lookups.
type countingRates struct {
	tableRates
	n *int
}

func (r countingRates) USDRate(ctx context.Context, q db.Querier, tenant uuid.UUID, currency string) (decimal.Decimal, error) {
	*r.n++
	return r.tableRates.USDRate(ctx, q, tenant, currency)
}

// TestDecideLooksTheRateUpOnce: the payout and the escrow's payouts with
// it are converted with one rate lookup, inside the payout's transaction
// (each lookup is a query there, with its predicate locks).
func TestDecideLooksTheRateUpOnce(t *testing.T) {
	e := newEnv(t)
	var n int
	g, err := NewGate(GateConfig{FX: countingRates{tableRates{"EUR": decimal.RequireFromString("1.08")}, &n}})
	if err != nil {
		t.Fatal(err)
	}
	e.gate = g
	e.establish("b", "s")
	r := e.newRelease("b", "s")
	r.amount, r.currency = "4000.00", "EUR"
	in := r.input(e.tenant)
	in.EscrowPayouts = decimal.RequireFromString("5000.00")
	n = 0
	d, err := e.tryDecide(in)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !d.Features.EscrowPayoutsUSD24h.Equal(decimal.RequireFromString("9720")) {
		t.Errorf("%d rate lookups for one decision (escrow_payouts_usd_24h %s), want 1 (9720)", n, d.Features.EscrowPayoutsUSD24h)
	}
}
