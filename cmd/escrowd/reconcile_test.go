package main

import (
	"context"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
)

func TestReconcileImportCommand(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", d.Pool.Config().ConnString())
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	tn, err := (&tenants.Store{DB: d, Clock: clk}).CreateTenant(ctx, "cmd")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&ledger.Service{DB: d, Clock: clk}).CreateAccount(ctx, ledger.AccountSpec{TenantID: tn.ID, Code: "bank:EUR", Currency: "EUR", Kind: ledger.KindAsset}); err != nil {
		t.Fatal(err)
	}
	file := "../../testdata/real/camt053-sample-nl-2013.xml"
	for range 2 { // the second import adds nothing
		if err := cmdReconcile(ctx, []string{"import", file, "--account", "bank:EUR", "--tenant", tn.ID.String()}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM recon_lines`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d lines, %v", n, err)
	}
	if err := cmdReconcile(ctx, []string{"import", file, "--account", "bank:nope", "--tenant", tn.ID.String()}); err == nil {
		t.Fatal("unknown account accepted")
	}
	if err := cmdReconcile(ctx, []string{"import", "--tenant", tn.ID.String()}); err == nil {
		t.Fatal("missing file accepted")
	}
	// The benchmark command, small, on this database.
	if err := cmdBenchReconcile(ctx, []string{"--database", "", "--lines", "50", "--postings", "300", "--days", "5", "--shards", "2"}); err != nil {
		t.Fatal(err)
	}
}

func TestStatementFormat(t *testing.T) {
	for _, tc := range []struct{ flag, file, data, want string }{
		{"csv", "a.xml", "<x/>", "csv"},
		{"", "a.XML", "", "camt.053"},
		{"", "a.csv", "<", "csv"},
		{"", "stmt", "\xEF\xBB\xBF  <?xml", "camt.053"},
		{"", "stmt", "date,amount", "csv"},
	} {
		if got := statementFormat(tc.flag, tc.file, []byte(tc.data)); got != tc.want {
			t.Errorf("%+v: %s", tc, got)
		}
	}
}
