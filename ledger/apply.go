package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// epoch is earlier than any booking: an update that books no posting
// passes it so GREATEST keeps the row's last_at.
var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

const updateBalanceSQL = `
	UPDATE ledger_balances SET posted = posted + $3, pending_debits = pending_debits + $4, pending_credits = pending_credits + $5,
		seq = seq + $6, last_at = GREATEST(last_at, $7)
	WHERE account_id = $1 AND shard = $2
	RETURNING posted, seq, last_at`

// updateGuardedSQL is updateBalanceSQL that changes nothing (no row) when
// the available balance would end below $8.
const updateGuardedSQL = `
	UPDATE ledger_balances SET posted = posted + $3, pending_debits = pending_debits + $4, pending_credits = pending_credits + $5,
		seq = seq + $6, last_at = GREATEST(last_at, $7)
	WHERE account_id = $1 AND shard = $2
		AND posted + $3 - (CASE WHEN debit_normal THEN pending_credits + $5 ELSE pending_debits + $4 END) >= $8
	RETURNING posted, seq, last_at`

const lockShardsSQL = `
	SELECT shard, posted, pending_debits, pending_credits, seq, last_at FROM ledger_balances
	WHERE account_id = $1 ORDER BY shard FOR UPDATE`

// accountPlan gathers the changes of one account.
type accountPlan struct {
	account Account
	rows    []*rowChange
	// dAvail is the change of the available balance: posted change less
	// the change of pending outflows.
	dAvail decimal.Decimal
}

func (p *accountPlan) check() bool   { return p.account.guarded() && p.dAvail.IsNegative() }
func (p *accountPlan) lockAll() bool { return p.check() && p.account.Shards > 1 }

// outflow is the pending change against the normal side.
func (c *rowChange) pendingOutflow() decimal.Decimal {
	if c.account.NormalSide == SideDebit {
		return c.pendingCred
	}
	return c.pendingDebits
}

// applyChanges locks and updates the balance rows of changes, in account
// id then shard order (so concurrent writers never deadlock), in one round
// trip, and returns every row after its change and the booking time of the
// postings: the latest of now and the last_at of every row that books one.
// All the postings of an entry are booked at that one time, so that no
// point in time falls between them (a trial balance as of any time
// balances), and every row that books one gets it as its last_at, so that
// times stay monotonic in each row's sequence. The UPDATE sets last_at =
// max(last_at, now); a row left behind a later row of the same entry is
// moved up to the booking time by one more UPDATE queued on next (no round
// trip: the row is locked already, and next goes with the postings).
//
// An account with an overdraft guard whose available balance the changes
// lower is checked exactly: a single-shard account by a guarded UPDATE (and
// the row's CHECK constraint behind it); a sharded one by locking all its
// shards (SELECT ... FOR UPDATE in shard order) and checking their sum; its
// row updates are then queued on next, which the caller sends.
func applyChanges(ctx context.Context, tx pgx.Tx, changes map[rowKey]*rowChange, now time.Time, next *db.Batch) (map[rowKey]rowResult, time.Time, error) {
	plans := map[uuid.UUID]*accountPlan{}
	for _, c := range changes {
		p := plans[c.account.ID]
		if p == nil {
			p = &accountPlan{account: c.account}
			plans[c.account.ID] = p
		}
		p.rows = append(p.rows, c)
		p.dAvail = p.dAvail.Add(c.posted).Sub(c.pendingOutflow())
	}
	order := make([]*accountPlan, 0, len(plans))
	for _, p := range plans {
		slices.SortFunc(p.rows, func(a, b *rowChange) int { return a.shard - b.shard })
		order = append(order, p)
	}
	slices.SortFunc(order, func(a, b *accountPlan) int { return bytes.Compare(a.account.ID[:], b.account.ID[:]) })

	b := &pgx.Batch{}
	for _, p := range order {
		if p.lockAll() {
			b.Queue(lockShardsSQL, p.account.ID)
			continue
		}
		for _, c := range p.rows {
			args := []any{c.account.ID, c.shard, c.posted, c.pendingDebits, c.pendingCred, c.count, bookedAt(c, now)}
			if p.check() {
				b.Queue(updateGuardedSQL, append(args, p.account.floor())...)
			} else {
				b.Queue(updateBalanceSQL, args...)
			}
		}
	}
	results := make(map[rowKey]rowResult, len(changes))
	var short *accountPlan // the guarded account that lacks funds
	var shortAvail *decimal.Decimal
	err := func() error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for _, p := range order {
			if p.lockAll() {
				avail, rows, err := readShards(br, p.account)
				if err != nil {
					return err
				}
				if len(rows) == 0 && fromCache(tx, p.account.ID) {
					return noBalanceRow(tx, p.account, p.rows[0].shard)
				}
				if avail.Add(p.dAvail).LessThan(p.account.floor()) {
					short, shortAvail = p, &avail
					return nil
				}
				for _, c := range p.rows {
					cur, ok := rows[c.shard]
					if !ok {
						return fmt.Errorf("balance row %s/%d missing", c.account.Code, c.shard)
					}
					// Updated below, once the booking time is known.
					results[rowKey{c.account.ID, c.shard}] = rowResult{
						posted: cur.posted.Add(c.posted), seq: cur.seq + c.count, lastAt: later(cur.lastAt, bookedAt(c, now)),
					}
				}
				continue
			}
			for _, c := range p.rows {
				var r rowResult
				err := br.QueryRow().Scan(&r.posted, &r.seq, &r.lastAt)
				if err == pgx.ErrNoRows && p.check() {
					short = p
					return nil
				}
				if err == pgx.ErrNoRows {
					return noBalanceRow(tx, c.account, c.shard)
				}
				if err != nil {
					return fmt.Errorf("update balance %s/%d: %w", c.account.Code, c.shard, err)
				}
				r.lastAt = r.lastAt.UTC()
				results[rowKey{c.account.ID, c.shard}] = r
			}
		}
		return nil
	}()
	if err != nil {
		return nil, time.Time{}, err
	}
	if short != nil {
		if shortAvail == nil {
			bal, err := readBalance(ctx, tx, short.account)
			if errors.Is(err, ErrNotFound) && fromCache(tx, short.account.ID) {
				return nil, time.Time{}, noBalanceRow(tx, short.account, short.rows[0].shard)
			}
			if err != nil {
				return nil, time.Time{}, err
			}
			shortAvail = &bal.Available
		}
		return nil, time.Time{}, &InsufficientFundsError{AccountID: short.account.ID, Code: short.account.Code,
			Available: *shortAvail, Requested: short.dAvail.Neg()}
	}
	at := now.UTC()
	for k, r := range results {
		if changes[k].count > 0 {
			at = later(at, r.lastAt)
		}
	}
	for _, p := range order {
		for _, c := range p.rows {
			k := rowKey{c.account.ID, c.shard}
			r := results[k]
			booked := bookedAt(c, at)
			switch {
			case p.lockAll():
				next.Queue(updateBalanceSQL, c.account.ID, c.shard, c.posted, c.pendingDebits, c.pendingCred, c.count, booked)
			case c.count > 0 && r.lastAt.Before(at):
				next.Queue(moveLastAtSQL, c.account.ID, c.shard, at)
			default:
				continue
			}
			r.lastAt = later(r.lastAt, booked)
			results[k] = r
		}
	}
	return results, at, nil
}

// moveLastAtSQL moves a row this transaction has updated (and so locked)
// up to its entry's booking time.
const moveLastAtSQL = `UPDATE ledger_balances SET last_at = GREATEST(last_at, $3) WHERE account_id = $1 AND shard = $2`

func bookedAt(c *rowChange, now time.Time) time.Time {
	if c.count > 0 {
		return now
	}
	return epoch
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a.UTC()
	}
	return b.UTC()
}

type shardRow struct {
	posted decimal.Decimal
	seq    int64
	lastAt time.Time
}

// readShards reads the result of lockShardsSQL: the account's available
// balance and its rows by shard.
func readShards(br pgx.BatchResults, a Account) (decimal.Decimal, map[int]shardRow, error) {
	rows, err := br.Query()
	if err != nil {
		return decimal.Decimal{}, nil, err
	}
	defer rows.Close()
	out := map[int]shardRow{}
	var sum Balance
	for rows.Next() {
		var shard int
		var r shardRow
		var d, c decimal.Decimal
		if err := rows.Scan(&shard, &r.posted, &d, &c, &r.seq, &r.lastAt); err != nil {
			return decimal.Decimal{}, nil, err
		}
		r.lastAt = r.lastAt.UTC()
		sum.Posted, sum.PendingDebits, sum.PendingCredits = sum.Posted.Add(r.posted), sum.PendingDebits.Add(d), sum.PendingCredits.Add(c)
		out[shard] = r
	}
	if err := rows.Err(); err != nil {
		return decimal.Decimal{}, nil, err
	}
	return sum.available(a.NormalSide), out, nil
}
