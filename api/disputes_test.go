package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/tenants"
)

const evidenceSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func init() {
	// Another tenant's dispute and chargeback, for the route-table walk.
	otherTenantResource["/v1/disputes/"] = func(e *env) string {
		d, err := e.deps.Disputes.Open(context.Background(), e.tenantB, disputeEscrow(e, e.tenantB, false).ID,
			disputes.OpenRequest{Reason: disputes.ReasonNotReceived, ClaimedAmount: "10.00", Description: "never arrived"})
		if err != nil {
			e.t.Fatal(err)
		}
		return d.ID.String()
	}
	otherTenantResource["/v1/chargebacks/"] = func(e *env) string {
		by := e.clock.Now().Add(72 * time.Hour)
		cb, err := e.deps.Disputes.OpenChargeback(context.Background(), e.tenantB, disputeEscrow(e, e.tenantB, false).ID,
			disputes.ChargebackRequest{Amount: "10.00", Currency: "EUR", PSPRef: uuid.NewString(), Reason: "fraud", RespondBy: &by})
		if err != nil {
			e.t.Fatal(err)
		}
		return cb.ID.String()
	}
	evidence := map[string]any{"party": "seller", "kind": "tracking", "description": "delivered", "uri": "https://x.example/t", "sha256": evidenceSHA}
	for route, body := range map[string]any{
		"POST /v1/escrows/{id}/disputes":                  map[string]any{"reason": "not_received", "claimed_amount": "10.00", "description": "x"},
		"POST /v1/disputes/{id}/evidence":                 evidence,
		"POST /v1/disputes/{id}/offers":                   map[string]any{"by": "seller", "refund_amount": "1.00"},
		"POST /v1/disputes/{id}/offers/{offer_id}/accept": map[string]any{},
		"POST /v1/disputes/{id}/offers/{offer_id}/reject": map[string]any{},
		"POST /v1/disputes/{id}/escalate":                 map[string]any{"by": "seller"},
		"POST /v1/disputes/{id}/withdraw":                 map[string]any{},
		"POST /v1/disputes/{id}/assign":                   map[string]any{"agent": "agent-1"},
		"POST /v1/disputes/{id}/resolve":                  map[string]any{"outcome": "release_full", "rationale": "r"},
		"POST /v1/escrows/{id}/chargebacks": map[string]any{"amount": "1.00", "currency": "EUR", "psp_ref": "walk", "reason": "fraud",
			"respond_by": time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)},
		"POST /v1/chargebacks/{id}/evidence": evidence,
		"POST /v1/chargebacks/{id}/submit":   map[string]any{},
		"POST /v1/chargebacks/{id}/won":      map[string]any{},
		"POST /v1/chargebacks/{id}/lost":     map[string]any{},
	} {
		sampleBodies[route] = body
	}
}

// disputeEscrow makes a funded 100.00 EUR escrow of tenant (delivered when
// asked) through the service.
func disputeEscrow(e *env, tenant uuid.UUID, deliver bool) escrow.Escrow {
	e.t.Helper()
	ctx := context.Background()
	n := uuid.NewString()[:8]
	es, err := e.deps.Escrows.Create(ctx, tenant, escrow.CreateRequest{OrderRef: "o-" + n, Amount: "100.00", Currency: "EUR",
		Buyer:  escrow.PartyInput{ID: "b-" + n, Name: "Ana Buyer", Country: "DE"},
		Seller: escrow.PartyInput{ID: "s-" + n, Name: "Sam Seller", Country: "DE"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if es, err = e.deps.Escrows.Fund(ctx, tenant, es.ID, 0, escrow.FundRequest{Amount: "100.00", Currency: "EUR", PaymentRef: "p-" + n}); err != nil {
		e.t.Fatal(err)
	}
	if deliver {
		if _, err := e.deps.Escrows.Ship(ctx, tenant, es.ID, 0, escrow.ShipRequest{Carrier: "DHL", TrackingNumber: "1"}); err != nil {
			e.t.Fatal(err)
		}
		if es, err = e.deps.Escrows.Deliver(ctx, tenant, es.ID, 0, escrow.DeliverRequest{}); err != nil {
			e.t.Fatal(err)
		}
	}
	return es
}

// TestDisputeAPI walks a claim through the HTTP API: not as described,
// the seller offers 30%, the buyer escalates, an agent resolves with a
// partial refund; with the error codes of the contract along the way.
func TestDisputeAPI(t *testing.T) {
	e := newEnv(t)
	if _, err := e.deps.FX.ImportRates(context.Background(), e.tenantA, []fx.RateSet{{Base: "EUR", AsOf: e.clock.Now().Add(-time.Hour), Source: "test",
		Rates: map[string]decimal.Decimal{"USD": decimal.RequireFromString("1.08")}}}); err != nil {
		t.Fatal(err)
	}
	mp, agent, admin := tenants.RoleMarketplace, tenants.RoleDisputeAgent, tenants.RoleAdmin
	// Policy: admin sets it; new escrows copy it.
	e.must(http.StatusForbidden, req{method: "PUT", path: "/v1/disputes/policy", role: mp, body: map[string]any{"seller_response_hours": 24, "escalation_hours": 96, "evidence_hours": 48}})
	e.must(http.StatusUnprocessableEntity, req{method: "PUT", path: "/v1/disputes/policy", role: admin, body: map[string]any{"seller_response_hours": 100, "escalation_hours": 96, "evidence_hours": 48}})
	e.must(http.StatusOK, req{method: "PUT", path: "/v1/disputes/policy", role: admin, body: map[string]any{"seller_response_hours": 24, "escalation_hours": 96, "evidence_hours": 48}})
	if got := e.must(http.StatusOK, req{method: "GET", path: "/v1/disputes/policy", role: agent}).json(t); got["default"] != false || got["escalation_hours"] != float64(96) {
		t.Fatalf("policy %v", got)
	}
	funded := disputeEscrow(e, e.tenantA, false)
	if got := e.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/escrows/" + funded.ID.String() + "/disputes", role: mp,
		body: map[string]any{"reason": "quality", "claimed_amount": "10.00", "description": "x"}}); got.code(t) != "claim_window_closed" {
		t.Fatalf("code %s", got.code(t))
	}
	es := disputeEscrow(e, e.tenantA, true)
	claim := map[string]any{"reason": "not_as_described", "claimed_amount": "100.00", "description": "blue, not red"}
	d := e.must(http.StatusCreated, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/disputes", role: mp, body: claim}).json(t)
	id := d["id"].(string)
	if d["status"] != "negotiating" || d["seller_response_due_at"] != e.clock.Now().Add(24*time.Hour).Format(time.RFC3339) {
		t.Fatalf("dispute %v", d)
	}
	if got := e.must(http.StatusConflict, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/disputes", role: mp, body: claim}); got.code(t) != "dispute_open" {
		t.Fatalf("second claim: %s", got.code(t))
	}
	path := "/v1/disputes/" + id
	if got := e.must(http.StatusConflict, req{method: "POST", path: path + "/escalate", role: mp, body: map[string]any{"by": "buyer"}}); got.code(t) != "negotiation_open" {
		t.Fatalf("early escalation: %s", got.code(t))
	}
	e.must(http.StatusCreated, req{method: "POST", path: path + "/evidence", role: mp,
		body: map[string]any{"party": "buyer", "kind": "photo", "description": "colour", "uri": "https://files.example/p.jpg", "sha256": evidenceSHA}})
	offer := e.must(http.StatusCreated, req{method: "POST", path: path + "/offers", role: mp, body: map[string]any{"by": "seller", "refund_amount": "30.00", "note": "30%"}}).json(t)
	offerID := offer["offer"].(map[string]any)["id"].(string)
	e.must(http.StatusOK, req{method: "POST", path: path + "/offers/" + offerID + "/reject", role: mp})
	if got := e.must(http.StatusConflict, req{method: "POST", path: path + "/offers/" + offerID + "/accept", role: mp}); got.code(t) != "offer_not_open" {
		t.Fatalf("accepting a rejected offer: %s", got.code(t))
	}
	e.must(http.StatusOK, req{method: "POST", path: path + "/escalate", role: mp, body: map[string]any{"by": "buyer"}})
	// Agent-only routes.
	e.must(http.StatusForbidden, req{method: "GET", path: "/v1/disputes", role: mp})
	e.must(http.StatusForbidden, req{method: "POST", path: path + "/resolve", role: mp, body: map[string]any{"outcome": "release_full", "rationale": "r"}})
	e.must(http.StatusForbidden, req{method: "POST", path: path + "/assign", role: tenants.RoleRiskReviewer, body: map[string]any{"agent": "x"}})
	queue := e.must(http.StatusOK, req{method: "GET", path: "/v1/disputes?status=under_review&overdue=false", role: agent}).json(t)
	if data := queue["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != id {
		t.Fatalf("queue %v", queue)
	}
	e.must(http.StatusUnprocessableEntity, req{method: "GET", path: "/v1/disputes?overdue=maybe", role: agent})
	e.must(http.StatusOK, req{method: "POST", path: path + "/assign", role: agent, body: map[string]any{"agent": "agent-7"}})
	if data := e.must(http.StatusOK, req{method: "GET", path: "/v1/disputes?assignee=agent-8", role: agent}).json(t)["data"].([]any); len(data) != 0 {
		t.Fatalf("assignee filter: %v", data)
	}
	e.must(http.StatusUnprocessableEntity, req{method: "POST", path: path + "/resolve", role: agent, body: map[string]any{"outcome": "refund_partial", "rationale": "r"}})
	res := e.must(http.StatusOK, req{method: "POST", path: path + "/resolve", role: agent,
		body: map[string]any{"outcome": "refund_partial", "refund_amount": "40.00", "rationale": "colour differs; goods usable"}}).json(t)
	if res["capped"] != false || res["dispute"].(map[string]any)["status"] != "resolved" || res["refund"].(map[string]any)["amount"] != "40.00" ||
		res["release"].(map[string]any)["amount"] != "60.00" || res["escrow"].(map[string]any)["state"] != "completed" {
		t.Fatalf("resolution %v", res)
	}
	// The agent gets the escrow's parties masked, as in its escrow reads.
	if b, s := res["escrow"].(map[string]any)["buyer"].(map[string]any), res["escrow"].(map[string]any)["seller"].(map[string]any); b["name"] != "A*** B***" || s["name"] != "S*** S***" {
		t.Fatalf("resolution shows the agent buyer %v, seller %v; want them masked", b, s)
	}
	e.must(http.StatusConflict, req{method: "POST", path: path + "/resolve", role: agent, body: map[string]any{"outcome": "release_full", "rationale": "again"}})
	full := e.must(http.StatusOK, req{method: "GET", path: path, role: mp}).json(t)
	types := map[string]bool{}
	for _, it := range full["timeline"].([]any) {
		types[it.(map[string]any)["type"].(string)] = true
	}
	for _, want := range []string{"dispute.opened", "evidence.photo", "dispute.offer_made", "offer.rejected", "dispute.escalated", "dispute.assigned", "dispute.resolved", "refund.completed"} {
		if !types[want] {
			t.Errorf("timeline lacks %s: %v", want, types)
		}
	}
	// Evidence after the deadline.
	other := disputeEscrow(e, e.tenantA, true)
	d2 := e.must(http.StatusCreated, req{method: "POST", path: "/v1/escrows/" + other.ID.String() + "/disputes", role: mp, body: claim}).json(t)
	e.clock.Advance(49 * time.Hour)
	got := e.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/disputes/" + d2["id"].(string) + "/evidence", role: mp,
		body: map[string]any{"party": "seller", "kind": "document", "description": "invoice", "uri": "https://files.example/i.pdf", "sha256": evidenceSHA}})
	if got.code(t) != "evidence_deadline_passed" {
		t.Fatalf("late evidence: %s", got.code(t))
	}
	if data := e.must(http.StatusOK, req{method: "GET", path: "/v1/disputes?overdue=true", role: agent}).json(t)["data"].([]any); len(data) != 1 {
		t.Fatalf("overdue queue: %v", data)
	}
}

// TestChargebackAPI: record, respond, lose; finance reads and moves it.
func TestChargebackAPI(t *testing.T) {
	e := newEnv(t)
	es := disputeEscrow(e, e.tenantA, true)
	by := e.clock.Now().Add(7 * 24 * time.Hour)
	body := map[string]any{"amount": "40.00", "currency": "EUR", "psp_ref": "ch_1", "reason": "fraudulent", "respond_by": by}
	e.must(http.StatusForbidden, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/chargebacks", role: tenants.RoleFinance, body: body})
	cb := e.must(http.StatusCreated, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/chargebacks", role: tenants.RoleMarketplace, body: body}).json(t)
	if cb["status"] != "needs_response" || cb["from_held_amount"] != "40.00" {
		t.Fatalf("chargeback %v", cb)
	}
	if got := e.must(http.StatusConflict, req{method: "POST", path: "/v1/escrows/" + es.ID.String() + "/chargebacks", role: tenants.RoleMarketplace, body: body}); got.code(t) != "duplicate_psp_ref" {
		t.Fatalf("duplicate: %s", got.code(t))
	}
	path := fmt.Sprintf("/v1/chargebacks/%s", cb["id"])
	e.must(http.StatusForbidden, req{method: "GET", path: path, role: tenants.RoleRiskReviewer})
	e.must(http.StatusCreated, req{method: "POST", path: path + "/evidence", role: tenants.RoleMarketplace,
		body: map[string]any{"party": "seller", "kind": "tracking", "description": "signed", "uri": "https://x.example/t", "sha256": evidenceSHA}})
	e.must(http.StatusOK, req{method: "POST", path: path + "/submit", role: tenants.RoleFinance})
	lost := e.must(http.StatusOK, req{method: "POST", path: path + "/lost", role: tenants.RoleFinance}).json(t)
	if lost["status"] != "lost" {
		t.Fatalf("lost %v", lost)
	}
	got := e.must(http.StatusOK, req{method: "GET", path: path, role: tenants.RoleFinance}).json(t)
	if ev := got["evidence"].([]any); len(ev) != 1 {
		t.Fatalf("evidence %v", got)
	}
	if c := e.must(http.StatusConflict, req{method: "POST", path: path + "/won", role: tenants.RoleFinance}); c.code(t) != "invalid_state" {
		t.Fatalf("won after lost: %s", c.code(t))
	}
}
