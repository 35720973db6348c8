package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
)

// contenders is how many goroutines race in the concurrency tests.
const contenders = 64

// racePool opens a second pool on the test database with room for every
// contender and enough attempts for all of them to get through the
// serialization failures of one contended row.
func racePool(t *testing.T, e *env) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), e.db.Pool.Config().ConnString(), db.Options{MaxConns: contenders, MaxTxAttempts: 10 * contenders})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestConcurrentSpendsNeverOverdraw: 64 goroutines each try to spend from
// one no_overdraft account funded for exactly K spends, once with a single
// balance row and once with a sharded (hot) one: exactly K succeed, the
// others get ErrInsufficientFunds, and the balance ends at zero.
func TestConcurrentSpendsNeverOverdraw(t *testing.T) {
	const k = 10
	for _, shards := range []int{1, 8} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset)
			acct := e.account("escrow:hot", "EUR", ledger.KindLiability, noOverdraft, sharded(shards))
			sink := e.account("seller:1:payable:EUR", "EUR", ledger.KindLiability)
			d := racePool(t, e)
			// Several funding entries at once, on several sessions, so a
			// sharded account's money lies on several shards.
			var fund sync.WaitGroup
			for i := range k {
				fund.Go(func() {
					en := e.transfer(fmt.Sprintf("fund-%d", i), cash, acct, "7.25")
					if _, err := db.Write(ctx, d, func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Post(ctx, tx, en) }); err != nil {
						t.Error(err)
					}
				})
			}
			fund.Wait()
			var wg sync.WaitGroup
			errs := make([]error, contenders)
			for i := range contenders {
				wg.Go(func() {
					en := e.transfer(fmt.Sprintf("spend-%d", i), acct, sink, "7.25")
					_, errs[i] = db.Write(ctx, d, func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Post(ctx, tx, en) })
				})
			}
			wg.Wait()
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ledger.ErrInsufficientFunds):
					t.Errorf("spend %d: %v", i, err)
				}
			}
			if ok != k {
				t.Errorf("%d spends succeeded, want %d", ok, k)
			}
			e.wantBalance(acct, "0", "0")
			e.wantBalance(sink, fmt.Sprint(7.25*k), fmt.Sprint(7.25*k))
			e.verifyClean()
		})
	}
}

// TestConcurrentHoldsAndInflowsOnHotAccount: holds against a sharded
// no_overdraft account race with inflows to it; pending outflows are
// counted exactly, and concurrent inflows to a sharded account all land.
func TestConcurrentHoldsAndInflowsOnHotAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:USD", "USD", ledger.KindAsset, sharded(16))
	acct := e.account("escrow:hot", "USD", ledger.KindLiability, noOverdraft, sharded(8))
	sink := e.account("seller:1:payable:USD", "USD", ledger.KindLiability)
	const k = 6
	e.mustPost(e.transfer("fund", cash, acct, fmt.Sprint(5*k)))
	d := racePool(t, e)
	var wg sync.WaitGroup
	errs := make([]error, contenders)
	for i := range contenders {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				en := e.transfer(fmt.Sprintf("hold-%d", i), acct, sink, "5")
				_, err = db.Write(ctx, d, func(tx pgx.Tx) (ledger.Entry, error) { return ledger.PostPending(ctx, tx, en) })
			} else {
				// Inflows to the hot cash account from elsewhere.
				en := e.transfer(fmt.Sprintf("in-%d", i), cash, sink, "1")
				_, err = db.Write(ctx, d, func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Post(ctx, tx, en) })
			}
			errs[i] = err
		})
	}
	wg.Wait()
	holds := 0
	for i, err := range errs {
		switch {
		case err == nil && i%2 == 0:
			holds++
		case err != nil && (i%2 == 1 || !errors.Is(err, ledger.ErrInsufficientFunds)):
			t.Errorf("op %d: %v", i, err)
		}
	}
	if holds != k {
		t.Errorf("%d holds succeeded, want %d", holds, k)
	}
	b := e.balance(acct)
	if !b.Posted.Equal(dec(fmt.Sprint(5*k))) || !b.Available.IsZero() || !b.PendingDebits.Equal(dec(fmt.Sprint(5*k))) {
		t.Errorf("hot account %+v", b)
	}
	e.wantBalance(cash, fmt.Sprint(5*k+contenders/2), fmt.Sprint(5*k+contenders/2))
	e.verifyClean()
}
