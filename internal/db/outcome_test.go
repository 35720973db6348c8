package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestTransactionOutcomes: escrowd_db_transactions_total tells a change
// the function refused (rejected: normal API business) from one the
// database failed (failed: worth an alert).
func TestTransactionOutcomes(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collectors()...)
	count := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "escrowd_db_transactions_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
		return out
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		fn   db.TxFunc
		want string
	}{
		{"commit", context.Background(), func(tx pgx.Tx) error { _, err := tx.Exec(context.Background(), "SELECT 1"); return err }, "committed"},
		{"domain error", context.Background(), func(pgx.Tx) error { return errors.New("escrow is not funded") }, "rejected"},
		{"SQL error", context.Background(), func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), "SELECT * FROM no_such_table")
			return err
		}, "failed"},
		{"context ended", cancelled, func(pgx.Tx) error { return nil }, "failed"},
	} {
		before := count()
		_ = d.Tx(tc.ctx, tc.fn)
		after := count()
		for _, o := range []string{"committed", "rejected", "failed"} {
			want := before[o]
			if o == tc.want {
				want++
			}
			if after[o] != want {
				t.Errorf("%s: outcome %s counted %v, want %v", tc.name, o, after[o]-before[o], want-before[o])
			}
		}
	}
}
