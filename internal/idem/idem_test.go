package idem

import (
	"context"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestPruneDeletesEveryExpiredKey: one prune deletes every key older than
// the cutoff, with its response, however many there are, in batches, up to
// its bound; younger keys stay.
func TestPruneDeletesEveryExpiredKey(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cutoff := now.Add(-30 * 24 * time.Hour)
	for _, tc := range []struct {
		name                     string
		expired, young           int
		batch, maxBatches        int // 0: Prune's own limits
		wantDeleted, wantExpired int // deleted; expired keys left
	}{
		{name: "none expired", young: 10, wantDeleted: 0},
		{name: "less than a batch", expired: 7, young: 10, batch: 10, maxBatches: 5, wantDeleted: 7},
		{name: "whole batches", expired: 30, young: 10, batch: 10, maxBatches: 5, wantDeleted: 30},
		{name: "up to the bound", expired: 57, young: 10, batch: 10, maxBatches: 5, wantDeleted: 50, wantExpired: 7},
		{name: "more than PruneBatch", expired: 3*PruneBatch + 7, young: 10, wantDeleted: 3*PruneBatch + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dbtest.New(t)
			insert := func(n int, at time.Time) {
				dbtest.MustExec(t, d, `
					INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, owner, locked_until, created_at)
					SELECT gen_random_uuid(), 'k' || g, '\x00', 'in_progress', gen_random_uuid(), $2, $2 FROM generate_series(1, $1::INT8) g`, n, at)
			}
			insert(tc.expired, cutoff.Add(-time.Hour))
			insert(tc.young, cutoff.Add(time.Hour))
			dbtest.MustExec(t, d, `
				INSERT INTO idempotency_responses (tenant_id, key, owner, response_status, response_body)
				SELECT tenant_id, key, owner, 201, '{}' FROM idempotency_keys`)
			var n int64
			var err error
			if tc.batch == 0 {
				n, err = Prune(ctx, d, cutoff)
			} else {
				n, err = prune(ctx, d, cutoff, tc.batch, tc.maxBatches)
			}
			if err != nil {
				t.Fatal(err)
			}
			expired, young := countKeys(t, d, cutoff)
			if n != int64(tc.wantDeleted) || expired != tc.wantExpired || young != tc.young {
				t.Fatalf("deleted %d, left %d expired and %d young keys; want %d, %d, %d", n, expired, young, tc.wantDeleted, tc.wantExpired, tc.young)
			}
			var orphans int
			if err := d.Pool.QueryRow(ctx, `
				SELECT count(*) FROM idempotency_responses r
				WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.tenant_id = r.tenant_id AND k.key = r.key)`).Scan(&orphans); err != nil {
				t.Fatal(err)
			}
			if orphans != 0 {
				t.Fatalf("%d responses left without their key", orphans)
			}
		})
	}
}

// countKeys counts the keys created before and after cutoff.
func countKeys(t *testing.T, d *db.DB, cutoff time.Time) (before, after int) {
	t.Helper()
	err := d.Pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE created_at < $1), count(*) FILTER (WHERE created_at >= $1) FROM idempotency_keys`, cutoff).Scan(&before, &after)
	if err != nil {
		t.Fatal(err)
	}
	return before, after
}
