package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// Sealing limits.
const (
	// MaxBlockEntries bounds the entries of one sealed block.
	MaxBlockEntries = 500
	// SealMargin: only entries created longer ago than this are sealed. It
	// must exceed the longest a write transaction may run (with its
	// retries) plus the clock skew between instances, so that no entry
	// can still commit with a created_at before the seal head. An entry
	// that does (a clock far behind) lands inside a sealed range and is
	// reported by Verify as a block mismatch. StatementMargin rests on the
	// same bound.
	SealMargin = 5 * time.Minute
	// MaxSealBlocksPerRun bounds the blocks one Seal call writes per tenant.
	MaxSealBlocksPerRun = 200
	// tenantBatch is how many tenants Seal and Verify read at once.
	tenantBatch = 100
)

// Block is a sealed block of a tenant's entries.
type Block struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	Height        int64
	PrevHash      []byte
	Hash          []byte
	EntryCount    int
	LastCreatedAt time.Time
	LastEntryID   uuid.UUID
	SealedAt      time.Time
}

// sealEntry is an entry as stored (its written status, not its resolution)
// with its postings: what a block hash covers.
type sealEntry struct {
	id, tenant                   uuid.UUID
	kind, description, reference string
	status                       string
	effectiveAt, createdAt       time.Time
	metadata                     map[string]string
	reversesID, pendingID        *uuid.UUID
	expiresAt                    *time.Time
	postingCount                 int64
	postings                     []sealPosting
}

type sealPosting struct {
	idx              int64
	account          uuid.UUID
	shard            int64
	direction        string
	amount           decimal.Decimal
	currency         string
	pending          bool
	balanceAfter     *decimal.Decimal
	seq              *int64
	createdAt, effAt time.Time
}

// sealHead is where a tenant's chain ends.
type sealHead struct {
	height int64
	hash   []byte
	at     time.Time
	id     uuid.UUID
}

var genesis = make([]byte, sha256.Size)

func readHead(ctx context.Context, q db.Querier, tenant uuid.UUID) (sealHead, error) {
	h := sealHead{hash: genesis, at: minTime}
	err := q.QueryRow(ctx, `SELECT height, hash, last_created_at, last_entry_id FROM ledger_blocks WHERE tenant_id = $1 ORDER BY height DESC LIMIT 1`,
		tenant).Scan(&h.height, &h.hash, &h.at, &h.id)
	if err != nil && !db.IsNoRows(err) {
		return sealHead{}, fmt.Errorf("seal head: %w", err)
	}
	return h, nil
}

// readSealEntries reads the tenant's entries after position (at, id) in
// (created_at, id) order: up to and including through when set, else
// created before cutoff; at most limit.
func readSealEntries(ctx context.Context, q db.Querier, tenant uuid.UUID, afterAt time.Time, afterID uuid.UUID,
	throughAt *time.Time, throughID uuid.UUID, cutoff time.Time, limit int) ([]sealEntry, error) {
	tAt, tID := maxTime, uuid.Max
	if throughAt != nil {
		tAt, tID = *throughAt, throughID
	}
	rows, err := q.Query(ctx, `
		SELECT id, tenant_id, kind, description, reference, status, effective_at, created_at, metadata, reverses_id, pending_id,
			expires_at, posting_count
		FROM ledger_entries
		WHERE tenant_id = $1 AND (created_at, id) > ($2, $3) AND (created_at, id) <= ($4, $5) AND created_at < $6
		ORDER BY created_at, id LIMIT $7`, tenant, afterAt, afterID, tAt, tID, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("seal entries: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealEntry, error) {
		var e sealEntry
		err := r.Scan(&e.id, &e.tenant, &e.kind, &e.description, &e.reference, &e.status, &e.effectiveAt, &e.createdAt,
			&e.metadata, &e.reversesID, &e.pendingID, &e.expiresAt, &e.postingCount)
		return e, err
	})
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	ids := make([]uuid.UUID, len(entries))
	byID := make(map[uuid.UUID]*sealEntry, len(entries))
	for i := range entries {
		ids[i] = entries[i].id
		byID[entries[i].id] = &entries[i]
	}
	rows, err = q.Query(ctx, `
		SELECT entry_id, idx, account_id, shard, direction, amount, currency, pending, balance_after, seq, created_at, effective_at
		FROM ledger_postings WHERE entry_id = ANY ($1) ORDER BY entry_id, idx`, ids)
	if err != nil {
		return nil, fmt.Errorf("seal postings: %w", err)
	}
	var entryID uuid.UUID
	var p sealPosting
	_, err = pgx.ForEachRow(rows, []any{&entryID, &p.idx, &p.account, &p.shard, &p.direction, &p.amount, &p.currency, &p.pending,
		&p.balanceAfter, &p.seq, &p.createdAt, &p.effAt}, func() error {
		if e := byID[entryID]; e != nil {
			e.postings = append(e.postings, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal postings: %w", err)
	}
	return entries, nil
}

// blockHash is SHA-256(prev || canonical encoding of the block): its
// tenant and height, then each entry's stored columns and each of its
// postings' columns, every field length-prefixed, times as Unix
// microseconds, amounts as shopspring's shortest decimal string, metadata
// sorted by key.
func blockHash(prev []byte, tenant uuid.UUID, height int64, entries []sealEntry) []byte {
	h := sha256.New()
	h.Write(prev)
	var buf []byte
	field := func(b []byte) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(b)))
		h.Write(buf)
		h.Write(b)
	}
	str := func(s string) { field([]byte(s)) }
	num := func(n int64) { field(binary.AppendVarint(nil, n)) }
	tm := func(t time.Time) { num(t.UnixMicro()) }
	id := func(u uuid.UUID) { field(u[:]) }
	optID := func(u *uuid.UUID) {
		if u == nil {
			field(nil)
			return
		}
		id(*u)
	}
	id(tenant)
	num(height)
	num(int64(len(entries)))
	for _, e := range entries {
		str("entry")
		id(e.id)
		id(e.tenant)
		str(e.kind)
		str(e.description)
		str(e.reference)
		str(e.status)
		tm(e.effectiveAt)
		tm(e.createdAt)
		keys := make([]string, 0, len(e.metadata))
		for k := range e.metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		num(int64(len(keys)))
		for _, k := range keys {
			str(k)
			str(e.metadata[k])
		}
		optID(e.reversesID)
		optID(e.pendingID)
		if e.expiresAt != nil {
			tm(*e.expiresAt)
		} else {
			field(nil)
		}
		num(e.postingCount)
		num(int64(len(e.postings)))
		for _, p := range e.postings {
			str("posting")
			num(p.idx)
			id(p.account)
			num(p.shard)
			str(p.direction)
			str(p.amount.String())
			str(p.currency)
			if p.pending {
				num(1)
			} else {
				num(0)
			}
			if p.balanceAfter != nil {
				str(p.balanceAfter.String())
			} else {
				field(nil)
			}
			if p.seq != nil {
				num(*p.seq)
			} else {
				field(nil)
			}
			tm(p.createdAt)
			tm(p.effAt)
		}
	}
	return h.Sum(nil)
}

// SealNext seals the tenant's next block in tx: up to MaxBlockEntries
// entries after the chain's head created before now - SealMargin, in
// (created_at, id) order. It returns false when there was nothing to seal.
// It takes no lock on the write path: writers never read blocks, and a
// concurrent sealer of the same tenant collides on the block's primary
// key.
func SealNext(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, now time.Time) (Block, bool, error) {
	now = dbTime(now)
	head, err := readHead(ctx, tx, tenant)
	if err != nil {
		return Block{}, false, err
	}
	entries, err := readSealEntries(ctx, tx, tenant, head.at, head.id, nil, uuid.Nil, now.Add(-SealMargin), MaxBlockEntries)
	if err != nil || len(entries) == 0 {
		return Block{}, false, err
	}
	last := entries[len(entries)-1]
	b := Block{ID: uuid.Must(uuid.NewV7()), TenantID: tenant, Height: head.height + 1, PrevHash: head.hash,
		EntryCount: len(entries), LastCreatedAt: last.createdAt.UTC(), LastEntryID: last.id, SealedAt: now}
	b.Hash = blockHash(b.PrevHash, tenant, b.Height, entries)
	if _, err := tx.Exec(ctx, `
		INSERT INTO ledger_blocks (tenant_id, height, id, prev_hash, hash, entry_count, last_created_at, last_entry_id, sealed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		tenant, b.Height, b.ID, b.PrevHash, b.Hash, b.EntryCount, b.LastCreatedAt, b.LastEntryID, b.SealedAt); err != nil {
		return Block{}, false, fmt.Errorf("seal block %d: %w", b.Height, err)
	}
	return b, true, nil
}

// SealReport says what a Seal run did.
type SealReport struct {
	Tenants int
	Blocks  int
	Entries int
}

// Seal seals every tenant's entries older than SealMargin into blocks, one
// transaction per block. A tenant another sealer is working on is skipped.
func (s *Service) Seal(ctx context.Context) (SealReport, error) {
	var rep SealReport
	err := forEachTenant(ctx, s.DB, nil, func(tenant uuid.UUID) error {
		rep.Tenants++
		for range MaxSealBlocksPerRun {
			type res struct {
				b  Block
				ok bool
			}
			r, err := db.Write(ctx, s.DB, func(tx pgx.Tx) (res, error) {
				b, ok, err := SealNext(ctx, tx, tenant, s.Clock.Now())
				return res{b, ok}, err
			})
			if db.IsUniqueViolation(err, "") {
				return nil // another sealer got there first
			}
			if err != nil {
				return err
			}
			if !r.ok {
				return nil
			}
			rep.Blocks++
			rep.Entries += r.b.EntryCount
		}
		return nil
	})
	return rep, err
}

// forEachTenant calls fn for tenant, or, when nil, for every tenant with
// ledger accounts, read in batches.
func forEachTenant(ctx context.Context, d *db.DB, tenant *uuid.UUID, fn func(uuid.UUID) error) error {
	if tenant != nil {
		return fn(*tenant)
	}
	after := uuid.Nil
	for {
		rows, err := d.Pool.Query(ctx, `SELECT DISTINCT tenant_id FROM ledger_accounts WHERE tenant_id > $1 ORDER BY tenant_id LIMIT $2`, after, tenantBatch)
		if err != nil {
			return fmt.Errorf("tenants: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("tenants: %w", err)
		}
		for _, id := range ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(ids) < tenantBatch {
			return nil
		}
		after = ids[len(ids)-1]
	}
}

// JobSeal is the periodic job that seals entries; SealEvery is its period.
const (
	JobSeal   = "ledger.seal"
	SealEvery = time.Minute
)
