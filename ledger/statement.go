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

// Bounds of an open statement range.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// StatementMargin is how long a hot account's postings stay off its
// statement: a statement of an account with more than one balance shard
// lists only postings booked before the reader's clock less this margin
// (its horizon). Posting times rise only within a shard, so without it a
// writer that read its clock before (or in the same microsecond as)
// another and committed after it on another shard would land behind a
// cursor already past the other's posting: never listed, and counted in
// the next page's opening balance. The margin is the bound SealMargin
// rests on: it must exceed the longest a write transaction runs from its
// clock reading to its commit, db.Write's retries included (by default up
// to db.DefaultMaxTxAttempts attempts, up to 0.5 s of backoff between
// them; nothing times an attempt out but the 60 s a session may sit idle
// inside a transaction), plus the clock skew between instances. Then every
// posting booked before the horizon had committed when the page was read.
// A single-shard account has no horizon: its writers take turns on its
// one balance row, so a posting committing later is booked at or after
// every posting before it, with a higher sequence number, and lands after
// any cursor.
const StatementMargin = SealMargin

// StatementCursor is a place in an account's posted history, which is
// ordered by (CreatedAt, Shard, Seq): posting times are monotonic within a
// shard, so this order agrees with every shard's own sequence.
type StatementCursor struct {
	At    time.Time `json:"t"`
	Shard int       `json:"s"`
	Seq   int64     `json:"q"`
}

// StatementQuery selects a page of an account's posted postings booked in
// [From, To) (open ends when nil), after Cursor (a previous page's Next).
type StatementQuery struct {
	From, To *time.Time
	Cursor   *StatementCursor
	Limit    int
}

// StatementLine is a posting with its entry's description. Its
// BalanceAfter is the account's running balance after it.
type StatementLine struct {
	Posting
	Kind, Reference, Description string
}

// StatementPage is one page of a statement.
type StatementPage struct {
	Account Account
	// Opening is the account's balance before the page's first line.
	Opening decimal.Decimal
	Lines   []StatementLine
	// Next is the cursor of the following page, nil on the last.
	Next *StatementCursor
	// Horizon, for a hot account, is the reader's clock less
	// StatementMargin: postings booked at or after it are not listed yet.
	// Nil for a single-shard account, whose statement lists everything.
	Horizon *time.Time
}

// statementSQL reads, for each shard of the account, its first $8
// postings after the cursor in [from, to) from the shard's index range, and
// merges them: at most shards × limit rows, whatever the history size.
const statementSQL = `
	SELECT x.entry_id, x.idx, x.shard, x.seq, x.direction, x.amount, x.currency, x.balance_after, x.created_at, x.effective_at,
		e.kind, e.reference, e.description
	FROM ledger_balances b
	CROSS JOIN LATERAL (
		SELECT p.entry_id, p.idx, p.shard, p.seq, p.direction, p.amount, p.currency, p.balance_after, p.created_at, p.effective_at
		FROM ledger_postings p
		WHERE p.account_id = b.account_id AND p.shard = b.shard AND p.seq IS NOT NULL
			AND p.created_at >= $3 AND p.created_at < $4 AND p.created_at >= $5
			AND (p.created_at > $5 OR b.shard > $6 OR (b.shard = $6 AND p.seq > $7))
		ORDER BY p.created_at, p.seq LIMIT $8
	) x
	JOIN ledger_entries e ON e.id = x.entry_id
	WHERE b.account_id = $2 AND b.tenant_id = $1
	ORDER BY x.created_at, x.shard, x.seq LIMIT $8`

// Statement returns a page of the account's posted postings, oldest
// first, each with the account's running balance after it, as read at now
// (the reader's clock). For a single-shard account that is the running
// balance stored on the posting. For a hot account the stored one is its
// shard's, so the page's opening balance is computed as at the page's
// start (one index lookup per shard, see BalanceAt) and the page's
// postings are added to it in order; and only postings booked before the
// page's Horizon, now less StatementMargin, are listed (To is capped
// there), so that no page's cursor passes a posting that can still commit
// behind it. Postings of pending entries are not listed (their commits
// are).
func Statement(ctx context.Context, q db.Querier, tenant, accountID uuid.UUID, sq StatementQuery, now time.Time) (StatementPage, error) {
	a, err := GetAccount(ctx, q, tenant, accountID)
	if err != nil {
		return StatementPage{}, err
	}
	if sq.Limit <= 0 || sq.Limit > MaxListLimit {
		sq.Limit = MaxListLimit
	}
	from, to := minTime, maxTime
	if sq.From != nil {
		from = sq.From.UTC()
	}
	if sq.To != nil {
		to = sq.To.UTC()
	}
	var horizon *time.Time
	if a.Shards > 1 {
		h := dbTime(now).Add(-StatementMargin)
		horizon = &h
		if h.Before(to) {
			to = h
		}
	}
	start := StatementCursor{At: from, Shard: -1}
	if sq.Cursor != nil && !sq.Cursor.At.Before(from) {
		start = *sq.Cursor
	}
	rows, err := q.Query(ctx, statementSQL, tenant, accountID, from, to, start.At, start.Shard, start.Seq, sq.Limit)
	if err != nil {
		return StatementPage{}, fmt.Errorf("statement of %s: %w", a.Code, err)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) {
		l := StatementLine{}
		var shard int64
		var dir string
		err := r.Scan(&l.EntryID, new(int64), &shard, &l.Seq, &dir, &l.Amount, &l.Currency, &l.BalanceAfter, &l.CreatedAt,
			&l.EffectiveAt, &l.Kind, &l.Reference, &l.Description)
		l.AccountID, l.AccountCode, l.Direction, l.Shard = a.ID, a.Code, Side(dir), int(shard)
		l.CreatedAt, l.EffectiveAt = l.CreatedAt.UTC(), l.EffectiveAt.UTC()
		return l, err
	})
	if err != nil {
		return StatementPage{}, fmt.Errorf("statement of %s: %w", a.Code, err)
	}
	page := StatementPage{Account: a, Lines: lines, Horizon: horizon}
	switch {
	case a.Shards == 1 && len(lines) > 0:
		page.Opening = lines[0].BalanceAfter.Sub(a.signed(lines[0].Direction, lines[0].Amount))
	default:
		// The balance through the cursor: for a first page, through every
		// posting before from.
		page.Opening, err = balanceThrough(ctx, q, tenant, accountID, position(start))
		if err != nil {
			return StatementPage{}, err
		}
		run := page.Opening
		for i := range page.Lines {
			run = run.Add(a.signed(page.Lines[i].Direction, page.Lines[i].Amount))
			page.Lines[i].BalanceAfter = run
		}
	}
	if len(lines) == sq.Limit {
		last := lines[len(lines)-1]
		page.Next = &StatementCursor{At: last.CreatedAt, Shard: last.Shard, Seq: last.Seq}
	}
	return page, nil
}
