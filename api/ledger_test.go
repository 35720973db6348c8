package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
)

const fin = tenants.RoleFinance

// ledgerAccount creates an account through the API and returns its id.
func (e *env) ledgerAccount(body map[string]any) string {
	e.t.Helper()
	r := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/accounts", role: fin, body: body})
	return r.json(e.t)["id"].(string)
}

func legs(debit, credit, amount, cur string) []map[string]any {
	return []map[string]any{
		{"account_id": debit, "direction": "debit", "amount": amount, "currency": cur},
		{"account_id": credit, "direction": "credit", "amount": amount, "currency": cur},
	}
}

func TestLedgerAPI(t *testing.T) {
	e := newEnv(t)
	cash := e.ledgerAccount(map[string]any{"code": "cash:psp:USD", "currency": "USD", "kind": "asset", "shards": 4})
	escrow := e.ledgerAccount(map[string]any{"code": "deposit:1", "currency": "USD", "kind": "liability", "no_overdraft": true})
	seller := e.ledgerAccount(map[string]any{"code": "seller:1:payable:USD", "currency": "USD", "kind": "liability"})
	kwd := e.ledgerAccount(map[string]any{"code": "cash:psp:KWD", "currency": "KWD", "kind": "asset"})

	acct := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow, role: fin}).json(t)
	if acct["code"] != "deposit:1" || acct["normal_side"] != "credit" || acct["no_overdraft"] != true || acct["overdraft_limit"] != "0.00" {
		t.Fatalf("account %v", acct)
	}

	// Shape and business errors.
	for name, tc := range map[string]struct {
		body        map[string]any
		status      int
		code, field string
	}{
		"no reason":        {map[string]any{"reference": "x1", "postings": legs(cash, escrow, "1.00", "USD")}, 422, "validation_failed", "reason"},
		"inexact amount":   {map[string]any{"reference": "x2", "reason": "r", "postings": legs(cash, escrow, "1.001", "USD")}, 422, "invalid_amount", "postings[0].amount"},
		"unknown currency": {map[string]any{"reference": "x3", "reason": "r", "postings": legs(cash, escrow, "1", "XYZ")}, 422, "unknown_currency", "postings[0].currency"},
		"one posting":      {map[string]any{"reference": "x4", "reason": "r", "postings": legs(cash, escrow, "1", "USD")[:1]}, 422, "validation_failed", "postings"},
		"unbalanced": {map[string]any{"reference": "x5", "reason": "r", "postings": []map[string]any{
			{"account_id": cash, "direction": "debit", "amount": "2.00", "currency": "USD"},
			{"account_id": escrow, "direction": "credit", "amount": "1.00", "currency": "USD"}}}, 422, "unbalanced_entry", ""},
		"currency mismatch":  {map[string]any{"reference": "x6", "reason": "r", "postings": legs(kwd, escrow, "1", "USD")}, 422, "currency_mismatch", ""},
		"unknown account":    {map[string]any{"reference": "x7", "reason": "r", "postings": legs(cash, "0195a7f0-0000-7000-8000-000000000000", "1", "USD")}, 422, "unknown_account", ""},
		"insufficient funds": {map[string]any{"reference": "x8", "reason": "r", "postings": legs(escrow, seller, "1", "USD")}, 422, "insufficient_funds", ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.must(tc.status, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: tc.body})
			m := r.json(t)
			if m["code"] != tc.code {
				t.Fatalf("code %v, want %s: %s", m["code"], tc.code, r.body)
			}
			if tc.field != "" {
				errs, _ := m["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Fatalf("errors %v, want field %s", m["errors"], tc.field)
				}
			}
		})
	}

	before := e.clock.Now()
	e.clock.Advance(time.Minute)
	fund := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "fund-1", "reason": "PSP settlement booked by hand", "description": "funding",
		"postings": legs(cash, escrow, "100.00", "USD")}}).json(t)
	if fund["kind"] != "adjustment" || fund["status"] != "posted" || fund["metadata"].(map[string]any)["reason"] != "PSP settlement booked by hand" {
		t.Fatalf("entry %v", fund)
	}
	fundID := fund["id"].(string)
	e.clock.Advance(time.Minute)
	e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "release-1", "reason": "r", "postings": legs(escrow, seller, "30.50", "USD")}})
	dup := e.must(http.StatusConflict, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "fund-1", "reason": "again", "postings": legs(cash, escrow, "5.00", "USD")}}).json(t)
	if dup["code"] != "duplicate_reference" || dup["existing_id"] != fundID {
		t.Fatalf("duplicate %v", dup)
	}

	bal := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow + "/balance", role: fin}).json(t)
	if bal["posted"] != "69.50" || bal["available"] != "69.50" || bal["pending_debits"] != "0.00" {
		t.Fatalf("balance %v", bal)
	}
	past := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow + "/balance?as_of=" + url.QueryEscape(before.Format(time.RFC3339)), role: fin}).json(t)
	if past["posted"] != "0.00" || past["available"] != nil {
		t.Fatalf("balance as of %v", past)
	}
	e.must(http.StatusUnprocessableEntity, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow + "/balance?as_of=yesterday", role: fin})

	// The statement, one line a page.
	var running []string
	path := "/v1/ledger/accounts/" + escrow + "/postings?limit=1"
	for range 5 {
		st := e.must(http.StatusOK, req{method: http.MethodGet, path: path, role: fin}).json(t)
		for _, l := range st["data"].([]any) {
			running = append(running, l.(map[string]any)["balance_after"].(string))
		}
		next, _ := st["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/v1/ledger/accounts/" + escrow + "/postings?limit=1&cursor=" + next
	}
	if fmt.Sprint(running) != "[100.00 69.50]" {
		t.Fatalf("running balances %v", running)
	}
	// A hot account's statement lists postings older than its horizon,
	// the request's time less ledger.StatementMargin.
	hot := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + cash + "/postings", role: fin}).json(t)
	if d := hot["data"].([]any); len(d) != 0 || hot["horizon"] != e.clock.Now().Add(-ledger.StatementMargin).Format(time.RFC3339Nano) {
		t.Fatalf("hot account statement within its margin %v", hot)
	}
	e.clock.Advance(ledger.StatementMargin)
	hot = e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + cash + "/postings", role: fin}).json(t)
	if d := hot["data"].([]any); len(d) != 1 || d[0].(map[string]any)["balance_after"] != "100.00" || hot["opening_balance"] != "0.00" {
		t.Fatalf("hot account statement %v", hot)
	}

	list := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts?code_prefix=cash:&limit=1", role: fin}).json(t)
	if d := list["data"].([]any); len(d) != 1 || d[0].(map[string]any)["code"] != "cash:psp:KWD" || list["next_cursor"] == "" {
		t.Fatalf("list %v", list)
	}
	list = e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts?code_prefix=cash:&limit=1&cursor=" + list["next_cursor"].(string), role: fin}).json(t)
	if d := list["data"].([]any); len(d) != 1 || d[0].(map[string]any)["code"] != "cash:psp:USD" {
		t.Fatalf("list page 2 %v", list)
	}

	tb := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/trial-balance?currency=USD", role: fin}).json(t)
	usd := tb["data"].([]any)[0].(map[string]any)
	if usd["balanced"] != true || usd["debit_total"] != "100.00" || usd["credit_total"] != "100.00" || len(usd["accounts"].([]any)) != 3 {
		t.Fatalf("trial balance %v", tb)
	}

	got := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/entries/" + fundID, role: fin}).json(t)
	if ps := got["postings"].([]any); len(ps) != 2 || ps[1].(map[string]any)["amount"] != "100.00" {
		t.Fatalf("entry %v", got)
	}
	// Reversing the funding would overdraw the escrow account; the release
	// reverses once.
	if c := e.must(422, req{method: http.MethodPost, path: "/v1/ledger/entries/" + fundID + "/reverse", role: fin, body: map[string]any{}}).code(t); c != "insufficient_funds" {
		t.Fatalf("reverse fund: %s", c)
	}
	rel := e.must(http.StatusOK, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + seller + "/postings", role: fin}).json(t)
	relID := rel["data"].([]any)[0].(map[string]any)["entry_id"].(string)
	rev := e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/entries/" + relID + "/reverse", role: fin, body: map[string]any{"description": "wrong seller"}}).json(t)
	if rev["kind"] != "reversal" || rev["reverses_id"] != relID {
		t.Fatalf("reversal %v", rev)
	}
	if c := e.must(409, req{method: http.MethodPost, path: "/v1/ledger/entries/" + relID + "/reverse", role: fin, body: map[string]any{"reference": "again"}}).code(t); c != "already_reversed" {
		t.Fatalf("second reversal: %s", c)
	}

	// Verify needs no Idempotency-Key and finds nothing wrong.
	v := e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/ledger/verify", role: fin, idemKey: "-"}).json(t)
	if v["ok"] != true || v["entries"].(float64) != 3 {
		t.Fatalf("verify %v", v)
	}

	// Other tenants and other roles.
	e.must(http.StatusNotFound, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow, role: fin, tenant: e.tenantB})
	e.must(http.StatusNotFound, req{method: http.MethodGet, path: "/v1/ledger/entries/" + fundID, role: tenants.RoleAdmin, tenant: e.tenantB})
	e.must(http.StatusForbidden, req{method: http.MethodGet, path: "/v1/ledger/accounts/" + escrow, role: tenants.RoleMarketplace})
	e.must(http.StatusForbidden, req{method: http.MethodPost, path: "/v1/ledger/verify", role: tenants.RoleMarketplace})
}

func TestLedgerAPIVerifyReportsTampering(t *testing.T) {
	e := newEnv(t)
	cash := e.ledgerAccount(map[string]any{"code": "cash:psp:EUR", "currency": "EUR", "kind": "asset"})
	escrow := e.ledgerAccount(map[string]any{"code": "deposit:1", "currency": "EUR", "kind": "liability", "no_overdraft": true})
	e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "fund", "reason": "r", "postings": legs(cash, escrow, "10.00", "EUR")}})
	dbtest.MustExec(t, e.db, `UPDATE ledger_postings SET amount = 9 WHERE account_id = $1`, escrow)
	v := e.must(http.StatusOK, req{method: http.MethodPost, path: "/v1/ledger/verify", role: fin}).json(t)
	if v["ok"] != false {
		t.Fatalf("verify after tampering: %v", v)
	}
	named := false
	for _, is := range v["issues"].([]any) {
		if is.(map[string]any)["account_id"] == escrow {
			named = true
		}
	}
	if !named {
		t.Fatalf("verify did not name the account: %v", v)
	}
}

// TestLedgerAPIKeepsOffEscrowBooks: finance cannot reverse an escrow's
// bookings nor adjust its account, so the escrow's account keeps holding
// what the escrow says it holds and the escrow can still pay out; a
// seller's payable is still settled by hand.
func TestLedgerAPIKeepsOffEscrowBooks(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	id := e.newEscrow(e.tenantA, "PO-OWN", "100.00", "EUR", nil)["id"].(string)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "100.00", "currency": "EUR", "payment_ref": "pay-own"}, 200)
	entryOf := func(kind string) string {
		t.Helper()
		tl := e.must(200, req{method: "GET", path: "/v1/escrows/" + id + "/timeline", role: mp}).json(t)["data"].([]any)
		for _, it := range tl {
			if m := it.(map[string]any); m["kind"] == kind {
				return m["data"].(map[string]any)["ledger_entry_id"].(string)
			}
		}
		t.Fatalf("no %s in the timeline", kind)
		return ""
	}
	accountOf := func(code string) string {
		t.Helper()
		l := e.must(200, req{method: "GET", path: "/v1/ledger/accounts?code_prefix=" + url.QueryEscape(code), role: fin}).json(t)["data"].([]any)
		if len(l) != 1 {
			t.Fatalf("accounts %s: %v", code, l)
		}
		return l[0].(map[string]any)["id"].(string)
	}
	refused := func(r resp, field string) {
		t.Helper()
		m := r.json(t)
		errs, _ := m["errors"].([]any)
		if r.status != 422 || m["code"] != "domain_owned" || len(errs) != 1 || errs[0].(map[string]any)["field"] != field {
			t.Errorf("%d %s, want 422 domain_owned naming %s", r.status, r.body, field)
		}
	}
	held := func() {
		t.Helper()
		esc := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t)
		bal := e.must(200, req{method: "GET", path: "/v1/ledger/accounts/" + esc["ledger_account_id"].(string) + "/balance", role: fin}).json(t)
		if bal["posted"] != esc["held_amount"] {
			t.Fatalf("escrow %s holds %v, its ledger account %v", esc["state"], esc["held_amount"], bal["posted"])
		}
	}
	escrowAcct, cash := accountOf("escrow:"+id), accountOf("cash:psp:EUR")

	refused(e.do(req{method: http.MethodPost, path: "/v1/ledger/entries/" + entryOf("funding") + "/reverse", role: fin, body: map[string]any{}}), "id")
	refused(e.do(req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "top-up", "reason": "r", "postings": legs(cash, escrowAcct, "5.00", "EUR")}}), "postings[1].account_id")
	refused(e.do(req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "take", "reason": "r", "postings": legs(escrowAcct, cash, "5.00", "EUR")}}), "postings[0].account_id")
	held()

	e.escrowAct(e.tenantA, id, "release", map[string]any{"amount": "40.00"}, 200)
	held()
	refused(e.do(req{method: http.MethodPost, path: "/v1/ledger/entries/" + entryOf("payout") + "/reverse", role: fin, body: map[string]any{}}), "id")
	held()

	// Paying the seller out is finance's, by hand.
	seller := accountOf("seller:")
	e.must(http.StatusCreated, req{method: http.MethodPost, path: "/v1/ledger/entries", role: fin, body: map[string]any{
		"reference": "seller-payout", "reason": "paid to the seller's bank", "postings": legs(seller, cash, "10.00", "EUR")}})
	e.escrowAct(e.tenantA, id, "release", map[string]any{}, 200)
	held()
}
