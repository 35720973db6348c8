package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 4: every amount entering the API is exact at its currency's minor
// units, never silently rounded. A statement line of a JPY cash account
// with half a yen was stored as it was, and the matcher never matched it:
// it is a bad statement, 400 invalid_statement naming the line's amount.
func TestStatementAmountBeyondMinorUnits(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("1000", "JPY", "setup-jpy") // creates cash:psp:JPY
	r := e.do(req{method: http.MethodPost, path: "/v1/reconciliation/statements?account=cash:psp:JPY", role: rcFin,
		raw: []byte("booking_date,amount\n2026-03-01,1000.5\n"), contentType: "text/csv"})
	if m := r.json(t); r.status != http.StatusBadRequest || m["code"] != "invalid_statement" || m["element"] != "line 1 amount" ||
		!strings.Contains(m["reason"].(string), "1000.5 has more than 0 decimal places for JPY") {
		t.Errorf("JPY statement line 1000.5: %d %s; want 400 invalid_statement naming the line's amount", r.status, r.body)
	}
	// Trailing zeros are exact: 1000.00 JPY is 1000 yen.
	r = e.do(req{method: http.MethodPost, path: "/v1/reconciliation/statements?account=cash:psp:JPY", role: rcFin,
		raw: []byte("booking_date,amount\n2026-03-01,1000.00\n"), contentType: "text/csv"})
	if r.status != http.StatusCreated {
		t.Errorf("JPY statement line 1000.00: %d %s; want 201", r.status, r.body)
	}
}
