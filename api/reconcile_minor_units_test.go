package api_test

import (
	"fmt"
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
	if m := r.json(t); r.status != http.StatusBadRequest || m["code"] != "invalid_statement" || m["element"] != "amount" || m["line"] != float64(2) ||
		!strings.Contains(m["reason"].(string), "1000.5 has more than 0 decimal places for JPY") {
		t.Errorf("JPY statement line 1000.5: %d %s; want 400 invalid_statement naming line 2, element amount", r.status, r.body)
	}
	// Trailing zeros are exact: 1000.00 JPY is 1000 yen.
	r = e.do(req{method: http.MethodPost, path: "/v1/reconciliation/statements?account=cash:psp:JPY", role: rcFin,
		raw: []byte("booking_date,amount\n2026-03-01,1000.00\n"), contentType: "text/csv"})
	if r.status != http.StatusCreated {
		t.Errorf("JPY statement line 1000.00: %d %s; want 201", r.status, r.body)
	}
}

// TestStatementAmountErrorsNumberLinesAlike: a CSV amount beyond the
// minor units names the file line (the header is line 1) and the amount
// column, as a malformed amount on the same line does.
func TestStatementAmountErrorsNumberLinesAlike(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("1000", "JPY", "setup-jpy")
	post := func(csv string) map[string]any {
		r := e.do(req{method: http.MethodPost, path: "/v1/reconciliation/statements?account=cash:psp:JPY", role: rcFin, raw: []byte(csv), contentType: "text/csv"})
		return r.json(t)
	}
	malformed := post("booking_date,amount\n2026-03-01,1000\n2026-03-01,10x\n")
	inexact := post("booking_date,amount\n2026-03-01,1000\n2026-03-01,1000.5\n")
	if inexact["line"] == nil || fmt.Sprint(inexact["line"]) != fmt.Sprint(malformed["line"]) || inexact["element"] != malformed["element"] {
		t.Errorf("the same 3rd file line: malformed amount -> line %v element %v; half a yen -> line %v element %v",
			malformed["line"], malformed["element"], inexact["line"], inexact["element"])
	}
}
