package ledger

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// available is Posted less the pending outflows of an account whose normal
// side is normal.
func (b Balance) available(normal Side) decimal.Decimal {
	if normal == SideDebit {
		return b.Posted.Sub(b.PendingCredits)
	}
	return b.Posted.Sub(b.PendingDebits)
}

// GetBalance returns the tenant's account balance: one indexed read of the
// account's balance rows (one, or one per shard of a hot account).
func GetBalance(ctx context.Context, q db.Querier, tenant, accountID uuid.UUID) (Balance, error) {
	var b Balance
	var side string
	err := q.QueryRow(ctx, `
		SELECT a.currency, a.normal_side, COALESCE(SUM(b.posted), 0), COALESCE(SUM(b.pending_debits), 0), COALESCE(SUM(b.pending_credits), 0)
		FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
		WHERE a.tenant_id = $1 AND a.id = $2
		GROUP BY a.currency, a.normal_side`, tenant, accountID).Scan(&b.Currency, &side, &b.Posted, &b.PendingDebits, &b.PendingCredits)
	if db.IsNoRows(err) {
		return Balance{}, fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	if err != nil {
		return Balance{}, fmt.Errorf("balance of %s: %w", accountID, err)
	}
	b.AccountID = accountID
	b.Available = b.available(Side(side))
	return b, nil
}

// readBalance is GetBalance for an account already read.
func readBalance(ctx context.Context, q db.Querier, a Account) (Balance, error) {
	return GetBalance(ctx, q, a.TenantID, a.ID)
}

// position is a place in an account's posted history.
type position = StatementCursor

// balanceThroughSQL sums, over the account's shards, the running balance
// of the last posting at or before a position: one index lookup per shard
// on ledger_postings_account_time, whatever the history size.
const balanceThroughSQL = `
	SELECT count(*), COALESCE(SUM(x.balance_after), 0) FROM ledger_balances b
	LEFT JOIN LATERAL (
		SELECT p.balance_after FROM ledger_postings p
		WHERE p.account_id = b.account_id AND p.shard = b.shard AND p.seq IS NOT NULL AND p.created_at <= $3
			AND (p.created_at < $3 OR b.shard < $4 OR (b.shard = $4 AND p.seq <= $5))
		ORDER BY p.created_at DESC, p.seq DESC LIMIT 1
	) x ON true
	WHERE b.account_id = $2 AND b.tenant_id = $1`

// balanceThrough is the account's posted balance after every posting at or
// before pos. An account the tenant does not have is ErrNotFound.
func balanceThrough(ctx context.Context, q db.Querier, tenant, accountID uuid.UUID, pos position) (decimal.Decimal, error) {
	var d decimal.Decimal
	var shards int64
	if err := q.QueryRow(ctx, balanceThroughSQL, tenant, accountID, pos.At, pos.Shard, pos.Seq).Scan(&shards, &d); err != nil {
		return decimal.Decimal{}, fmt.Errorf("balance of %s at %s: %w", accountID, pos.At.Format(time.RFC3339Nano), err)
	}
	if shards == 0 {
		return decimal.Decimal{}, fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	return d, nil
}

// BalanceAt returns the account's posted balance (normal side) as of asOf:
// the sum over its shards of the running balance stored on the last
// posting booked at or before asOf. Pending entries do not count. It costs
// one index lookup per shard, whatever the history size.
func BalanceAt(ctx context.Context, q db.Querier, tenant, accountID uuid.UUID, asOf time.Time) (decimal.Decimal, error) {
	return balanceThrough(ctx, q, tenant, accountID, position{At: asOf.UTC(), Shard: MaxShards, Seq: math.MaxInt64})
}
