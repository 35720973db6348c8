package ledger

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// MaxCachedAccounts bounds the accounts an accountCache holds per database;
// past it the cache starts afresh.
const MaxCachedAccounts = 200_000

// accountCache holds the accounts of one database, by id and by (tenant,
// code), so that a posting does not read ledger_accounts inside its
// SERIALIZABLE transaction: on PostgreSQL every such read takes a
// predicate lock on a page of the accounts' indexes, and every new account
// (one per escrow) inserted into that page turned concurrent postings into
// serialization failures.
//
// Caching is safe because an account never changes once created: nothing
// updates ledger_accounts (closing accounts is not offered), and an id is
// derived from (tenant, code) (accountID), so an account cached from a
// transaction that then rolled back has the id and attributes its retry
// creates. What a cached account cannot prove, that it exists, the
// posting proves: its balance rows are updated by key, and a missing row
// fails the posting (ErrUnknownAccount, evicting the account; for a
// guarded account, an InsufficientFundsError). Only committed rows are
// cached (read ones, and created ones once their transaction commits:
// db.AfterCommit) and nothing deletes accounts, so that takes a hand-made
// change to the database.
type accountCache struct {
	mu     sync.RWMutex
	byID   map[uuid.UUID]Account
	byCode map[codeKey]uuid.UUID
}

type codeKey struct {
	tenant uuid.UUID
	code   string
}

func newAccountCache() *accountCache {
	return &accountCache{byID: map[uuid.UUID]Account{}, byCode: map[codeKey]uuid.UUID{}}
}

func (c *accountCache) get(id uuid.UUID) (Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.byID[id]
	return a, ok
}

func (c *accountCache) byCodeGet(tenant uuid.UUID, code string) (Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.byCode[codeKey{tenant, code}]
	if !ok {
		return Account{}, false
	}
	a, ok := c.byID[id]
	return a, ok
}

func (c *accountCache) put(a Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= MaxCachedAccounts {
		clear(c.byID)
		clear(c.byCode)
	}
	c.byID[a.ID] = a
	c.byCode[codeKey{a.TenantID, a.Code}] = a.ID
}

func (c *accountCache) evict(a Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, a.ID)
	delete(c.byCode, codeKey{a.TenantID, a.Code})
}

// caches holds one accountCache per database (host, port and name).
var caches sync.Map

// cacheKey names a session's cache in its pgconn.PgConn.CustomData.
const cacheKey = "escrowd.ledger.accounts"

// cacheOf returns the account cache of the database tx runs on.
func cacheOf(tx pgx.Tx) *accountCache {
	conn := tx.Conn()
	if conn == nil || conn.PgConn() == nil {
		return newAccountCache() // no session to name the database: cache nothing
	}
	m := conn.PgConn().CustomData()
	if c, ok := m[cacheKey].(*accountCache); ok {
		return c
	}
	cfg := conn.Config()
	key := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	v, _ := caches.LoadOrStore(key, newAccountCache())
	c := v.(*accountCache)
	m[cacheKey] = c
	return c
}

// txAccounts is what a transaction attempt knows of accounts first-hand,
// kept in its session's CustomData: the accounts it created itself, which
// are not cached while the attempt may still roll back (a retry that found
// one in the cache would skip creating it) but which the attempt uses
// without reading them back (a read takes SSI predicate locks on index
// pages that every new account writes into); and the ids of those it read.
// Any other account it uses came from the cache.
type txAccounts struct {
	tx      pgx.Tx
	created map[uuid.UUID]Account
	read    map[uuid.UUID]bool
}

const txAccountsKey = "escrowd.ledger.txaccounts"

// accountsOf returns what tx knows of accounts first-hand.
func accountsOf(tx pgx.Tx) *txAccounts {
	conn := tx.Conn()
	if conn == nil || conn.PgConn() == nil {
		return &txAccounts{tx: tx, created: map[uuid.UUID]Account{}, read: map[uuid.UUID]bool{}}
	}
	m := conn.PgConn().CustomData()
	if s, ok := m[txAccountsKey].(*txAccounts); ok && s.tx == tx {
		return s
	}
	s := &txAccounts{tx: tx, created: map[uuid.UUID]Account{}, read: map[uuid.UUID]bool{}}
	m[txAccountsKey] = s
	return s
}

// insertedBy returns the accounts created by tx so far.
func insertedBy(tx pgx.Tx) map[uuid.UUID]Account { return accountsOf(tx).created }

// fromCache reports whether tx uses account id only on the cache's word:
// it neither created nor read it. The account may then have been created
// by a transaction that committed after tx's snapshot was taken, which tx
// cannot see (see noBalanceRow).
func fromCache(tx pgx.Tx, id uuid.UUID) bool {
	s := accountsOf(tx)
	_, created := s.created[id]
	return !created && !s.read[id]
}

// noBalanceRow is the error for a balance row of account a that tx does
// not see; a is evicted from the cache. When tx took a only on the cache's
// word (fromCache) and a restart takes a new snapshot (db.Restart), the
// transaction restarts, since the likely cause is that a was committed
// after tx's snapshot: the retry reads it. Otherwise, and on that retry if
// the row really is missing, it is ErrUnknownAccount.
func noBalanceRow(tx pgx.Tx, a Account, shard int) error {
	cacheOf(tx).evict(a)
	if fromCache(tx, a.ID) {
		if err := db.Restart(tx, fmt.Sprintf("ledger: account %s (cached) has no balance row %d in this snapshot", a.Code, shard)); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: account %s has no balance row %d", ErrUnknownAccount, a.Code, shard)
}

// knownAccounts returns the tenant's accounts among ids that tx created
// or the cache holds, and the ids of the others.
func knownAccounts(tx pgx.Tx, tenant uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Account, []uuid.UUID) {
	found, missing := make(map[uuid.UUID]Account, len(ids)), make([]uuid.UUID, 0, len(ids))
	cache, mine := cacheOf(tx), insertedBy(tx)
	for _, id := range ids {
		if a, ok := mine[id]; ok && a.TenantID == tenant {
			found[id] = a
		} else if a, ok := cache.get(id); ok && a.TenantID == tenant {
			found[id] = a
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

// accountsIn returns the tenant's accounts among ids, reading only those
// knownAccounts does not know.
func accountsIn(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Account, error) {
	found, missing := knownAccounts(tx, tenant, ids)
	if len(missing) == 0 {
		return found, nil
	}
	read, err := loadAccounts(ctx, tx, tenant, missing)
	if err != nil {
		return nil, err
	}
	remember(tx, read)
	for id, a := range read {
		found[id] = a
	}
	return found, nil
}

// remember caches accounts read in tx, except those tx created itself.
func remember(tx pgx.Tx, accts map[uuid.UUID]Account) {
	c, mine := cacheOf(tx), accountsOf(tx)
	for id, a := range accts {
		mine.read[id] = true
		if _, ok := mine.created[id]; !ok {
			c.put(a)
		}
	}
}

// accountID is the id of the tenant's account with code: a name-based
// UUID (version 5) in the tenant's namespace, so that every process and
// every retry of a transaction gives an account the same id. Accounts
// created before ids were derived keep their random ids; they are found by
// code.
func accountID(tenant uuid.UUID, code string) uuid.UUID {
	return uuid.NewSHA1(tenant, []byte(code))
}
