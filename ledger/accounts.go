package ledger

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
)

// accountCode is the syntax of account codes: "cash:psp:USD",
// "seller:<party id>:payable:EUR".
var accountCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]*$`)

const accountColumns = `id, tenant_id, code, currency, kind, normal_side, no_overdraft, overdraft_limit, shards, metadata, created_at, closed_at`

// Validate checks the shape of an account spec. Errors wrap ErrInvalidEntry.
func (s AccountSpec) Validate() error {
	switch {
	case s.TenantID == uuid.Nil:
		return invalidf("account: tenant is required")
	case len(s.Code) == 0 || len(s.Code) > MaxCodeLength || !accountCode.MatchString(s.Code):
		return invalidf("account code %q: 1 to %d characters of letters, digits and : . _ / -", s.Code, MaxCodeLength)
	case !s.Kind.valid():
		return invalidf("account kind %q: want asset, liability, equity, revenue or expense", s.Kind)
	case s.Shards < 0 || s.Shards > MaxShards:
		return invalidf("account shards %d: want 0 to %d", s.Shards, MaxShards)
	case s.OverdraftLimit.IsNegative():
		return invalidf("overdraft limit must not be negative")
	case s.NoOverdraft && s.OverdraftLimit.IsPositive():
		return invalidf("an account with no_overdraft has no overdraft limit")
	}
	c, err := money.Lookup(s.Currency)
	if err != nil {
		return fmt.Errorf("account currency: %w", err)
	}
	if err := money.CheckExact(s.OverdraftLimit, c); err != nil {
		return fmt.Errorf("overdraft limit: %w", err)
	}
	return checkMetadata(s.Metadata)
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return invalidf("metadata: at most %d keys", MaxMetadataKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxMetadataLength || len(v) > MaxMetadataLength {
			return invalidf("metadata: keys of 1 to %d and values of at most %d characters", MaxMetadataLength, MaxMetadataLength)
		}
	}
	return nil
}

// EnsureAccount returns the tenant's account with spec.Code, creating it
// with its balance rows when missing. It is race-safe: the insert is ON
// CONFLICT DO NOTHING (the id is derived from tenant and code, so every unique
// key names the same account) and the account is then read. An
// existing account with another currency or kind is ErrAccountMismatch; its
// other attributes (flags, shards, metadata) are kept as they are.
//
// An account found in the process's account cache is returned without a
// statement (see accountCache).
func EnsureAccount(ctx context.Context, tx pgx.Tx, spec AccountSpec, now time.Time) (Account, error) {
	if err := spec.Validate(); err != nil {
		return Account{}, err
	}
	if got, ok := cacheOf(tx).byCodeGet(spec.TenantID, spec.Code); ok {
		return got, checkEnsured(got, spec)
	}
	now = dbTime(now)
	shards := max(spec.Shards, 1)
	meta := spec.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	a := Account{
		ID: accountID(spec.TenantID, spec.Code), TenantID: spec.TenantID, Code: spec.Code, Currency: spec.Currency,
		Kind: spec.Kind, NormalSide: NormalSide(spec.Kind), NoOverdraft: spec.NoOverdraft,
		OverdraftLimit: spec.OverdraftLimit, Shards: shards, Metadata: meta, CreatedAt: now,
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO ledger_accounts (`+accountColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)
		ON CONFLICT DO NOTHING`,
		a.ID, a.TenantID, a.Code, a.Currency, string(a.Kind), string(a.NormalSide), a.NoOverdraft,
		a.OverdraftLimit, a.Shards, a.Metadata, a.CreatedAt)
	if err != nil {
		return Account{}, fmt.Errorf("ensure account %s: %w", spec.Code, err)
	}
	if tag.RowsAffected() == 1 {
		// Only a single-shard account carries its floor on its balance row:
		// the database then refuses an overdraft by itself.
		var floor *decimal.Decimal
		if a.guarded() && a.Shards == 1 {
			f := a.floor()
			floor = &f
		}
		// Held back (db.Send): sent before the first statement that could
		// read the balance rows.
		if err := db.Later(ctx, tx, `
			INSERT INTO ledger_balances (account_id, shard, tenant_id, debit_normal, floor, last_at)
			SELECT $1, g, $2, $3, $4, $5 FROM generate_series(0, $6 - 1) AS g`,
			a.ID, a.TenantID, a.NormalSide == SideDebit, floor, a.CreatedAt, a.Shards); err != nil {
			return Account{}, fmt.Errorf("ensure account %s: balances: %w", spec.Code, err)
		}
		insertedBy(tx)[a.ID] = a
		c := cacheOf(tx) // now: the session goes back to the pool at COMMIT
		db.AfterCommit(tx, func() { c.put(a) })
		return a, nil
	}
	got, err := AccountByCode(ctx, tx, spec.TenantID, spec.Code)
	if err != nil {
		return Account{}, err
	}
	remember(tx, map[uuid.UUID]Account{got.ID: got})
	return got, checkEnsured(got, spec)
}

// checkEnsured reports an existing account that does not fit spec.
func checkEnsured(got Account, spec AccountSpec) error {
	if got.Currency != spec.Currency || got.Kind != spec.Kind {
		return fmt.Errorf("%w: %s is %s %s, not %s %s", ErrAccountMismatch, got.Code, got.Kind, got.Currency, spec.Kind, spec.Currency)
	}
	return nil
}

// AccountByCode returns the tenant's account with code.
func AccountByCode(ctx context.Context, q db.Querier, tenant uuid.UUID, code string) (Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE tenant_id = $1 AND code = $2`, tenant, code))
	if db.IsNoRows(err) {
		return Account{}, fmt.Errorf("%w: account %q", ErrNotFound, code)
	}
	return a, err
}

// GetAccount returns the tenant's account id.
func GetAccount(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if db.IsNoRows(err) {
		return Account{}, fmt.Errorf("%w: account %s", ErrNotFound, id)
	}
	return a, err
}

// AccountFilter selects accounts for ListAccounts.
type AccountFilter struct {
	CodePrefix string
	Currency   string
	// AfterCode is the keyset cursor: accounts with a greater code.
	AfterCode string
	Limit     int
}

// ListAccounts lists the tenant's accounts in code order.
func ListAccounts(ctx context.Context, q db.Querier, tenant uuid.UUID, f AccountFilter) ([]Account, error) {
	if f.Limit <= 0 || f.Limit > MaxListLimit {
		f.Limit = MaxListLimit
	}
	rows, err := q.Query(ctx, `
		SELECT `+accountColumns+` FROM ledger_accounts
		WHERE tenant_id = $1 AND code >= $2 AND left(code, length($2)) = $2 AND code > $3 AND ($4 = '' OR currency = $4)
		ORDER BY code LIMIT $5`, tenant, f.CodePrefix, f.AfterCode, f.Currency, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// loadAccounts reads the tenant's accounts among ids. They are read by
// primary key alone and the tenant compared here: with the tenant in the
// condition, PostgreSQL without statistics (a young database) scans the
// tenant's whole range of another index, and under SERIALIZABLE the
// predicate lock on those pages conflicts with every new account.
func loadAccounts(ctx context.Context, q db.Querier, tenant uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Account, error) {
	rows, err := q.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE id = ANY ($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	m, err := collectAccounts(rows)
	return ofTenant(m, tenant), err
}

// ofTenant removes from m the accounts of other tenants and returns it.
func ofTenant(m map[uuid.UUID]Account, tenant uuid.UUID) map[uuid.UUID]Account {
	for id, a := range m {
		if a.TenantID != tenant {
			delete(m, id)
		}
	}
	return m
}

func collectAccounts(rows pgx.Rows) (map[uuid.UUID]Account, error) {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	m := make(map[uuid.UUID]Account, len(list))
	for _, a := range list {
		m[a.ID] = a
	}
	return m, nil
}

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var kind, side string
	var shards int64
	err := row.Scan(&a.ID, &a.TenantID, &a.Code, &a.Currency, &kind, &side, &a.NoOverdraft, &a.OverdraftLimit,
		&shards, &a.Metadata, &a.CreatedAt, &a.ClosedAt)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Account{}, err
		}
		return Account{}, fmt.Errorf("scan account: %w", err)
	}
	a.Kind, a.NormalSide, a.Shards = Kind(kind), Side(side), int(shards)
	a.CreatedAt = a.CreatedAt.UTC()
	if a.ClosedAt != nil {
		t := a.ClosedAt.UTC()
		a.ClosedAt = &t
	}
	if a.Metadata == nil {
		a.Metadata = map[string]string{}
	}
	return a, nil
}
