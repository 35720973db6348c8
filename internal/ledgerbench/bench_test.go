package ledgerbench_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/ledgerbench"
	"github.com/escrowd/escrowd/ledger"
)

// TestBenchmarkSmall runs the benchmark at toy size: it must post in both
// scenarios, answer every point-in-time read right over the bulk-seeded
// history, and leave a ledger that Verify finds consistent (so the bulk
// seed follows the running-balance scheme). Times are not checked.
func TestBenchmarkSmall(t *testing.T) {
	d := dbtest.New(t)
	clk := clock.Real{}
	rep, err := ledgerbench.Execute(context.Background(), ledgerbench.Config{
		DB: d, Clock: clk, Writers: []int{1, 3}, Duration: 300 * time.Millisecond, Accounts: 30, HotShards: 4,
		HistoryPostings: 63 * 40, Samples: 25, Out: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 4 || rep.HistoryPostings != 63*40 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Runs {
		if r.Entries == 0 || r.Errors != 0 {
			t.Errorf("run %+v", r)
		}
	}
	for _, r := range rep.Reads {
		if r.Mismatches != 0 {
			t.Errorf("%s: %d wrong answers", r.Name, r.Mismatches)
		}
	}
	svc := &ledger.Service{DB: d, Clock: clk}
	v, err := svc.Verify(context.Background(), &rep.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range v.Issues {
		t.Errorf("verify: %s %s", is.Kind, is.Detail)
	}
	if v.Postings < int64(63*40) {
		t.Fatalf("verify saw %d postings", v.Postings)
	}
}
