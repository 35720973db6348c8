package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

const mp = tenants.RoleMarketplace

// loadRates imports reference rates for tenant, so the risk gate can price
// payouts in USD (it sends them to review without).
func (e *env) loadRates(tenant uuid.UUID) {
	e.t.Helper()
	got := e.do(req{method: "POST", path: "/v1/fx/rates", role: tenants.RoleFinance, tenant: tenant, body: map[string]any{
		"base": "EUR", "as_of": e.clock.Now().Add(-time.Hour).Format(time.RFC3339),
		"rates": map[string]string{"USD": "1.0800", "GBP": "0.8500", "JPY": "160.00"}}})
	if got.status != 201 && got.status != 200 { // 200: already loaded
		e.t.Fatalf("load rates: %d %s", got.status, got.body)
	}
}

func escrowBody(ref, amount, currency string) map[string]any {
	return map[string]any{
		"order_ref": ref, "amount": amount, "currency": currency,
		"buyer":  map[string]any{"id": "b-" + ref, "name": "Ana Buyer", "country": "DE"},
		"seller": map[string]any{"id": "s-" + ref, "name": "Sam Seller", "country": "FR"},
	}
}

func (e *env) newEscrow(tenant uuid.UUID, ref, amount, currency string, extra map[string]any) map[string]any {
	e.t.Helper()
	b := escrowBody(ref, amount, currency)
	for k, v := range extra {
		b[k] = v
	}
	return e.must(201, req{method: "POST", path: "/v1/escrows", role: mp, tenant: tenant, body: b}).json(e.t)
}

func (e *env) escrowAct(tenant uuid.UUID, id, action string, body any, want int) map[string]any {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return e.must(want, req{method: "POST", path: "/v1/escrows/" + id + "/" + action, role: mp, tenant: tenant, body: body}).json(e.t)
}

// lastEvent returns the data of the newest event of type typ (the clock
// moves on by outbox.PlaceEvery first, so that the poll places every
// event committed so far).
func (e *env) lastEvent(tenant uuid.UUID, typ string) map[string]any {
	e.t.Helper()
	e.clock.Advance(outbox.PlaceEvery)
	evs := e.must(200, req{method: "GET", path: "/v1/events?limit=500&type=" + typ, role: mp, tenant: tenant}).json(e.t)["data"].([]any)
	if len(evs) == 0 {
		e.t.Fatalf("no %s event", typ)
	}
	return evs[len(evs)-1].(map[string]any)["data"].(map[string]any)
}

func TestEscrowHTTPLifecycle(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	created := e.newEscrow(e.tenantA, "PO-1", "1200.00", "EUR", map[string]any{"fees": map[string]any{"platform_fee_bps": 250, "paid_by": "seller"}})
	id := created["id"].(string)
	for k, want := range map[string]any{"state": "awaiting_funding", "amount": "1200.00", "currency": "EUR", "funded_amount": "0.00",
		"held_amount": "0.00", "released_amount": "0.00", "refunded_amount": "0.00", "fee_amount": "30.00", "ledger_account": "escrow:" + id, "version": 1.0} {
		if created[k] != want {
			t.Errorf("created %s = %v, want %v", k, created[k], want)
		}
	}
	for _, k := range []string{"milestones", "terms", "created_at", "updated_at"} {
		if created[k] == nil {
			t.Errorf("created lacks %s", k)
		}
	}
	if ms := created["milestones"].([]any); len(ms) != 1 || ms[0].(map[string]any)["state"] != "open" {
		t.Errorf("milestones %v", ms)
	}
	if created["terms"].(map[string]any)["inspection_hours"] != 72.0 {
		t.Errorf("default terms %v", created["terms"])
	}
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "1200.00", "currency": "EUR", "payment_ref": "pay-1"}, 200)
	e.escrowAct(e.tenantA, id, "ship", map[string]any{"carrier": "DHL", "tracking_number": "1Z"}, 200)
	got := e.escrowAct(e.tenantA, id, "deliver", nil, 200)
	if got["state"] != "delivered" || got["inspection_ends_at"] == nil {
		t.Fatalf("delivered %v", got)
	}
	acc := e.escrowAct(e.tenantA, id, "accept", nil, 200)
	rel := acc["releases"].([]any)[0].(map[string]any)
	if rel["status"] != "completed" || rel["amount"] != "1200.00" || rel["fee_amount"] != "30.00" || rel["net_amount"] != "1170.00" {
		t.Fatalf("release %v", rel)
	}
	if r := rel["risk"].(map[string]any); r["decision"] != "approve" || r["reasons"] == nil {
		t.Fatalf("release risk %v", r)
	}
	if es := acc["escrow"].(map[string]any); es["state"] != "completed" || es["held_amount"] != "0.00" || es["released_amount"] != "1200.00" {
		t.Fatalf("escrow after accept %v", es)
	}
	// The release, the list, the timeline; nothing of it for tenant B.
	relID := rel["id"].(string)
	if g := e.must(200, req{method: "GET", path: "/v1/releases/" + relID, role: mp}).json(t); g["status"] != "completed" {
		t.Fatalf("GET release %v", g)
	}
	list := e.must(200, req{method: "GET", path: "/v1/escrows?order_ref=PO-1&state=completed", role: mp}).json(t)["data"].([]any)
	if len(list) != 1 {
		t.Fatalf("list by order_ref+state: %d", len(list))
	}
	tl := e.must(200, req{method: "GET", path: "/v1/escrows/" + id + "/timeline", role: tenants.RoleDisputeAgent}).json(t)["data"].([]any)
	kinds := map[string]bool{}
	for _, it := range tl {
		m := it.(map[string]any)
		kinds[m["kind"].(string)+":"+m["type"].(string)] = true
	}
	for _, want := range []string{"event:escrow.created", "event:escrow.funded", "event:escrow.shipped", "event:escrow.delivered", "event:escrow.released", "event:escrow.completed", "event:release.completed", "funding:ledger.entry", "payout:release"} {
		if !kinds[want] {
			t.Errorf("timeline lacks %s (has %v)", want, kinds)
		}
	}
	e.must(404, req{method: "GET", path: "/v1/escrows/" + id, role: mp, tenant: e.tenantB})
	e.must(404, req{method: "GET", path: "/v1/releases/" + relID, role: mp, tenant: e.tenantB})
	e.must(404, req{method: "POST", path: "/v1/escrows/" + id + "/ship", role: mp, tenant: e.tenantB, body: map[string]any{"carrier": "x", "tracking_number": "y"}})
	if l := e.must(200, req{method: "GET", path: "/v1/escrows", role: mp, tenant: e.tenantB}).json(t)["data"].([]any); len(l) != 0 {
		t.Fatalf("tenant B lists %d escrows of tenant A", len(l))
	}
}

func TestEscrowHTTPErrors(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	first := e.newEscrow(e.tenantA, "PO-dup", "10.00", "EUR", nil)
	dup := e.must(409, req{method: "POST", path: "/v1/escrows", role: mp, body: escrowBody("PO-dup", "10.00", "EUR")}).json(t)
	if dup["code"] != "duplicate_order_ref" || dup["existing_id"] != first["id"] {
		t.Fatalf("duplicate: %v", dup)
	}
	for _, tc := range []struct {
		amount, currency, code, field string
	}{
		{"10.5", "JPY", "invalid_amount", "amount"},
		{"1.2345", "KWD", "invalid_amount", "amount"},
		{"10.00", "XYZ", "unknown_currency", "currency"},
		{"-1.00", "EUR", "invalid_amount", "amount"},
		{"1e3", "EUR", "invalid_amount", "amount"},
	} {
		got := e.must(422, req{method: "POST", path: "/v1/escrows", role: mp, body: escrowBody("PO-"+tc.currency+tc.amount, tc.amount, tc.currency)}).json(t)
		errs, _ := got["errors"].([]any)
		if got["code"] != tc.code || len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
			t.Errorf("%s %s: %v", tc.amount, tc.currency, got)
		}
	}
	// The session's countries are ISO 3166-1 alpha-2 codes.
	for _, field := range []string{"country", "device_country"} {
		b := escrowBody("PO-rc-"+field, "10.00", "EUR")
		b["risk_context"] = map[string]any{field: "Germany"}
		got := e.must(422, req{method: "POST", path: "/v1/escrows", role: mp, body: b}).json(t)
		errs, _ := got["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["field"] != "risk_context."+field {
			t.Errorf("risk_context.%s Germany: %v", field, got)
		}
	}
	// Amounts must be strings.
	b := escrowBody("PO-num", "1", "EUR")
	b["amount"] = 10.5
	if got := e.must(400, req{method: "POST", path: "/v1/escrows", role: mp, body: b}); got.code(t) != "invalid_json" {
		t.Fatalf("numeric amount: %s", got.body)
	}
	id := first["id"].(string)
	inv := e.escrowAct(e.tenantA, id, "ship", map[string]any{"carrier": "c", "tracking_number": "t"}, 409)
	if inv["code"] != "invalid_state" || inv["state"] != "awaiting_funding" {
		t.Fatalf("invalid state: %v", inv)
	}
	over := e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "10.01", "currency": "EUR", "payment_ref": "p1"}, 422)
	if over["code"] != "amount_mismatch" {
		t.Fatalf("over-funding: %v", over)
	}
	funded := e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "10.00", "currency": "EUR", "payment_ref": "p1"}, 200)
	// If-Match: a stale version is 412; the current one goes through.
	stale := fmt.Sprint(funded["version"].(float64) - 1)
	got := e.must(412, req{method: "POST", path: "/v1/escrows/" + id + "/ship", role: mp, body: map[string]any{"carrier": "c", "tracking_number": "t"}, header: map[string]string{"If-Match": stale}})
	if got.code(t) != "precondition_failed" {
		t.Fatalf("stale If-Match: %s", got.body)
	}
	e.must(200, req{method: "POST", path: "/v1/escrows/" + id + "/ship", role: mp, body: map[string]any{"carrier": "c", "tracking_number": "t"}, header: map[string]string{"If-Match": fmt.Sprint(funded["version"])}})
	// Funding in another currency needs a quote.
	other := e.newEscrow(e.tenantA, "PO-fx", "100.00", "EUR", nil)
	if got := e.escrowAct(e.tenantA, other["id"].(string), "fund", map[string]any{"amount": "108.00", "currency": "USD", "payment_ref": "p2"}, 422); got["code"] != "fx_quote_required" {
		t.Fatalf("fund in USD without a quote: %v", got)
	}
	// A payment reference is used once.
	if got := e.escrowAct(e.tenantA, other["id"].(string), "fund", map[string]any{"amount": "1.00", "currency": "EUR", "payment_ref": "p1"}, 409); got["code"] != "duplicate_payment_ref" {
		t.Fatalf("reused payment_ref: %v", got)
	}
}

func TestFundWithQuote(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	es := e.newEscrow(e.tenantA, "PO-q", "1200.00", "EUR", nil)
	q := e.must(201, req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "buy_amount": "1200.00"}}).json(t)
	got := e.escrowAct(e.tenantA, es["id"].(string), "fund", map[string]any{"amount": q["sell_amount"], "currency": "USD", "payment_ref": "card-1", "fx_quote_id": q["id"]}, 200)
	if got["state"] != "funded" || got["funded_amount"] != "1200.00" {
		t.Fatalf("funded via quote: %v", got)
	}
	// The quote is spent.
	es2 := e.newEscrow(e.tenantA, "PO-q2", "1200.00", "EUR", nil)
	if got := e.escrowAct(e.tenantA, es2["id"].(string), "fund", map[string]any{"amount": q["sell_amount"], "currency": "USD", "payment_ref": "card-2", "fx_quote_id": q["id"]}, 422); got["code"] != "quote_used" {
		t.Fatalf("second use of a quote: %v", got)
	}
}

// TestEscrowWaitsAnswersOverHTTP: the problem codes of the two waits of an
// escrow. While a cancellation's refund waits for review, ship and release
// are 409 payouts_pending; at its funding deadline, before the expiry job
// has run, an escrow is expired for funding: 409 invalid_state with state
// expired.
func TestEscrowWaitsAnswersOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	e.must(200, req{method: "PUT", path: "/v1/risk/rules", role: tenants.RoleAdmin, body: map[string]any{"rules": []map[string]any{
		{"id": "review_refunds", "when": "operation == 'refund'", "action": "review", "reason": "manual_check"}}}})
	id := e.newEscrow(e.tenantA, "PO-cancel", "100.00", "EUR", nil)["id"].(string)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "100.00", "currency": "EUR", "payment_ref": "pay-cancel"}, 200)
	c := e.escrowAct(e.tenantA, id, "cancel", map[string]any{"reason": "buyer changed mind"}, 200)
	if c["refund"].(map[string]any)["status"] != "pending_review" || c["escrow"].(map[string]any)["state"] != "funded" {
		t.Fatalf("cancel: %v", c)
	}
	for action, body := range map[string]any{"ship": map[string]any{"carrier": "c", "tracking_number": "t"}, "release": nil} {
		if got := e.escrowAct(e.tenantA, id, action, body, 409); got["code"] != "payouts_pending" {
			t.Fatalf("%s while the cancellation waits: %v", action, got)
		}
	}
	late := e.newEscrow(e.tenantA, "PO-late", "100.00", "EUR", map[string]any{"terms": map[string]any{"funding_deadline_hours": 1}})["id"].(string)
	e.clock.Advance(time.Hour)
	got := e.escrowAct(e.tenantA, late, "fund", map[string]any{"amount": "100.00", "currency": "EUR", "payment_ref": "pay-late"}, 409)
	if got["code"] != "invalid_state" || got["state"] != "expired" || got["action"] != "fund" {
		t.Fatalf("funding at the deadline: %v", got)
	}
}

func TestReleaseGateOutcomesOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	funded := func(ref, amount, currency string) string {
		es := e.newEscrow(e.tenantA, ref, amount, currency, nil)
		id := es["id"].(string)
		e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": amount, "currency": currency, "payment_ref": "pay-" + ref}, 200)
		return id
	}
	// block: a frozen seller.
	blockedID := funded("PO-block", "50.00", "EUR")
	e.must(200, req{method: "POST", path: "/v1/parties/s-PO-block/freeze", role: tenants.RoleRiskReviewer, body: map[string]any{"reason": "chargeback fraud"}})
	blocked := e.escrowAct(e.tenantA, blockedID, "release", nil, 422)
	if blocked["code"] != "release_blocked" || !strings.Contains(fmt.Sprint(blocked["reasons"]), "party_frozen") {
		t.Fatalf("frozen seller: %v", blocked)
	}
	if es := e.must(200, req{method: "GET", path: "/v1/escrows/" + blockedID, role: mp}).json(t); es["held_amount"] != "50.00" {
		t.Fatalf("a blocked release moved money: %v", es)
	}
	// step_up: over USD 10,000; the code comes in release.confirmation_required.
	bigID := funded("PO-big", "12000.00", "USD")
	rel := e.escrowAct(e.tenantA, bigID, "release", nil, 200)["release"].(map[string]any)
	if rel["status"] != "awaiting_confirmation" {
		t.Fatalf("large release: %v", rel)
	}
	ev := e.lastEvent(e.tenantA, "release.confirmation_required")
	code, _ := ev["code"].(string)
	if len(code) != 6 {
		t.Fatalf("event lacks the code: %v", ev)
	}
	relID := rel["id"].(string)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	bad := e.must(422, req{method: "POST", path: "/v1/releases/" + relID + "/confirm", role: mp, body: map[string]any{"code": wrong}}).json(t)
	if bad["code"] != "invalid_code" || bad["attempts_left"] != 4.0 {
		t.Fatalf("wrong code: %v", bad)
	}
	limited := e.must(429, req{method: "POST", path: "/v1/releases/" + relID + "/resend-code", role: mp})
	if limited.header.Get("Retry-After") == "" || limited.code(t) != "rate_limited" {
		t.Fatalf("resend within 60 s: %s %v", limited.body, limited.header)
	}
	ok := e.must(200, req{method: "POST", path: "/v1/releases/" + relID + "/confirm", role: mp, body: map[string]any{"code": code}}).json(t)
	if ok["release"].(map[string]any)["status"] != "completed" || ok["escrow"].(map[string]any)["state"] != "completed" {
		t.Fatalf("right code: %v", ok)
	}
	// review: a tenant rule sends every release to review; a reviewer approves.
	e.must(200, req{method: "PUT", path: "/v1/risk/rules", role: tenants.RoleAdmin, body: map[string]any{"rules": []map[string]any{
		{"id": "review_all", "when": "operation == 'release'", "action": "review", "reason": "manual_check"}}}})
	revID := funded("PO-review", "80.00", "EUR")
	res := e.escrowAct(e.tenantA, revID, "release", nil, 200)
	pending := res["release"].(map[string]any)
	if pending["status"] != "pending_review" || pending["review_id"] == nil {
		t.Fatalf("reviewed release: %v", pending)
	}
	if es := res["escrow"].(map[string]any); es["pending_amount"] != "80.00" || es["held_amount"] != "0.00" {
		t.Fatalf("escrow while the release waits: %v", es)
	}
	e.must(200, req{method: "POST", path: "/v1/risk/reviews/" + pending["review_id"].(string) + "/approve", role: tenants.RoleRiskReviewer, body: map[string]any{"note": "known seller"}})
	after := e.must(200, req{method: "GET", path: "/v1/escrows/" + revID, role: mp}).json(t)
	if after["state"] != "completed" || after["released_amount"] != "80.00" || after["pending_amount"] != "0.00" {
		t.Fatalf("after approval: %v", after)
	}
	// A second decision on the same review is refused.
	e.must(409, req{method: "POST", path: "/v1/risk/reviews/" + pending["review_id"].(string) + "/reject", role: tenants.RoleRiskReviewer, body: map[string]any{"note": "x"}})
	var raw json.RawMessage = e.must(200, req{method: "GET", path: "/v1/releases/" + pending["id"].(string), role: mp}).body
	if !strings.Contains(string(raw), `"completed"`) {
		t.Fatalf("release after approval: %s", raw)
	}
}

func TestEscrowIdempotentActions(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	es := e.newEscrow(e.tenantA, "PO-idem", "30.00", "EUR", nil)
	id := es["id"].(string)
	body := map[string]any{"amount": "10.00", "currency": "EUR", "payment_ref": "part-1"}
	a := e.must(200, req{method: "POST", path: "/v1/escrows/" + id + "/fund", role: mp, body: body, idemKey: "fund-1"})
	b := e.must(200, req{method: "POST", path: "/v1/escrows/" + id + "/fund", role: mp, body: body, idemKey: "fund-1"})
	if b.header.Get("Idempotent-Replayed") != "true" || string(a.body) != string(b.body) {
		t.Fatal("retried funding was not replayed")
	}
	if got := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t); got["funded_amount"] != "10.00" {
		t.Fatalf("funded %v after a replayed funding, want 10.00", got["funded_amount"])
	}
	// The same payment under another key is a duplicate, not a second funding.
	if dup := e.must(409, req{method: "POST", path: "/v1/escrows/" + id + "/fund", role: mp, body: body, idemKey: "fund-2"}); dup.code(t) != "duplicate_payment_ref" {
		t.Fatalf("same payment_ref on the same escrow: %s", dup.body)
	}
	if got := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t); got["funded_amount"] != "10.00" {
		t.Fatalf("funded %v after a duplicate payment, want 10.00", got["funded_amount"])
	}
}

// TestEscrowBodiesTakeExactFieldNames: a field name in another case, or a
// field given twice, is refused before anything is booked; encoding/json
// alone would fund 30.00 for {"amount":"1.00",…,"Amount":"30.00"}.
func TestEscrowBodiesTakeExactFieldNames(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	id := e.newEscrow(e.tenantA, "PO-case", "30.00", "EUR", nil)["id"].(string)
	for _, tc := range []struct {
		name, path, body, code, field string
	}{
		{"second spelling of amount", "/v1/escrows/" + id + "/fund",
			`{"amount":"1.00","currency":"EUR","payment_ref":"c1","Amount":"30.00"}`, "unknown_field", "Amount"},
		{"amount given twice", "/v1/escrows/" + id + "/fund",
			`{"amount":"1.00","currency":"EUR","payment_ref":"c2","amount":"30.00"}`, "invalid_json", "amount"},
		{"upper-case names", "/v1/escrows",
			`{"ORDER_REF":"PO-upper","amount":"5.00","currency":"EUR","buyer":{"id":"b1","name":"B","country":"DE"},"seller":{"id":"s1","name":"S","country":"FR"}}`,
			"unknown_field", "ORDER_REF"},
		{"nested name in another case", "/v1/escrows",
			`{"order_ref":"PO-nested","amount":"5.00","currency":"EUR","buyer":{"ID":"b1","name":"B","country":"DE"},"seller":{"id":"s1","name":"S","country":"FR"}}`,
			"unknown_field", "buyer.ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(req{method: "POST", path: tc.path, role: mp, raw: []byte(tc.body), contentType: "application/json"})
			errs, _ := got.json(t)["errors"].([]any)
			if got.status != 400 || got.code(t) != tc.code || len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
				t.Fatalf("%d %s, want 400 %s naming %s", got.status, got.body, tc.code, tc.field)
			}
		})
	}
	es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t)
	if es["funded_amount"] != "0.00" {
		t.Fatalf("funded_amount %v after refused bodies, want 0.00", es["funded_amount"])
	}
	if list := e.must(200, req{method: "GET", path: "/v1/escrows?order_ref=PO-upper", role: mp}).json(t)["data"].([]any); len(list) != 0 {
		t.Fatalf("an escrow was created from upper-case names: %v", list)
	}
}

// TestEscrowReadsMaskPersonalDataByRole: finance, risk reviewers and
// dispute agents read escrows with the parties' names, emails and phones
// masked as the reports mask them, also in the timeline's sanctions alert;
// ?unmasked=true shows them and is audited. The marketplace and admins
// see them as they are, unaudited.
func TestEscrowReadsMaskPersonalDataByRole(t *testing.T) {
	e := newEnv(t)
	file, err := os.ReadFile("../testdata/real/ofac-sdn-2024-05-03.csv")
	if err != nil {
		t.Fatal(err)
	}
	var sdn []string
	for _, line := range strings.Split(string(file), "\n") {
		if strings.HasPrefix(line, "36,") || strings.HasPrefix(line, "6861,") { // 6861: GUZMAN LOERA, Joaquin
			sdn = append(sdn, line)
		}
	}
	e.must(201, req{method: "POST", path: "/v1/risk/sanctions-lists", role: tenants.RoleAdmin, raw: []byte(strings.Join(sdn, "\n") + "\n"), contentType: "text/csv"})
	b := escrowBody("PO-pii", "10.00", "EUR")
	b["buyer"] = map[string]any{"id": "b-pii", "name": "Ana Buyer", "country": "DE", "email": "ana@example.com", "phone": "+49 170 1234567"}
	b["seller"] = map[string]any{"id": "s-pii", "name": "Joaquin Guzman Loera", "country": "MX"} // a sanctions match: risk.alert on the timeline
	id := e.must(201, req{method: "POST", path: "/v1/escrows", role: mp, body: b}).json(t)["id"].(string)

	plain := []string{"Ana Buyer", "ana@example.com", "1234567", "Guzman", "GUZMAN"}
	masked := map[string]string{"buyer.name": "A*** B***", "buyer.email": "a***@example.com", "buyer.phone": "+**********67", "seller.name": "J*** G*** L***"}
	reads := []struct{ route, path string }{
		{"/v1/escrows", "/v1/escrows?order_ref=PO-pii"},
		{"/v1/escrows/{id}", "/v1/escrows/" + id + "?"},
		{"/v1/escrows/{id}/timeline", "/v1/escrows/" + id + "/timeline?"},
	}
	for _, tc := range []struct {
		role     tenants.Role
		query    string
		unmasked bool
		audited  bool
	}{
		{mp, "", true, false},
		{mp, "unmasked=true", true, false},
		{tenants.RoleAdmin, "", true, false},
		{tenants.RoleFinance, "", false, false},
		{tenants.RoleRiskReviewer, "", false, false},
		{tenants.RoleDisputeAgent, "", false, false},
		{tenants.RoleDisputeAgent, "unmasked=false", false, false},
		{tenants.RoleFinance, "unmasked=true", true, true},
		{tenants.RoleRiskReviewer, "unmasked=true", true, true},
	} {
		for _, rd := range reads {
			name := fmt.Sprintf("%s %s?%s", tc.role, rd.route, tc.query)
			before := e.rcAuditCount(rd.route, "unmasked")
			got := e.must(200, req{method: "GET", path: rd.path + "&" + tc.query, role: tc.role})
			body := string(got.body)
			if n := e.rcAuditCount(rd.route, "unmasked") - before; (n == 1) != tc.audited || n > 1 {
				t.Errorf("%s: %d audit records of the unmasking, want audited %v", name, n, tc.audited)
			}
			if tc.unmasked {
				if !strings.Contains(body, "Joaquin Guzman Loera") {
					t.Errorf("%s: the seller's name is not shown as it is: %.400s", name, body)
				}
				continue
			}
			for _, s := range plain {
				if strings.Contains(body, s) {
					t.Errorf("%s: %q shown unmasked: %.600s", name, s, body)
				}
			}
			if rd.route == "/v1/escrows/{id}/timeline" {
				if !strings.Contains(body, `"risk.alert"`) || !strings.Contains(body, `"J*** G*** L***"`) {
					t.Errorf("%s: no masked sanctions alert: %.600s", name, body)
				}
				continue
			}
			es := got.json(t)
			if data, ok := es["data"].([]any); ok {
				es = data[0].(map[string]any)
			}
			for path, want := range masked {
				party, field, _ := strings.Cut(path, ".")
				if v := es[party].(map[string]any)[field]; v != want {
					t.Errorf("%s: %s %v, want %q", name, path, v, want)
				}
			}
		}
	}
	for _, rd := range reads {
		if got := e.do(req{method: "GET", path: rd.path + "&unmasked=maybe", role: tenants.RoleFinance}); got.status != 422 || got.code(t) != "validation_failed" {
			t.Errorf("%s?unmasked=maybe: %d %s, want 422 naming unmasked", rd.route, got.status, got.body)
		}
	}
}
