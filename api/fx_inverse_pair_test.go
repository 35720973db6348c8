package api_test

import (
	"net/http"
	"testing"
	"time"
)

// A rates CSV that prices a pair in both directions at the same instant
// with contradicting values is refused whole: 422 invalid_rate naming the
// line and element, as the per-rate errors name them.
func TestFXRatesImportContradictingInversePair(t *testing.T) {
	e := newEnv(t)
	asOf := e.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := "base,quote,rate,as_of,source\nEUR,GBP,0.85," + asOf + ",desk\nGBP,EUR,2.5," + asOf + ",desk\n"
	r := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, raw: []byte(body), contentType: "text/csv"})
	if m := r.json(t); r.status != http.StatusUnprocessableEntity || m["code"] != "invalid_rate" || m["line"] != float64(3) || m["element"] != "rate" {
		t.Errorf("contradicting pair: %d %s; want 422 invalid_rate on line 3, rate", r.status, r.body)
	}
	if n := fxCountRates(e); n != 0 {
		t.Errorf("%d rates stored by a refused import", n)
	}
}
