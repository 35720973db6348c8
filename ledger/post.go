package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/jobs"

	"github.com/escrowd/escrowd/internal/db"
)

// JobExpirePending is the kind of the job that expires a pending entry at
// its expires_at; its dedupe key is the pending entry's id.
const JobExpirePending = "ledger.expire_pending"

// Post validates e and posts it in tx: the entry, its postings with their
// running balances, and the balance rows, all in the caller's transaction.
// e.CreatedAt must be set from the caller's clock; e.ID is assigned when
// nil; e.EffectiveAt defaults to e.CreatedAt.
//
// When the tenant already has an entry with e.Reference, Post writes
// nothing and returns that entry with an error wrapping
// ErrDuplicateReference (a *DuplicateReferenceError): callers may treat it
// as success, and the transaction may continue. After any other error the
// transaction must be rolled back (db.Write does), as part of the entry may
// have been written.
func Post(ctx context.Context, tx pgx.Tx, e Entry) (Entry, error) {
	if e.ReversesID != nil || e.PendingID != nil {
		return Entry{}, invalidf("reversals are written by Reverse and commits by Commit")
	}
	return writeEntry(ctx, tx, e, writeMode{})
}

// PostPending writes e as a pending entry (a hold): its postings reserve
// funds in the pending debits and credits of the balances (no_overdraft
// checks count pending outflows) without changing posted balances. It is
// later posted in full or in part by Commit, released by Void, or released
// at e.ExpiresAt (when set) by the JobExpirePending job. Duplicate
// references and errors behave as for Post.
func PostPending(ctx context.Context, tx pgx.Tx, e Entry) (Entry, error) {
	if e.ReversesID != nil || e.PendingID != nil {
		return Entry{}, invalidf("a pending entry neither reverses nor commits another")
	}
	return writeEntry(ctx, tx, e, writeMode{pending: true})
}

// rowKey names one balance row.
type rowKey struct {
	account uuid.UUID
	shard   int
}

// rowChange is what one operation does to one balance row.
type rowChange struct {
	account                            Account
	shard                              int
	posted, pendingDebits, pendingCred decimal.Decimal
	count                              int64 // posted postings, i.e. seq increment
}

// rowResult is a balance row after the change.
type rowResult struct {
	posted decimal.Decimal
	seq    int64
	lastAt time.Time
}

const insertEntrySQL = `
	INSERT INTO ledger_entries (id, tenant_id, kind, description, reference, status, effective_at, created_at, metadata,
		reverses_id, pending_id, expires_at, posting_count)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT DO NOTHING`

// writeMode says how writeEntry writes an entry.
type writeMode struct {
	// pending writes a pending entry (a hold) rather than a posted one.
	pending bool
	// shards, when not nil, fixes the balance shard of each posting
	// (Commit uses the pending entry's).
	shards []int
	// release, when not nil, is the pending amount each posting releases
	// on its side.
	release []decimal.Decimal
	// manual refuses postings on domain-owned accounts (a finance
	// adjustment; see manual.go).
	manual bool
}

// writeEntry writes e, pending or posted as m says.
func writeEntry(ctx context.Context, tx pgx.Tx, e Entry, m writeMode) (Entry, error) {
	if e.ID == uuid.Nil {
		e.ID = uuid.New()
	}
	e.CreatedAt = dbTime(e.CreatedAt)
	if e.EffectiveAt.IsZero() {
		e.EffectiveAt = e.CreatedAt
	}
	e.EffectiveAt = dbTime(e.EffectiveAt)
	if e.ExpiresAt != nil {
		t := dbTime(*e.ExpiresAt)
		e.ExpiresAt = &t
	}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	if err := e.Validate(m.pending); err != nil {
		return Entry{}, err
	}
	e.Status = StatusPosted
	if m.pending {
		e.Status = StatusPending
	}
	ids := make([]uuid.UUID, 0, len(e.Postings))
	for _, p := range e.Postings {
		ids = append(ids, p.AccountID)
	}

	// Round trip 1: the entry (its unique reference decides duplicates)
	// and the accounts the cache does not hold, by primary key alone (the
	// tenant is compared here: see accountCache and loadAccounts).
	accts, missing := knownAccounts(tx, e.TenantID, ids)
	b := &pgx.Batch{}
	b.Queue(insertEntrySQL, e.ID, e.TenantID, e.Kind, e.Description, e.Reference, e.Status, e.EffectiveAt, e.CreatedAt,
		e.Metadata, e.ReversesID, e.PendingID, e.ExpiresAt, len(e.Postings))
	if len(missing) > 0 {
		b.Queue(`SELECT `+accountColumns+` FROM ledger_accounts WHERE id = ANY ($1)`, missing)
	}
	br := tx.SendBatch(ctx, b)
	tag, err := br.Exec()
	if err != nil {
		br.Close()
		return Entry{}, fmt.Errorf("post %s: insert entry: %w", e.Reference, err)
	}
	var read map[uuid.UUID]Account
	if len(missing) > 0 {
		rows, qerr := br.Query()
		if qerr == nil {
			read, err = collectAccounts(rows)
		} else {
			err = qerr
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Entry{}, fmt.Errorf("post %s: %w", e.Reference, err)
	}
	remember(tx, read)
	for id, a := range ofTenant(read, e.TenantID) {
		accts[id] = a
	}
	if tag.RowsAffected() == 0 {
		return entryConflict(ctx, tx, e)
	}

	changes := map[rowKey]*rowChange{}
	for i := range e.Postings {
		p := &e.Postings[i]
		a, ok := accts[p.AccountID]
		switch {
		case !ok:
			return Entry{}, fmt.Errorf("%w: postings[%d]: account %s", ErrUnknownAccount, i, p.AccountID)
		case a.ClosedAt != nil:
			return Entry{}, fmt.Errorf("%w: postings[%d]: account %s closed at %s", ErrAccountClosed, i, a.Code, a.ClosedAt.Format(time.RFC3339))
		case a.Currency != p.Currency:
			return Entry{}, fmt.Errorf("%w: postings[%d]: account %s is in %s, the posting in %s", ErrCurrencyMismatch, i, a.Code, a.Currency, p.Currency)
		}
		if m.manual {
			if err := checkManualAccount(i, a); err != nil {
				return Entry{}, err
			}
		}
		s := 0
		switch {
		case m.shards != nil:
			s = m.shards[i]
		case a.Shards > 1:
			s = pickShard(tx, a.Shards)
		}
		p.AccountCode, p.Shard, p.EntryID, p.EffectiveAt = a.Code, s, e.ID, e.EffectiveAt
		k := rowKey{a.ID, s}
		c := changes[k]
		if c == nil {
			c = &rowChange{account: a, shard: s}
			changes[k] = c
		}
		if m.pending {
			c.addPending(p.Direction, p.Amount)
		} else {
			c.posted = c.posted.Add(a.signed(p.Direction, p.Amount))
			c.count++
		}
		if m.release != nil && m.release[i].IsPositive() {
			c.addPending(p.Direction, m.release[i].Neg())
		}
	}

	// Round trip 2: lock and update the balance rows; then the postings
	// with their running balances, held back (db.Send) to go with the
	// transaction's next statement or its COMMIT.
	next := &db.Batch{}
	results, bookingTime, err := applyChanges(ctx, tx, changes, e.CreatedAt, next)
	if err != nil {
		return Entry{}, fmt.Errorf("post %s: %w", e.Reference, err)
	}
	type run struct {
		bal decimal.Decimal
		seq int64
	}
	runs := map[rowKey]*run{}
	for k, c := range changes {
		r := results[k]
		runs[k] = &run{bal: r.posted.Sub(c.posted), seq: r.seq - c.count}
	}
	args := make([]any, 0, len(e.Postings)*postingColumns)
	for i := range e.Postings {
		p := &e.Postings[i]
		k := rowKey{p.AccountID, p.Shard}
		var balAfter *decimal.Decimal
		var seq *int64
		p.CreatedAt = e.CreatedAt
		if !m.pending {
			r := runs[k]
			r.bal = r.bal.Add(changes[k].account.signed(p.Direction, p.Amount))
			r.seq++
			p.BalanceAfter, p.Seq, p.CreatedAt = r.bal, r.seq, bookingTime
			balAfter, seq = &p.BalanceAfter, &p.Seq
		}
		args = append(args, e.ID, i, e.TenantID, p.AccountID, p.Shard, string(p.Direction), p.Amount, p.Currency,
			m.pending, balAfter, seq, p.CreatedAt, p.EffectiveAt)
	}
	next.Queue(insertPostingsSQL(len(e.Postings)), args...)
	if err := db.Send(ctx, tx, next); err != nil {
		return Entry{}, fmt.Errorf("post %s: postings: %w", e.Reference, err)
	}
	if m.pending && e.ExpiresAt != nil {
		payload, _ := json.Marshal(expirePayload{TenantID: e.TenantID, EntryID: e.ID})
		if err := jobs.Schedule(ctx, tx, jobs.Job{TenantID: e.TenantID, Kind: JobExpirePending, DedupeKey: e.ID.String(),
			RunAt: *e.ExpiresAt, Payload: payload}, e.CreatedAt); err != nil {
			return Entry{}, fmt.Errorf("post %s: %w", e.Reference, err)
		}
	}
	return e, nil
}

// sessionSlots numbers the database sessions this process has posted on,
// from a random start (so that two processes rarely number alike).
var sessionSlots atomic.Uint64

func init() { sessionSlots.Store(rand.Uint64()) }

// slotKey names a session's slot in its pgconn.PgConn.CustomData.
const slotKey = "escrowd.ledger.slot"

// pickShard chooses the balance shard of a hot account for a posting: the
// slot of the database session modulo n. Each session of the process gets
// the next slot when it first posts, and transactions running at the same
// time run on different sessions, so with n above the pool size they never
// meet on a shard row (where one would wait, then fail to serialize).
// Which shard is taken never matters for correctness; without a session it
// is random.
func pickShard(tx pgx.Tx, n int) int {
	c := tx.Conn()
	if c == nil || c.PgConn() == nil {
		return rand.IntN(n)
	}
	m := c.PgConn().CustomData()
	slot, ok := m[slotKey].(uint64)
	if !ok {
		slot = sessionSlots.Add(1)
		m[slotKey] = slot
	}
	return int(slot % uint64(n))
}

func (c *rowChange) addPending(dir Side, amount decimal.Decimal) {
	if dir == SideDebit {
		c.pendingDebits = c.pendingDebits.Add(amount)
	} else {
		c.pendingCred = c.pendingCred.Add(amount)
	}
}

// expirePayload is the payload of a JobExpirePending job.
type expirePayload struct {
	TenantID uuid.UUID `json:"tenant_id"`
	EntryID  uuid.UUID `json:"entry_id"`
}

// entryConflict explains an entry insert that hit a unique constraint: the
// reference (the existing entry is returned), the reversed entry or the
// committed pending entry.
func entryConflict(ctx context.Context, tx pgx.Tx, e Entry) (Entry, error) {
	existing, err := entryByReference(ctx, tx, e.TenantID, e.Reference)
	if err == nil {
		return existing, &DuplicateReferenceError{Reference: e.Reference, ExistingID: existing.ID}
	}
	switch {
	case e.ReversesID != nil:
		return Entry{}, fmt.Errorf("%w: entry %s", ErrAlreadyReversed, *e.ReversesID)
	case e.PendingID != nil:
		return Entry{}, fmt.Errorf("%w: entry %s is already committed", ErrNotPending, *e.PendingID)
	}
	return Entry{}, fmt.Errorf("post %s: entry insert conflicted, but no entry has the reference: %w", e.Reference, err)
}

const postingColumns = 13

var postingsSQL [MaxPostings + 1]string

func init() {
	for n := 2; n <= MaxPostings; n++ {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO ledger_postings (entry_id, idx, tenant_id, account_id, shard, direction, amount, currency, pending, balance_after, seq, created_at, effective_at) VALUES `)
		for i := range n {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(")
			for j := range postingColumns {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("$" + strconv.Itoa(i*postingColumns+j+1))
			}
			sb.WriteString(")")
		}
		postingsSQL[n] = sb.String()
	}
}

func insertPostingsSQL(n int) string { return postingsSQL[n] }
