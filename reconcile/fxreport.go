package reconcile

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// FXPair is the conversions of a period from one currency into another.
type FXPair struct {
	SellCurrency, BuyCurrency string
	Conversions               int
	SellAmount                decimal.Decimal
	BuyAmount                 decimal.Decimal
	// ClearingAmount = BuyAmount + SpreadRevenue + Rounding.
	ClearingAmount decimal.Decimal
	SpreadRevenue  decimal.Decimal
	// Rounding is the net residual (gains positive); RoundingGains and
	// RoundingLosses (positive) split it.
	Rounding       decimal.Decimal
	RoundingGains  decimal.Decimal
	RoundingLosses decimal.Decimal
}

// FXLedgerCheck compares, per buy currency, the conversions' spread and
// rounding with what the ledger's fx:revenue:<CUR> and fx:rounding:<CUR>
// accounts moved in the period (credits less debits).
type FXLedgerCheck struct {
	Currency       string
	SpreadRevenue  decimal.Decimal
	LedgerRevenue  decimal.Decimal
	Rounding       decimal.Decimal
	LedgerRounding decimal.Decimal
	Ties           bool
}

// FXReport is the FX report of a period.
type FXReport struct {
	Period
	Pairs  []FXPair
	Ledger []FXLedgerCheck
}

// FX builds the FX report: conversions booked in the period by currency
// pair with spread revenue and rounding residuals, checked against the
// ledger's revenue and rounding accounts.
func (s *Service) FX(ctx context.Context, tenant uuid.UUID, p Period) (FXReport, error) {
	rep := FXReport{Period: p}
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		rep.Pairs, rep.Ledger = nil, nil
		rows, err := tx.Query(ctx, `
			SELECT sell_currency, buy_currency, count(*), SUM(sell_amount), SUM(buy_amount), SUM(clearing_amount), SUM(spread_amount),
				SUM(rounding_amount), SUM(CASE WHEN rounding_amount > 0 THEN rounding_amount ELSE 0 END),
				SUM(CASE WHEN rounding_amount < 0 THEN -rounding_amount ELSE 0 END)
			FROM fx_conversions
			WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
			GROUP BY sell_currency, buy_currency ORDER BY sell_currency, buy_currency`, tenant, p.From, p.End())
		if err != nil {
			return fmt.Errorf("reconcile: fx report: %w", err)
		}
		var f FXPair
		var n int64
		checks := map[string]*FXLedgerCheck{}
		check := func(cur string) *FXLedgerCheck {
			c := checks[cur]
			if c == nil {
				z := decimal.Zero
				c = &FXLedgerCheck{Currency: cur, SpreadRevenue: z, LedgerRevenue: z, Rounding: z, LedgerRounding: z}
				checks[cur] = c
			}
			return c
		}
		if _, err := pgx.ForEachRow(rows, []any{&f.SellCurrency, &f.BuyCurrency, &n, &f.SellAmount, &f.BuyAmount, &f.ClearingAmount,
			&f.SpreadRevenue, &f.Rounding, &f.RoundingGains, &f.RoundingLosses}, func() error {
			f.Conversions = int(n)
			rep.Pairs = append(rep.Pairs, f)
			c := check(f.BuyCurrency)
			c.SpreadRevenue = c.SpreadRevenue.Add(f.SpreadRevenue)
			c.Rounding = c.Rounding.Add(f.Rounding)
			return nil
		}); err != nil {
			return fmt.Errorf("reconcile: fx report: %w", err)
		}
		rows, err = tx.Query(ctx, `
			SELECT a.currency, left(a.code, 11) = 'fx:revenue:', COALESCE(SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END), 0)
			FROM ledger_accounts a
			JOIN ledger_postings p ON p.account_id = a.id AND p.seq IS NOT NULL AND p.created_at >= $2 AND p.created_at < $3
			WHERE a.tenant_id = $1 AND (left(a.code, 11) = 'fx:revenue:' OR left(a.code, 12) = 'fx:rounding:')
			GROUP BY a.currency, 2`, tenant, p.From, p.End())
		if err != nil {
			return fmt.Errorf("reconcile: fx ledger: %w", err)
		}
		var cur string
		var revenue bool
		var v decimal.Decimal
		if _, err := pgx.ForEachRow(rows, []any{&cur, &revenue, &v}, func() error {
			if revenue {
				check(cur).LedgerRevenue = v
			} else {
				check(cur).LedgerRounding = v
			}
			return nil
		}); err != nil {
			return fmt.Errorf("reconcile: fx ledger: %w", err)
		}
		for _, cur := range sortedKeys(checks) {
			c := checks[cur]
			c.Ties = c.SpreadRevenue.Equal(c.LedgerRevenue) && c.Rounding.Equal(c.LedgerRounding)
			rep.Ledger = append(rep.Ledger, *c)
		}
		return nil
	})
	if err != nil {
		return FXReport{}, err
	}
	return rep, nil
}
