package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/risk"
)

// TestDisputeCoverageThroughGateAPI: the answer to a resolution whose
// coverage (a refund of money already released, paid from the guarantee)
// the gate blocked or held still renders, covering nothing when blocked;
// a held coverage is a review of subject type coverage, approved through
// the review route.
func TestDisputeCoverageThroughGateAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.deps.FX.ImportRates(ctx, e.tenantA, []fx.RateSet{{Base: "EUR", AsOf: e.clock.Now().Add(-time.Hour), Source: "test",
		Rates: map[string]decimal.Decimal{"USD": decimal.RequireFromString("1.08")}}}); err != nil {
		t.Fatal(err)
	}
	mp, agent := tenants.RoleMarketplace, tenants.RoleDisputeAgent
	// claim opens and escalates a claim of all of a released 100.00 escrow.
	claim := func() (string, string) {
		es := disputeEscrow(e, e.tenantA, true)
		if _, err := e.deps.Escrows.Accept(ctx, e.tenantA, es.ID, 0); err != nil {
			t.Fatal(err)
		}
		d := e.must(http.StatusCreated, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/disputes", role: mp,
			body: map[string]any{"reason": "not_as_described", "claimed_amount": "100.00", "description": "blue, not red"}}).json(t)
		path := "/v1/disputes/" + d["id"].(string)
		e.must(http.StatusOK, req{method: "POST", path: path + "/escalate", role: mp, body: map[string]any{"by": "seller"}})
		return path, es.Buyer.ID
	}
	resolve := func(path string) map[string]any {
		return e.must(http.StatusOK, req{method: "POST", path: path + "/resolve", role: agent,
			body: map[string]any{"outcome": "refund_full", "rationale": "colour differs"}}).json(t)
	}

	// Blocked: the buyer is frozen.
	path, buyer := claim()
	e.must(http.StatusOK, req{method: "POST", path: "/v1/parties/" + buyer + "/freeze", role: tenants.RoleRiskReviewer, body: map[string]any{"reason": "account takeover"}})
	res := resolve(path)
	cov := res["coverage"].(map[string]any)
	if res["covered_amount"] != "0.00" || cov["needed_amount"] != "100.00" || cov["covered_amount"] != "0.00" || len(cov["ledger_entry_ids"].([]any)) != 0 ||
		res["dispute"].(map[string]any)["status"] != "resolved" {
		t.Fatalf("blocked coverage: %v", res)
	}
	if risk, _ := cov["risk"].(map[string]any); cov["status"] != "blocked" || risk == nil || risk["decision"] != "block" ||
		res["dispute"].(map[string]any)["resolution"].(map[string]any)["coverage_status"] != "blocked" {
		t.Fatalf("blocked coverage does not say so: coverage %v, resolution %v", cov, res["dispute"].(map[string]any)["resolution"])
	}

	// Held for review, then approved.
	rules := append(risk.DefaultRules().Rules, risk.Rule{ID: "big_refund", When: `operation == "refund" && amount_usd_cents > 5000`, Action: risk.OutcomeReview, Reason: "big_refund"})
	if _, err := e.deps.Risk.PutRules(ctx, e.tenantA, risk.RuleSetInput{Rules: rules}, "test"); err != nil {
		t.Fatal(err)
	}
	path, _ = claim()
	res = resolve(path)
	if res["covered_amount"] != "100.00" || res["dispute"].(map[string]any)["status"] != "resolved" {
		t.Fatalf("held coverage: %v", res)
	}
	cov = res["coverage"].(map[string]any)
	if cov["status"] != "pending_review" || cov["review_id"] == nil || res["dispute"].(map[string]any)["resolution"].(map[string]any)["coverage_status"] != "pending_review" {
		t.Fatalf("held coverage does not say it waits: coverage %v", cov)
	}
	pending := e.must(http.StatusOK, req{method: "GET", path: "/v1/risk/reviews?status=pending", role: tenants.RoleRiskReviewer}).json(t)["data"].([]any)
	if len(pending) != 1 || pending[0].(map[string]any)["subject_type"] != "coverage" || pending[0].(map[string]any)["id"] != cov["review_id"] {
		t.Fatalf("pending reviews %v, want the coverage's %v", pending, cov["review_id"])
	}
	got := e.must(http.StatusOK, req{method: "POST", path: "/v1/risk/reviews/" + pending[0].(map[string]any)["id"].(string) + "/approve",
		role: tenants.RoleRiskReviewer, body: map[string]any{"note": "photos checked"}}).json(t)
	if got["subject_status"] != "completed" {
		t.Fatalf("approved review %v", got)
	}
}
