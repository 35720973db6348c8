package api_test

import (
	"net/http"
	"testing"
	"time"
)

// A rate contradicting the stored inverse rate at the same instant, sent
// in a later import, is refused like a contradicting pair in one import
// (422 invalid_rate naming the line): stored, the quotes of the two
// directions came from contradicting rates. The inverse at another
// instant is stored: both directions are priced from the newer rate.
func TestFXRatesImportContradictingStoredInverse(t *testing.T) {
	e := newEnv(t)
	asOf := e.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	later := e.clock.Now().Add(-time.Hour + time.Second).UTC().Format(time.RFC3339)
	imp := func(rows string) resp {
		return e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, contentType: "text/csv",
			raw: []byte("base,quote,rate,as_of,source\n" + rows)})
	}
	if r := imp("EUR,GBP,0.85," + asOf + ",desk\n"); r.status != http.StatusCreated {
		t.Fatalf("first import: %d %s", r.status, r.body)
	}
	r := imp("GBP,EUR,2.5," + asOf + ",desk\n")
	if r.status == http.StatusCreated {
		q1 := e.do(req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "EUR", "buy_currency": "GBP", "sell_amount": "1000.00"}})
		q2 := e.do(req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "GBP", "buy_currency": "EUR", "sell_amount": "845.75"}})
		t.Fatalf("GBP/EUR 2.5 after EUR/GBP 0.85 at the same instant, in a second import: stored; quotes: EUR->GBP %s ; GBP->EUR %s", q1.body, q2.body)
	}
	if m := r.json(t); r.status != http.StatusUnprocessableEntity || m["code"] != "invalid_rate" || m["line"] != float64(2) || m["element"] != "rate" {
		t.Errorf("contradicting stored inverse: %d %s; want 422 invalid_rate on line 2, rate", r.status, r.body)
	}
	if n := fxCountRates(e); n != 1 {
		t.Errorf("%d rates stored, want 1", n)
	}
	if r := imp("GBP,EUR,2.5," + later + ",desk\n"); r.status != http.StatusCreated {
		t.Errorf("inverse a second later: %d %s, want 201", r.status, r.body)
	}
}
