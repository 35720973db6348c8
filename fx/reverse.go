package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/ledger"
)

// Money converted by Convert can come back in the currency it was paid in:
// a card chargeback of an escrow funded through a quote is taken from the
// PSP in the sell currency, while the escrow lost its buy-currency amount.
// The way back runs through the same clearing accounts, at the rate of the
// conversions themselves rather than today's market rate:
//
//	buy currency:   debit  (whoever gives the money back)  B
//	                credit fx:<buy>                        B
//	sell currency:  debit  fx:<sell>                       S
//	                credit from (e.g. cash:psp:USD)        S
//
// with B = ReverseAmount of S. Each currency balances on its own; what the
// conversion booked as spread revenue and rounding stays booked: the
// clearing accounts keep the platform's open position with the FX
// counterparty (after a full reversal, fx:<sell> is back where it was and
// fx:<buy> keeps a debit of spread + rounding, what the revenue and
// rounding accounts were credited).

// ReverseAmount is the buy-currency amount that reverses this, an amount
// of the sell currency given back from conversions that together sold
// sold and bought bought (what the receiving account was credited, spread
// and rounding excluded), after earlier reversals of them gave back
// before of the sell currency for taken of the buy currency. It is
// cumulative, so no fraction is left behind however the money comes back:
//
//	max(round_half_even((before + this) × bought / sold) − taken, 0)
//
// rounded exactly (no intermediate rounding) to buy's minor units. Giving
// back all of sold, in one part or many, gives back exactly bought. It
// holds when sold and bought changed since the earlier reversals (another
// conversion added at another rate) or when an earlier one was undone
// (its amounts leave before and taken): each part is measured against
// what the earlier ones actually took, not against a share they would
// have taken under today's totals. It errors when sold is not positive,
// when before, taken or this is negative, or when before + this exceeds
// sold.
func ReverseAmount(sold, bought, before, taken, this decimal.Decimal, buy money.Currency) (decimal.Decimal, error) {
	switch {
	case !sold.IsPositive() || bought.IsNegative():
		return decimal.Zero, fmt.Errorf("fx: reverse: conversions sold %s and bought %s", sold, bought)
	case before.IsNegative() || taken.IsNegative() || this.IsNegative() || before.Add(this).GreaterThan(sold):
		return decimal.Zero, fmt.Errorf("fx: reverse: %s after %s of %s sold", this, before, sold)
	}
	out := mulDivHalfEven(before.Add(this), bought, sold, buy.MinorUnits).Sub(taken)
	if out.IsNegative() { // earlier parts took more than the share now: nothing more
		out = decimal.New(0, -buy.MinorUnits)
	}
	return out, nil
}

// mulDivHalfEven is x × num / den (all non-negative, den positive) rounded
// half-even to units decimal places, exactly (quoHalfEven: no quotient cut
// at some precision, which could turn a value just off a tie into a tie).
func mulDivHalfEven(x, num, den decimal.Decimal, units int32) decimal.Decimal {
	return quoHalfEven(x.Mul(num), den, units)
}

// Clearing returns the tenant's fx:<cur> clearing account, created when
// missing (Convert's legs and a chargeback's way back both book on it).
func Clearing(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, cur string, now time.Time) (ledger.Account, error) {
	a, err := ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: tenant, Code: ClearingAccount(cur), Currency: cur,
		Kind: ledger.KindAsset, Shards: ClearingShards}, now)
	if err != nil {
		return ledger.Account{}, fmt.Errorf("fx: account %s: %w", ClearingAccount(cur), err)
	}
	return a, nil
}
