package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/ledger"
)

// propertyOps is how many random operations one property run performs.
const propertyOps = 300

// model is the test's own account of what the balances must be.
type model struct {
	posted, pd, pc map[uuid.UUID]decimal.Decimal
}

func (m *model) apply(a ledger.Account, dir ledger.Side, amt decimal.Decimal, pending bool, sign int) {
	if sign < 0 {
		amt = amt.Neg()
	}
	switch {
	case !pending && dir == a.NormalSide:
		m.posted[a.ID] = m.posted[a.ID].Add(amt)
	case !pending:
		m.posted[a.ID] = m.posted[a.ID].Sub(amt)
	case dir == ledger.SideDebit:
		m.pd[a.ID] = m.pd[a.ID].Add(amt)
	default:
		m.pc[a.ID] = m.pc[a.ID].Add(amt)
	}
}

// TestPropertyRandomHistories runs random entries, holds (commit in full
// or in part, void, expire through the job) and reversals over accounts in
// USD, JPY (0 decimals) and KWD (3 decimals), some guarded, one sharded,
// and checks: every outcome is success or an allowed refusal; balances
// equal the model; the trial balance of each currency balances; no guarded
// account is past its floor; Verify finds nothing. LEDGER_SEED replays a
// run.
func TestPropertyRandomHistories(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LEDGER_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (rerun with LEDGER_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	e := newEnv(t)
	ctx := context.Background()
	runner := jobs.NewRunner(e.db, e.clock, nil)
	runner.Handle(ledger.JobExpirePending, e.svc.ExpireJob)

	byCur := map[string][]ledger.Account{}
	accounts := map[uuid.UUID]ledger.Account{}
	for _, cur := range []string{"USD", "JPY", "KWD"} {
		add := func(code string, kind ledger.Kind, opts ...func(*ledger.AccountSpec)) {
			a := e.account(code+":"+cur, cur, kind, opts...)
			byCur[cur] = append(byCur[cur], a)
			accounts[a.ID] = a
		}
		shards := 1
		if cur == "USD" {
			shards = 4
		}
		add("cash:psp", ledger.KindAsset, sharded(shards))
		add("equity", ledger.KindEquity)
		add("escrow:a", ledger.KindLiability, noOverdraft)
		add("escrow:b", ledger.KindLiability, noOverdraft, sharded(3))
		add("seller:payable", ledger.KindLiability)
		add("buyer:refund", ledger.KindLiability, func(s *ledger.AccountSpec) { s.OverdraftLimit = decimal.New(50, 0) })
		add("fees", ledger.KindRevenue, sharded(2))
		add("fx:rounding", ledger.KindExpense)
	}
	curs := []string{"USD", "JPY", "KWD"}
	amount := func(cur string) decimal.Decimal {
		c, _ := money.Lookup(cur)
		return decimal.New(rng.Int64N(5000)+1, -c.MinorUnits)
	}
	m := &model{posted: map[uuid.UUID]decimal.Decimal{}, pd: map[uuid.UUID]decimal.Decimal{}, pc: map[uuid.UUID]decimal.Decimal{}}
	var posted []ledger.Entry            // posted entries that may be reversed
	open := map[uuid.UUID]ledger.Entry{} // unresolved holds
	var refs []string
	counts := map[string]int{}

	// randomEntry builds a balanced entry of 2 to 5 postings in one or two
	// currencies.
	randomEntry := func(ref string, maxLegs int) ledger.Entry {
		en := ledger.Entry{TenantID: e.tenant, Kind: "prop", Reference: ref, CreatedAt: e.clock.Now()}
		ncur := 1
		if maxLegs > 2 && rng.IntN(4) == 0 {
			ncur = 2
		}
		for _, ci := range rng.Perm(len(curs))[:ncur] {
			cur := curs[ci]
			accts := byCur[cur]
			amt := amount(cur)
			en.Postings = append(en.Postings, ledger.Posting{AccountID: accts[rng.IntN(len(accts))].ID, Direction: ledger.SideDebit, Amount: amt, Currency: cur})
			c, _ := money.Lookup(cur)
			if minor := amt.Shift(c.MinorUnits).IntPart(); maxLegs > 2 && rng.IntN(3) == 0 && minor >= 2 {
				half := decimal.New(rng.Int64N(minor-1)+1, -c.MinorUnits)
				en.Postings = append(en.Postings,
					ledger.Posting{AccountID: accts[rng.IntN(len(accts))].ID, Direction: ledger.SideCredit, Amount: half, Currency: cur},
					ledger.Posting{AccountID: accts[rng.IntN(len(accts))].ID, Direction: ledger.SideCredit, Amount: amt.Sub(half), Currency: cur})
			} else {
				en.Postings = append(en.Postings, ledger.Posting{AccountID: accts[rng.IntN(len(accts))].ID, Direction: ledger.SideCredit, Amount: amt, Currency: cur})
			}
		}
		return en
	}
	applyEntry := func(en ledger.Entry, pending bool, sign int) {
		for _, p := range en.Postings {
			m.apply(accounts[p.AccountID], p.Direction, p.Amount, pending, sign)
		}
	}
	allowed := func(op string, err error, ok ...error) {
		t.Helper()
		if err == nil {
			counts[op]++
			return
		}
		for _, o := range ok {
			if errors.Is(err, o) {
				counts[op+" refused"]++
				return
			}
		}
		t.Fatalf("%s: unexpected error: %v", op, err)
	}

	for i := range propertyOps {
		e.clock.Advance(time.Duration(rng.IntN(90)+1) * time.Second)
		ref := fmt.Sprintf("op-%d", i)
		switch op := rng.IntN(10); {
		case op < 4: // post
			en := randomEntry(ref, 5)
			got, err := e.post(en)
			allowed("post", err, ledger.ErrInsufficientFunds)
			if err == nil {
				applyEntry(got, false, 1)
				posted = append(posted, got)
				refs = append(refs, ref)
			}
		case op < 6: // hold
			en := randomEntry(ref, 2)
			if rng.IntN(2) == 0 {
				exp := e.clock.Now().Add(time.Duration(rng.IntN(600)+1) * time.Second)
				en.ExpiresAt = &exp
			}
			got, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.PostPending(ctx, tx, en) })
			allowed("hold", err, ledger.ErrInsufficientFunds)
			if err == nil {
				applyEntry(got, true, 1)
				open[got.ID] = got
			}
		case op < 8 && len(open) > 0: // commit or void a hold
			var h ledger.Entry
			for _, h = range open {
				break
			}
			if op == 6 {
				var amt *decimal.Decimal
				if rng.IntN(2) == 0 {
					c, _ := money.Lookup(h.Postings[0].Currency)
					minor := h.Postings[0].Amount.Shift(c.MinorUnits).IntPart()
					a := decimal.New(rng.Int64N(minor)+1, -c.MinorUnits)
					amt = &a
				}
				got, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
					return ledger.Commit(ctx, tx, e.tenant, h.ID, amt, e.clock.Now())
				})
				expired := h.ExpiresAt != nil && !e.clock.Now().Before(*h.ExpiresAt)
				if expired {
					if !errors.Is(err, ledger.ErrNotPending) {
						t.Fatalf("commit of expired hold: %v", err)
					}
					break
				}
				allowed("commit", err)
				applyEntry(h, true, -1)
				applyEntry(got, false, 1)
				posted = append(posted, got)
			} else {
				_, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) { return ledger.Void(ctx, tx, e.tenant, h.ID, e.clock.Now()) })
				allowed("void", err)
				applyEntry(h, true, -1)
			}
			delete(open, h.ID)
		case op == 8 && len(posted) > 0: // reverse
			o := posted[rng.IntN(len(posted))]
			got, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
				return ledger.Reverse(ctx, tx, e.tenant, o.ID, "", "", e.clock.Now())
			})
			allowed("reverse", err, ledger.ErrInsufficientFunds, ledger.ErrAlreadyReversed, ledger.ErrDuplicateReference)
			if err == nil {
				applyEntry(got, false, 1)
			}
		case op == 9 && len(refs) > 0: // a retried reference
			en := randomEntry(refs[rng.IntN(len(refs))], 2)
			_, err := e.post(en)
			if !errors.Is(err, ledger.ErrDuplicateReference) {
				t.Fatalf("repeated reference: %v", err)
			}
			counts["duplicate"]++
		}
		// Expiry runs through the job, as in production.
		if _, err := runner.RunAll(ctx, 10); err != nil {
			t.Fatal(err)
		}
		for id, h := range open {
			if h.ExpiresAt != nil && !e.clock.Now().Before(*h.ExpiresAt) {
				got, err := ledger.GetEntry(ctx, e.db.Pool, e.tenant, id)
				if err != nil || got.Status != ledger.StatusExpired {
					t.Fatalf("hold %s due at %s: status %s, %v", id, h.ExpiresAt, got.Status, err)
				}
				applyEntry(h, true, -1)
				delete(open, id)
				counts["expired"]++
			}
		}
	}
	t.Logf("operations: %v", counts)

	for id, a := range accounts {
		b := e.balance(a)
		if !b.Posted.Equal(m.posted[id]) || !b.PendingDebits.Equal(m.pd[id]) || !b.PendingCredits.Equal(m.pc[id]) {
			t.Errorf("%s: balance %+v, model posted %s pending %s/%s", a.Code, b, m.posted[id], m.pd[id], m.pc[id])
		}
		if a.NoOverdraft && b.Available.IsNegative() || b.Available.LessThan(a.OverdraftLimit.Neg()) && a.OverdraftLimit.IsPositive() {
			t.Errorf("%s is past its floor: %+v", a.Code, b)
		}
	}
	tb, err := ledger.GetTrialBalance(ctx, e.db.Pool, e.tenant, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tb.Currencies {
		if !c.Balanced {
			t.Errorf("trial balance %s: debits %s, credits %s", c.Currency, c.DebitTotal, c.CreditTotal)
		}
	}
	e.clock.Advance(ledger.SealMargin + time.Second)
	if rep, err := e.svc.Seal(ctx); err != nil || rep.Entries == 0 {
		t.Fatalf("seal: %+v, %v", rep, err)
	}
	e.verifyClean()
}
