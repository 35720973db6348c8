package api_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/tenants"
)

const fxRealECB = "../testdata/real/ecb-eurofxref-daily-2017-03-08.xml"

// fxCountRates counts the rates stored for tenant A.
func fxCountRates(e *env) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM fx_rates WHERE tenant_id = $1`, e.tenantA).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// fxFieldCode returns the problem code and the first field it names.
func fxFieldCode(t *testing.T, r resp) (code, field string) {
	t.Helper()
	m := r.json(t)
	code, _ = m["code"].(string)
	if errs, ok := m["errors"].([]any); ok && len(errs) > 0 {
		field, _ = errs[0].(map[string]any)["field"].(string)
	}
	return code, field
}

// fxFreshRates posts USD-based rates as of an hour before the clock.
func fxFreshRates(e *env) {
	e.t.Helper()
	e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleFinance, body: map[string]any{
		"base": "USD", "as_of": e.clock.Now().Add(-time.Hour).Format(time.RFC3339), "source": "desk",
		"rates": map[string]string{"EUR": "0.92", "JPY": "150.25", "KWD": "0.3075", "CLF": "0.0271"},
	}})
}

func TestFXCurrencies(t *testing.T) {
	e := newEnv(t)
	m := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/currencies", role: tenants.RoleDisputeAgent}).json(t)
	data := m["data"].([]any)
	byCode := map[string]map[string]any{}
	for _, c := range data {
		c := c.(map[string]any)
		byCode[c["code"].(string)] = c
	}
	for code, want := range map[string]struct {
		numeric string
		minor   float64
	}{"JPY": {"392", 0}, "KRW": {"410", 0}, "CLP": {"152", 0}, "USD": {"840", 2}, "KWD": {"414", 3}, "BHD": {"048", 3}, "TND": {"788", 3}, "CLF": {"990", 4}} {
		c := byCode[code]
		if c == nil || c["numeric"] != want.numeric || c["minor_units"] != want.minor || c["name"] == "" {
			t.Errorf("%s = %v, want numeric %s minor %v", code, c, want.numeric, want.minor)
		}
	}
	if byCode["HRK"] != nil {
		t.Error("withdrawn HRK listed")
	}
}

func TestFXRatesImport(t *testing.T) {
	e := newEnv(t)
	ecb, err := os.ReadFile(fxRealECB)
	if err != nil {
		t.Fatal(err)
	}
	post := func(key string, ct string, body []byte) resp {
		return e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleFinance, raw: body, contentType: ct, idemKey: key})
	}
	// Only finance and admin import.
	if got := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleMarketplace, raw: ecb, contentType: "application/xml"}); got.status != http.StatusForbidden {
		t.Fatalf("marketplace import: %d", got.status)
	}
	// A bad feed stores nothing and names the element or line.
	bad := strings.Replace(string(ecb), `rate='120.65'`, `rate='12O.65'`, 1)
	got := post("bad-1", "application/xml", []byte(bad))
	if got.status != http.StatusBadRequest || got.code(t) != "invalid_rates_file" || got.json(t)["element"] != "Cube[currency=JPY]" {
		t.Fatalf("bad rate in feed: %d %s", got.status, got.body)
	}
	got = post("bad-2", "text/xml", ecb[:len(ecb)/2])
	if got.status != http.StatusBadRequest || got.code(t) != "invalid_rates_file" || got.json(t)["line"] == nil {
		t.Fatalf("truncated feed: %d %s", got.status, got.body)
	}
	got = post("bad-3", "text/csv", []byte("base,quote,rate,as_of\nEUR,USD,1.05,2017-03-08\nEUR,JPY,-1,2017-03-08\n"))
	if m := got.json(t); got.status != http.StatusBadRequest || m["code"] != "invalid_rates_file" || m["line"] != float64(3) || m["element"] != "rate" {
		t.Fatalf("bad CSV row: %d %s", got.status, got.body)
	}
	if n := fxCountRates(e); n != 0 {
		t.Fatalf("%d rates stored by refused imports", n)
	}
	if got := post("bad-4", "text/plain", ecb); got.status != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", got.status)
	}

	// The real feed: 31 rates; a replay answers the same; a new key is a no-op.
	got = post("ecb-1", "application/xml", ecb)
	if m := got.json(t); got.status != http.StatusCreated || m["inserted"] != float64(31) {
		t.Fatalf("ECB import: %d %s", got.status, got.body)
	}
	if r := post("ecb-1", "application/xml", ecb); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", r.status, r.header)
	}
	if r := post("ecb-2", "application/xml", ecb); r.status != http.StatusOK || r.json(t)["unchanged"] != float64(31) {
		t.Fatalf("re-import: %d %s", r.status, r.body)
	}
	if n := fxCountRates(e); n != 31 {
		t.Fatalf("%d rates stored, want 31", n)
	}
	// A conflicting value is refused whole.
	conflict := map[string]any{"base": "EUR", "as_of": "2017-03-08T15:00:00Z", "source": "ecb", "rates": map[string]string{"USD": "1.06", "CHF": "1.07"}}
	if r := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleAdmin, body: conflict}); r.status != http.StatusConflict || r.code(t) != "rate_conflict" {
		t.Fatalf("conflict: %d %s", r.status, r.body)
	}

	// JSON shape errors name the field.
	for _, tt := range []struct {
		body        map[string]any
		code, field string
	}{
		{map[string]any{"base": "EUR", "as_of": "2017-03-09", "rates": map[string]string{"ZZZ": "1"}}, "unknown_currency", "rates.ZZZ"},
		{map[string]any{"base": "EURO", "as_of": "2017-03-09", "rates": map[string]string{"USD": "1"}}, "unknown_currency", "base"},
		{map[string]any{"base": "EUR", "as_of": "2017-03-09", "rates": map[string]string{"USD": "1,05"}}, "invalid_rate", "rates.USD"},
		{map[string]any{"base": "EUR", "as_of": "yesterday", "rates": map[string]string{"USD": "1"}}, "validation_failed", "as_of"},
	} {
		r := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleFinance, body: tt.body})
		if code, field := fxFieldCode(t, r); r.status != http.StatusUnprocessableEntity || code != tt.code || field != tt.field {
			t.Errorf("%v: %d %s", tt.body, r.status, r.body)
		}
	}
	if r := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: tenants.RoleFinance, body: map[string]any{"base": "EUR", "rate": "1"}}); r.status != http.StatusBadRequest || r.code(t) != "unknown_field" {
		t.Errorf("unknown field: %d %s", r.status, r.body)
	}

	// Latest rate: direct, inverse, cross; the 2017 feed is stale by now.
	for _, tt := range []struct{ q, rate string }{
		{"base=EUR&quote=USD", "1.0556"},
		{"base=USD&quote=JPY", "114.29518757104964001516"},
	} {
		m := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/fx/rates?" + tt.q, role: tenants.RoleMarketplace}).json(t)
		if m["rate"] != tt.rate || m["stale"] != true || m["as_of"] != "2017-03-08T15:00:00Z" {
			t.Errorf("%s: %v", tt.q, m)
		}
	}
	if r := e.do(req{method: http.MethodGet, path: "/v1/fx/rates?base=EUR", role: tenants.RoleFinance}); r.status != 422 {
		t.Errorf("missing quote: %d", r.status)
	}
	if r := e.do(req{method: http.MethodGet, path: "/v1/fx/rates?base=EUR&quote=XYZ", role: tenants.RoleFinance}); r.code(t) != "unknown_currency" {
		t.Errorf("unknown quote: %s", r.body)
	}
	if r := e.do(req{method: http.MethodGet, path: "/v1/fx/rates?base=EUR&quote=USD", role: tenants.RoleFinance, tenant: e.tenantB}); r.status != 422 || r.code(t) != "rate_unavailable" {
		t.Errorf("tenant B sees A's rates: %d %s", r.status, r.body)
	}
}

func TestFXQuotes(t *testing.T) {
	e := newEnv(t)
	post := func(body map[string]any) resp {
		return e.do(req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace, body: body})
	}
	if r := post(map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.00"}); r.status != 422 || r.code(t) != "rate_unavailable" {
		t.Fatalf("without rates: %d %s", r.status, r.body)
	}
	fxFreshRates(e)
	r := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace, idemKey: "q-1",
		body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.05"}})
	m := r.json(t)
	want := map[string]any{
		"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.05", "buy_amount": "91.59",
		"mid_rate": "0.92", "rate": "0.9154", "spread_bps": float64(50), "spread_amount": "0.46", "status": "open",
		"expires_at": e.clock.Now().Add(10 * time.Minute).Format(time.RFC3339), "created_at": e.clock.Now().Format(time.RFC3339),
		"rate_as_of": e.clock.Now().Add(-time.Hour).Format(time.RFC3339), "rate_source": "desk",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	id, _ := m["id"].(string)
	// The same key replays the same quote.
	again := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace, idemKey: "q-1",
		body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.05"}})
	if again.json(t)["id"] != id || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %s", again.body)
	}
	got := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/fx/quotes/" + id, role: tenants.RoleMarketplace}).json(t)
	if got["buy_amount"] != "91.59" || got["id"] != id {
		t.Fatalf("GET quote: %v", got)
	}
	if r := e.do(req{method: http.MethodGet, path: "/v1/fx/quotes/" + id, role: tenants.RoleMarketplace, tenant: e.tenantB}); r.status != 404 || r.code(t) != "not_found" {
		t.Fatalf("tenant B: %d %s", r.status, r.body)
	}

	// Amounts print with their currency's exact decimals.
	for _, tt := range []struct {
		body            map[string]any
		sellAmt, buyAmt string
	}{
		{map[string]any{"sell_currency": "USD", "buy_currency": "JPY", "buy_amount": "15000"}, "100.34", "15000"},
		{map[string]any{"sell_currency": "USD", "buy_currency": "KWD", "sell_amount": "1000"}, "1000.00", "305.962"}, // 305.9625: half-even tie
		{map[string]any{"sell_currency": "KWD", "buy_currency": "CLF", "sell_amount": "10.5"}, "10.500", "0.9207"},
	} {
		m := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace, body: tt.body}).json(t)
		if m["sell_amount"] != tt.sellAmt || m["buy_amount"] != tt.buyAmt {
			t.Errorf("%v: sell %v buy %v, want %s %s", tt.body, m["sell_amount"], m["buy_amount"], tt.sellAmt, tt.buyAmt)
		}
	}

	// Validation names the field.
	for _, tt := range []struct {
		body        map[string]any
		code, field string
	}{
		{map[string]any{"sell_currency": "USD", "buy_currency": "JPY", "buy_amount": "10.5"}, "invalid_amount", "buy_amount"},
		{map[string]any{"sell_currency": "KWD", "buy_currency": "USD", "sell_amount": "1.2345"}, "invalid_amount", "sell_amount"},
		{map[string]any{"sell_currency": "USD", "buy_currency": "CLF", "buy_amount": "1.23456"}, "invalid_amount", "buy_amount"},
		{map[string]any{"sell_currency": "XYZ", "buy_currency": "EUR", "sell_amount": "1"}, "unknown_currency", "sell_currency"},
		{map[string]any{"sell_currency": "USD", "buy_currency": "usd", "sell_amount": "1"}, "unknown_currency", "buy_currency"},
		{map[string]any{"sell_currency": "USD", "buy_currency": "EUR"}, "validation_failed", "sell_amount"},
		{map[string]any{"sell_currency": "KWD", "buy_currency": "JPY", "sell_amount": "0.001"}, "invalid_amount", "sell_amount"}, // buys under half a yen
	} {
		r := post(tt.body)
		if code, field := fxFieldCode(t, r); r.status != 422 || code != tt.code || field != tt.field {
			t.Errorf("%v: %d %s", tt.body, r.status, r.body)
		}
	}
	if r := e.do(req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace, raw: []byte(`{"sell_currency":"USD","buy_currency":"EUR","sell_amount":100}`), contentType: "application/json"}); r.status != 400 || r.code(t) != "invalid_json" {
		t.Errorf("numeric amount: %d %s", r.status, r.body)
	}
	if r := post(map[string]any{"sell_currency": "USD", "buy_currency": "GBP", "sell_amount": "1.00"}); r.status != 422 || r.code(t) != "rate_unavailable" {
		t.Errorf("no GBP rate: %d %s", r.status, r.body)
	}

	// The tenant's spread applies to new quotes; only admin sets it.
	if r := e.do(req{method: http.MethodPut, path: "/v1/fx/settings", role: tenants.RoleFinance, body: map[string]any{"spread_bps": 100}}); r.status != 403 {
		t.Errorf("finance sets spread: %d", r.status)
	}
	for _, body := range []map[string]any{{"spread_bps": 1001}, {"spread_bps": -1}, {}} {
		r := e.do(req{method: http.MethodPut, path: "/v1/fx/settings", role: tenants.RoleAdmin, body: body})
		if code, field := fxFieldCode(t, r); r.status != 422 || code != "validation_failed" || field != "spread_bps" {
			t.Errorf("%v: %d %s", body, r.status, r.body)
		}
	}
	e.must(http.StatusOK, req{method: http.MethodPut, path: "/v1/fx/settings", role: tenants.RoleAdmin, body: map[string]any{"spread_bps": 100}})
	if st := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/fx/settings", role: tenants.RoleFinance}).json(t); st["spread_bps"] != float64(100) || st["default"] != false {
		t.Errorf("settings: %v", st)
	}
	m = e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/fx/quotes", role: tenants.RoleMarketplace,
		body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.00"}}).json(t)
	if m["spread_bps"] != float64(100) || m["rate"] != "0.9108" || m["buy_amount"] != "91.08" || m["spread_amount"] != "0.92" {
		t.Errorf("quote at 100 bps: %v", m)
	}

	// Quotes expire; rates go stale.
	e.clock.Advance(10 * time.Minute)
	if got := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/fx/quotes/" + id, role: tenants.RoleMarketplace}).json(t); got["status"] != "expired" {
		t.Errorf("status after 10 minutes: %v", got["status"])
	}
	e.clock.Advance(34*time.Hour + 50*time.Minute) // the rate is now exactly 36h old
	if r := post(map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.00"}); r.status != 201 {
		t.Errorf("at 36h: %d %s", r.status, r.body)
	}
	e.clock.Advance(time.Second)
	if r := post(map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "sell_amount": "100.00"}); r.status != 422 || r.code(t) != "rate_stale" {
		t.Errorf("after 36h: %d %s", r.status, r.body)
	}
}
