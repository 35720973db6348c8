package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// MaxTrialBalanceLines bounds the account lines of a trial balance; the
// totals always cover every account.
const MaxTrialBalanceLines = 10000

// TrialBalanceLine is one account's posted balance on its normal side.
type TrialBalanceLine struct {
	AccountID  uuid.UUID
	Code       string
	Kind       Kind
	NormalSide Side
	Balance    decimal.Decimal
}

// TrialBalanceCurrency is the trial balance of one currency: the sum of
// the debit-normal accounts' balances equals that of the credit-normal
// ones when every entry balances.
type TrialBalanceCurrency struct {
	Currency    string
	Lines       []TrialBalanceLine
	DebitTotal  decimal.Decimal
	CreditTotal decimal.Decimal
	Balanced    bool
	// Truncated: more accounts than MaxTrialBalanceLines; totals are whole.
	Truncated bool
}

// TrialBalance is a tenant's trial balance, per currency.
type TrialBalance struct {
	AsOf       *time.Time
	Currencies []TrialBalanceCurrency
}

// balanceExpr is the posted balance of one balance row b: now, or as of
// $3 through the running balance of its last posting at or before it.
const (
	currentExpr = `b.posted`
	asOfExpr    = `COALESCE((SELECT p.balance_after FROM ledger_postings p
		WHERE p.account_id = b.account_id AND p.shard = b.shard AND p.seq IS NOT NULL AND p.created_at <= $3
		ORDER BY p.created_at DESC, p.seq DESC LIMIT 1), 0)`
)

// GetTrialBalance returns the tenant's trial balance now (asOf nil) or as
// of a time, for every currency or one.
func GetTrialBalance(ctx context.Context, q db.Querier, tenant uuid.UUID, asOf *time.Time, currency string) (TrialBalance, error) {
	expr, at := currentExpr, maxTime
	if asOf != nil {
		expr, at = asOfExpr, asOf.UTC()
	}
	tb := TrialBalance{AsOf: asOf}
	byCur := map[string]*TrialBalanceCurrency{}
	var order []string
	rows, err := q.Query(ctx, `
		SELECT a.currency, a.normal_side, COALESCE(SUM(`+expr+`), 0)
		FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
		WHERE a.tenant_id = $1 AND ($2 = '' OR a.currency = $2) AND $3::TIMESTAMPTZ IS NOT NULL
		GROUP BY a.currency, a.normal_side ORDER BY a.currency`, tenant, currency, at)
	if err != nil {
		return TrialBalance{}, fmt.Errorf("trial balance: %w", err)
	}
	var cur, side string
	var total decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&cur, &side, &total}, func() error {
		c := byCur[cur]
		if c == nil {
			c = &TrialBalanceCurrency{Currency: cur}
			byCur[cur] = c
			order = append(order, cur)
		}
		if Side(side) == SideDebit {
			c.DebitTotal = total
		} else {
			c.CreditTotal = total
		}
		return nil
	}); err != nil {
		return TrialBalance{}, fmt.Errorf("trial balance: %w", err)
	}
	rows, err = q.Query(ctx, `
		SELECT a.id, a.code, a.currency, a.kind, a.normal_side, COALESCE(SUM(`+expr+`), 0)
		FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
		WHERE a.tenant_id = $1 AND ($2 = '' OR a.currency = $2) AND $3::TIMESTAMPTZ IS NOT NULL
		GROUP BY a.id, a.code, a.currency, a.kind, a.normal_side
		ORDER BY a.currency, a.code LIMIT $4`, tenant, currency, at, MaxTrialBalanceLines+1)
	if err != nil {
		return TrialBalance{}, fmt.Errorf("trial balance: %w", err)
	}
	var l TrialBalanceLine
	var kind string
	n := 0
	truncatedFrom := "" // the currency whose lines the limit cut
	if _, err := pgx.ForEachRow(rows, []any{&l.AccountID, &l.Code, &cur, &kind, &side, &l.Balance}, func() error {
		if n++; n > MaxTrialBalanceLines {
			truncatedFrom = cur
			return nil
		}
		l.Kind, l.NormalSide = Kind(kind), Side(side)
		if c := byCur[cur]; c != nil {
			c.Lines = append(c.Lines, l)
		}
		return nil
	}); err != nil {
		return TrialBalance{}, fmt.Errorf("trial balance: %w", err)
	}
	for _, cur := range order {
		c := byCur[cur]
		c.Balanced = c.DebitTotal.Equal(c.CreditTotal)
		c.Truncated = truncatedFrom != "" && c.Currency >= truncatedFrom
		tb.Currencies = append(tb.Currencies, *c)
	}
	return tb, nil
}
