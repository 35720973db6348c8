package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/risk"
)

func init() {
	// Another tenant's review and decision, for the route-table walk.
	otherTenantResource["/v1/risk/reviews/"] = func(e *env) string { return riskDecide(e, e.tenantB).ReviewID.String() }
	otherTenantResource["/v1/risk/decisions/"] = func(e *env) string { return riskDecide(e, e.tenantB).ID.String() }
}

// riskDecide runs the gate on a payout that has no USD rate (XAF), so it
// fails closed to review. Its subject type has no resolver.
func riskDecide(e *env, tenant uuid.UUID) risk.GateDecision {
	e.t.Helper()
	var d risk.GateDecision
	err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		d, err = e.deps.Risk.Gate.Decide(context.Background(), tx, risk.GateInput{
			TenantID: tenant, Operation: risk.OperationRelease, SubjectType: "test_payout", SubjectID: uuid.Must(uuid.NewV7()),
			Amount: decimal.NewFromInt(150000), Currency: "XAF",
			Buyer: risk.Party{ID: "buyer-1", Name: "Awa Ndiaye", Country: "SN"}, Seller: risk.Party{ID: "seller-1", Name: "Moussa Diop", Country: "SN"},
		}, e.clock.Now())
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if d.Outcome != risk.OutcomeReview || d.ReviewID == nil {
		e.t.Fatalf("decision %s without review", d.Outcome)
	}
	return d
}

func TestRiskRulesAPI(t *testing.T) {
	e := newEnv(t)
	got := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/rules", role: tenants.RoleRiskReviewer}).json(t)
	if got["default"] != true || got["version"] != float64(1) || got["review_threshold"] != float64(65) || got["block_threshold"] != float64(90) {
		t.Fatalf("default rules: %v", got)
	}
	rules := risk.DefaultRules().Rules
	bad := append([]risk.Rule(nil), rules...)
	bad[3].When = `buyer_first_seen_days <`
	e.must(http.StatusForbidden, req{method: http.MethodPut, path: "/v1/risk/rules", role: tenants.RoleRiskReviewer, body: map[string]any{"rules": rules}})

	r := e.must(http.StatusUnprocessableEntity, req{method: http.MethodPut, path: "/v1/risk/rules", role: tenants.RoleAdmin, body: map[string]any{"rules": bad}})
	p := r.json(t)
	errs, _ := p["errors"].([]any)
	if r.code(t) != "invalid_rule" || len(errs) != 1 || errs[0].(map[string]any)["field"] != "rules[3].when" {
		t.Fatalf("invalid rule answer: %s", r.body)
	}
	r = e.must(http.StatusUnprocessableEntity, req{method: http.MethodPut, path: "/v1/risk/rules", role: tenants.RoleAdmin,
		body: map[string]any{"rules": rules, "review_threshold": 95, "block_threshold": 90}})
	if f := r.json(t)["errors"].([]any)[0].(map[string]any)["field"]; f != "block_threshold" {
		t.Errorf("threshold error names %v", f)
	}
	r = e.must(http.StatusBadRequest, req{method: http.MethodPut, path: "/v1/risk/rules", role: tenants.RoleAdmin,
		body: map[string]any{"rules": []map[string]any{{"id": "x", "when": "true", "points": 5, "reason": "x", "weight": 2}}}})
	if r.code(t) != "unknown_field" {
		t.Errorf("unknown rule field: %s", r.body)
	}

	mine := []risk.Rule{{ID: "big", When: `amount_usd_cents > 500000`, Action: risk.OutcomeStepUp, Reason: "large_amount"},
		{ID: "xb", When: `buyer_country != seller_country`, Points: 30, Reason: "cross_border"}}
	got = e.must(http.StatusOK, req{method: http.MethodPut, path: "/v1/risk/rules", role: tenants.RoleAdmin,
		body: map[string]any{"rules": mine, "review_threshold": 30}}).json(t)
	if got["version"] != float64(2) || got["default"] != false || got["review_threshold"] != float64(30) || got["block_threshold"] != float64(90) {
		t.Fatalf("PUT answer %v", got)
	}
	got = e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/rules", role: tenants.RoleAdmin}).json(t)
	if got["version"] != float64(2) || len(got["rules"].([]any)) != 2 {
		t.Fatalf("GET after PUT %v", got)
	}
	other := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/rules", role: tenants.RoleAdmin, tenant: e.tenantB}).json(t)
	if other["version"] != float64(1) {
		t.Errorf("tenant B sees version %v", other["version"])
	}
	// Every change is audited, the rejected ones too (the 403 never
	// reached the route).
	var ok, rejected int
	err := e.db.Pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE outcome = 'ok' AND resource_id = 'rules:v2'), count(*) FILTER (WHERE outcome = 'rejected')
		FROM audit_log WHERE tenant_id = $1 AND method = 'PUT' AND route = '/v1/risk/rules'`, e.tenantA).Scan(&ok, &rejected)
	if err != nil || ok != 1 || rejected != 3 {
		t.Errorf("audit: %d ok, %d rejected (%v), want 1 and 3", ok, rejected, err)
	}
}

func TestSanctionsListAPI(t *testing.T) {
	e := newEnv(t)
	file, err := os.ReadFile("../testdata/real/ofac-sdn-2024-05-03.csv")
	if err != nil {
		t.Fatal(err)
	}
	load := req{method: http.MethodPost, path: "/v1/risk/sanctions-lists?source=ofac-2024-05-03", role: tenants.RoleAdmin, raw: file, contentType: "text/csv", idemKey: "sdn-1"}
	r := e.must(http.StatusCreated, load)
	got := r.json(t)
	if got["entries"] != float64(14965) || got["source"] != "ofac-2024-05-03" || len(got["sha256"].(string)) != 64 {
		t.Fatalf("load answer %v", got)
	}
	if again := e.must(http.StatusCreated, load); again.header.Get("Idempotent-Replayed") != "true" || again.json(t)["id"] != got["id"] {
		t.Errorf("replay: %s %s", again.header, again.body)
	}
	e.must(http.StatusForbidden, req{method: http.MethodPost, path: "/v1/risk/sanctions-lists", role: tenants.RoleRiskReviewer, raw: file, contentType: "text/csv"})
	e.must(http.StatusUnsupportedMediaType, req{method: http.MethodPost, path: "/v1/risk/sanctions-lists", role: tenants.RoleAdmin, body: map[string]any{}})

	lines := strings.SplitN(string(file), "\n", 4)
	broken := lines[0] + "\n" + lines[1] + "\n" + "12,\"ONLY THREE\",-0- \r\n"
	r = e.must(http.StatusBadRequest, req{method: http.MethodPost, path: "/v1/risk/sanctions-lists", role: tenants.RoleAdmin, raw: []byte(broken), contentType: "text/csv"})
	p := r.json(t)
	if r.code(t) != "invalid_sanctions_list" || p["line"] != float64(3) || !strings.Contains(p["detail"].(string), "line 3") {
		t.Errorf("broken file: %s", r.body)
	}
	r = e.must(http.StatusBadRequest, req{method: http.MethodPost, path: "/v1/risk/sanctions-lists", role: tenants.RoleAdmin, raw: []byte("\r\n"), contentType: "text/csv"})
	if r.code(t) != "invalid_sanctions_list" {
		t.Errorf("empty file: %s", r.body)
	}
}

func TestRiskReviewsAPI(t *testing.T) {
	e := newEnv(t)
	var ids []uuid.UUID
	for range 3 {
		ids = append(ids, *riskDecide(e, e.tenantA).ReviewID)
	}
	riskDecide(e, e.tenantB)

	page := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/reviews?status=pending&limit=2", role: tenants.RoleRiskReviewer}).json(t)
	data := page["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["id"] != ids[0].String() || page["next_cursor"] == nil {
		t.Fatalf("first page %v", page)
	}
	first := data[0].(map[string]any)
	reasons, _ := json.Marshal(first["reasons"])
	if first["status"] != "pending" || first["subject_type"] != "test_payout" || !strings.Contains(string(reasons), `"code":"scoring_error"`) {
		t.Errorf("review JSON %v", first)
	}
	page = e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/reviews?status=pending&limit=2&cursor=" + page["next_cursor"].(string), role: tenants.RoleAdmin}).json(t)
	if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != ids[2].String() {
		t.Fatalf("second page %v", page)
	}
	if r := e.must(http.StatusUnprocessableEntity, req{method: http.MethodGet, path: "/v1/risk/reviews?status=open", role: tenants.RoleAdmin}); r.code(t) != "validation_failed" {
		t.Errorf("bad status: %s", r.body)
	}
	e.must(http.StatusForbidden, req{method: http.MethodGet, path: "/v1/risk/reviews", role: tenants.RoleMarketplace})

	path := fmt.Sprintf("/v1/risk/reviews/%s", ids[0])
	e.must(http.StatusOK, req{method: http.MethodGet, path: path, role: tenants.RoleRiskReviewer})
	e.must(http.StatusNotFound, req{method: http.MethodGet, path: path, role: tenants.RoleRiskReviewer, tenant: e.tenantB})
	e.must(http.StatusNotFound, req{method: http.MethodPost, path: path + "/approve", role: tenants.RoleRiskReviewer, tenant: e.tenantB, body: map[string]any{}})

	got := e.must(http.StatusOK, req{method: http.MethodPost, path: path + "/approve", role: tenants.RoleRiskReviewer, body: map[string]any{"note": "known buyer"}}).json(t)
	if got["status"] != "approved" || got["note"] != "known buyer" || !strings.HasPrefix(got["decided_by"].(string), "key:") || got["decided_at"] == nil {
		t.Fatalf("approve answer %v", got)
	}
	if r := e.must(http.StatusConflict, req{method: http.MethodPost, path: path + "/reject", role: tenants.RoleAdmin, body: map[string]any{}}); r.code(t) != "review_decided" {
		t.Errorf("second decision: %s", r.body)
	}
	got = e.must(http.StatusOK, req{method: http.MethodPost, path: fmt.Sprintf("/v1/risk/reviews/%s/reject", ids[1]), role: tenants.RoleAdmin, raw: []byte{}, idemKey: "rej-1"}).json(t)
	if got["status"] != "rejected" {
		t.Errorf("reject answer %v", got)
	}
	pending := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/reviews?status=pending", role: tenants.RoleRiskReviewer}).json(t)
	if n := len(pending["data"].([]any)); n != 1 {
		t.Errorf("%d pending after two decisions, want 1", n)
	}
}

func TestRiskDecisionAPI(t *testing.T) {
	e := newEnv(t)
	d := riskDecide(e, e.tenantA)
	path := "/v1/risk/decisions/" + d.ID.String()
	for _, role := range []tenants.Role{tenants.RoleMarketplace, tenants.RoleRiskReviewer, tenants.RoleAdmin} {
		e.must(http.StatusOK, req{method: http.MethodGet, path: path, role: role})
	}
	e.must(http.StatusForbidden, req{method: http.MethodGet, path: path, role: tenants.RoleFinance})
	e.must(http.StatusNotFound, req{method: http.MethodGet, path: path, role: tenants.RoleMarketplace, tenant: e.tenantB})
	got := e.must(http.StatusOK, req{method: http.MethodGet, path: path, role: tenants.RoleMarketplace}).json(t)
	f, _ := got["features"].(map[string]any)
	if got["outcome"] != "review" || got["amount"] != "150000" || got["currency"] != "XAF" || got["rules_version"] != float64(1) ||
		got["review_id"] != d.ReviewID.String() || f == nil || f["buyer_country"] != "SN" {
		t.Errorf("decision %v", got)
	}
}

func TestFreezeAPI(t *testing.T) {
	e := newEnv(t)
	got := e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/parties/seller-77/freeze", role: tenants.RoleMarketplace, body: map[string]any{"reason": "account takeover"}}).json(t)
	if got["frozen"] != true || got["party_id"] != "seller-77" || got["reason"] != "account takeover" {
		t.Fatalf("freeze %v", got)
	}
	if ok, err := risk.IsFrozen(context.Background(), e.db.Pool, e.tenantA, "seller-77"); !ok || err != nil {
		t.Fatalf("not frozen: %v", err)
	}
	if ok, _ := risk.IsFrozen(context.Background(), e.db.Pool, e.tenantB, "seller-77"); ok {
		t.Fatal("frozen in tenant B")
	}
	e.must(http.StatusUnprocessableEntity, req{method: http.MethodPost, path: "/v1/parties/seller-77/freeze", role: tenants.RoleRiskReviewer, body: map[string]any{}})
	e.must(http.StatusForbidden, req{method: http.MethodPost, path: "/v1/parties/seller-77/freeze", role: tenants.RoleFinance, body: map[string]any{"reason": "x"}})
	got = e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/parties/seller-77/unfreeze", role: tenants.RoleRiskReviewer}).json(t)
	if got["frozen"] != false || got["unfrozen_at"] == nil {
		t.Fatalf("unfreeze %v", got)
	}
	e.must(http.StatusNotFound, req{method: http.MethodPost, path: "/v1/parties/seller-77/unfreeze", role: tenants.RoleRiskReviewer, body: map[string]any{}})
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE tenant_id = $1 AND type IN ('party.frozen', 'party.unfrozen') AND subject_id = 'seller-77'`, e.tenantA).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d freeze events (%v), want 2", n, err)
	}
	// A party id with a "/" (escrows accept any printable id) is
	// addressed escaped.
	got = e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/parties/" + url.PathEscape("shop/42 é") + "/freeze", role: tenants.RoleRiskReviewer,
		body: map[string]any{"reason": "fraud ring"}}).json(t)
	if got["party_id"] != "shop/42 é" {
		t.Fatalf("freeze of an escaped id: %v", got)
	}
	if ok, err := risk.IsFrozen(context.Background(), e.db.Pool, e.tenantA, "shop/42 é"); !ok || err != nil {
		t.Fatalf("shop/42 é not frozen: %v", err)
	}
}

// TestSanctionsFalsePositiveCleared: a seller whose name matches the SDN
// list has its escrow reviewed at creation and its release blocked; a
// reviewer who approves the review (a false positive) clears the match,
// and the release then goes through. Rejecting keeps it blocked.
func TestSanctionsFalsePositiveCleared(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	file, err := os.ReadFile("../testdata/real/ofac-sdn-2024-05-03.csv")
	if err != nil {
		t.Fatal(err)
	}
	e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/risk/sanctions-lists", role: tenants.RoleAdmin, raw: file, contentType: "text/csv"})
	reviewOf := func(escrowID string) string {
		t.Helper()
		page := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/reviews?status=pending", role: tenants.RoleRiskReviewer}).json(t)
		for _, r := range page["data"].([]any) {
			rv := r.(map[string]any)
			if rv["escrow_id"] == escrowID {
				return rv["id"].(string)
			}
		}
		t.Fatalf("no pending review of escrow %s in %v", escrowID, page)
		return ""
	}
	funded := func(ref, seller string) string {
		t.Helper()
		b := escrowBody(ref, "40.00", "EUR")
		b["seller"] = map[string]any{"id": seller, "name": "Joaquin Guzman Loera", "country": "MX"} // SDN entry 6861
		id := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/escrows", role: mp, body: b}).json(t)["id"].(string)
		e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "40.00", "currency": "EUR", "payment_ref": "pay-" + ref}, http.StatusOK)
		return id
	}

	rejected := funded("PO-sdn-1", "seller-guzman-1")
	e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/risk/reviews/" + reviewOf(rejected) + "/reject", role: tenants.RoleRiskReviewer,
		body: map[string]any{"note": "confirmed"}})
	if r := e.escrowAct(e.tenantA, rejected, "release", nil, http.StatusUnprocessableEntity); r["code"] != "release_blocked" {
		t.Fatalf("after a rejected review: %v", r)
	}

	cleared := funded("PO-sdn-2", "seller-guzman-2")
	if r := e.escrowAct(e.tenantA, cleared, "release", nil, http.StatusUnprocessableEntity); r["code"] != "release_blocked" ||
		!strings.Contains(fmt.Sprint(r["reasons"]), "sanctions_match") {
		t.Fatalf("before the review: %v", r)
	}
	e.escrowAct(e.tenantA, cleared, "release", nil, http.StatusUnprocessableEntity) // tried again
	// One review waits: the one opened at creation, which the blocked
	// releases point at instead of opening their own.
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM risk_reviews WHERE subject_id = $1 AND status = 'pending'`, cleared).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d pending reviews of the escrow (%v), want 1", n, err)
	}
	rv := reviewOf(cleared)
	got := e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/risk/reviews/" + rv + "/approve", role: tenants.RoleRiskReviewer,
		body: map[string]any{"note": "namesake, different date of birth"}}).json(t)
	if m, _ := got["match"].(map[string]any); m == nil || m["party_id"] != "seller-guzman-2" || m["ent_num"] != float64(6861) {
		t.Fatalf("approved review %v", got)
	}
	rel := e.escrowAct(e.tenantA, cleared, "release", nil, http.StatusOK)
	if rel["release"].(map[string]any)["status"] != "completed" || rel["escrow"].(map[string]any)["state"] != "completed" {
		t.Fatalf("release after clearance: %v", rel)
	}
	// The other seller's match stands.
	e.escrowAct(e.tenantA, rejected, "release", nil, http.StatusUnprocessableEntity)

	// The clearance is listed, and a reviewer who cleared by mistake
	// revokes it: the seller's next escrow is blocked again.
	list := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/clearances?party_id=seller-guzman-2", role: tenants.RoleRiskReviewer}).json(t)
	cs, _ := list["data"].([]any)
	if len(cs) != 1 {
		t.Fatalf("clearances %v, want one", list)
	}
	c := cs[0].(map[string]any)
	if c["party"] != "seller" || c["ent_num"] != float64(6861) || c["review_id"] != rv || c["name"] != "Joaquin Guzman Loera" {
		t.Fatalf("clearance %v", c)
	}
	revokePath := "/v1/risk/clearances/" + c["id"].(string) + "/revoke"
	if p := e.must(http.StatusUnprocessableEntity, req{method: http.MethodPost, path: revokePath, role: tenants.RoleRiskReviewer, body: map[string]any{}}).json(t); !strings.Contains(fmt.Sprint(p), "reason") {
		t.Fatalf("revocation without a reason: %v", p)
	}
	e.must(http.StatusNotFound, req{method: http.MethodPost, path: revokePath, role: tenants.RoleRiskReviewer, tenant: e.tenantB, body: map[string]any{"reason": "x"}})
	revoked := e.must(http.StatusOK, req{method: http.MethodPost, path: revokePath, role: tenants.RoleRiskReviewer,
		body: map[string]any{"reason": "same date of birth after all"}}).json(t)
	if revoked["reason"] != "same date of birth after all" || revoked["revoked_at"] == nil {
		t.Fatalf("revoked %v", revoked)
	}
	e.must(http.StatusNotFound, req{method: http.MethodPost, path: revokePath, role: tenants.RoleRiskReviewer, body: map[string]any{"reason": "again"}})
	if again := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/risk/clearances", role: tenants.RoleRiskReviewer}).json(t); len(again["data"].([]any)) != 0 {
		t.Fatalf("after the revocation: %v", again)
	}
	next := funded("PO-sdn-3", "seller-guzman-2")
	if r := e.escrowAct(e.tenantA, next, "release", nil, http.StatusUnprocessableEntity); r["code"] != "release_blocked" {
		t.Fatalf("after the revocation: %v", r)
	}
}

// TestApprovedLargeReleaseAsksTheBuyer: a release over USD 10,000 that
// also scores for review is approved by a risk reviewer; the answer says
// the release now awaits the buyer's confirmation, the code comes in
// release.confirmation_required, and only the code pays the seller.
func TestApprovedLargeReleaseAsksTheBuyer(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	e.must(200, req{method: "PUT", path: "/v1/risk/rules", role: tenants.RoleAdmin, body: map[string]any{"rules": []any{
		risk.DefaultRules().Rules[0], map[string]any{"id": "suspect", "when": "true", "points": 70, "reason": "suspect"}}}})
	id := e.newEscrow(e.tenantA, "PO-large", "12000.00", "USD", nil)["id"].(string)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "12000.00", "currency": "USD", "payment_ref": "pay-large"}, 200)
	rel := e.escrowAct(e.tenantA, id, "release", nil, 200)["release"].(map[string]any)
	if rel["status"] != "pending_review" || rel["review_id"] == nil {
		t.Fatalf("release: %v", rel)
	}
	relID := rel["id"].(string)
	got := e.must(200, req{method: "POST", path: "/v1/risk/reviews/" + rel["review_id"].(string) + "/approve", role: tenants.RoleRiskReviewer,
		body: map[string]any{"note": "known buyer"}}).json(t)
	if got["status"] != "approved" || got["subject_status"] != "awaiting_confirmation" {
		t.Fatalf("approve answer %v, want approved with subject_status awaiting_confirmation", got)
	}
	if ev := e.lastEvent(e.tenantA, "risk.review_decided"); ev["subject_status"] != "awaiting_confirmation" {
		t.Errorf("risk.review_decided %v, want subject_status awaiting_confirmation", ev)
	}
	after := e.must(200, req{method: "GET", path: "/v1/releases/" + relID, role: mp}).json(t)
	es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t)
	if after["status"] != "awaiting_confirmation" || es["pending_amount"] != "12000.00" || es["released_amount"] != "0.00" {
		t.Fatalf("after the approval: release %v, escrow %v", after, es)
	}
	ev := e.lastEvent(e.tenantA, "release.confirmation_required")
	code, _ := ev["code"].(string)
	if ev["release_id"] != relID || len(code) != 6 {
		t.Fatalf("release.confirmation_required %v", ev)
	}
	ok := e.must(200, req{method: "POST", path: "/v1/releases/" + relID + "/confirm", role: mp, body: map[string]any{"code": code}}).json(t)
	if ok["release"].(map[string]any)["status"] != "completed" || ok["escrow"].(map[string]any)["released_amount"] != "12000.00" {
		t.Fatalf("the buyer's code: %v", ok)
	}
}
