package ledger_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

func TestEntryValidate(t *testing.T) {
	tenant, a, b := uuid.New(), uuid.New(), uuid.New()
	leg := func(acct uuid.UUID, dir ledger.Side, amt, cur string) ledger.Posting {
		return ledger.Posting{AccountID: acct, Direction: dir, Amount: dec(amt), Currency: cur}
	}
	ok := ledger.Entry{TenantID: tenant, Kind: "k", Reference: "r", CreatedAt: t0,
		Postings: []ledger.Posting{leg(a, ledger.SideDebit, "10.00", "USD"), leg(b, ledger.SideCredit, "10", "USD")}}
	with := func(f func(*ledger.Entry)) ledger.Entry {
		e := ok
		e.Postings = append([]ledger.Posting(nil), ok.Postings...)
		f(&e)
		return e
	}
	many := make([]ledger.Posting, ledger.MaxPostings+1)
	for i := range many {
		many[i] = leg(a, ledger.SideDebit, "1", "USD")
	}
	later := t0.Add(time.Hour)
	tests := []struct {
		name    string
		e       ledger.Entry
		pending bool
		want    error
	}{
		{"ok", ok, false, nil},
		{"ok pending with expiry", with(func(e *ledger.Entry) { e.ExpiresAt = &later }), true, nil},
		{"no tenant", with(func(e *ledger.Entry) { e.TenantID = uuid.Nil }), false, ledger.ErrInvalidEntry},
		{"no kind", with(func(e *ledger.Entry) { e.Kind = "" }), false, ledger.ErrInvalidEntry},
		{"no reference", with(func(e *ledger.Entry) { e.Reference = "" }), false, ledger.ErrInvalidEntry},
		{"long reference", with(func(e *ledger.Entry) { e.Reference = strings.Repeat("r", 201) }), false, ledger.ErrInvalidEntry},
		{"no clock", with(func(e *ledger.Entry) { e.CreatedAt = time.Time{} }), false, ledger.ErrInvalidEntry},
		{"one posting", with(func(e *ledger.Entry) { e.Postings = e.Postings[:1] }), false, ledger.ErrInvalidEntry},
		{"too many postings", with(func(e *ledger.Entry) { e.Postings = many }), false, ledger.ErrInvalidEntry},
		{"zero amount", with(func(e *ledger.Entry) { e.Postings[0].Amount = dec("0"); e.Postings[1].Amount = dec("0") }), false, ledger.ErrInvalidEntry},
		{"negative amount", with(func(e *ledger.Entry) { e.Postings[0].Amount = dec("-1") }), false, ledger.ErrInvalidEntry},
		{"inexact amount", with(func(e *ledger.Entry) { e.Postings[0].Amount = dec("10.001"); e.Postings[1].Amount = dec("10.001") }), false, money.ErrInvalidAmount},
		{"JPY decimals", with(func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(a, ledger.SideDebit, "1.5", "JPY"), leg(b, ledger.SideCredit, "1.5", "JPY")}
		}), false, money.ErrInvalidAmount},
		{"KWD 3 decimals", with(func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(a, ledger.SideDebit, "1.125", "KWD"), leg(b, ledger.SideCredit, "1.125", "KWD")}
		}), false, nil},
		{"unknown currency", with(func(e *ledger.Entry) { e.Postings[0].Currency = "XXX"; e.Postings[1].Currency = "XXX" }), false, money.ErrUnknownCurrency},
		{"bad direction", with(func(e *ledger.Entry) { e.Postings[0].Direction = "up" }), false, ledger.ErrInvalidEntry},
		{"no account", with(func(e *ledger.Entry) { e.Postings[0].AccountID = uuid.Nil }), false, ledger.ErrInvalidEntry},
		{"unbalanced", with(func(e *ledger.Entry) { e.Postings[1].Amount = dec("9.99") }), false, ledger.ErrUnbalanced},
		{"unbalanced per currency", with(func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(a, ledger.SideDebit, "10", "USD"), leg(b, ledger.SideCredit, "10", "EUR")}
		}), false, ledger.ErrUnbalanced},
		{"expiry on a posted entry", with(func(e *ledger.Entry) { e.ExpiresAt = &later }), false, ledger.ErrInvalidEntry},
		{"expiry in the past", with(func(e *ledger.Entry) { p := t0.Add(-time.Second); e.ExpiresAt = &p }), true, ledger.ErrInvalidEntry},
		{"too much metadata", with(func(e *ledger.Entry) { e.Metadata = map[string]string{"": "x"} }), false, ledger.ErrInvalidEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate(tt.pending)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAccountSpecValidate(t *testing.T) {
	ok := ledger.AccountSpec{TenantID: uuid.New(), Code: "cash:psp:USD", Currency: "USD", Kind: ledger.KindAsset}
	tests := []struct {
		name string
		f    func(*ledger.AccountSpec)
		ok   bool
	}{
		{"ok", func(*ledger.AccountSpec) {}, true},
		{"sharded", func(s *ledger.AccountSpec) { s.Shards = 16 }, true},
		{"bad code", func(s *ledger.AccountSpec) { s.Code = "cash psp" }, false},
		{"empty code", func(s *ledger.AccountSpec) { s.Code = "" }, false},
		{"bad kind", func(s *ledger.AccountSpec) { s.Kind = "cash" }, false},
		{"bad currency", func(s *ledger.AccountSpec) { s.Currency = "usd" }, false},
		{"too many shards", func(s *ledger.AccountSpec) { s.Shards = ledger.MaxShards + 1 }, false},
		{"negative limit", func(s *ledger.AccountSpec) { s.OverdraftLimit = dec("-1") }, false},
		{"limit and no overdraft", func(s *ledger.AccountSpec) { s.NoOverdraft = true; s.OverdraftLimit = dec("5") }, false},
		{"inexact limit", func(s *ledger.AccountSpec) { s.OverdraftLimit = dec("0.001") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.f(&s)
			if err := s.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if ledger.NormalSide(ledger.KindAsset) != ledger.SideDebit || ledger.NormalSide(ledger.KindExpense) != ledger.SideDebit ||
		ledger.NormalSide(ledger.KindLiability) != ledger.SideCredit || ledger.NormalSide(ledger.KindRevenue) != ledger.SideCredit ||
		ledger.NormalSide(ledger.KindEquity) != ledger.SideCredit {
		t.Error("NormalSide")
	}
}

func TestEnsureAccount(t *testing.T) {
	e := newEnv(t)
	a := e.account("escrow:1", "EUR", ledger.KindLiability, noOverdraft)
	if a.NormalSide != ledger.SideCredit || !a.NoOverdraft || a.Shards != 1 {
		t.Fatalf("account %+v", a)
	}
	again := e.account("escrow:1", "EUR", ledger.KindLiability)
	if again.ID != a.ID || !again.NoOverdraft {
		t.Fatalf("second ensure returned %+v, want %s", again, a.ID)
	}
	_, err := db_write(e, ledger.AccountSpec{TenantID: e.tenant, Code: "escrow:1", Currency: "USD", Kind: ledger.KindLiability})
	if !errors.Is(err, ledger.ErrAccountMismatch) {
		t.Fatalf("other currency: %v, want ErrAccountMismatch", err)
	}
	got, err := ledger.AccountByCode(context.Background(), e.db.Pool, e.tenant, "escrow:1")
	if err != nil || got.ID != a.ID {
		t.Fatalf("AccountByCode = %v, %v", got.ID, err)
	}
	if _, err := ledger.GetAccount(context.Background(), e.db.Pool, uuid.New(), a.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("other tenant's account: %v, want ErrNotFound", err)
	}
	hot := e.account("cash:psp:EUR", "EUR", ledger.KindAsset, sharded(8))
	if hot.Shards != 8 {
		t.Fatalf("shards %d", hot.Shards)
	}
	var rows int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger_balances WHERE account_id = $1`, hot.ID).Scan(&rows); err != nil || rows != 8 {
		t.Fatalf("balance rows %d, %v", rows, err)
	}

	// Racing creators get one account.
	const n = 8
	ids := make(chan uuid.UUID, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			a, err := db_write(e, ledger.AccountSpec{TenantID: e.tenant, Code: "fees:EUR", Currency: "EUR", Kind: ledger.KindRevenue})
			ids <- a.ID
			errs <- err
		}()
	}
	first := uuid.Nil
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		id := <-ids
		if first == uuid.Nil {
			first = id
		} else if id != first {
			t.Fatalf("racing EnsureAccount returned %s and %s", first, id)
		}
	}
}

func db_write(e *env, spec ledger.AccountSpec) (ledger.Account, error) {
	ctx := context.Background()
	var out ledger.Account
	err := e.db.Tx(ctx, func(tx pgx.Tx) error {
		a, err := ledger.EnsureAccount(ctx, tx, spec, e.clock.Now())
		out = a
		return err
	})
	return out, err
}

func TestPostBalancesAndRunningBalance(t *testing.T) {
	e := newEnv(t)
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset)
	escrow := e.account("escrow:1", "EUR", ledger.KindLiability, noOverdraft)
	seller := e.account("seller:1:payable:EUR", "EUR", ledger.KindLiability)

	fund := e.mustPost(e.transfer("fund-1", cash, escrow, "100.00"))
	if fund.Status != ledger.StatusPosted || fund.ID == uuid.Nil || len(fund.Postings) != 2 {
		t.Fatalf("fund %+v", fund)
	}
	if !fund.Postings[0].BalanceAfter.Equal(dec("100")) || !fund.Postings[1].BalanceAfter.Equal(dec("100")) {
		t.Fatalf("running balances %s %s", fund.Postings[0].BalanceAfter, fund.Postings[1].BalanceAfter)
	}
	e.clock.Advance(time.Minute)
	e.mustPost(e.transfer("release-1", escrow, seller, "40.50"))
	e.wantBalance(cash, "100", "100")
	e.wantBalance(escrow, "59.5", "59.5")
	e.wantBalance(seller, "40.5", "40.5")

	got, err := ledger.GetEntry(context.Background(), e.db.Pool, e.tenant, fund.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reference != "fund-1" || got.Postings[1].AccountCode != "escrow:1" || !got.CreatedAt.Equal(fund.CreatedAt) ||
		!got.Postings[1].BalanceAfter.Equal(dec("100")) || got.Postings[1].Seq != 1 {
		t.Fatalf("GetEntry %+v", got)
	}

	// A duplicate reference writes nothing and returns the existing entry.
	dup, err := e.post(e.transfer("fund-1", cash, escrow, "999.00"))
	if dup.ID != fund.ID {
		t.Fatalf("duplicate returned %s, want %s", dup.ID, fund.ID)
	}
	var de *ledger.DuplicateReferenceError
	if !errors.Is(err, ledger.ErrDuplicateReference) || !errors.As(err, &de) || de.ExistingID != fund.ID {
		t.Fatalf("duplicate: %v", err)
	}

	// Inside a transaction the caller may carry on after a duplicate.
	ctx := context.Background()
	err = e.db.Tx(ctx, func(tx pgx.Tx) error {
		got, err := ledger.Post(ctx, tx, e.transfer("fund-1", cash, escrow, "1.00"))
		if !errors.Is(err, ledger.ErrDuplicateReference) || got.ID != fund.ID {
			t.Errorf("duplicate in tx: %v %s", err, got.ID)
		}
		_, err = ledger.Post(ctx, tx, e.transfer("fund-2", cash, escrow, "1.00"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.wantBalance(escrow, "60.5", "60.5")
}

func TestPostErrors(t *testing.T) {
	e := newEnv(t)
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset)
	escrow := e.account("escrow:1", "EUR", ledger.KindLiability, noOverdraft)
	usd := e.account("cash:psp:USD", "USD", ledger.KindAsset)
	// escrowd offers no way to close an account (the account cache relies
	// on accounts never changing): this one is written closed by hand.
	closed := ledger.Account{ID: uuid.New(), TenantID: e.tenant, Code: "old", Currency: "EUR", Kind: ledger.KindLiability}
	dbtest.MustExec(t, e.db, `
		INSERT INTO ledger_accounts (id, tenant_id, code, currency, kind, normal_side, created_at, closed_at)
		VALUES ($1, $2, 'old', 'EUR', 'liability', 'credit', $3, $3)`, closed.ID, e.tenant, t0)
	dbtest.MustExec(t, e.db, `INSERT INTO ledger_balances (account_id, shard, tenant_id, debit_normal, last_at) VALUES ($1, 0, $2, false, $3)`,
		closed.ID, e.tenant, t0)
	limited := e.account("buyer:1:refund:EUR", "EUR", ledger.KindLiability, func(s *ledger.AccountSpec) { s.OverdraftLimit = dec("5") })
	other := &env{t: t, db: e.db, clock: e.clock, tenant: uuid.New()}
	foreign := other.account("escrow:1", "EUR", ledger.KindLiability)

	e.mustPost(e.transfer("fund", cash, escrow, "10.00"))

	mixed := e.transfer("mixed", cash, escrow, "1.00")
	mixed.Postings[0].AccountID = usd.ID
	tests := []struct {
		name string
		en   ledger.Entry
		want error
	}{
		{"overdraw no_overdraft", e.transfer("spend", escrow, cash, "10.01"), ledger.ErrInsufficientFunds},
		{"unknown account", e.transfer("u", cash, ledger.Account{ID: uuid.New(), Currency: "EUR"}, "1"), ledger.ErrUnknownAccount},
		{"other tenant's account", e.transfer("f", cash, foreign, "1"), ledger.ErrUnknownAccount},
		{"currency mismatch", mixed, ledger.ErrCurrencyMismatch},
		{"closed account", e.transfer("c", cash, closed, "1"), ledger.ErrAccountClosed},
		{"past overdraft limit", e.transfer("l", limited, cash, "5.01"), ledger.ErrInsufficientFunds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.post(tt.en); !errors.Is(err, tt.want) {
				t.Fatalf("post = %v, want %v", err, tt.want)
			}
		})
	}
	var ife *ledger.InsufficientFundsError
	_, err := e.post(e.transfer("spend", escrow, cash, "10.01"))
	if !errors.As(err, &ife) || ife.AccountID != escrow.ID || !ife.Available.Equal(dec("10")) || !ife.Requested.Equal(dec("10.01")) {
		t.Fatalf("insufficient funds error %+v", err)
	}
	e.mustPost(e.transfer("within-limit", limited, cash, "5.00"))
	e.wantBalance(limited, "-5", "-5")
	e.mustPost(e.transfer("spend-all", escrow, cash, "10.00"))
	e.wantBalance(escrow, "0", "0")
}

func TestPendingCommitVoidExpire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:KWD", "KWD", ledger.KindAsset)
	escrow := e.account("escrow:1", "KWD", ledger.KindLiability, noOverdraft)
	seller := e.account("seller:1:payable:KWD", "KWD", ledger.KindLiability)
	e.mustPost(e.transfer("fund", cash, escrow, "10.000"))

	hold := func(ref, amount string, expires *time.Time) (ledger.Entry, error) {
		en := e.transfer(ref, escrow, seller, amount)
		en.ExpiresAt = expires
		return e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.PostPending(ctx, tx, en) })
	}
	h1, err := hold("hold-1", "6.000", nil)
	if err != nil || h1.Status != ledger.StatusPending {
		t.Fatalf("hold: %v %+v", err, h1)
	}
	b := e.balance(escrow)
	if !b.Posted.Equal(dec("10")) || !b.PendingDebits.Equal(dec("6")) || !b.Available.Equal(dec("4")) {
		t.Fatalf("escrow after hold %+v", b)
	}
	sb := e.balance(seller)
	if !sb.Posted.IsZero() || !sb.PendingCredits.Equal(dec("6")) || !sb.Available.IsZero() {
		t.Fatalf("seller after hold %+v", sb)
	}
	// Pending outflows count against no_overdraft.
	if _, err := hold("hold-too-much", "4.001", nil); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("second hold: %v", err)
	}
	if _, err := e.post(e.transfer("spend", escrow, seller, "4.001")); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("spend past hold: %v", err)
	}

	// Partial commit: 2.500 posted, the rest released.
	part := dec("2.5")
	c, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, h1.ID, &part, e.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.PendingID == nil || *c.PendingID != h1.ID || c.Status != ledger.StatusPosted || !c.Postings[0].Amount.Equal(part) {
		t.Fatalf("commit entry %+v", c)
	}
	e.wantBalance(escrow, "7.5", "7.5")
	e.wantBalance(seller, "2.5", "2.5")
	if b := e.balance(escrow); !b.PendingDebits.IsZero() {
		t.Fatalf("pending left %+v", b)
	}
	got, _ := ledger.GetEntry(ctx, e.db.Pool, e.tenant, h1.ID)
	if got.Status != ledger.StatusCommitted {
		t.Fatalf("pending entry status %s", got.Status)
	}
	// Resolved once.
	for name, f := range map[string]func(tx pgx.Tx) (ledger.Entry, error){
		"commit": func(tx pgx.Tx) (ledger.Entry, error) {
			return ledger.Commit(ctx, tx, e.tenant, h1.ID, nil, e.clock.Now())
		},
		"void": func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Void(ctx, tx, e.tenant, h1.ID, e.clock.Now()) },
	} {
		if _, err := e.write(f); !errors.Is(err, ledger.ErrNotPending) {
			t.Errorf("%s after commit: %v", name, err)
		}
	}
	// Posted entries are not pending; pending entries are not reversed.
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, c.ID, nil, e.clock.Now())
	}); !errors.Is(err, ledger.ErrNotPending) {
		t.Errorf("commit of posted entry: %v", err)
	}

	// Void releases.
	h2, err := hold("hold-2", "7.000", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.wantBalance(escrow, "7.5", "0.5")
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, h2.ID, "", "", e.clock.Now())
	}); !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Errorf("reverse of pending entry: %v", err)
	}
	v, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Void(ctx, tx, e.tenant, h2.ID, e.clock.Now()) })
	if err != nil || v.Status != ledger.StatusVoided {
		t.Fatalf("void: %v %s", err, v.Status)
	}
	e.wantBalance(escrow, "7.5", "7.5")
	e.wantBalance(seller, "2.5", "2.5")

	// Expiry: not before time, then released; a late commit is refused.
	exp := e.clock.Now().Add(time.Hour)
	h3, err := hold("hold-3", "1.000", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Expire(ctx, tx, e.tenant, h3.ID, e.clock.Now()) }); !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Fatalf("early expire: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, h3.ID, nil, e.clock.Now())
	}); !errors.Is(err, ledger.ErrNotPending) {
		t.Fatalf("commit after expiry: %v", err)
	}
	x, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Expire(ctx, tx, e.tenant, h3.ID, e.clock.Now()) })
	if err != nil || x.Status != ledger.StatusExpired {
		t.Fatalf("expire: %v %s", err, x.Status)
	}
	e.wantBalance(escrow, "7.5", "7.5")

	// A full commit of a three-posting hold.
	three := ledger.Entry{TenantID: e.tenant, Kind: "t", Reference: "hold-4", CreatedAt: e.clock.Now(), Postings: []ledger.Posting{
		{AccountID: escrow.ID, Direction: ledger.SideDebit, Amount: dec("3"), Currency: "KWD"},
		{AccountID: seller.ID, Direction: ledger.SideCredit, Amount: dec("2.9"), Currency: "KWD"},
		{AccountID: cash.ID, Direction: ledger.SideCredit, Amount: dec("0.1"), Currency: "KWD"},
	}}
	h4, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.PostPending(ctx, tx, three) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, h4.ID, &part, e.clock.Now())
	}); !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Fatalf("partial commit of 3 postings: %v", err)
	}
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, h4.ID, nil, e.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	e.wantBalance(escrow, "4.5", "4.5")
	e.wantBalance(seller, "5.4", "5.4")
	e.wantBalance(cash, "9.9", "9.9")
}

func TestReverse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:JPY", "JPY", ledger.KindAsset)
	escrow := e.account("escrow:1", "JPY", ledger.KindLiability, noOverdraft)
	seller := e.account("seller:1:payable:JPY", "JPY", ledger.KindLiability)
	fund := e.mustPost(e.transfer("fund", cash, escrow, "1000"))
	rel := e.mustPost(e.transfer("release", escrow, seller, "400"))

	// Reversing the funding would overdraw the escrow account.
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, fund.ID, "", "", e.clock.Now())
	}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("reverse fund: %v", err)
	}
	r, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, rel.ID, "", "", e.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != ledger.KindReversal || r.ReversesID == nil || *r.ReversesID != rel.ID || r.Postings[0].Direction != ledger.SideCredit {
		t.Fatalf("reversal %+v", r)
	}
	e.wantBalance(escrow, "1000", "1000")
	e.wantBalance(seller, "0", "0")
	_, err = e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, rel.ID, "again", "", e.clock.Now())
	})
	if !errors.Is(err, ledger.ErrAlreadyReversed) {
		t.Fatalf("second reversal: %v", err)
	}
	// The same reference again is a duplicate that returns the reversal.
	got, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, rel.ID, "", "", e.clock.Now())
	})
	if !errors.Is(err, ledger.ErrDuplicateReference) || got.ID != r.ID {
		t.Fatalf("repeated reversal: %v %s", err, got.ID)
	}
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, uuid.New(), "", "", e.clock.Now())
	}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("reverse unknown: %v", err)
	}
}

// TestManualEntriesStayOffDomainBooks: finance's adjustments and reversals
// (Service.PostAdjustment, Service.ReverseEntry) refuse an escrow account
// and every entry a domain wrote, or a reversal of one, naming the field;
// the domains' own reversals (ledger.Reverse) still go through, and finance
// still settles a seller's payable and corrects its own entries.
func TestManualEntriesStayOffDomainBooks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset, sharded(2))
	escrow := e.account("escrow:"+uuid.NewString(), "EUR", ledger.KindLiability, noOverdraft)
	seller := e.account("seller:1:payable:EUR", "EUR", ledger.KindLiability)
	booking := func(kind, ref string, debit, credit ledger.Account, amount string) ledger.Entry {
		en := e.transfer(ref, debit, credit, amount)
		en.Kind = kind
		return e.mustPost(en)
	}
	fund := booking("escrow.fund", "fund", cash, escrow, "100.00")
	rel := booking("escrow.release", "release", escrow, seller, "40.00")
	claw := booking("chargeback.clawback", "clawback", seller, cash, "10.00")
	// A won chargeback reverses its clawback through ledger.Reverse.
	unclaw, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Reverse(ctx, tx, e.tenant, claw.ID, "", "", e.clock.Now())
	})
	if err != nil {
		t.Fatalf("domain reversal: %v", err)
	}
	// An adjustment on the escrow account from before finance was kept off
	// it.
	old := booking(ledger.KindAdjustment, "old-adjustment", cash, escrow, "1.00")

	refused := func(what, field string, err error) {
		t.Helper()
		fe, ok := valid.As(err)
		if !errors.Is(err, ledger.ErrDomainOwned) || !ok || fe.Code() != ledger.CodeDomainOwned || fe[0].Field != field {
			t.Errorf("%s: %v (fields %+v), want %s naming %s", what, err, fe, ledger.CodeDomainOwned, field)
		}
	}
	adjust := func(ref string, debit, credit ledger.Account, amount string) (ledger.Entry, error) {
		return e.svc.PostAdjustment(ctx, ledger.Adjustment{TenantID: e.tenant, Reference: ref, Reason: "by hand",
			Postings: e.transfer(ref, debit, credit, amount).Postings})
	}
	_, err = adjust("top-up", cash, escrow, "5.00")
	refused("adjustment crediting the escrow account", "postings[1].account_id", err)
	_, err = adjust("take", escrow, seller, "5.00")
	refused("adjustment debiting the escrow account", "postings[0].account_id", err)
	for what, id := range map[string]uuid.UUID{
		"reversal of a funding":                   fund.ID,
		"reversal of a release":                   rel.ID,
		"reversal of a clawback":                  claw.ID,
		"reversal of a won chargeback's reversal": unclaw.ID,
		"reversal of an adjustment on an escrow":  old.ID,
	} {
		_, err := e.svc.ReverseEntry(ctx, e.tenant, id, "", "")
		refused(what, "id", err)
	}
	e.wantBalance(escrow, "61", "61")

	// Finance pays the seller out, and corrects its own entries.
	payout, err := adjust("payout", seller, cash, "20.00")
	if err != nil {
		t.Fatalf("seller payout: %v", err)
	}
	undo, err := e.svc.ReverseEntry(ctx, e.tenant, payout.ID, "", "")
	if err != nil {
		t.Fatalf("reversal of an adjustment: %v", err)
	}
	if _, err := e.svc.ReverseEntry(ctx, e.tenant, undo.ID, "", ""); err != nil {
		t.Fatalf("reversal of a reversal of an adjustment: %v", err)
	}
	e.wantBalance(seller, "20", "20")

	// What no domain keeps in step stays finance's: an account finance
	// made under an escrow: code that names no escrow, and a domain's
	// entry on platform accounts only (a conversion's fee leg, say).
	suspense := e.account("escrow:suspense", "EUR", ledger.KindLiability)
	if _, err := adjust("suspense", cash, suspense, "3.00"); err != nil {
		t.Errorf("adjustment on finance's own escrow:suspense: %v", err)
	}
	rev := e.account("fx:revenue:EUR", "EUR", ledger.KindRevenue)
	conv := booking("fx.convert", "conversion", cash, rev, "0.50")
	if _, err := e.svc.ReverseEntry(ctx, e.tenant, conv.ID, "", "mis-priced"); err != nil {
		t.Errorf("reversal of an fx.convert entry on no escrow account: %v", err)
	}
	e.verifyClean()
}

// TestAccountCommittedAfterSnapshot: a transaction that takes an account
// from the process-wide cache although the account was committed after the
// transaction's snapshot (it cannot see the balance rows) restarts, and its
// retry posts; it never fails with ErrUnknownAccount.
func TestAccountCommittedAfterSnapshot(t *testing.T) {
	e := newEnv(t)
	if e.db.CockroachDB {
		t.Skip("accounts are cached after commit in PostgreSQL transactions only")
	}
	ctx := context.Background()
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset)
	spec := ledger.AccountSpec{TenantID: e.tenant, Code: "fees:EUR", Currency: "EUR", Kind: ledger.KindRevenue, Shards: 4}
	attempts := 0
	_, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		attempts++
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil { // the snapshot
			return ledger.Entry{}, err
		}
		if attempts == 1 {
			// Another transaction creates the account and commits; it is
			// cached on commit.
			e.account(spec.Code, spec.Currency, spec.Kind, func(s *ledger.AccountSpec) { s.Shards = spec.Shards })
		}
		fees, err := ledger.EnsureAccount(ctx, tx, spec, e.clock.Now())
		if err != nil {
			return ledger.Entry{}, err
		}
		return ledger.Post(ctx, tx, e.transfer("fee-1", cash, fees, "1.50"))
	})
	if err != nil {
		t.Fatalf("post with an account committed after the snapshot: %v", err)
	}
	if attempts != 2 {
		t.Fatalf("attempts = %d, want 2 (the first restarts)", attempts)
	}
	fees := e.account(spec.Code, spec.Currency, spec.Kind, func(s *ledger.AccountSpec) { s.Shards = spec.Shards })
	e.wantBalance(fees, "1.5", "1.5")
}

// TestIsEscrowAccountCode: only escrow:<escrow id> is an escrow's account
// (and so domain-owned); other escrow: codes are finance's own.
func TestIsEscrowAccountCode(t *testing.T) {
	escrowCode := regexp.MustCompile(ledger.EscrowAccountCodePattern)
	for _, c := range []struct {
		code string
		want bool
	}{
		{"escrow:7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d90", true},
		{"escrow:suspense", false},
		{"escrow:", false},
		{"escrow:7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d9", false},
		{"escrow:7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d90:fees", false},
		{"escrows:7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d90", false},
		{"escrow:{7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d90}", false},
		{"escrow:urn:uuid:7d0c8a2e-4b1f-4c3e-9a57-2f4e8b1c6d90", false},
		{"escrow:7d0c8a2e4b1f4c3e9a572f4e8b1c6d90", false},
		{"escrow:7D0C8A2E-4B1F-4C3E-9A57-2F4E8B1C6D90", false},
		{"cash:psp:EUR", false},
		{"", false},
	} {
		if got := ledger.IsEscrowAccountCode(c.code); got != c.want {
			t.Errorf("IsEscrowAccountCode(%q) = %t, want %t", c.code, got, c.want)
		}
		if got := escrowCode.MatchString(c.code); got != c.want {
			t.Errorf("EscrowAccountCodePattern on %q: %t, want %t", c.code, got, c.want)
		}
	}
}
