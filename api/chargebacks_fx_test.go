package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
)

// Chargebacks of escrows funded in another currency through an FX quote:
// the PSP takes back, in the currency it captured, what it captured.

func TestReviewChargebackOfFXFundedEscrow(t *testing.T) {
	e := newEnv(t)
	e.loadRates(e.tenantA)
	id := e.newEscrow(e.tenantA, "PO-r2", "100.00", "EUR", nil)["id"].(string)
	q := e.must(201, req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "buy_amount": "100.00"}}).json(t)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": q["sell_amount"], "currency": "USD", "payment_ref": "card-9", "fx_quote_id": q["id"]}, 200)
	by := e.clock.Now().Add(7 * 24 * time.Hour)
	r := e.do(req{method: "POST", path: "/v1/escrows/" + id + "/chargebacks", role: tenants.RoleMarketplace,
		body: map[string]any{"amount": q["sell_amount"], "currency": "USD", "psp_ref": "ch_usd", "reason": "fraudulent", "respond_by": by}})
	if r.status != http.StatusCreated {
		t.Errorf("chargeback in the captured currency USD: %d %s", r.status, r.body)
	}

	// The ledger: the PSP's USD is back to nothing, no EUR cash moved,
	// the escrow holds nothing, fx:USD is back where it was and fx:EUR
	// keeps what the conversion booked as spread and rounding.
	if r.status != http.StatusCreated {
		t.FailNow()
	}
	cb := r.json(t)
	for k, want := range map[string]any{"amount": q["sell_amount"], "currency": "USD", "escrow_amount": "100.00", "escrow_currency": "EUR",
		"from_held_amount": "100.00", "clawed_back_amount": "0.00", "loss_amount": "0.00"} {
		if cb[k] != want {
			t.Errorf("chargeback %s = %v, want %v", k, cb[k], want)
		}
	}
	if ids := cb["ledger_entry_ids"].([]any); len(ids) != 2 {
		t.Errorf("ledger entries %v, want escrow.chargeback and chargeback.conversion", ids)
	}
	e.wantBalances(map[string]string{"cash:psp:USD": "0.00", "cash:psp:EUR": "0", "escrow:" + id: "0.00", "fx:USD": "0.00", "fx:EUR": q["spread_amount"].(string)})
	if es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t); es["held_amount"] != "0.00" || es["refunded_amount"] != "100.00" {
		t.Errorf("escrow after the chargeback %v", es)
	}
	e.wantTrialBalanced()
	if ev := e.lastEvent(e.tenantA, "chargeback.opened"); ev["amount"] != q["sell_amount"] || ev["currency"] != "USD" || ev["escrow_amount"] != "100.00" ||
		ev["escrow_currency"] != "EUR" || ev["from_held"] != "100.00" {
		t.Errorf("chargeback.opened %v", ev)
	}
}

// TestChargebackInCapturedCurrencyAddsUp: a captured currency charged back
// in parts takes back, in the escrow's currency, exactly what its
// fundings credited (the cumulative rounding), with a currency of 0 or 3
// decimals on either side.
func TestChargebackInCapturedCurrencyAddsUp(t *testing.T) {
	for _, tc := range []struct {
		name             string
		amount, currency string // the escrow
		paid             string // the captured currency
		parts            int    // equal parts, the last one takes the rest
	}{
		{name: "EUR paid in USD, in two", amount: "100.00", currency: "EUR", paid: "USD", parts: 2},
		// 108.55 USD: 27.13 is 24.9931… EUR, each of three parts alone
		// would round down to 24.99 and 27.16 to 25.02: 99.99 in all.
		{name: "EUR paid in USD, in four", amount: "100.00", currency: "EUR", paid: "USD", parts: 4},
		// 16081 JPY: 2297 is 14.2839… EUR, six of them alone 85.68, and
		// 2299 14.30: 99.98 in all.
		{name: "EUR paid in JPY, in seven", amount: "100.00", currency: "EUR", paid: "JPY", parts: 7},
		{name: "KWD paid in USD, in three", amount: "30.000", currency: "KWD", paid: "USD", parts: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.loadAllRates()
			id, q := e.fxFundedEscrow("PO-parts", tc.amount, tc.currency, tc.paid)
			sold := dec(q["sell_amount"].(string))
			paid, err := money.Lookup(tc.paid)
			if err != nil {
				t.Fatal(err)
			}
			units := paid.MinorUnits
			part := sold.Div(decimal.NewFromInt(int64(tc.parts))).Truncate(units)
			before, total := decimal.Zero, decimal.Zero
			for i := range tc.parts {
				p := part
				if i == tc.parts-1 {
					p = sold.Sub(before)
				}
				cb := e.chargebackIn(id, p.StringFixed(units), tc.paid, "ch-"+string(rune('a'+i)), http.StatusCreated)
				got := dec(cb["escrow_amount"].(string))
				// Within a minor unit of its share of what was credited.
				share := p.Mul(dec(tc.amount)).Div(sold)
				if unit := decimal.New(1, dec(tc.amount).Exponent()); got.Sub(share).Abs().GreaterThan(unit) {
					t.Errorf("part %d: %s %s is %s %s, share %s", i, p, tc.paid, got, tc.currency, share)
				}
				if cb["escrow_currency"] != tc.currency || cb["from_held_amount"] != cb["escrow_amount"] {
					t.Errorf("part %d: %v", i, cb)
				}
				before, total = before.Add(p), total.Add(got)
			}
			if !total.Equal(dec(tc.amount)) {
				t.Errorf("%s %s charged back in %d parts took %s %s, want exactly %s", sold, tc.paid, tc.parts, total, tc.currency, tc.amount)
			}
			e.wantBalances(map[string]string{"cash:psp:" + tc.paid: "0", "cash:psp:" + tc.currency: "0", "escrow:" + id: "0", "fx:" + tc.paid: "0"})
			e.wantTrialBalanced()
			// The FX report shows the conversion unwound, and its
			// clearing figures tie to fx:<paid> and fx:<currency>.
			day := e.clock.Now().Format(time.DateOnly)
			rep := e.must(200, req{method: "GET", path: "/v1/reports/fx?from=" + day + "&to=" + day, role: tenants.RoleFinance}).json(t)
			pairs := rep["pairs"].([]any)
			if len(pairs) != 1 {
				t.Fatalf("fx report pairs: %v", pairs)
			}
			pair := pairs[0].(map[string]any)
			if pair["reversals"] != float64(tc.parts) || pair["reversals_undone"] != 0.0 || !dec(pair["reversed_sell_amount"].(string)).Equal(sold) ||
				!dec(pair["reversed_buy_amount"].(string)).Equal(dec(tc.amount)) || !dec(pair["net_sell_amount"].(string)).IsZero() || !dec(pair["net_buy_amount"].(string)).IsZero() {
				t.Errorf("fx report pair: %v", pair)
			}
			for _, c := range rep["ledger"].([]any) {
				if c := c.(map[string]any); c["ties"] != true || c["clearing"] != c["ledger_clearing"] {
					t.Errorf("fx report ledger check: %v", c)
				}
			}
			// Everything captured is charged back: one minor unit more is too much.
			unit := decimal.New(1, -units).StringFixed(units)
			if got := e.chargebackIn(id, unit, tc.paid, "ch-more", http.StatusUnprocessableEntity); got["code"] != "amount_mismatch" {
				t.Errorf("beyond what was captured: %v", got)
			}
		})
	}
}

// TestChargebackWorthLessThanAMinorUnit: 0.001 KWD of a EUR escrow is
// worth 0.003 EUR, 0.00 at the euro's cent: only the KWD moves, and the
// rest of the KWD still takes back every cent credited.
func TestChargebackWorthLessThanAMinorUnit(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	id, q := e.fxFundedEscrow("PO-dust", "10.00", "EUR", "KWD")
	sold := dec(q["sell_amount"].(string))
	dust := e.chargebackIn(id, "0.001", "KWD", "ch-dust", http.StatusCreated)
	if dust["escrow_amount"] != "0.00" || dust["from_held_amount"] != "0.00" || len(dust["ledger_entry_ids"].([]any)) != 1 {
		t.Fatalf("chargeback of 0.001 KWD %v", dust)
	}
	e.wantBalances(map[string]string{"cash:psp:KWD": sold.Sub(dec("0.001")).String(), "escrow:" + id: "10.00", "cash:psp:EUR": "0"})
	rest := e.chargebackIn(id, sold.Sub(dec("0.001")).StringFixed(3), "KWD", "ch-rest", http.StatusCreated)
	if rest["escrow_amount"] != "10.00" {
		t.Errorf("the rest %v", rest)
	}
	e.wantBalances(map[string]string{"cash:psp:KWD": "0", "fx:KWD": "0", "escrow:" + id: "0", "cash:psp:EUR": "0"})
	e.wantTrialBalanced()
}

// TestChargebackInCapturedCurrencyAfterRelease: money already released is
// clawed back from the seller's payable balance in the escrow's currency;
// the PSP's USD is what moves in USD.
func TestChargebackInCapturedCurrencyAfterRelease(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	id, q := e.fxFundedEscrow("PO-rel", "100.00", "EUR", "USD")
	e.escrowAct(e.tenantA, id, "ship", map[string]any{"carrier": "DHL", "tracking_number": "1Z"}, 200)
	e.escrowAct(e.tenantA, id, "deliver", nil, 200)
	acc := e.escrowAct(e.tenantA, id, "accept", nil, 200)
	if es := acc["escrow"].(map[string]any); es["state"] != "completed" || es["released_amount"] != "100.00" {
		t.Fatalf("escrow after accept %v", es)
	}
	payable := "seller:s-PO-rel:payable:EUR"
	e.wantBalances(map[string]string{payable: "100.00", "cash:psp:USD": q["sell_amount"].(string)})
	cb := e.chargebackIn(id, q["sell_amount"].(string), "USD", "ch-rel", http.StatusCreated)
	for k, want := range map[string]any{"escrow_amount": "100.00", "escrow_currency": "EUR", "from_held_amount": "0.00", "clawed_back_amount": "100.00", "loss_amount": "0.00"} {
		if cb[k] != want {
			t.Errorf("chargeback %s = %v, want %v", k, cb[k], want)
		}
	}
	e.wantBalances(map[string]string{payable: "0.00", "cash:psp:USD": "0.00", "cash:psp:EUR": "0", "fx:USD": "0.00", "fx:EUR": q["spread_amount"].(string)})
	e.wantTrialBalanced()
}

// TestClaimAfterChargebackInCapturedCurrency: what a chargeback in the
// captured currency took back beyond the money held counts, in the
// escrow's currency, against what the buyer may still claim.
func TestClaimAfterChargebackInCapturedCurrency(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	id, q := e.fxFundedEscrow("PO-claim", "100.00", "EUR", "USD")
	e.escrowAct(e.tenantA, id, "ship", map[string]any{"carrier": "DHL", "tracking_number": "1Z"}, 200)
	e.escrowAct(e.tenantA, id, "deliver", nil, 200)
	e.escrowAct(e.tenantA, id, "accept", nil, 200)
	half := dec(q["sell_amount"].(string)).Div(decimal.NewFromInt(2)).RoundUp(2).StringFixed(2) // 54.28 USD: 50.00 EUR
	if cb := e.chargebackIn(id, half, "USD", "ch-half", http.StatusCreated); cb["escrow_amount"] != "50.00" || cb["clawed_back_amount"] != "50.00" {
		t.Fatalf("chargeback %v", cb)
	}
	claim := func(amount string, want int) resp {
		return e.must(want, req{method: "POST", path: "/v1/escrows/" + id + "/disputes", role: mp,
			body: map[string]any{"reason": "damaged", "claimed_amount": amount, "description": "broken"}})
	}
	if code, field := fxFieldCode(t, claim("50.01", http.StatusUnprocessableEntity)); code != "amount_mismatch" || field != "claimed_amount" {
		t.Errorf("claim beyond the 50.00 EUR not charged back: %s %s", code, field)
	}
	claim("50.00", http.StatusCreated)
}

// TestChargebackInCapturedCurrencyWon: a won chargeback reverses every
// entry, the conversion's too: every balance is back as before.
func TestChargebackInCapturedCurrencyWon(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	id, q := e.fxFundedEscrow("PO-won", "100.00", "EUR", "USD")
	before := e.balances()
	cb := e.chargebackIn(id, "60.00", "USD", "ch-won", http.StatusCreated)
	if ids := cb["ledger_entry_ids"].([]any); len(ids) != 2 {
		t.Fatalf("ledger entries %v", ids)
	}
	path := "/v1/chargebacks/" + cb["id"].(string)
	e.must(http.StatusOK, req{method: "POST", path: path + "/submit", role: tenants.RoleFinance})
	won := e.must(http.StatusOK, req{method: "POST", path: path + "/won", role: tenants.RoleFinance}).json(t)
	if won["status"] != "won" || won["escrow_amount"] != cb["escrow_amount"] {
		t.Fatalf("won %v", won)
	}
	after := e.balances()
	for code, b := range before {
		if !after[code].Equal(b) {
			t.Errorf("%s: %s after the won chargeback, %s before", code, after[code], b)
		}
	}
	for code, b := range after {
		if _, ok := before[code]; !ok && !b.IsZero() {
			t.Errorf("%s: %s after the won chargeback, none before", code, b)
		}
	}
	if es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t); es["held_amount"] != "100.00" {
		t.Errorf("escrow after the won chargeback %v", es)
	}
	if ev := e.lastEvent(e.tenantA, "chargeback.won"); ev["escrow_amount"] != cb["escrow_amount"] || ev["escrow_currency"] != "EUR" {
		t.Errorf("chargeback.won %v", ev)
	}
	e.wantTrialBalanced()
	// What a won chargeback took counts as captured again: all of it can go.
	if all := e.chargebackIn(id, q["sell_amount"].(string), "USD", "ch-all", http.StatusCreated); all["escrow_amount"] != "100.00" {
		t.Errorf("chargeback of everything after the won one %v", all)
	}
}

// TestChargebackCurrencyRefused: a chargeback is in the escrow's currency
// or one it was funded in, and at most what was captured in it (the
// escrow's currency included).
func TestChargebackCurrencyRefused(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	fxID, q := e.fxFundedEscrow("PO-cur", "100.00", "EUR", "USD")
	eurID := e.newEscrow(e.tenantA, "PO-eur", "100.00", "EUR", nil)["id"].(string)
	e.escrowAct(e.tenantA, eurID, "fund", map[string]any{"amount": "100.00", "currency": "EUR", "payment_ref": "pay-eur"}, 200)
	over := dec(q["sell_amount"].(string)).Add(dec("0.01")).StringFixed(2)
	for _, tc := range []struct {
		name, escrow, amount, currency string
		code, field, says              string
	}{
		{name: "neither the escrow's nor captured", escrow: fxID, amount: "10.00", currency: "GBP", code: "validation_failed", field: "currency", says: "must be EUR or USD"},
		{name: "not captured at all", escrow: eurID, amount: "10.00", currency: "USD", code: "validation_failed", field: "currency", says: "must be EUR:"},
		{name: "more than captured", escrow: fxID, amount: over, currency: "USD", code: "amount_mismatch", field: "amount", says: q["sell_amount"].(string) + " USD captured"},
		// The PSP captured USD only: cash:psp:EUR never received it.
		{name: "escrow's currency not captured", escrow: fxID, amount: "10.00", currency: "EUR", code: "amount_mismatch", field: "amount", says: "0.00 EUR captured in EUR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/escrows/" + tc.escrow + "/chargebacks", role: mp,
				body: map[string]any{"amount": tc.amount, "currency": tc.currency, "psp_ref": "ch-" + tc.name, "reason": "fraudulent", "respond_by": e.clock.Now().Add(72 * time.Hour)}})
			code, field := fxFieldCode(t, got)
			if code != tc.code || field != tc.field || !strings.Contains(string(got.body), tc.says) {
				t.Errorf("%s %s: %s naming %q, want %s naming %q saying %q: %s", tc.amount, tc.currency, code, field, tc.code, tc.field, tc.says, got.body)
			}
		})
	}
	e.wantBalances(map[string]string{"escrow:" + fxID: "100.00", "escrow:" + eurID: "100.00"})
}

// loadAllRates imports EUR-based rates for USD, JPY and KWD.
func (e *env) loadAllRates() {
	e.t.Helper()
	e.must(http.StatusCreated, req{method: "POST", path: "/v1/fx/rates", role: tenants.RoleFinance, body: map[string]any{
		"base": "EUR", "as_of": e.clock.Now().Add(-time.Hour).Format(time.RFC3339),
		"rates": map[string]string{"USD": "1.0800", "JPY": "160.00", "KWD": "0.3312", "GBP": "0.8500"}}})
}

// fxFundedEscrow creates an escrow of amount in currency and funds it in
// full in paid through a quote; it returns the escrow's id and the quote.
func (e *env) fxFundedEscrow(ref, amount, currency, paid string) (string, map[string]any) {
	e.t.Helper()
	id := e.newEscrow(e.tenantA, ref, amount, currency, nil)["id"].(string)
	q := e.must(201, req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": paid, "buy_currency": currency, "buy_amount": amount}}).json(e.t)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": q["sell_amount"], "currency": paid, "payment_ref": "card-" + ref, "fx_quote_id": q["id"]}, 200)
	return id, q
}

// chargebackIn records a chargeback and returns the answer's body.
func (e *env) chargebackIn(id, amount, currency, pspRef string, want int) map[string]any {
	e.t.Helper()
	return e.must(want, req{method: "POST", path: "/v1/escrows/" + id + "/chargebacks", role: mp,
		body: map[string]any{"amount": amount, "currency": currency, "psp_ref": pspRef, "reason": "fraudulent", "respond_by": e.clock.Now().Add(7 * 24 * time.Hour)}}).json(e.t)
}

// balances is every account's posted balance of tenant A, by code.
func (e *env) balances() map[string]decimal.Decimal {
	e.t.Helper()
	tb, err := ledger.GetTrialBalance(context.Background(), e.db.Pool, e.tenantA, nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]decimal.Decimal{}
	for _, c := range tb.Currencies {
		for _, l := range c.Lines {
			out[l.Code] = l.Balance
		}
	}
	return out
}

// wantBalances checks accounts' posted balances (a missing account has 0).
func (e *env) wantBalances(want map[string]string) {
	e.t.Helper()
	got := e.balances()
	for code, w := range want {
		if !got[code].Equal(dec(w)) {
			e.t.Errorf("%s: balance %s, want %s", code, got[code], w)
		}
	}
}

// wantTrialBalanced checks that every currency of tenant A balances.
func (e *env) wantTrialBalanced() {
	e.t.Helper()
	tb, err := ledger.GetTrialBalance(context.Background(), e.db.Pool, e.tenantA, nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range tb.Currencies {
		if !c.Balanced {
			e.t.Errorf("trial balance %s: debits %s, credits %s", c.Currency, c.DebitTotal, c.CreditTotal)
		}
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestChargebackOfMixedFunding: an escrow funded partly in its own
// currency and partly through FX takes back in each currency at most what
// was captured in it, and each PSP cash account gives back only what it
// received.
func TestChargebackOfMixedFunding(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates()
	id := e.newEscrow(e.tenantA, "PO-mixed", "100.00", "EUR", nil)["id"].(string)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": "40.00", "currency": "EUR", "payment_ref": "pay-mixed-eur"}, 200)
	q := e.must(201, req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "buy_amount": "60.00"}}).json(t)
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": q["sell_amount"], "currency": "USD", "payment_ref": "pay-mixed-usd", "fx_quote_id": q["id"]}, 200)
	before := e.balances()
	got := e.chargebackIn(id, "40.01", "EUR", "ch-mixed-over", http.StatusUnprocessableEntity)
	if got["code"] != "amount_mismatch" || !strings.Contains(got["detail"].(string)+fmt.Sprint(got["errors"]), "40.00 EUR captured in EUR") {
		t.Errorf("EUR chargeback above the EUR captured: %v", got)
	}
	e.chargebackIn(id, "30.00", "EUR", "ch-mixed-eur", http.StatusCreated)
	e.chargebackIn(id, "10.01", "EUR", "ch-mixed-eur-over", http.StatusUnprocessableEntity)
	e.chargebackIn(id, q["sell_amount"].(string), "USD", "ch-mixed-usd", http.StatusCreated)
	after := e.balances()
	for code, want := range map[string]string{"cash:psp:EUR": "-30.00", "cash:psp:USD": "-" + q["sell_amount"].(string)} {
		if d := after[code].Sub(before[code]); !d.Equal(dec(want)) {
			t.Errorf("%s moved by %s, want %s", code, d, want)
		}
	}
	if es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t); es["held_amount"] != "10.00" {
		t.Errorf("escrow after both chargebacks holds %v, want 10.00", es["held_amount"])
	}
	e.wantTrialBalanced()
}

// TestChargebackInCapturedCurrencyAfterAWonOne: a won chargeback drops
// out of what earlier chargebacks took, and the ones after it are
// measured against what the others actually took: charging back exactly
// the rest of what was captured takes back exactly what was credited
// (with parts of 0.07 the rest was refused; with 0.06 a cent stayed held
// that the PSP no longer had).
func TestChargebackInCapturedCurrencyAfterAWonOne(t *testing.T) {
	for _, part := range []string{"0.07", "0.06"} {
		t.Run(part, func(t *testing.T) {
			e := newEnv(t)
			e.loadAllRates()
			id, q := e.fxFundedEscrow("PO-won-mid", "100.00", "EUR", "USD")
			sold := dec(q["sell_amount"].(string))
			a := e.chargebackIn(id, part, "USD", "ch-a", http.StatusCreated)
			b := e.chargebackIn(id, part, "USD", "ch-b", http.StatusCreated)
			path := "/v1/chargebacks/" + a["id"].(string)
			e.must(http.StatusOK, req{method: "POST", path: path + "/submit", role: tenants.RoleFinance})
			e.must(http.StatusOK, req{method: "POST", path: path + "/won", role: tenants.RoleFinance})
			rest := e.chargebackIn(id, sold.Sub(dec(part)).StringFixed(2), "USD", "ch-rest", http.StatusCreated)
			total := dec(b["escrow_amount"].(string)).Add(dec(rest["escrow_amount"].(string)))
			es := e.must(200, req{method: "GET", path: "/v1/escrows/" + id, role: mp}).json(t)
			if !total.Equal(dec("100.00")) || es["held_amount"] != "0.00" {
				t.Errorf("all %s USD took %s EUR, want 100.00; escrow holds %v", sold, total, es["held_amount"])
			}
			e.wantTrialBalanced()
		})
	}
}

// TestChargebackInCapturedCurrencyAfterAnotherFunding: a payment charged
// back in full, then another at another rate: the second payment's
// chargeback takes back exactly what it credited (it was refused as
// 50.23 EUR, more than the 50.00 left).
func TestChargebackInCapturedCurrencyAfterAnotherFunding(t *testing.T) {
	e := newEnv(t)
	e.loadAllRates() // EUR/USD 1.08
	id := e.newEscrow(e.tenantA, "PO-two-pay", "100.00", "EUR", nil)["id"].(string)
	quote := func() map[string]any {
		return e.must(201, req{method: "POST", path: "/v1/fx/quotes", role: mp, body: map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "buy_amount": "50.00"}}).json(t)
	}
	q1 := quote()
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": q1["sell_amount"], "currency": "USD", "payment_ref": "pay-1", "fx_quote_id": q1["id"]}, 200)
	first := e.chargebackIn(id, q1["sell_amount"].(string), "USD", "ch-1", http.StatusCreated)
	e.clock.Advance(24 * time.Hour)
	e.must(http.StatusCreated, req{method: "POST", path: "/v1/fx/rates", role: tenants.RoleFinance, body: map[string]any{
		"base": "EUR", "as_of": e.clock.Now().Add(-time.Hour).Format(time.RFC3339), "rates": map[string]string{"USD": "1.0900"}}})
	q2 := quote()
	if q2["sell_amount"] == q1["sell_amount"] {
		t.Fatalf("both quotes sell %v: the rate did not change", q2["sell_amount"])
	}
	e.escrowAct(e.tenantA, id, "fund", map[string]any{"amount": q2["sell_amount"], "currency": "USD", "payment_ref": "pay-2", "fx_quote_id": q2["id"]}, 200)
	second := e.chargebackIn(id, q2["sell_amount"].(string), "USD", "ch-2", http.StatusCreated)
	if first["escrow_amount"] != "50.00" || second["escrow_amount"] != "50.00" {
		t.Errorf("the two chargebacks took %v and %v EUR, want 50.00 each", first["escrow_amount"], second["escrow_amount"])
	}
	e.wantBalances(map[string]string{"escrow:" + id: "0.00", "fx:USD": "0.00"})
	e.wantTrialBalanced()
}
