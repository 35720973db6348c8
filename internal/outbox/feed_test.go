package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/outbox"
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
				page, err := outbox.Poll(ctx, f.d, f.tenant, from, "", 7)
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
	page, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{After: after}, "", outbox.MaxListLimit)
	if err != nil || len(page.Events) != 0 || page.Next.After != after {
		t.Fatalf("first poll: %d events, next %+v (%v); want none yet, and the same cursor", len(page.Events), page.Next, err)
	}
	var placed int
	if err := f.d.Pool.QueryRow(ctx, `SELECT count(seq) FROM events WHERE tenant_id = $1`, f.tenant).Scan(&placed); err != nil || placed >= n || placed < outbox.SequenceBatch {
		t.Fatalf("%d of %d placed by one poll (%v), want a bounded part", placed, n, err)
	}
	for range n / outbox.SequenceBatch {
		if page, err = outbox.Poll(ctx, f.d, f.tenant, page.Next, "", outbox.MaxListLimit); err != nil {
			t.Fatal(err)
		}
		if page.Next.After == uuid.Nil {
			break
		}
	}
	if len(page.Events) != 100 || page.Next.After != uuid.Nil || page.Next.Seq != n {
		t.Fatalf("after the backlog was placed: %d events, next %+v; want the 100 after the cursor's event", len(page.Events), page.Next)
	}
	if _, err := outbox.Poll(ctx, f.d, f.tenant, outbox.Cursor{After: uuid.New()}, "", 1); err == nil {
		t.Fatal("a cursor after an unknown event was accepted")
	}
}
