package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// PostingID names a ledger posting: its entry and its index in the entry,
// written "<entry id>:<index>".
type PostingID struct {
	EntryID uuid.UUID
	Idx     int
}

// String is "<entry id>:<index>".
func (p PostingID) String() string { return p.EntryID.String() + ":" + strconv.Itoa(p.Idx) }

// ParsePostingID reads "<entry id>:<index>".
func ParsePostingID(s string) (PostingID, error) {
	e, i, ok := strings.Cut(s, ":")
	if !ok {
		return PostingID{}, fmt.Errorf("posting id %q is not <entry id>:<index>", s)
	}
	id, err := uuid.Parse(e)
	if err != nil {
		return PostingID{}, fmt.Errorf("posting id %q: entry id: %w", s, err)
	}
	n, err := strconv.Atoi(i)
	if err != nil || n < 0 || n > 63 {
		return PostingID{}, fmt.Errorf("posting id %q: index must be 0..63", s)
	}
	return PostingID{EntryID: id, Idx: n}, nil
}

// LineItem is a statement line in a run's answer or a match.
type LineItem struct {
	ID           uuid.UUID
	StatementID  uuid.UUID
	EntryRef     string
	Amount       decimal.Decimal // signed: money in positive
	Currency     string
	Date         time.Time // the date matched on (booking date, else value date, ...)
	Reversal     bool
	EndToEndID   string
	AcctSvcrRef  string
	Reference    string
	Description  string
	Counterparty string
	// AgeDays is set on unmatched lines: days from Date to the run.
	AgeDays int

	accountID uuid.UUID
	pending   bool // status pending (announced, not booked)
}

// PostingItem is a ledger posting in a run's answer or a match.
type PostingItem struct {
	ID        PostingID
	Amount    decimal.Decimal // signed: debit (money into the account) positive
	Currency  string
	BookedAt  time.Time
	Reference string
	Kind      string
	// AgeDays is set on unmatched postings: days from booking to the run.
	AgeDays int
}

// Match is a group of lines and postings that account for each other.
type Match struct {
	ID        uuid.UUID
	RunID     *uuid.UUID
	Rule      string
	LineCount int
	// Lines and Postings list at most MaxMatchListItems each.
	Lines        []LineItem
	PostingCount int
	Postings     []PostingItem
	LineTotal    decimal.Decimal
	PostingTotal decimal.Decimal
	Difference   decimal.Decimal // LineTotal - PostingTotal
	// LagDays is the largest distance in days between a line's date and a
	// posting's booking day.
	LagDays   int
	Note      string
	CreatedAt time.Time
	DeletedAt *time.Time
}

// ResourceID names the match for the audit log.
func (m Match) ResourceID() string { return m.ID.String() }

// MaxMatchListItems bounds the lines and the postings listed per match.
const MaxMatchListItems = 50

const lineColumns = `l.id, l.statement_id, l.entry_ref, l.amount, l.currency, l.match_date, l.reversal, l.end_to_end_id, l.acct_svcr_ref,
	l.reference, l.description, l.counterparty, l.account_id, l.status = 'pending'`

func scanLine(row pgx.Row) (LineItem, error) {
	var l LineItem
	err := row.Scan(&l.ID, &l.StatementID, &l.EntryRef, &l.Amount, &l.Currency, &l.Date, &l.Reversal, &l.EndToEndID, &l.AcctSvcrRef,
		&l.Reference, &l.Description, &l.Counterparty, &l.accountID, &l.pending)
	l.Date = l.Date.UTC()
	return l, err
}

// loadLineItems reads the tenant's lines among ids.
func loadLineItems(ctx context.Context, q db.Querier, tenant uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]LineItem, error) {
	out := make(map[uuid.UUID]LineItem, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT `+lineColumns+` FROM recon_lines l WHERE l.tenant_id = $1 AND l.id = ANY ($2)`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("reconcile: load lines: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LineItem, error) { return scanLine(r) })
	if err != nil {
		return nil, fmt.Errorf("reconcile: load lines: %w", err)
	}
	for _, l := range list {
		out[l.ID] = l
	}
	return out, nil
}

// postingRow is a posting with the account it is on, for checks.
type postingRow struct {
	PostingItem
	accountID uuid.UUID
	pending   bool
}

// loadPostingItems reads the tenant's postings among ids.
func loadPostingItems(ctx context.Context, q db.Querier, tenant uuid.UUID, ids []PostingID) (map[PostingID]postingRow, error) {
	out := make(map[PostingID]postingRow, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	entries := make([]uuid.UUID, 0, len(ids))
	seen := map[uuid.UUID]bool{}
	want := make(map[PostingID]bool, len(ids))
	for _, id := range ids {
		want[id] = true
		if !seen[id.EntryID] {
			seen[id.EntryID] = true
			entries = append(entries, id.EntryID)
		}
	}
	rows, err := q.Query(ctx, `
		SELECT p.entry_id, p.idx, p.account_id, p.pending, p.amount, p.direction, p.currency, p.created_at, e.reference, e.kind
		FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id
		WHERE p.tenant_id = $1 AND p.entry_id = ANY ($2)`, tenant, entries)
	if err != nil {
		return nil, fmt.Errorf("reconcile: load postings: %w", err)
	}
	var r postingRow
	var idx int64
	var dir string
	_, err = pgx.ForEachRow(rows, []any{&r.ID.EntryID, &idx, &r.accountID, &r.pending, &r.Amount, &dir, &r.Currency, &r.BookedAt, &r.Reference, &r.Kind}, func() error {
		r.ID.Idx = int(idx)
		if !want[r.ID] {
			return nil
		}
		if dir == "credit" {
			r.Amount = r.Amount.Neg()
		}
		r.BookedAt = r.BookedAt.UTC()
		out[r.ID] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: load postings: %w", err)
	}
	return out, nil
}

// matchItems is the JSON kept on a match: what it matched.
type matchItems struct {
	Lines    []string `json:"lines"`
	Postings []string `json:"postings"`
}

// ageDays is the whole days from day to now (not negative).
func ageDays(day, now time.Time) int {
	d := int(dayNumber(now) - dayNumber(day))
	return max(d, 0)
}
