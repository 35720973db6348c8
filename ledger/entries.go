package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

const entrySelect = `
	SELECT e.id, e.tenant_id, e.kind, e.description, e.reference, e.status, e.effective_at, e.created_at, e.metadata,
		e.reverses_id, e.pending_id, e.expires_at, COALESCE(r.status, '')
	FROM ledger_entries e LEFT JOIN ledger_pending_resolutions r ON r.pending_id = e.id`

const postingsSelect = `
	SELECT p.entry_id, p.idx, p.account_id, a.code, p.shard, p.direction, p.amount, p.currency, p.pending,
		COALESCE(p.balance_after, 0), COALESCE(p.seq, 0), p.created_at, p.effective_at
	FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id`

// GetEntry returns the tenant's entry id with its postings. Status is the
// entry's current status: a pending entry shows "committed", "voided" or
// "expired" once resolved (a pending entry whose expiry time has passed
// stays "pending" until the expiry job runs, but can no longer be
// committed). A posting's BalanceAfter is the running balance of its
// balance row: the account's balance for a single-shard account, the
// shard's for a hot account (see Statement for the account's).
func GetEntry(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Entry, error) {
	return readEntry(ctx, q, tenant, `e.tenant_id = $1 AND e.id = $2`, id)
}

// entryByReference returns the tenant's entry with reference.
func entryByReference(ctx context.Context, q db.Querier, tenant uuid.UUID, reference string) (Entry, error) {
	return readEntry(ctx, q, tenant, `e.tenant_id = $1 AND e.reference = $2`, reference)
}

func readEntry(ctx context.Context, q db.Querier, tenant uuid.UUID, where string, arg any) (Entry, error) {
	e, err := scanEntry(q.QueryRow(ctx, entrySelect+` WHERE `+where, tenant, arg))
	if db.IsNoRows(err) {
		return Entry{}, fmt.Errorf("%w: entry %v", ErrNotFound, arg)
	}
	if err != nil {
		return Entry{}, err
	}
	rows, err := q.Query(ctx, postingsSelect+` WHERE p.entry_id = $1 ORDER BY p.idx`, e.ID)
	if err != nil {
		return Entry{}, fmt.Errorf("entry %s: postings: %w", e.ID, err)
	}
	e.Postings, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Posting, error) {
		p, _, err := scanPosting(r)
		return p, err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("entry %s: postings: %w", e.ID, err)
	}
	return e, nil
}

func scanEntry(row pgx.Row) (Entry, error) {
	var e Entry
	var resolution string
	err := row.Scan(&e.ID, &e.TenantID, &e.Kind, &e.Description, &e.Reference, &e.Status, &e.EffectiveAt, &e.CreatedAt,
		&e.Metadata, &e.ReversesID, &e.PendingID, &e.ExpiresAt, &resolution)
	if err != nil {
		if db.IsNoRows(err) {
			return Entry{}, err
		}
		return Entry{}, fmt.Errorf("scan entry: %w", err)
	}
	if resolution != "" {
		e.Status = resolution
	}
	e.EffectiveAt, e.CreatedAt = e.EffectiveAt.UTC(), e.CreatedAt.UTC()
	if e.ExpiresAt != nil {
		t := e.ExpiresAt.UTC()
		e.ExpiresAt = &t
	}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	return e, nil
}

// scanPosting scans a postingsSelect row; it also says whether the posting
// belongs to a pending entry.
func scanPosting(row pgx.Row) (Posting, bool, error) {
	var p Posting
	var idx, shard int64
	var dir string
	var pending bool
	var bal decimal.Decimal
	err := row.Scan(&p.EntryID, &idx, &p.AccountID, &p.AccountCode, &shard, &dir, &p.Amount, &p.Currency, &pending,
		&bal, &p.Seq, &p.CreatedAt, &p.EffectiveAt)
	if err != nil {
		return Posting{}, false, fmt.Errorf("scan posting: %w", err)
	}
	p.Direction, p.Shard, p.BalanceAfter = Side(dir), int(shard), bal
	p.CreatedAt, p.EffectiveAt = p.CreatedAt.UTC(), p.EffectiveAt.UTC()
	return p, pending, nil
}
