package api_test

import (
	"strings"
	"testing"
)

// TestUnstorableTextIsRefused: text no database column takes (not UTF-8,
// or holding NUL) in a path variable, a query parameter, the
// Idempotency-Key or a JSON body is a 400 or 422 naming it; each used to
// reach PostgreSQL and answer 500. A client's request id that is not
// printable ASCII is replaced, and a device id cut to its limit keeps
// whole characters.
func TestUnstorableTextIsRefused(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	withBody := func(ref string, mod func(b map[string]any)) map[string]any {
		b := escrowBody(ref, "10.00", "EUR")
		mod(b)
		return b
	}
	for _, tc := range []struct {
		name        string
		r           req
		status      int
		code, field string
	}{
		{"NUL in a query value", req{method: "GET", path: "/v1/escrows?order_ref=%00", role: mp}, 400, "invalid_parameter", "order_ref"},
		{"Latin-1 in a query value", req{method: "GET", path: "/v1/escrows?seller_id=caf%E9", role: mp}, 400, "invalid_parameter", "seller_id"},
		{"NUL in a query name", req{method: "GET", path: "/v1/events?a%00=1", role: mp}, 400, "invalid_parameter", "(query)"},
		{"NUL in a path variable", req{method: "POST", path: "/v1/parties/a%00b/freeze", role: mp, body: map[string]any{"reason": "x"}}, 400, "invalid_parameter", "id"},
		{"Latin-1 in the Idempotency-Key", req{method: "POST", path: "/v1/escrows", role: mp, body: escrowBody("PO-k", "10.00", "EUR"),
			header: map[string]string{"Idempotency-Key": "k\xe9"}}, 400, "invalid_idempotency_key", "Idempotency-Key"},
		{"NUL in a name", req{method: "POST", path: "/v1/escrows", role: mp,
			body: withBody("PO-n", func(b map[string]any) { b["buyer"].(map[string]any)["name"] = "Ana\u0000Buyer" })}, 422, "validation_failed", "buyer.name"},
		{"NUL in metadata", req{method: "POST", path: "/v1/escrows", role: mp,
			body: withBody("PO-m", func(b map[string]any) { b["metadata"] = map[string]any{"k": "v\u0000"} })}, 422, "validation_failed", "metadata.k"},
	} {
		got := e.must(tc.status, tc.r).json(t)
		errs, _ := got["errors"].([]any)
		if got["code"] != tc.code || len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
			t.Errorf("%s: %v, want %s naming %s", tc.name, got, tc.code, tc.field)
		}
	}

	res := e.must(201, req{method: "POST", path: "/v1/escrows", role: mp, body: escrowBody("PO-rid", "10.00", "EUR"),
		header: map[string]string{"X-Request-Id": "r\xe9"}})
	if id := res.header.Get("X-Request-Id"); id == "" || id == "r\xe9" {
		t.Errorf("request id %q: want a new one", id)
	}
	long := strings.Repeat("a", 199) + "é " // 202 bytes with the space; the limit is 200
	e.must(201, req{method: "POST", path: "/v1/escrows", role: mp,
		body: withBody("PO-dev", func(b map[string]any) { b["risk_context"] = map[string]any{"device_id": long} })})
}
