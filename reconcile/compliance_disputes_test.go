package reconcile_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/reconcile"
)

// TestComplianceDisputeStats: the compliance report counts the outcomes of
// the claims closed in the period and gives the median hours from opening
// to resolution of the decided ones (withdrawn claims are counted, not
// timed; claims closed outside the period are neither). The claims are
// written as rows, each closed a given number of hours after it opened.
func TestComplianceDisputeStats(t *testing.T) {
	type claim struct {
		outcome string // "" for a withdrawn claim
		hours   int
		outside bool // closed the day after the period
	}
	tests := []struct {
		name     string
		claims   []claim
		outcomes map[string]int
		median   string // "" for none
	}{
		{"none", nil, map[string]int{}, ""},
		{"only withdrawn", []claim{{"", 5, false}}, map[string]int{"withdrawn": 1}, ""},
		{"one", []claim{{"refund_full", 3, false}}, map[string]int{"refund_full": 1}, "3"},
		{"odd", []claim{{"release_full", 10, false}, {"refund_full", 1, false}, {"refund_partial", 2, false}, {"", 1, false}},
			map[string]int{"release_full": 1, "refund_full": 1, "refund_partial": 1, "withdrawn": 1}, "2"},
		{"even", []claim{{"refund_full", 5, false}, {"refund_full", 1, false}, {"", 100, false}, {"release_full", 50, true}},
			map[string]int{"refund_full": 2, "withdrawn": 1}, "3"},
		{"even, unequal halves", []claim{{"refund_full", 1, false}, {"refund_full", 2, false}, {"release_full", 7, false}, {"release_full", 40, false}},
			map[string]int{"refund_full": 2, "release_full": 2}, "4.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			period := reconcile.Period{From: day, To: day}
			for i, c := range tc.claims {
				closed := day.Add(time.Duration(12*60+i) * time.Minute)
				if c.outside {
					closed = closed.Add(24 * time.Hour)
				}
				opened := closed.Add(-time.Duration(c.hours) * time.Hour)
				status, outcome, resolved, withdrawn := "resolved", any(c.outcome), any(closed), any(nil)
				if c.outcome == "" {
					status, outcome, resolved, withdrawn = "withdrawn", nil, nil, closed
				}
				if _, err := f.db.Pool.Exec(f.ctx, `
					INSERT INTO disputes (id, tenant_id, escrow_id, status, reason, claimed_amount, currency, description,
						evidence_hours, seller_response_due_at, escalation_due_at, evidence_due_at, next_deadline_at,
						outcome, resolved_at, withdrawn_at, created_at, updated_at)
					VALUES ($1, $2, $3, $4, 'damaged', 10, 'EUR', $5, 24, $6, $6, $6, $6, $7, $8, $9, $6, $10)`,
					uuid.New(), f.tenant, uuid.New(), status, fmt.Sprintf("claim %d", i), opened, outcome, resolved, withdrawn, closed); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := f.svc.Compliance(f.ctx, f.tenant, reconcile.ComplianceQuery{Period: period})
			if err != nil {
				t.Fatal(err)
			}
			d := rep.Disputes
			for _, o := range []string{"refund_full", "refund_partial", "release_full", "withdrawn"} {
				if d.Outcomes[o] != tc.outcomes[o] {
					t.Errorf("outcome %s: %d, want %d (all %v)", o, d.Outcomes[o], tc.outcomes[o], d.Outcomes)
				}
			}
			switch {
			case tc.median == "" && d.MedianHoursToResolve != nil:
				t.Errorf("median %s, want none", d.MedianHoursToResolve)
			case tc.median != "" && (d.MedianHoursToResolve == nil || !d.MedianHoursToResolve.Equal(decimal.RequireFromString(tc.median))):
				t.Errorf("median %v, want %s", d.MedianHoursToResolve, tc.median)
			}
		})
	}
}

// TestComplianceDisputeStatsBeyondRowLimit: a period with more closed
// claims than reconcile.MaxReportRows is counted whole, and its median is
// that of all of them (it used to stop reading at MaxReportRows rows, in
// no particular order).
func TestComplianceDisputeStatsBeyondRowLimit(t *testing.T) {
	f := newFixture(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	n := reconcile.MaxReportRows + 1 // odd: the median is claim n/2+1's
	// Claim i (1..n) opened i minutes before noon and resolved at noon.
	if _, err := f.db.Pool.Exec(f.ctx, `
		INSERT INTO disputes (id, tenant_id, escrow_id, status, reason, claimed_amount, currency, description,
			evidence_hours, seller_response_due_at, escalation_due_at, evidence_due_at, next_deadline_at,
			outcome, resolved_at, created_at, updated_at)
		SELECT gen_random_uuid(), $1, gen_random_uuid(), 'resolved', 'damaged', 10, 'EUR', 'bulk', 24, $2, $2, $2, $2,
			'refund_full', $2, $2::TIMESTAMPTZ - i * INTERVAL '1 minute', $2
		FROM generate_series(1, $3::INT8) AS i`, f.tenant, day.Add(12*time.Hour), n); err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.Compliance(f.ctx, f.tenant, reconcile.ComplianceQuery{Period: reconcile.Period{From: day, To: day}})
	if err != nil {
		t.Fatal(err)
	}
	want := decimal.NewFromInt(int64(n/2 + 1)).Div(decimal.NewFromInt(60)).Round(2)
	if d := rep.Disputes; d.Outcomes["refund_full"] != n || d.MedianHoursToResolve == nil || !d.MedianHoursToResolve.Equal(want) {
		t.Fatalf("%d claims resolved: counted %d, median %v hours; want %d, %s", n, d.Outcomes["refund_full"], d.MedianHoursToResolve, n, want)
	}
}
