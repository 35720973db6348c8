package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/ledger"
)

// TestPointInTimeAndStatement posts a known history to a single-shard and
// a sharded account and checks BalanceAt at every boundary and the
// statement's running balances page by page.
func TestPointInTimeAndStatement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.account("equity:USD", "USD", ledger.KindEquity)
	one := e.account("escrow:1", "USD", ledger.KindLiability)
	hot := e.account("fees:USD", "USD", ledger.KindRevenue, sharded(4))

	type point struct {
		at   time.Time
		want decimal.Decimal
	}
	for _, acct := range []ledger.Account{one, hot} {
		t.Run(fmt.Sprintf("shards=%d", acct.Shards), func(t *testing.T) {
			start := e.clock.Now()
			var history []point
			total := decimal.Zero
			var amounts []decimal.Decimal
			for i := range 23 {
				e.clock.Advance(time.Minute)
				amt := decimal.New(int64(100+i*7), -2)
				var en ledger.Entry
				if i%5 == 4 { // an outflow now and then
					en = e.transfer(fmt.Sprintf("%s-%d", acct.Code, i), acct, src, amt.String())
					amt = amt.Neg()
				} else {
					en = e.transfer(fmt.Sprintf("%s-%d", acct.Code, i), src, acct, amt.String())
				}
				e.mustPost(en)
				total = total.Add(amt)
				amounts = append(amounts, amt)
				history = append(history, point{e.clock.Now(), total})
			}
			check := func(at time.Time, want decimal.Decimal) {
				t.Helper()
				got, err := ledger.BalanceAt(ctx, e.db.Pool, e.tenant, acct.ID, at)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Equal(want) {
					t.Errorf("BalanceAt(%s) = %s, want %s", at.Format(time.RFC3339), got, want)
				}
			}
			check(start, decimal.Zero)
			for _, p := range history {
				check(p.at, p.want)
				check(p.at.Add(30*time.Second), p.want)
			}
			if b := e.balance(acct); !b.Posted.Equal(total) {
				t.Fatalf("balance %s, want %s", b.Posted, total)
			}

			// The statement, three lines a page, reproduces the history (a
			// hot account's up to its horizon: read it later).
			now := e.clock.Now()
			if acct.Shards > 1 {
				now = now.Add(ledger.StatementMargin + time.Second)
			}
			var lines []ledger.StatementLine
			var cursor *ledger.StatementCursor
			for range 20 {
				page, err := ledger.Statement(ctx, e.db.Pool, e.tenant, acct.ID, ledger.StatementQuery{Limit: 3, Cursor: cursor, From: &start}, now)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, page.Lines...)
				if cursor = page.Next; cursor == nil {
					break
				}
			}
			if len(lines) != len(history) {
				t.Fatalf("statement has %d lines, want %d", len(lines), len(history))
			}
			for i, l := range lines {
				if !l.BalanceAfter.Equal(history[i].want) {
					t.Errorf("line %d: running balance %s, want %s", i, l.BalanceAfter, history[i].want)
				}
				if l.Reference != fmt.Sprintf("%s-%d", acct.Code, i) {
					t.Errorf("line %d: reference %s", i, l.Reference)
				}
			}
			// A window: [5th, 10th) with its opening balance.
			from, to := history[4].at, history[9].at
			page, err := ledger.Statement(ctx, e.db.Pool, e.tenant, acct.ID, ledger.StatementQuery{From: &from, To: &to}, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Lines) != 5 || !page.Opening.Equal(history[3].want) || !page.Lines[4].BalanceAfter.Equal(history[8].want) {
				t.Fatalf("window: %d lines, opening %s", len(page.Lines), page.Opening)
			}
		})
	}
	if _, err := ledger.BalanceAt(ctx, e.db.Pool, uuid.New(), one.ID, e.clock.Now()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("other tenant: %v", err)
	}
	e.verifyClean()
}

// TestHotStatementPagingListsEveryPosting: two writers book a hot account
// on two shards, B committing first although A read the clock in the same
// microsecond (or earlier). A reader pages the statement while A is still
// to commit, keeps its cursor and reads on later: every posting is listed
// once, in order, with running balances that end at the account's balance.
// Without the statement's horizon the first page listed B and its cursor
// passed A's place, so A was never listed.
func TestHotStatementPagingListsEveryPosting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.account("equity:USD", "USD", ledger.KindEquity)
	for i, offset := range []time.Duration{0, -time.Millisecond} {
		hot := e.account(fmt.Sprintf("fees:%d:USD", i), "USD", ledger.KindRevenue, sharded(2))
		var lines []ledger.StatementLine
		var cursor *ledger.StatementCursor
		read := func() bool { // one page, as a client reads it
			page, err := e.svc.Statement(ctx, e.tenant, hot.ID, ledger.StatementQuery{Limit: 1, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, page.Lines...)
			if page.Next != nil {
				cursor = page.Next
			}
			return page.Next != nil
		}
		e.clock.Advance(time.Minute)
		b := e.transfer(fmt.Sprintf("B%d", i), src, hot, "10.00")
		e.onShard(1, b) // B commits first, on shard 1
		e.clock.Advance(time.Second)
		read()
		a := e.transfer(fmt.Sprintf("A%d", i), src, hot, "5.00")
		a.CreatedAt = b.CreatedAt.Add(offset) // read the clock with B or before it
		e.onShard(0, a)
		e.clock.Advance(ledger.StatementMargin)
		for n := 0; read(); n++ {
			if n > 10 {
				t.Fatal("statement does not end")
			}
		}
		var refs []string
		for _, l := range lines {
			refs = append(refs, l.Reference)
		}
		want := fmt.Sprintf("[A%d B%d]", i, i)
		if fmt.Sprint(refs) != want || !lines[0].BalanceAfter.Equal(dec("5")) || !lines[1].BalanceAfter.Equal(e.balance(hot).Posted) {
			t.Errorf("offset %s: paged statement lists %v, want %s, running balances ending at %s", offset, refs, want, e.balance(hot).Posted)
			for _, l := range lines {
				t.Logf("%s at %s shard %d: balance after %s", l.Reference, l.CreatedAt.Format(time.RFC3339Nano), l.Shard, l.BalanceAfter)
			}
		}
	}
}

// TestStatementHorizon: a hot account's statement lists postings booked
// before the reader's clock less StatementMargin, and says so; a
// single-shard account's lists every posting at once.
func TestStatementHorizon(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.account("equity:USD", "USD", ledger.KindEquity)
	one := e.account("escrow:1", "USD", ledger.KindLiability)
	hot := e.account("fees:USD", "USD", ledger.KindRevenue, sharded(4))
	e.mustPost(e.transfer("old", src, hot, "1.00"))
	e.clock.Advance(ledger.StatementMargin + time.Second)
	e.mustPost(e.transfer("new", src, hot, "2.00"))
	e.mustPost(e.transfer("one", src, one, "3.00"))
	now := e.clock.Now()
	page, err := ledger.Statement(ctx, e.db.Pool, e.tenant, hot.ID, ledger.StatementQuery{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lines) != 1 || page.Lines[0].Reference != "old" || page.Horizon == nil || !page.Horizon.Equal(now.Add(-ledger.StatementMargin)) {
		t.Fatalf("hot statement: %d lines, horizon %v", len(page.Lines), page.Horizon)
	}
	later := now.Add(ledger.StatementMargin + time.Microsecond)
	to := later.Add(time.Hour) // an end past the horizon is capped at it
	page, err = ledger.Statement(ctx, e.db.Pool, e.tenant, hot.ID, ledger.StatementQuery{To: &to}, later)
	if err != nil || len(page.Lines) != 2 || !page.Lines[1].BalanceAfter.Equal(dec("3")) {
		t.Fatalf("hot statement a moment later: %v %+v", err, page.Lines)
	}
	page, err = ledger.Statement(ctx, e.db.Pool, e.tenant, one.ID, ledger.StatementQuery{}, now)
	if err != nil || len(page.Lines) != 1 || page.Horizon != nil {
		t.Fatalf("single-shard statement: %v, %d lines, horizon %v", err, len(page.Lines), page.Horizon)
	}
}

// TestBookingTimesAreMonotonic: an entry whose clock reads earlier than
// one already booked on the same balance row is booked at the later time,
// so a point-in-time balance never counts a posting booked after it.
func TestBookingTimesAreMonotonic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.account("equity:EUR", "EUR", ledger.KindEquity)
	acct := e.account("escrow:1", "EUR", ledger.KindLiability)
	late := e.transfer("late-clock", src, acct, "5.00")
	late.CreatedAt = t0.Add(10 * time.Minute)
	e.mustPost(late)
	early := e.transfer("early-clock", src, acct, "3.00")
	early.CreatedAt = t0.Add(5 * time.Minute)
	got := e.mustPost(early)
	if !got.Postings[1].CreatedAt.Equal(t0.Add(10*time.Minute)) || !got.CreatedAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("booked at %s (entry %s)", got.Postings[1].CreatedAt, got.CreatedAt)
	}
	for at, want := range map[time.Duration]string{7 * time.Minute: "0", 10 * time.Minute: "8"} {
		b, err := ledger.BalanceAt(ctx, e.db.Pool, e.tenant, acct.ID, t0.Add(at))
		if err != nil || !b.Equal(dec(want)) {
			t.Errorf("BalanceAt(+%s) = %s, %v; want %s", at, b, err, want)
		}
	}
	e.verifyClean()
}

// TestEntryBookedAtOneTime: an entry whose clock reads earlier than the
// last posting on one of its balance rows is booked, on every row, at that
// later time (here on a single-shard row, a row it moves up, and the
// shards of a guarded hot account it locks), so no as-of time splits it:
// the trial balance balances at every time, and the rows it moved up keep
// later postings from being booked before it.
func TestEntryBookedAtOneTime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	equity := e.account("equity:USD", "USD", ledger.KindEquity)
	cash := e.account("cash:USD", "USD", ledger.KindAsset)
	payable := e.account("payable:USD", "USD", ledger.KindLiability)
	pool := e.account("pool:USD", "USD", ledger.KindLiability, noOverdraft, sharded(2))
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)

	fund := e.transfer("fund", equity, pool, "100.00")
	fund.CreatedAt = t0
	e.mustPost(fund)
	late := e.transfer("later-clock", cash, equity, "10.00")
	late.CreatedAt = t2
	e.mustPost(late) // commits first with the later clock reading
	early := ledger.Entry{TenantID: e.tenant, Kind: "test.split", Reference: "earlier-clock", CreatedAt: t1,
		Postings: []ledger.Posting{
			{AccountID: cash.ID, Direction: ledger.SideDebit, Amount: dec("5"), Currency: "USD"},
			{AccountID: pool.ID, Direction: ledger.SideDebit, Amount: dec("5"), Currency: "USD"},
			{AccountID: payable.ID, Direction: ledger.SideCredit, Amount: dec("10"), Currency: "USD"},
		}}
	got := e.mustPost(early)
	for i, p := range got.Postings {
		if !p.CreatedAt.Equal(t2) {
			t.Errorf("posting %d (%s) booked at %s, want %s", i, p.AccountCode, p.CreatedAt.Format(time.RFC3339Nano), t2.Format(time.RFC3339Nano))
		}
	}
	read, err := ledger.GetEntry(ctx, e.db.Pool, e.tenant, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range read.Postings {
		if !p.CreatedAt.Equal(t2) {
			t.Errorf("stored posting %d (%s) booked at %s, want %s", i, p.AccountCode, p.CreatedAt.Format(time.RFC3339Nano), t2)
		}
	}
	for _, at := range []time.Time{t0, t1, t1.Add(30 * time.Second), t2, t2.Add(time.Second)} {
		tb, err := ledger.GetTrialBalance(ctx, e.db.Pool, e.tenant, &at, "USD")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tb.Currencies {
			if !c.Balanced {
				t.Errorf("trial balance as of %s: debits %s, credits %s", at.Format(time.RFC3339), c.DebitTotal, c.CreditTotal)
			}
		}
	}
	// The payable's row was moved up to t2: a later entry with the earlier
	// clock is booked at t2 too, not before the posting it follows.
	other := e.account("other:USD", "USD", ledger.KindEquity)
	again := e.transfer("earlier-clock-again", other, payable, "1.00")
	again.CreatedAt = t1
	if got := e.mustPost(again); !got.Postings[1].CreatedAt.Equal(t2) {
		t.Errorf("next posting on the payable booked at %s, want %s", got.Postings[1].CreatedAt, t2)
	}
	if b, err := ledger.BalanceAt(ctx, e.db.Pool, e.tenant, payable.ID, t1.Add(30*time.Second)); err != nil || !b.IsZero() {
		t.Errorf("payable as of t1+30s: %s, %v; want 0", b, err)
	}
	e.verifyClean()
}

func TestTrialBalance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset, sharded(3))
	escrow := e.account("escrow:1", "EUR", ledger.KindLiability)
	fees := e.account("fees:EUR", "EUR", ledger.KindRevenue)
	jcash := e.account("cash:psp:JPY", "JPY", ledger.KindAsset)
	jesc := e.account("escrow:2", "JPY", ledger.KindLiability)
	e.clock.Advance(time.Minute)
	e.mustPost(e.transfer("f1", cash, escrow, "100.00"))
	e.mustPost(e.transfer("j1", jcash, jesc, "5000"))
	mid := e.clock.Now()
	e.clock.Advance(time.Minute)
	e.mustPost(e.transfer("fee", escrow, fees, "2.50"))
	e.mustPost(e.transfer("f2", cash, escrow, "10.00"))

	tb, err := ledger.GetTrialBalance(ctx, e.db.Pool, e.tenant, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Currencies) != 2 {
		t.Fatalf("currencies %+v", tb.Currencies)
	}
	eur := tb.Currencies[0]
	if eur.Currency != "EUR" || !eur.Balanced || !eur.DebitTotal.Equal(dec("110")) || len(eur.Lines) != 3 {
		t.Fatalf("EUR %+v", eur)
	}
	if l := eur.Lines[1]; l.Code != "escrow:1" || !l.Balance.Equal(dec("107.5")) {
		t.Fatalf("escrow line %+v", l)
	}
	past, err := ledger.GetTrialBalance(ctx, e.db.Pool, e.tenant, &mid, "EUR")
	if err != nil {
		t.Fatal(err)
	}
	if len(past.Currencies) != 1 || !past.Currencies[0].Balanced || !past.Currencies[0].CreditTotal.Equal(dec("100")) {
		t.Fatalf("as of: %+v", past)
	}
}

// TestSealAndVerifyDetectTampering seals a history, then edits a posting
// row and a block directly in SQL: Verify must name the entry, the account
// and the block.
func TestSealAndVerifyDetectTampering(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:USD", "USD", ledger.KindAsset, sharded(4))
	escrow := e.account("escrow:1", "USD", ledger.KindLiability, noOverdraft)
	seller := e.account("seller:1:payable:USD", "USD", ledger.KindLiability)
	var target ledger.Entry
	for i := range 12 {
		e.clock.Advance(time.Second)
		en := e.mustPost(e.transfer(fmt.Sprintf("fund-%d", i), cash, escrow, "10.00"))
		if i == 3 {
			target = en
		}
	}
	h, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		en := e.transfer("hold", escrow, seller, "5.00")
		return ledger.PostPending(ctx, tx, en)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.write(func(tx pgx.Tx) (ledger.Entry, error) {
		return ledger.Commit(ctx, tx, e.tenant, h.ID, nil, e.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	// Nothing is old enough to seal yet.
	rep, err := e.svc.Seal(ctx)
	if err != nil || rep.Blocks != 0 {
		t.Fatalf("early seal: %+v %v", rep, err)
	}
	e.clock.Advance(ledger.SealMargin + time.Second)
	e.mustPost(e.transfer("recent", cash, escrow, "1.00")) // too recent to seal
	rep, err = e.svc.Seal(ctx)
	if err != nil || rep.Blocks != 1 || rep.Entries != 14 {
		t.Fatalf("seal: %+v %v", rep, err)
	}
	if rep, _ := e.svc.Seal(ctx); rep.Blocks != 0 {
		t.Fatalf("second seal sealed %d blocks", rep.Blocks)
	}
	e.clock.Advance(ledger.SealMargin + time.Second)
	if rep, _ := e.svc.Seal(ctx); rep.Blocks != 1 || rep.Entries != 1 {
		t.Fatalf("third seal: %+v", rep)
	}
	e.verifyClean()

	// Someone edits a posting in SQL.
	dbtest.MustExec(t, e.db, `UPDATE ledger_postings SET amount = amount + 1 WHERE entry_id = $1 AND idx = 1`, target.ID)
	vr, err := e.svc.Verify(ctx, &e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, is := range vr.Issues {
		switch {
		case is.Kind == ledger.IssueEntryUnbalanced && is.EntryID != nil && *is.EntryID == target.ID,
			is.Kind == ledger.IssueBalance && is.AccountID != nil && *is.AccountID == escrow.ID,
			is.Kind == ledger.IssueRunningBalance && is.AccountID != nil && *is.AccountID == escrow.ID,
			is.Kind == ledger.IssueBlockHash && is.BlockHeight == 1 && is.BlockID != nil:
			found[is.Kind] = true
		default:
			t.Errorf("unexpected issue %s: %s", is.Kind, is.Detail)
		}
	}
	for _, k := range []string{ledger.IssueEntryUnbalanced, ledger.IssueBalance, ledger.IssueRunningBalance, ledger.IssueBlockHash} {
		if !found[k] {
			t.Errorf("verify did not report %s; got %+v", k, vr.Issues)
		}
	}
	// Undo, then break the chain instead.
	dbtest.MustExec(t, e.db, `UPDATE ledger_postings SET amount = amount - 1 WHERE entry_id = $1 AND idx = 1`, target.ID)
	e.verifyClean()
	dbtest.MustExec(t, e.db, `UPDATE ledger_blocks SET hash = $2 WHERE tenant_id = $1 AND height = 1`, e.tenant, make([]byte, 32))
	vr, err = e.svc.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{}
	for _, is := range vr.Issues {
		kinds = append(kinds, fmt.Sprintf("%s@%d", is.Kind, is.BlockHeight))
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"block_chain_broken@2", "block_hash_mismatch@1"}) {
		t.Fatalf("issues after editing block 1's hash: %v", kinds)
	}
}

// TestVerifyPostingIntegrity: postings carry no foreign keys, so Verify
// checks that each belongs to an entry and an account of its tenant, in the
// account's currency.
func TestVerifyPostingIntegrity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cash := e.account("cash:psp:EUR", "EUR", ledger.KindAsset)
	escrow := e.account("escrow:1", "EUR", ledger.KindLiability)
	en := e.mustPost(e.transfer("fund", cash, escrow, "10.00"))
	e.verifyClean()
	dbtest.MustExec(t, e.db, `UPDATE ledger_postings SET currency = 'USD' WHERE entry_id = $1 AND idx = 0`, en.ID)
	rep, err := e.svc.Verify(ctx, &e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, is := range rep.Issues {
		if is.Kind == ledger.IssuePosting && is.AccountID != nil && *is.AccountID == cash.ID && *is.EntryID == en.ID {
			found = true
		}
	}
	if !found {
		t.Fatalf("verify did not report the currency: %+v", rep.Issues)
	}
}
