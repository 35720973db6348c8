package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"

	"github.com/escrowd/escrowd/internal/db"
)

// Pending entries are never updated: what becomes of one is a single row
// of ledger_pending_resolutions (its primary key is the pending entry's id,
// so a commit racing a void or an expiry resolves it once), plus, for a
// commit, a new posted entry whose PendingID names the pending one.

// Commit posts the tenant's pending entry in full (amount nil) or in part
// (amount set; only for entries of two postings, the rest is released) and
// returns the new posted entry. It posts to the same balance shards the
// pending entry reserved on and releases the whole reservation, so it never
// lowers an available balance. A pending entry already resolved, or whose
// expires_at is not after now, is ErrNotPending.
func Commit(ctx context.Context, tx pgx.Tx, tenant, pendingID uuid.UUID, amount *decimal.Decimal, now time.Time) (Entry, error) {
	now = dbTime(now)
	p, err := openPending(ctx, tx, tenant, pendingID, now, true)
	if err != nil {
		return Entry{}, err
	}
	ref := p.Reference + ":commit"
	if len(ref) > MaxReferenceLength {
		ref = "commit:" + p.ID.String()
	}
	// The posted entry's id is chosen here so that the resolution, which
	// names it, is recorded first: before anything is booked, as Void does.
	e := Entry{ID: uuid.New(), TenantID: tenant, Kind: p.Kind, Description: p.Description, Reference: ref, CreatedAt: now,
		Metadata: p.Metadata, PendingID: &p.ID}
	if err := resolve(ctx, tx, p, StatusCommitted, &e.ID, now); err != nil {
		return Entry{}, err
	}
	// Checked after resolve, so that an entry resolved already is
	// ErrNotPending whatever the amount (the error rolls resolve back).
	if amount != nil {
		if len(p.Postings) != 2 {
			return Entry{}, invalidf("a partial commit needs a pending entry of 2 postings, %s has %d", p.ID, len(p.Postings))
		}
		full := p.Postings[0].Amount
		c, err := money.Lookup(p.Postings[0].Currency)
		if err != nil {
			return Entry{}, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
		}
		if !amount.IsPositive() || amount.GreaterThan(full) {
			return Entry{}, invalidf("commit amount %s: want more than 0 and at most %s", amount, full)
		}
		if err := money.CheckExact(*amount, c); err != nil {
			return Entry{}, fmt.Errorf("%w: commit amount: %w", ErrInvalidEntry, err)
		}
	}
	shards := make([]int, len(p.Postings))
	release := make([]decimal.Decimal, len(p.Postings))
	for i, pp := range p.Postings {
		amt := pp.Amount
		if amount != nil {
			amt = *amount
		}
		e.Postings = append(e.Postings, Posting{AccountID: pp.AccountID, Direction: pp.Direction, Amount: amt, Currency: pp.Currency})
		shards[i], release[i] = pp.Shard, pp.Amount
	}
	posted, err := writeEntry(ctx, tx, e, writeMode{shards: shards, release: release})
	if err != nil {
		return Entry{}, err
	}
	return posted, nil
}

// Void releases the tenant's pending entry and returns it, now "voided".
// A pending entry already resolved is ErrNotPending.
func Void(ctx context.Context, tx pgx.Tx, tenant, pendingID uuid.UUID, now time.Time) (Entry, error) {
	return release(ctx, tx, tenant, pendingID, StatusVoided, dbTime(now))
}

// Expire releases the tenant's pending entry once its expires_at has come
// and returns it, now "expired". The JobExpirePending job calls it; an entry
// already resolved is ErrNotPending, one not yet due is ErrInvalidEntry.
func Expire(ctx context.Context, tx pgx.Tx, tenant, pendingID uuid.UUID, now time.Time) (Entry, error) {
	return release(ctx, tx, tenant, pendingID, StatusExpired, dbTime(now))
}

func release(ctx context.Context, tx pgx.Tx, tenant, pendingID uuid.UUID, status string, now time.Time) (Entry, error) {
	p, err := openPending(ctx, tx, tenant, pendingID, now, false)
	if err != nil {
		return Entry{}, err
	}
	accts, err := accountsIn(ctx, tx, tenant, postingAccounts(p.Postings))
	if err != nil {
		return Entry{}, err
	}
	changes := map[rowKey]*rowChange{}
	for _, pp := range p.Postings {
		k := rowKey{pp.AccountID, pp.Shard}
		c := changes[k]
		if c == nil {
			c = &rowChange{account: accts[pp.AccountID], shard: pp.Shard}
			changes[k] = c
		}
		c.addPending(pp.Direction, pp.Amount.Neg())
	}
	if err := resolve(ctx, tx, p, status, nil, now); err != nil {
		return Entry{}, err
	}
	// After resolve, as in Commit.
	if status == StatusExpired && (p.ExpiresAt == nil || now.Before(*p.ExpiresAt)) {
		return Entry{}, invalidf("pending entry %s is not due to expire", p.ID)
	}
	next := &db.Batch{}
	if _, _, err := applyChanges(ctx, tx, changes, now, next); err != nil {
		return Entry{}, fmt.Errorf("release %s: %w", p.ID, err)
	}
	if err := db.Send(ctx, tx, next); err != nil {
		return Entry{}, fmt.Errorf("release %s: %w", p.ID, err)
	}
	p.Status = status
	return p, nil
}

// openPending reads a pending entry that may still be resolved. Whether it
// was resolved already is left to resolve, which every caller runs before
// changing anything: reading ledger_pending_resolutions here too would
// lock an index page under SSI that every other resolution inserts into.
// For the same reason the postings are read without their account codes
// (writeEntry and accountsIn know the accounts).
func openPending(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, now time.Time, commit bool) (Entry, error) {
	b := &pgx.Batch{}
	b.Queue(pendingEntrySelect, tenant, id)
	b.Queue(pendingPostingsSelect, id)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	p, err := scanEntry(br.QueryRow())
	if db.IsNoRows(err) {
		return Entry{}, fmt.Errorf("%w: entry %v", ErrNotFound, id)
	}
	if err != nil {
		return Entry{}, err
	}
	rows, err := br.Query()
	if err == nil {
		p.Postings, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Posting, error) {
			p, _, err := scanPosting(r)
			return p, err
		})
	}
	if err == nil {
		err = br.Close()
	}
	if err != nil {
		return Entry{}, fmt.Errorf("entry %s: postings: %w", id, err)
	}
	if p.Status != StatusPending {
		return Entry{}, fmt.Errorf("%w: entry %s is %s", ErrNotPending, id, p.Status)
	}
	if commit && p.ExpiresAt != nil && !now.Before(*p.ExpiresAt) {
		return Entry{}, fmt.Errorf("%w: entry %s expired at %s", ErrNotPending, id, p.ExpiresAt.Format(time.RFC3339))
	}
	return p, nil
}

// pendingEntrySelect and pendingPostingsSelect read what openPending
// needs: entrySelect and postingsSelect without the joins.
const (
	pendingEntrySelect = `
		SELECT id, tenant_id, kind, description, reference, status, effective_at, created_at, metadata,
			reverses_id, pending_id, expires_at, ''
		FROM ledger_entries WHERE tenant_id = $1 AND id = $2`
	pendingPostingsSelect = `
		SELECT entry_id, idx, account_id, '', shard, direction, amount, currency, pending,
			COALESCE(balance_after, 0), COALESCE(seq, 0), created_at, effective_at
		FROM ledger_postings WHERE entry_id = $1 ORDER BY idx`
)

// resolve records what became of pending entry p; one resolved before, or
// concurrently, makes it ErrNotPending. The expiry job, if any, is not
// cancelled: it finds the entry resolved and does nothing (ExpireJob), and
// cancelling it would read and rewrite a jobs row (see escrow's Fund).
func resolve(ctx context.Context, tx pgx.Tx, p Entry, status string, entryID *uuid.UUID, now time.Time) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO ledger_pending_resolutions (pending_id, tenant_id, status, entry_id, resolved_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pending_id) DO NOTHING`, p.ID, p.TenantID, status, entryID, now)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", p.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: entry %s is already resolved", ErrNotPending, p.ID)
	}
	return nil
}

func postingAccounts(ps []Posting) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.AccountID)
	}
	return ids
}
