package reconcile_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
)

// workload runs escrows through the escrow service over three days:
// fundings (one partial, one through an FX quote), releases with and
// without fees, a refund, money left held. It returns the escrows.
func (f *fixture) workload() []escrow.Escrow {
	f.t.Helper()
	ctx, tn := f.ctx, f.tenant
	withFee := func(r *escrow.CreateRequest) {
		r.Fees = &escrow.FeesInput{PlatformFeeBps: 250, PaidBy: escrow.PaidBySeller}
	}
	e1 := f.escrowFunded("1000.00", "EUR", "", withFee)
	e2 := f.escrowFunded("500.00", "EUR", "", nil)
	e3 := f.create("92.50", "EUR", nil)
	buy := dec("92.50")
	q, err := f.fx.Quote(ctx, tn, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: &buy})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.esc.Fund(ctx, tn, e3.ID, 0, escrow.FundRequest{Amount: q.SellAmount.String(), Currency: "USD", PaymentRef: "fx-pay", FxQuoteID: q.ID.String()}); err != nil {
		f.t.Fatalf("fx funding: %v", err)
	}
	e4 := f.escrowFunded("20000.00", "USD", "", nil)
	e5 := f.create("300.00", "EUR", nil)
	if _, err := f.esc.Fund(ctx, tn, e5.ID, 0, escrow.FundRequest{Amount: "100.00", Currency: "EUR", PaymentRef: "part-1"}); err != nil {
		f.t.Fatal(err)
	}

	f.clock.Advance(24 * time.Hour) // 2026-03-03
	f.rates()
	release := func(e escrow.Escrow, amount *string) {
		f.t.Helper()
		res, err := f.esc.Release(ctx, tn, e.ID, 0, escrow.ReleaseRequest{Amount: amount})
		if err != nil || res.Release.Status != escrow.StatusCompleted {
			f.t.Fatalf("release: %+v, %v", res.Release, err)
		}
	}
	release(e1, nil)
	if res, err := f.esc.Refund(ctx, tn, e2.ID, 0, escrow.RefundRequest{Amount: "200.00", Reason: "damaged"}); err != nil || res.Refund.Status != escrow.StatusCompleted {
		f.t.Fatalf("refund: %+v, %v", res.Refund, err)
	}
	part := "5000.00"
	release(e4, &part)

	f.clock.Advance(24 * time.Hour) // 2026-03-04
	f.rates()
	if _, err := f.esc.Fund(ctx, tn, e5.ID, 0, escrow.FundRequest{Amount: "200.00", Currency: "EUR", PaymentRef: "part-2"}); err != nil {
		f.t.Fatal(err)
	}
	release(e3, nil)
	f.clock.Advance(2 * time.Hour)
	return []escrow.Escrow{e1, e2, e3, e4, e5}
}

func (f *fixture) postedBalance(code string) decimal.Decimal {
	f.t.Helper()
	a, err := ledger.AccountByCode(f.ctx, f.db.Pool, f.tenant, code)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := ledger.GetBalance(f.ctx, f.db.Pool, f.tenant, a.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.Posted
}

// TestReportsTieToLedger generates a workload through escrow.Service and
// checks every report's totals against ledger balances.
func TestReportsTieToLedger(t *testing.T) {
	f := newFixture(t)
	es := f.workload()
	held := map[string]decimal.Decimal{"EUR": decimal.Zero, "USD": decimal.Zero}
	for _, e := range es {
		held[e.Currency] = held[e.Currency].Add(f.postedBalance(e.LedgerCode()))
	}
	if !held["EUR"].Equal(dec("600")) || !held["USD"].Equal(dec("15000")) {
		t.Fatalf("workload left %v held", held)
	}
	period, err := reconcile.ParsePeriod("2026-03-02", "2026-03-04")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("settlement", func(t *testing.T) {
		rep, err := f.svc.Settlement(f.ctx, f.tenant, reconcile.SettlementQuery{Period: period})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]reconcile.Flows{
			"EUR": {OpeningHeld: dec("0"), Funded: dec("1800"), FX: dec("92.5"), Released: dec("1067.5"), Refunded: dec("200"), Fees: dec("25"), Other: dec("0"), ClosingHeld: dec("600")},
			"USD": {OpeningHeld: dec("0"), Funded: dec("20000"), FX: dec("0"), Released: dec("5000"), Refunded: dec("0"), Fees: dec("0"), Other: dec("0"), ClosingHeld: dec("15000")},
		}
		if len(rep.Totals) != 2 {
			t.Fatalf("totals %+v", rep.Totals)
		}
		for _, tot := range rep.Totals {
			w := want[tot.Currency]
			if !flowsEqual(tot.Flows, w) || !tot.Ties || !tot.LedgerClosing.Equal(held[tot.Currency]) || !tot.ClosingHeld.Equal(held[tot.Currency]) {
				t.Errorf("%s total %+v, want %+v and ledger %s", tot.Currency, tot, w, held[tot.Currency])
			}
		}
		if fees := f.postedBalance("fees:EUR"); !fees.Equal(want["EUR"].Fees) {
			t.Errorf("fees:EUR holds %s", fees)
		}
		// The rows add up to the totals and chain day by day per seller.
		sum := map[string]reconcile.Flows{"EUR": zero(), "USD": zero()}
		last := map[string]decimal.Decimal{}
		for _, r := range rep.Rows {
			k := r.Currency + "/" + r.SellerID
			if prev, ok := last[k]; ok && !r.OpeningHeld.Equal(prev) || !ok && !r.OpeningHeld.IsZero() {
				t.Errorf("row %+v does not open at the previous close %s", r, prev)
			}
			last[k] = r.ClosingHeld
			if r.SellerName != "S*** S***" {
				t.Errorf("seller name %q not masked", r.SellerName)
			}
			s := sum[r.Currency]
			s.Funded, s.FX, s.Released = s.Funded.Add(r.Funded), s.FX.Add(r.FX), s.Released.Add(r.Released)
			s.Refunded, s.Fees, s.Other = s.Refunded.Add(r.Refunded), s.Fees.Add(r.Fees), s.Other.Add(r.Other)
			sum[r.Currency] = s
		}
		for cur, s := range sum {
			w := want[cur]
			s.OpeningHeld, s.ClosingHeld = w.OpeningHeld, w.ClosingHeld
			if !flowsEqual(s, w) {
				t.Errorf("%s rows sum to %+v", cur, s)
			}
		}
		// A later start opens with what the ledger held then.
		p2, _ := reconcile.ParsePeriod("2026-03-03", "2026-03-04")
		rep2, err := f.svc.Settlement(f.ctx, f.tenant, reconcile.SettlementQuery{Period: p2, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep2.Totals) != 1 || !rep2.Totals[0].OpeningHeld.Equal(dec("1692.5")) || !rep2.Totals[0].Ties || !rep2.Totals[0].ClosingHeld.Equal(dec("600")) {
			t.Errorf("EUR from 2026-03-03: %+v", rep2.Totals)
		}
	})

	t.Run("escrow liability", func(t *testing.T) {
		for _, tc := range []struct {
			asOf     string
			eur, usd string
		}{{"", "600", "15000"}, {"2026-03-02", "1692.5", "20000"}} {
			rep := f.liabilityAt(tc.asOf)
			if rep.MismatchCount != 0 || len(rep.Currencies) != 2 {
				t.Fatalf("as of %q: %+v", tc.asOf, rep)
			}
			for _, c := range rep.Currencies {
				want := map[string]string{"EUR": tc.eur, "USD": tc.usd}[c.Currency]
				if !c.Ties || !c.LedgerBalance.Equal(dec(want)) || !c.EscrowHeld.Equal(dec(want)) {
					t.Errorf("as of %q: %+v, want %s", tc.asOf, c, want)
				}
			}
		}
	})

	t.Run("fx", func(t *testing.T) {
		rep, err := f.svc.FX(f.ctx, f.tenant, period)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Pairs) != 1 || rep.Pairs[0].SellCurrency != "USD" || rep.Pairs[0].BuyCurrency != "EUR" || rep.Pairs[0].Conversions != 1 ||
			!rep.Pairs[0].BuyAmount.Equal(dec("92.5")) {
			t.Fatalf("pairs %+v", rep.Pairs)
		}
		p := rep.Pairs[0]
		if !p.ClearingAmount.Equal(p.BuyAmount.Add(p.SpreadRevenue).Add(p.Rounding)) || !p.Rounding.Equal(p.RoundingGains.Sub(p.RoundingLosses)) {
			t.Errorf("pair does not add up: %+v", p)
		}
		// One check per currency the pairs touch: EUR (bought: revenue,
		// rounding, clearing), USD (sold: clearing only).
		if len(rep.Ledger) != 2 || rep.Ledger[0].Currency != "EUR" || rep.Ledger[1].Currency != "USD" {
			t.Fatalf("ledger checks %+v", rep.Ledger)
		}
		for _, c := range rep.Ledger {
			if !c.Ties || !c.LedgerClearing.Equal(f.postedBalance("fx:"+c.Currency)) {
				t.Errorf("ledger check %+v, fx:%s moved %s", c, c.Currency, f.postedBalance("fx:"+c.Currency))
			}
		}
		if !rep.Ledger[0].LedgerRevenue.Equal(f.postedBalance("fx:revenue:EUR")) {
			t.Errorf("ledger check %+v", rep.Ledger[0])
		}
	})

	t.Run("compliance", func(t *testing.T) {
		rep, err := f.svc.Compliance(f.ctx, f.tenant, reconcile.ComplianceQuery{Period: period})
		if err != nil {
			t.Fatal(err)
		}
		if rep.TransactionCount != 1 || rep.Transactions[0].Kind != "funding" || !rep.Transactions[0].Amount.Equal(dec("20000")) ||
			!rep.Transactions[0].AmountUSD.Equal(dec("20000")) {
			t.Fatalf("transactions %+v", rep.Transactions)
		}
		b := rep.Transactions[0].Buyer
		if b.Name != "A*** B***" || b.Email != "a***@example.com" || b.Phone != "+**********67" || b.Country != "DE" || b.ID == "" {
			t.Errorf("buyer not masked: %+v", b)
		}
		if len(rep.CrossBorder) != 2 || rep.DomesticFundings != 0 {
			t.Fatalf("flows %+v", rep.CrossBorder)
		}
		eur := rep.CrossBorder[0]
		if eur.BuyerCountry != "DE" || eur.SellerCountry != "CN" || eur.Currency != "EUR" || eur.Fundings != 4 || !eur.Amount.Equal(dec("1800")) || !eur.AmountUSD.Equal(dec("1944")) {
			t.Errorf("EUR flow %+v", eur)
		}
		if r := rep.Risk; r.Decisions != 4 || r.Approved != 4 || !r.InterceptionRate.IsZero() {
			t.Errorf("risk %+v", r)
		}
		if d := rep.Disputes; d.Escrows != 5 || d.Disputes != 0 || d.MedianHoursToResolve != nil {
			t.Errorf("disputes %+v", d)
		}
		low, err := f.svc.Compliance(f.ctx, f.tenant, reconcile.ComplianceQuery{Period: period, ThresholdUSD: dec("1000"), Unmasked: true})
		if err != nil {
			t.Fatal(err)
		}
		// e1 funding and release (1080 USD each), e4 funding and release.
		if low.TransactionCount != 4 || low.Transactions[0].Buyer.Name != "Ana Buyer" || low.Transactions[0].Buyer.Email != "ana@example.com" {
			t.Errorf("threshold 1000 unmasked: %+v", low.Transactions)
		}
	})
}

func zero() reconcile.Flows {
	z := decimal.Zero
	return reconcile.Flows{OpeningHeld: z, Funded: z, FX: z, Released: z, Refunded: z, Fees: z, Other: z, ClosingHeld: z}
}

func flowsEqual(a, b reconcile.Flows) bool {
	return a.OpeningHeld.Equal(b.OpeningHeld) && a.Funded.Equal(b.Funded) && a.FX.Equal(b.FX) && a.Released.Equal(b.Released) &&
		a.Refunded.Equal(b.Refunded) && a.Fees.Equal(b.Fees) && a.Other.Equal(b.Other) && a.ClosingHeld.Equal(b.ClosingHeld)
}

// TestFXReportUnwindsChargebackConversions: an escrow of 100.00 EUR funded
// with USD through a quote, then charged back in USD. The chargeback
// unwinds the conversion through the clearing accounts (escrow.chargeback
// credits fx:EUR, chargeback.conversion debits fx:USD); a won chargeback
// puts it back. The report lists the unwound amounts per pair, and its
// clearing figures tie to what fx:USD and fx:EUR moved, in every period.
func TestFXReportUnwindsChargebackConversions(t *testing.T) {
	type want struct {
		from, to                       string
		conversions, reversals, undone int
		reversedSell, reversedBuy      string // "sell": the quote's sell amount; "escrow": the chargeback's escrow amount
	}
	tests := []struct {
		name    string
		partial bool // charge back 50.00 USD rather than all the USD captured
		win     bool // win the chargeback a day later (2026-03-03)
		reports []want
	}{
		{name: "full chargeback", reports: []want{
			{from: "2026-03-02", to: "2026-03-02", conversions: 1, reversals: 1, reversedSell: "sell", reversedBuy: "100"},
		}},
		{name: "partial chargeback", partial: true, reports: []want{
			{from: "2026-03-02", to: "2026-03-02", conversions: 1, reversals: 1, reversedSell: "50", reversedBuy: "escrow"},
		}},
		{name: "chargeback won the next day", win: true, reports: []want{
			{from: "2026-03-02", to: "2026-03-02", conversions: 1, reversals: 1, reversedSell: "sell", reversedBuy: "100"},
			{from: "2026-03-03", to: "2026-03-03", undone: 1, reversedSell: "-sell", reversedBuy: "-100"},
			{from: "2026-03-02", to: "2026-03-03", conversions: 1, reversals: 1, undone: 1, reversedSell: "0", reversedBuy: "0"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.create("100.00", "EUR", nil)
			buy := dec("100.00")
			q, err := f.fx.Quote(f.ctx, f.tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", BuyAmount: &buy})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.esc.Fund(f.ctx, f.tenant, e.ID, 0, escrow.FundRequest{Amount: q.SellAmount.String(), Currency: "USD", PaymentRef: "card-fx", FxQuoteID: q.ID.String()}); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour)
			charged := q.SellAmount
			if tc.partial {
				charged = dec("50.00")
			}
			by := f.clock.Now().Add(72 * time.Hour)
			cb, err := f.disp.OpenChargeback(f.ctx, f.tenant, e.ID, disputes.ChargebackRequest{Amount: charged.String(), Currency: "USD", PSPRef: "ch-fx", Reason: "fraudulent", RespondBy: &by})
			if err != nil {
				t.Fatal(err)
			}
			if tc.win {
				if _, err := f.disp.SubmitChargeback(f.ctx, f.tenant, cb.ID); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(24 * time.Hour)
				if _, err := f.disp.WinChargeback(f.ctx, f.tenant, cb.ID); err != nil {
					t.Fatal(err)
				}
			}
			amount := func(s string) decimal.Decimal {
				neg := s != "" && s[0] == '-'
				if neg {
					s = s[1:]
				}
				var d decimal.Decimal
				switch s {
				case "sell":
					d = q.SellAmount
				case "escrow":
					d = cb.EscrowAmount
				default:
					d = dec(s)
				}
				if neg {
					return d.Neg()
				}
				return d
			}
			for _, w := range tc.reports {
				period, err := reconcile.ParsePeriod(w.from, w.to)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := f.svc.FX(f.ctx, f.tenant, period)
				if err != nil {
					t.Fatal(err)
				}
				name := w.from + ".." + w.to
				if len(rep.Pairs) != 1 || rep.Pairs[0].SellCurrency != "USD" || rep.Pairs[0].BuyCurrency != "EUR" {
					t.Fatalf("%s: pairs %+v", name, rep.Pairs)
				}
				p := rep.Pairs[0]
				if p.Conversions != w.conversions || p.Reversals != w.reversals || p.ReversalsUndone != w.undone ||
					!p.ReversedSellAmount.Equal(amount(w.reversedSell)) || !p.ReversedBuyAmount.Equal(amount(w.reversedBuy)) {
					t.Errorf("%s: pair %+v; want %d conversions, %d reversals, %d undone, reversed %s USD, %s EUR",
						name, p, w.conversions, w.reversals, w.undone, amount(w.reversedSell), amount(w.reversedBuy))
				}
				if !p.NetSellAmount.Equal(p.SellAmount.Sub(p.ReversedSellAmount)) || !p.NetBuyAmount.Equal(p.BuyAmount.Sub(p.ReversedBuyAmount)) ||
					!p.NetClearingAmount.Equal(p.ClearingAmount.Sub(p.ReversedBuyAmount)) {
					t.Errorf("%s: net figures do not add up: %+v", name, p)
				}
				// What the report says fx:<CUR> moved (debit positive).
				implied := map[string]decimal.Decimal{"USD": p.NetSellAmount.Neg(), "EUR": p.NetClearingAmount}
				if len(rep.Ledger) != 2 {
					t.Fatalf("%s: ledger checks %+v", name, rep.Ledger)
				}
				for _, c := range rep.Ledger {
					if !c.Ties || !c.Clearing.Equal(implied[c.Currency]) || !c.Clearing.Equal(c.LedgerClearing) {
						t.Errorf("%s: %s check %+v; report implies clearing %s", name, c.Currency, c, implied[c.Currency])
					}
				}
				if w.from == "2026-03-02" && w.to == tc.reports[len(tc.reports)-1].to {
					// The whole life of a fresh tenant: the period's
					// movement is the clearing accounts' balance.
					for _, c := range rep.Ledger {
						if bal := f.postedBalance("fx:" + c.Currency); !c.LedgerClearing.Equal(bal) {
							t.Errorf("%s: fx:%s moved %s in the report, balance %s", name, c.Currency, c.LedgerClearing, bal)
						}
					}
				}
			}
		})
	}
}
