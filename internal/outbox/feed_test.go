package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// TestFeedServesEveryEventOnceUnderConcurrentCommits: writers whose
// transactions commit in another order than they wrote their events, and
// pollers that follow their cursors while they do: every poller is served
// every event exactly once, and the feed's places are 1..n.
func TestFeedServesEveryEventOnceUnderConcurrentCommits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const writers, perWriter, pollers = 6, 15, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written []uuid.UUID
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				var id uuid.UUID
				err := f.d.Tx(ctx, func(tx pgx.Tx) error {
					var err error
					if id, err = outbox.Emit(ctx, tx, f.tenant, "escrow.funded", fmt.Sprintf("w%d-%d", w, i), map[string]int{"i": i}, f.clk.Now()); err != nil {
						return err
					}
					// Commit a little later, in no particular order.
					_, err = tx.Exec(ctx, `SELECT pg_sleep($1::FLOAT8)`, rand.Float64()/50)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				// Recorded once committed: an attempt the database made
				// run again (40001) wrote an event that was rolled back.
				mu.Lock()
				written = append(written, id)
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	seen := make([]map[uuid.UUID]int, pollers)
	var pollWG sync.WaitGroup
	for p := range pollers {
		seen[p] = map[uuid.UUID]int{}
		pollWG.Go(func() {
			var from outbox.Cursor
			poll := func() {
				f.clk.Advance(outbox.PlaceEvery) // each poll may place
				page, err := outbox.Poll(ctx, f.d, f.tenant, from, "", 7, f.clk.Now())
				if err != nil {
					t.Error(err)
					return
				}
				for _, ev := range page.Events {
					seen[p][ev.ID]++
				}
				from = page.Next
			}
			for {
				select {
				case <-done:
					for range writers * perWriter { // drain, bounded
						poll()
					}
					return
				default:
					poll()
				}
			}
		})
	}
	wg.Wait()
	close(done)
	pollWG.Wait()
	for p, got := range seen {
		for _, id := range written {
			if got[id] != 1 {
				t.Errorf("poller %d was served event %s %d times, want once", p, id, got[id])
			}
		}
		if len(got) != len(written) {
			t.Errorf("poller %d was served %d events, want %d", p, len(got), len(written))
		}
	}
	var n, lo, hi int64
	if err := f.d.Pool.QueryRow(ctx, `SELECT count(seq), min(seq), max(seq) FROM events WHERE tenant_id = $1`, f.tenant).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != int64(len(written)) || lo != 1 || hi != n {
		t.Errorf("places: %d from %d to %d, want 1..%d", n, lo, hi, len(written))
	}
}

// TestFeedPlacesABacklogOverPolls: events without a place (written before
// feeds existed) are placed a bounded number per poll, oldest first; a
// cursor naming one not yet placed waits for it.
func TestFeedPlacesABacklogOverPolls(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 6*outbox.SequenceBatch + 1
	dbtest.MustExec(t, f.d, `
		INSERT INTO events (id, tenant_id, type, subject_id, payload, created_at)
		SELECT gen_random_uuid(), $1, 'escrow.funded', 'legacy', '{}', $2 FROM generate_series(1, $3::INT8)`, f.tenant, f.clk.Now(), n)
	var after uuid.UUID
	if err := f.d.Pool.QueryRow(ctx, `SELECT id FROM events WHERE tenant_id = $1 ORDER BY id OFFSET $2 LIMIT 1`, f.tenant, n-101).Scan(&after); err != nil {
		t.Fatal(err)
	}
	page, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{After: after}, "", outbox.MaxListLimit, f.clk.Now())
	if err != nil || len(page.Events) != 0 || page.Next.After != after {
		t.Fatalf("first poll: %d events, next %+v (%v); want none yet, and the same cursor", len(page.Events), page.Next, err)
	}
	var placed int
	if err := f.d.Pool.QueryRow(ctx, `SELECT count(seq) FROM events WHERE tenant_id = $1`, f.tenant).Scan(&placed); err != nil || placed >= n || placed < outbox.SequenceBatch {
		t.Fatalf("%d of %d placed by one poll (%v), want a bounded part", placed, n, err)
	}
	for range n / outbox.SequenceBatch {
		f.clk.Advance(outbox.PlaceEvery)
		if page, err = outbox.Poll(ctx, f.d, f.tenant, page.Next, "", outbox.MaxListLimit, f.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if page.Next.After == uuid.Nil {
			break
		}
	}
	if len(page.Events) != 100 || page.Next.After != uuid.Nil || page.Next.Seq != n {
		t.Fatalf("after the backlog was placed: %d events, next %+v; want the 100 after the cursor's event", len(page.Events), page.Next)
	}
	if _, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{After: uuid.New()}, "", 1, f.clk.Now()); err == nil {
		t.Fatal("a cursor after an unknown event was accepted")
	}
}

// TestFeedAfterAnyID: ?after= takes any id, as it did when the feed was in
// id order ("the events with a greater id"). One that is none of the
// tenant's events starts just before the first placed event with a
// greater id, so none with a greater id is passed, also one that commits
// later; it used to be ErrNotFound (422).
func TestFeedAfterAnyID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	a := f.emit(t)
	slow, err := f.d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	late, err := outbox.Emit(ctx, slow, f.tenant, "escrow.funded", "slow", map[string]string{}, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := f.emit(t)
	otherEvent := fixture{d: f.d, clk: f.clk, tenant: other.ID}.emit(t)
	// between(x) is an id after x and before the next id made.
	between := func(x uuid.UUID) uuid.UUID {
		copy(x[8:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return x
	}
	poll := func(from outbox.Cursor) ([]uuid.UUID, outbox.Cursor) {
		t.Helper()
		f.clk.Advance(outbox.PlaceEvery)
		page, err := outbox.Poll(ctx, f.d, f.tenant, from, "", outbox.MaxListLimit, f.clk.Now())
		if err != nil {
			t.Fatalf("poll from %+v: %v", from, err)
		}
		ids := []uuid.UUID{}
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		return ids, page.Next
	}
	cases := []struct {
		name  string
		after uuid.UUID
		want  []uuid.UUID // before the late event commits
		next  outbox.Cursor
	}{
		{name: "before every id", after: uuid.MustParse("00000000-0000-7000-8000-000000000000"), want: []uuid.UUID{a, c}},
		{name: "between a and the late event", after: between(a), want: []uuid.UUID{c}},
		{name: "between the late event and c", after: between(late), want: []uuid.UUID{c}},
		{name: "after every id", after: between(otherEvent), want: []uuid.UUID{}},
		{name: "another tenant's event", after: otherEvent, want: []uuid.UUID{}},
	}
	for i, tc := range cases {
		var got []uuid.UUID
		got, cases[i].next = poll(outbox.Cursor{After: tc.after, ByID: true})
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// The late event has an id greater than some of those: its place
	// comes after each start, so every poller following its cursor gets it.
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if got, _ := poll(tc.next); fmt.Sprint(got) != fmt.Sprint([]uuid.UUID{late}) {
			t.Errorf("%s, then from next %+v: %v, want the late event %s", tc.name, tc.next, got, late)
		}
	}
	// Without ByID (a cursor), After must be one of the tenant's events.
	if _, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{After: between(a)}, "", 1, f.clk.Now()); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("a cursor naming no event: %v, want ErrNotFound", err)
	}
}

// TestPollPlacesAtMostOncePerInterval: polls place a tenant's events at
// most once per PlaceEvery, however often they come, so a busy poller does
// not run a placing transaction (a SERIALIZABLE write, see
// TestPlacingLeavesOtherTenantsWritesAlone) per request; an event comes
// into the feed up to PlaceEvery after it commits.
func TestPollPlacesAtMostOncePerInterval(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	poll := func(from outbox.Cursor) outbox.FeedPage {
		t.Helper()
		page, err := outbox.Poll(ctx, f.d, f.tenant, from, "", outbox.MaxListLimit, f.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	first := f.emit(t)
	page := poll(outbox.Cursor{})
	if len(page.Events) != 1 || page.Events[0].ID != first {
		t.Fatalf("first poll: %v, want %s", page.Events, first)
	}
	second := f.emit(t)
	f.clk.Advance(outbox.PlaceEvery - time.Millisecond)
	for range 3 {
		if got := poll(page.Next); len(got.Events) != 0 {
			t.Fatalf("within PlaceEvery of the last placing: %v, want nothing placed yet", got.Events)
		}
	}
	f.clk.Advance(time.Millisecond)
	if got := poll(page.Next); len(got.Events) != 1 || got.Events[0].ID != second {
		t.Fatalf("PlaceEvery after the last placing: %v, want %s", got.Events, second)
	}
}

// prefill gives tenant n events already placed, so its feed fills several
// leaf pages of events_tenant_seq, as any tenant's does after a while.
func prefill(t *testing.T, f fixture, tenant uuid.UUID, n int) {
	t.Helper()
	dbtest.MustExec(t, f.d, `
		INSERT INTO events (id, tenant_id, type, subject_id, payload, created_at, seq)
		SELECT gen_random_uuid(), $1, 'escrow.funded', 'old', '{}', $2, n FROM generate_series(1, $3::INT8) n`, tenant, f.clk.Now(), n)
	dbtest.MustExec(t, f.d, `INSERT INTO event_feeds (tenant_id, last_seq) VALUES ($1, $2)`, tenant, n)
}

// pivotWrite runs, as tenant's business write would, a SERIALIZABLE
// transaction that reads a row another transaction then updates and
// commits (an rw-dependency out of it: a balance, a setting), and that
// emits an event; during runs between the read and the event. The
// transaction is aborted (40001) when another one that overlapped it read
// a page its event is written to: it is then the pivot of a dangerous
// structure. It returns the commit's error.
func pivotWrite(t *testing.T, f fixture, tenant uuid.UUID, during func()) error {
	t.Helper()
	ctx := context.Background()
	dbtest.MustExec(t, f.d, `CREATE TABLE IF NOT EXISTS test_pivot (k INT PRIMARY KEY, v INT NOT NULL)`)
	dbtest.MustExec(t, f.d, `INSERT INTO test_pivot VALUES (1, 0) ON CONFLICT DO NOTHING`)
	w, err := f.d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback(ctx)
	if _, err := w.Exec(ctx, `SELECT v FROM test_pivot WHERE k = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Pool.Exec(ctx, `BEGIN ISOLATION LEVEL SERIALIZABLE; UPDATE test_pivot SET v = v + 1 WHERE k = 1; COMMIT`); err != nil {
		t.Fatal(err)
	}
	during()
	if _, err := outbox.Emit(ctx, w, tenant, "escrow.funded", "w", map[string]string{}, f.clk.Now()); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// TestPlacingLeavesOtherTenantsWritesAlone: placing one tenant's events
// does not abort another tenant's write. The placing transaction read the
// unplaced events through the partial index events_unsequenced, a page or
// two holding every tenant's newest events, so its predicate lock covered
// the page any tenant's next event went to, and such a write, made a pivot
// (see pivotWrite), failed to serialize. It now reads the end of its
// tenant's own range of events_tenant_seq, a page no other tenant's event
// is written to once feeds span a few pages. (In a database so small that
// every tenant's events share a page, they still conflict: see
// TestPlacingAbortsAtMostOnceAnInterval.)
func TestPlacingLeavesOtherTenantsWritesAlone(t *testing.T) {
	f := newFixture(t) // tenant A polls
	ctx := context.Background()
	b, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	prefill(t, f, f.tenant, 1000)
	prefill(t, f, b.ID, 1000)
	for i := range 10 {
		f.emit(t) // A has an event to place
		err := pivotWrite(t, f, b.ID, func() {
			f.clk.Advance(outbox.PlaceEvery)
			page, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{Seq: 1000}, "", 10, f.clk.Now())
			if err != nil || len(page.Events) != i+1 {
				t.Fatalf("tenant A's poll: %d events (%v), want its %d placed", len(page.Events), err, i+1)
			}
		})
		if err != nil {
			t.Fatalf("write %d of tenant B while tenant A's events were placed: %v (SQLSTATE %s)", i, err, db.SQLState(err))
		}
	}
}

// TestPlacingAbortsAtMostOnceAnInterval: where a placing transaction's
// predicate lock does cover the page another write inserts into (a tenant's
// own writes, or, in a small database, any tenant's), that write can be
// aborted and retried; PlaceEvery bounds how often, whatever the number of
// polls. On PostgreSQL the first placing below aborts tenant B's write
// (every index of a small events table is one page); that cannot be
// avoided while placing is a SERIALIZABLE transaction that reads which
// events are unplaced, and is only logged here. Polls within PlaceEvery
// place nothing, take no predicate lock, and abort nothing.
func TestPlacingAbortsAtMostOnceAnInterval(t *testing.T) {
	f := newFixture(t) // tenant A polls
	ctx := context.Background()
	b, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	poll := func() {
		t.Helper()
		if _, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{}, "", 10, f.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f.emit(t) // A has an event to place
	err = pivotWrite(t, f, b.ID, poll)
	t.Logf("tenant B's write while tenant A's events were placed, in a small database: %v (SQLSTATE %s)", err, db.SQLState(err))
	for i := range 5 {
		f.emit(t) // A has an event to place, but placed it less than PlaceEvery ago
		f.clk.Advance(outbox.PlaceEvery / 10)
		if err := pivotWrite(t, f, b.ID, poll); err != nil {
			t.Fatalf("tenant B's write %d, tenant A polling within PlaceEvery of its last placing: %v (SQLSTATE %s)", i, err, db.SQLState(err))
		}
	}
}

// TestBusyPollersAbortNoOtherTenantsWrites: tenants A and B poll as fast as
// they can, C and D never do; every tenant's writes are pivots in waiting
// (see pivotWrite: each reads a row another transaction keeps updating).
// C's and D's writes are never aborted by A's and B's placing; A's and
// B's own writes are, now and then (the rate is logged: about 1% here,
// against some 35% when polls placed at every request and 65% when they
// also read events_unsequenced). Real time: PlaceEvery limits the placing.
func TestBusyPollersAbortNoOtherTenantsWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 2 s")
	}
	const run = 2 * time.Second
	f := newFixture(t)
	ctx := context.Background()
	ts := []uuid.UUID{f.tenant}
	for _, name := range []string{"b", "c", "d"} {
		tn, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tn.ID)
	}
	dbtest.MustExec(t, f.d, `CREATE TABLE test_rows (k INT PRIMARY KEY, v INT NOT NULL)`)
	for i, tn := range ts {
		prefill(t, f, tn, 1000)
		dbtest.MustExec(t, f.d, `INSERT INTO test_rows VALUES ($1, 0)`, i)
	}
	polls := func(i int) bool { return i < 2 }
	deadline := time.Now().Add(run)
	var writes, aborted [4]atomic.Int64
	var wg sync.WaitGroup
	for i, tn := range ts {
		write := func() error {
			tx, err := f.d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SELECT v FROM test_rows WHERE k = $1`, i); err != nil {
				return err
			}
			if _, err := outbox.Emit(ctx, tx, tn, "escrow.funded", "w", map[string]string{}, f.clk.Now()); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond) // the rest of the write
			return tx.Commit(ctx)
		}
		for range 2 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					writes[i].Add(1)
					if err := write(); db.SQLState(err) == "40001" {
						aborted[i].Add(1)
					} else if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Go(func() { // keeps updating the row the writes read
			for time.Now().Before(deadline) {
				if err := f.d.Tx(ctx, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `UPDATE test_rows SET v = v + 1 WHERE k = $1`, i)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		if polls(i) {
			wg.Go(func() {
				from := outbox.Cursor{Seq: 1000}
				for time.Now().Before(deadline) {
					page, err := outbox.Poll(ctx, f.d, tn, from, "", outbox.MaxListLimit, time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					from = page.Next
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	for i := range ts {
		rate := 100 * float64(aborted[i].Load()) / float64(max(writes[i].Load(), 1))
		t.Logf("tenant %d (polls %v): %d writes, %d aborted (%.2f%%)", i, polls(i), writes[i].Load(), aborted[i].Load(), rate)
		if !polls(i) && aborted[i].Load() != 0 {
			t.Errorf("tenant %d, which does not poll: %d of %d writes aborted, want none", i, aborted[i].Load(), writes[i].Load())
		}
	}
}

// TestEventsIndexesAreRead: every event written writes an entry in every
// index of events, and placing it in its feed (an UPDATE of seq, which is
// indexed, so never HOT) writes one more in each: each index must earn
// that. events_tenant_id and events_tenant_type_id were read only by
// ListEvents, which only tests call, and events_unsequenced made placing
// abort other tenants' writes (TestPlacingLeavesOtherTenantsWritesAlone).
func TestEventsIndexesAreRead(t *testing.T) {
	f := newFixture(t)
	if f.d.CockroachDB {
		t.Skip("PostgreSQL's index names")
	}
	readers := map[string]string{
		"events_pkey":            "GetEvent, deliveries, redeliveries",
		"events_tenant_subject":  "timelines of escrows and disputes",
		"events_tenant_seq":      "the feed, one event per place, and the tenant's unplaced events (seq IS NULL)",
		"events_tenant_type_seq": "the feed of one type",
	}
	rows, err := f.d.Pool.Query(context.Background(), `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if readers[name] == "" {
			t.Errorf("index %s of events: read by nothing this test knows of", name)
		}
	}
	if len(names) != len(readers) {
		t.Errorf("events has indexes %v, want those of %v", names, readers)
	}
}
