package risk

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

func TestDecideWithFeatureSnapshot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.establish("b", "s")
	r := e.newRelease("b", "s")
	r.escrowID = e.observe("b", "s", "", r.amount, "USD", e.clock.Now().Add(-48*time.Hour))
	in := r.input(e.tenant)
	inTx := e.decide(r)

	snap, err := e.gate.ReadFeatures(ctx, e.db.Pool, in, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	in.SubjectID, in.Features = uuid.Must(uuid.NewV7()), snap
	d, err := e.tryDecide(in)
	if err != nil {
		t.Fatal(err)
	}
	want := inTx.Features
	want.SellerReleases1h, want.SellerReleases24h = 1, 1 // the first decision counts now
	if !reflect.DeepEqual(d.Features, want) || d.Outcome != inTx.Outcome {
		t.Fatalf("with a snapshot:\n%+v\nwant\n%+v", d.Features, want)
	}
	// Hard rules stay in the transaction: a freeze after the snapshot blocks.
	if _, err := e.svc.Freeze(ctx, e.tenant, "s", "late freeze"); err != nil {
		t.Fatal(err)
	}
	in.SubjectID = uuid.Must(uuid.NewV7())
	if d, _ := e.tryDecide(in); d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonPartyFrozen) {
		t.Fatalf("frozen after the snapshot: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
	if _, err := e.svc.Unfreeze(ctx, e.tenant, "s"); err != nil {
		t.Fatal(err)
	}
	// A snapshot of other parties is ignored.
	other := in
	other.Seller.ID, other.SubjectID = "s-other", uuid.Must(uuid.NewV7())
	if d, _ := e.tryDecide(other); !hasReason(d.Decision, ReasonNewSeller) {
		t.Errorf("a snapshot for seller s was used for s-other: %v", reasonCodes(d.Decision))
	}
}

// TestConcurrentPayoutsOfOneSeller: two payouts of one seller decided in
// overlapping SERIALIZABLE transactions both commit when their features
// were read before (ReadFeatures); read inside, they write-skew on the
// seller's recent decisions and PostgreSQL aborts one.
func TestConcurrentPayoutsOfOneSeller(t *testing.T) {
	e := newEnv(t)
	if e.db.CockroachDB {
		t.Skip("PostgreSQL SSI behaviour")
	}
	ctx := context.Background()
	e.establish("b1", "s")
	e.establish("b2", "s-unused")
	run := func(snapshots bool) (failed int) {
		var ins [2]GateInput
		for i, buyer := range []string{"b1", "b2"} {
			r := e.newRelease(buyer, "s")
			r.escrowID = e.observe(buyer, "s", "", r.amount, "USD", e.clock.Now().Add(-48*time.Hour))
			ins[i] = r.input(e.tenant)
			if snapshots {
				snap, err := e.gate.ReadFeatures(ctx, e.db.Pool, ins[i], e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				ins[i].Features = snap
			}
		}
		var txs [2]pgx.Tx
		for i := range txs {
			tx, err := e.db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			txs[i] = tx
		}
		for i, tx := range txs {
			if _, err := e.gate.Decide(ctx, tx, ins[i], e.clock.Now()); err != nil {
				if !db.Retryable(err) {
					t.Fatal(err)
				}
				failed++
			}
		}
		for _, tx := range txs {
			if err := tx.Commit(ctx); err != nil {
				if !db.Retryable(err) {
					t.Fatal(err)
				}
				failed++
			}
		}
		return failed
	}
	if n := run(true); n != 0 {
		t.Errorf("with snapshots %d of 2 payouts failed to serialize, want none", n)
	}
	if n := run(false); n != 1 {
		t.Errorf("features read in the transactions: %d of 2 payouts failed to serialize, want 1 (the write skew this test shows)", n)
	}
}
