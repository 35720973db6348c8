package reconcile_test

import (
	"testing"
	"time"

	"github.com/escrowd/escrowd/reconcile"
)

// TestBenchData runs the benchmark's generator small and checks each kind
// of line finds its rule (the amounts are spread so that they rarely meet
// by chance; 1 000 postings over 30 days make it unlikely).
func TestBenchData(t *testing.T) {
	f := newFixture(t)
	spec := reconcile.BenchSpec{Tenant: f.tenant, Account: "cash:bench:EUR", Currency: "EUR", Shards: 4, Postings: 1000, Lines: 100, Days: 30,
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	data, err := reconcile.GenerateBench(f.ctx, f.db, spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Run(f.ctx, f.tenant, reconcile.RunRequest{Account: spec.Account, From: data.From.Format(time.DateOnly),
		To: data.To.Format(time.DateOnly), DryRun: true, FeeTolerance: "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 100 || res.Postings != 1000 || res.ByRule["reference"] != 60 || res.ByRule["one_to_many"] != 5 ||
		res.ByRule["amount_date"] < 20 || res.ByRule["fee_tolerance"] < 4 || res.UnmatchedLineCount < 5 || res.UnmatchedLineCount > 12 {
		t.Fatalf("run over bench data: %+v", res.ByRule)
	}
	if res.MatchedPostings != 60+res.ByRule["amount_date"]+15+res.ByRule["fee_tolerance"] || res.UnmatchedPostingCount != 1000-res.MatchedPostings {
		t.Fatalf("postings: matched %d, unmatched %d", res.MatchedPostings, res.UnmatchedPostingCount)
	}
}
