package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/loadgen"
	"github.com/escrowd/escrowd/internal/tenants"
)

// TestBenchEndToEnd runs escrowd bench against its in-process server on a
// test database (20 escrows, 4 clients, every path of the default mix) and
// checks the invariants it reports; then it breaks the books in SQL and
// checks that the invariant checks see it. It asserts nothing about time.
func TestBenchEndToEnd(t *testing.T) {
	paths := map[loadgen.Path]int{}
	g := loadgen.NewGenerator(1, loadgen.DefaultMix(), 1000, 20000)
	for seq := 1; seq <= 20; seq++ {
		paths[g.Plan(seq).Path]++
	}
	if len(paths) != 4 {
		t.Fatalf("seed 1 no longer draws every path in 20 escrows: %v", paths)
	}

	d := dbtest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", d.Pool.Config().ConnString())
	dir := t.TempDir()
	jsonOut, chart := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	err := cmdBench(ctx, []string{"--database", "", "--escrows", "20", "--clients", "4", "--json", jsonOut, "--chart", chart})
	b, rerr := os.ReadFile(jsonOut)
	if rerr != nil {
		t.Fatalf("bench: %v; no results: %v", err, rerr)
	}
	var res loadgen.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Invariants {
		if !c.OK {
			t.Errorf("invariant %q failed: %s", c.Name, c.Detail)
		}
	}
	if err != nil || res.FiveXX > 0 {
		// No 5xx: a transaction that keeps failing to serialize runs alone
		// (db.serialGate) before its attempts run out.
		t.Errorf("bench: %v; %d answers with status 5xx: %+v, server transactions %+v", err, res.FiveXX, res.ErrorList, res.DB)
	}
	if res.Started != 20 || res.Outcomes[loadgen.OutcomeFailed] > 0 {
		t.Errorf("escrows started %d, outcomes %v", res.Started, res.Outcomes)
	}
	for _, op := range []string{loadgen.OpCreate, loadgen.OpFundFX, loadgen.OpMilestone, loadgen.OpAccept, loadgen.OpRefund, loadgen.OpRelease, loadgen.OpResolve} {
		if !hasOp(res, op) {
			t.Errorf("no %s operation measured: %+v", op, res.Latency)
		}
	}
	if svg, err := os.ReadFile(chart); err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Errorf("chart: %v", err)
	}

	// The checks must see a broken book: serve the same database again and
	// check after moving money in SQL behind the ledger's back.
	cfg := defaults()
	cfg.DatabaseURL, cfg.Workers = d.Pool.Config().ConnString(), false
	a, err := open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(a.server)
	defer srv.Close()
	var tenant string
	if err := d.Pool.QueryRow(ctx, `SELECT tenant_id::text FROM escrows LIMIT 1`).Scan(&tenant); err != nil {
		t.Fatal(err)
	}
	tid, err := uuid.Parse(tenant)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := a.set.Tenants.CreateKey(ctx, tid, tenants.RoleFinance, "test")
	if err != nil {
		t.Fatal(err)
	}
	c := loadgen.NewClient(srv.URL, map[string]string{loadgen.RoleFinance: key}, 2)
	if cs := loadgen.CheckInvariants(ctx, c, 0); loadgen.Failed(cs) {
		t.Fatalf("invariants fail before tampering: %+v", cs)
	}
	dbtest.MustExec(t, d, `UPDATE escrows SET released_amount = released_amount - 1 WHERE id = (SELECT id FROM escrows WHERE released_amount >= 1 ORDER BY id LIMIT 1)`)
	cs := loadgen.CheckInvariants(ctx, c, 0)
	if !failed(cs, "escrow liability") || failed(cs, "trial balance") {
		t.Errorf("an escrow row one unit off the ledger: %+v", cs)
	}
	dbtest.MustExec(t, d, `UPDATE ledger_balances SET posted = posted + 1 WHERE shard = 0 AND account_id = (SELECT id FROM ledger_accounts WHERE code LIKE 'fees:%' ORDER BY code LIMIT 1)`)
	if cs := loadgen.CheckInvariants(ctx, c, 1); !failed(cs, "trial balance") || !failed(cs, "no 5xx") {
		t.Errorf("an unbalanced ledger and a 5xx: %+v", cs)
	}
}

func hasOp(r loadgen.Result, op string) bool {
	for _, l := range r.Latency {
		if l.Op == op && l.Count > 0 {
			return true
		}
	}
	return false
}

func failed(cs []loadgen.Check, prefix string) bool {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, prefix) {
			return !c.OK
		}
	}
	return false
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080/", false, true},
		{"http://[::1]:8080", false, true},
		{"http://10.0.0.5:8080", false, false},
		{"https://escrowd.example.com", false, false},
		{"https://escrowd.example.com", true, true},
		{"ftp://127.0.0.1", false, false},
		{"127.0.0.1:8080", false, false},
	} {
		if err := checkLoopback(tc.url, tc.remote); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q, %v) = %v", tc.url, tc.remote, err)
		}
	}
}
