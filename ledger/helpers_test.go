package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/ledger"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// env is one test's ledger on a fresh database.
type env struct {
	t      testing.TB
	db     *db.DB
	clock  *clock.Fake
	svc    *ledger.Service
	tenant uuid.UUID
}

func newEnv(t testing.TB) *env {
	t.Helper()
	d := dbtest.New(t)
	c := clock.NewFake(t0)
	return &env{t: t, db: d, clock: c, svc: &ledger.Service{DB: d, Clock: c}, tenant: uuid.Must(uuid.NewV7())}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// account ensures an account of the env's tenant.
func (e *env) account(code, cur string, kind ledger.Kind, opts ...func(*ledger.AccountSpec)) ledger.Account {
	e.t.Helper()
	spec := ledger.AccountSpec{TenantID: e.tenant, Code: code, Currency: cur, Kind: kind}
	for _, o := range opts {
		o(&spec)
	}
	a, err := db.Write(context.Background(), e.db, func(tx pgx.Tx) (ledger.Account, error) {
		return ledger.EnsureAccount(context.Background(), tx, spec, e.clock.Now())
	})
	if err != nil {
		e.t.Fatalf("ensure account %s: %v", code, err)
	}
	return a
}

func noOverdraft(s *ledger.AccountSpec) { s.NoOverdraft = true }

func sharded(n int) func(*ledger.AccountSpec) { return func(s *ledger.AccountSpec) { s.Shards = n } }

// transfer is a two-leg entry: debit from, credit to.
func (e *env) transfer(ref string, debit, credit ledger.Account, amount string) ledger.Entry {
	return ledger.Entry{
		TenantID: e.tenant, Kind: "test.transfer", Reference: ref, CreatedAt: e.clock.Now(),
		Postings: []ledger.Posting{
			{AccountID: debit.ID, Direction: ledger.SideDebit, Amount: dec(amount), Currency: debit.Currency},
			{AccountID: credit.ID, Direction: ledger.SideCredit, Amount: dec(amount), Currency: credit.Currency},
		},
	}
}

// write runs fn in one write transaction; unlike db.Write it returns fn's
// entry with an error too (a duplicate reference's existing entry).
func (e *env) write(fn func(tx pgx.Tx) (ledger.Entry, error)) (ledger.Entry, error) {
	var out ledger.Entry
	err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

func (e *env) post(en ledger.Entry) (ledger.Entry, error) {
	return e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Post(context.Background(), tx, en) })
}

func (e *env) mustPost(en ledger.Entry) ledger.Entry {
	e.t.Helper()
	out, err := e.post(en)
	if err != nil {
		e.t.Fatalf("post %s: %v", en.Reference, err)
	}
	return out
}

// onShard posts en from a database session whose ledger slot is slot, so
// that a hot account's posting lands on shard slot % shards (the slot is
// kept in the session's CustomData; see the ledger's pickShard).
func (e *env) onShard(slot uint64, en ledger.Entry) ledger.Entry {
	e.t.Helper()
	out, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		tx.Conn().PgConn().CustomData()["escrowd.ledger.slot"] = slot
		return ledger.Post(context.Background(), tx, en)
	})
	if err != nil {
		e.t.Fatalf("post %s: %v", en.Reference, err)
	}
	return out
}

func (e *env) balance(a ledger.Account) ledger.Balance {
	e.t.Helper()
	b, err := ledger.GetBalance(context.Background(), e.db.Pool, e.tenant, a.ID)
	if err != nil {
		e.t.Fatalf("balance %s: %v", a.Code, err)
	}
	return b
}

func (e *env) wantBalance(a ledger.Account, posted, available string) {
	e.t.Helper()
	b := e.balance(a)
	if !b.Posted.Equal(dec(posted)) || !b.Available.Equal(dec(available)) {
		e.t.Errorf("%s: posted %s available %s, want %s and %s", a.Code, b.Posted, b.Available, posted, available)
	}
}

// verifyClean fails the test when Verify reports anything.
func (e *env) verifyClean() {
	e.t.Helper()
	rep, err := e.svc.Verify(context.Background(), nil)
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	for _, is := range rep.Issues {
		e.t.Errorf("verify: %s %s", is.Kind, is.Detail)
	}
}
