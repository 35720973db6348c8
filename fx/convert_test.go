package fx_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

func TestSplitConversion(t *testing.T) {
	tests := []struct {
		name                    string
		sell, buy, mid          string
		bps                     int64
		sellAmt, buyAmt         string // one of them
		clearing, spread, round string
	}{
		{"USD→EUR doc example, rounding loss", "USD", "EUR", "0.92", 50, "10.10", "", "9.29", "0.05", "-0.01"},
		{"EUR→USD no residual", "EUR", "USD", "1.0556", 50, "1000.00", "", "1055.60", "5.28", "0"},
		{"USD→JPY", "USD", "JPY", "150.25", 50, "", "15000", "15076", "75", "1"},
		{"USD→KWD half-even tie", "USD", "KWD", "0.3075", 0, "1000", "", "307.500", "0", "0"},
		{"KWD→BHD", "KWD", "BHD", "1.22589", 25, "10.001", "", "12.260", "0.031", "0"},
		{"CLP→CLF buy", "CLP", "CLF", "0.0000265", 10, "", "1.2345", "1.2357", "0.0012", "0"},
		{"USD→BHD buy, sell rounded down, rounding loss", "USD", "BHD", "0.376", 50, "", "0.106", "0.105", "0.001", "-0.002"}, // sell 0.28
		{"JPY→KWD buy at 0 bps, rounding loss", "JPY", "KWD", "0.00202", 0, "", "10.000", "9.999", "0", "-0.001"},             // sell 4950
		{"JPY→CLF, rounding gain", "JPY", "CLF", "0.00018", 30, "", "0.0100", "0.0101", "0", "0.0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := fx.QuoteRequest{SellCurrency: tt.sell, BuyCurrency: tt.buy}
			if tt.sellAmt != "" {
				req.SellAmount = ptr(tt.sellAmt)
			} else {
				req.BuyAmount = ptr(tt.buyAmt)
			}
			p, err := fx.Price(fx.Rate{Base: tt.sell, Quote: tt.buy, Rate: d(tt.mid), Source: "t"}, req, tt.bps)
			if err != nil {
				t.Fatal(err)
			}
			q := fx.Quote{SellCurrency: tt.sell, BuyCurrency: tt.buy, SellAmount: p.SellAmount, BuyAmount: p.BuyAmount,
				MidRate: p.MidRate, Rate: p.Rate, SpreadBps: p.SpreadBps, SpreadAmount: p.SpreadAmount}
			b, err := fx.SplitConversion(q)
			if err != nil {
				t.Fatal(err)
			}
			if !b.Clearing.Equal(d(tt.clearing)) || !b.Spread.Equal(d(tt.spread)) || !b.Rounding.Equal(d(tt.round)) {
				t.Errorf("split = clearing %s spread %s rounding %s, want %s %s %s (quote %+v)", b.Clearing, b.Spread, b.Rounding, tt.clearing, tt.spread, tt.round, p)
			}
			if !b.Clearing.Equal(q.BuyAmount.Add(b.Spread).Add(b.Rounding)) || !b.Spread.Equal(q.SpreadAmount) {
				t.Errorf("split does not add up: %+v for %+v", b, p)
			}
		})
	}
	// A quote priced before the spread amount was the spread alone (it was
	// clearing − buy amount, here 9.29 − 9.25) books the same.
	old := fx.Quote{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: d("10.10"), BuyAmount: d("9.25"), MidRate: d("0.92"), Rate: d("0.9154"), SpreadBps: 50, SpreadAmount: d("0.04")}
	if b, err := fx.SplitConversion(old); err != nil || !b.Clearing.Equal(d("9.29")) || !b.Spread.Equal(d("0.05")) || !b.Rounding.Equal(d("-0.01")) {
		t.Fatalf("quote with the former spread amount: %+v, %v", b, err)
	}
	bad := fx.Quote{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: d("10"), BuyAmount: d("9"), MidRate: d("0.92"), Rate: d("0.9"), SpreadAmount: d("0.5")}
	if _, err := fx.SplitConversion(bad); !errors.Is(err, fx.ErrQuoteMismatch) {
		t.Fatalf("inconsistent quote: %v", err)
	}
}

// book consumes and converts quote q from → to in one transaction.
func book(s *fx.Service, q fx.Quote, from, to uuid.UUID) (fx.Conversion, error) {
	ctx := context.Background()
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (fx.Conversion, error) {
		got, err := fx.Consume(ctx, tx, q.TenantID, q.ID, fx.ConsumeRequest{
			SellCurrency: q.SellCurrency, BuyCurrency: q.BuyCurrency, SellAmount: &q.SellAmount, BuyAmount: &q.BuyAmount, UsedBy: "test:" + q.ID.String(),
		}, s.Clock.Now())
		if err != nil {
			return fx.Conversion{}, err
		}
		return fx.Convert(ctx, tx, got, from, to, "fx:"+q.ID.String(), s.Clock.Now())
	})
}

// ensureAccount creates a ledger account for tests.
func ensureAccount(t *testing.T, s *fx.Service, tenant uuid.UUID, code, cur string, kind ledger.Kind, shards int) ledger.Account {
	t.Helper()
	a, err := db.Write(context.Background(), s.DB, func(tx pgx.Tx) (ledger.Account, error) {
		return ledger.EnsureAccount(context.Background(), tx, ledger.AccountSpec{TenantID: tenant, Code: code, Currency: cur, Kind: kind, Shards: shards}, s.Clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// posted returns the posted balance (normal side) of tenant's account code,
// zero if it does not exist.
func posted(t *testing.T, s *fx.Service, tenant uuid.UUID, code string) decimal.Decimal {
	t.Helper()
	a, err := ledger.AccountByCode(context.Background(), s.DB.Pool, tenant, code)
	if errors.Is(err, ledger.ErrNotFound) {
		return decimal.Zero
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.GetBalance(context.Background(), s.DB.Pool, tenant, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return b.Posted
}

func TestConvertWorkedExample(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	set := fx.RateSet{Base: "USD", AsOf: clk.Now().Add(-time.Hour), Source: "desk", Rates: map[string]decimal.Decimal{"EUR": d("0.92")}}
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{set}); err != nil {
		t.Fatal(err)
	}
	cash := ensureAccount(t, s, tenant, "cash:psp:USD", "USD", ledger.KindAsset, 4)
	escrow := ensureAccount(t, s, tenant, "escrow:test", "EUR", ledger.KindLiability, 0)
	q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: ptr("10.10")})
	if err != nil {
		t.Fatal(err)
	}
	// Convert refuses a quote that was not consumed.
	_, err = db.Write(ctx, s.DB, func(tx pgx.Tx) (fx.Conversion, error) {
		return fx.Convert(ctx, tx, q, cash.ID, escrow.ID, "fx:early", clk.Now())
	})
	if !errors.Is(err, fx.ErrQuoteNotConsumed) {
		t.Fatalf("convert before consume: %v", err)
	}
	c, err := book(s, q, cash.ID, escrow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.BuyAmount.Equal(d("9.25")) || !c.Booking.Clearing.Equal(d("9.29")) || !c.Booking.Spread.Equal(d("0.05")) || !c.Booking.Rounding.Equal(d("-0.01")) {
		t.Fatalf("conversion = %+v", c)
	}
	type leg struct {
		code string
		side ledger.Side
		amt  string
		cur  string
	}
	want := map[leg]bool{
		{"cash:psp:USD", ledger.SideDebit, "10.1", "USD"}: true, {"fx:USD", ledger.SideCredit, "10.1", "USD"}: true,
		{"fx:EUR", ledger.SideDebit, "9.29", "EUR"}: true, {"escrow:test", ledger.SideCredit, "9.25", "EUR"}: true,
		{"fx:revenue:EUR", ledger.SideCredit, "0.05", "EUR"}: true, {"fx:rounding:EUR", ledger.SideDebit, "0.01", "EUR"}: true,
	}
	entry, err := ledger.GetEntry(ctx, s.DB.Pool, tenant, c.Entry.ID)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Kind != fx.EntryKind || entry.Reference != "fx:"+q.ID.String() || len(entry.Postings) != len(want) {
		t.Fatalf("entry = %+v", entry)
	}
	for _, p := range entry.Postings {
		a, err := ledger.GetAccount(ctx, s.DB.Pool, tenant, p.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		l := leg{a.Code, p.Direction, p.Amount.String(), p.Currency}
		if !want[l] {
			t.Errorf("unexpected posting %+v", l)
		}
	}
	for code, kind := range map[string]ledger.Kind{"fx:USD": ledger.KindAsset, "fx:EUR": ledger.KindAsset, "fx:revenue:EUR": ledger.KindRevenue, "fx:rounding:EUR": ledger.KindExpense} {
		a, err := ledger.AccountByCode(ctx, s.DB.Pool, tenant, code)
		if err != nil || a.Kind != kind {
			t.Errorf("%s: %+v, %v; want kind %s", code, a, err, kind)
		}
		if (code == "fx:USD" || code == "fx:EUR") && a.Shards != fx.ClearingShards {
			t.Errorf("%s has %d shards, want %d", code, a.Shards, fx.ClearingShards)
		}
	}
	// A second booking of the same quote fails: Consume sees it used, and
	// Convert refuses a second conversion of one quote.
	if _, err := book(s, q, cash.ID, escrow.ID); !errors.Is(err, fx.ErrQuoteUsed) {
		t.Fatalf("second booking: %v", err)
	}
	_, err = db.Write(ctx, s.DB, func(tx pgx.Tx) (fx.Conversion, error) {
		return fx.Convert(ctx, tx, q, cash.ID, escrow.ID, "fx:again", clk.Now())
	})
	if !errors.Is(err, fx.ErrQuoteUsed) {
		t.Fatalf("second conversion: %v", err)
	}
	// Accounts in the wrong currency are refused by the ledger; nothing is
	// consumed.
	q2, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: ptr("5.00")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book(s, q2, escrow.ID, cash.ID); !errors.Is(err, ledger.ErrCurrencyMismatch) {
		t.Fatalf("swapped accounts: %v", err)
	}
	if stored, _ := s.GetQuote(ctx, tenant, q2.ID); stored.UsedAt != nil {
		t.Fatal("a failed booking consumed the quote")
	}
}

// A quote at an inverse rate is priced at the exact rate (3.045 KWD at
// 1/3 buy exactly 1.015 EUR: 1.02 half-even) while the booking works from
// the mid rate the quote shows (3.045 × 0.33333333333333333333 rounds to
// 1.01): the cent between them is booked as a rounding loss.
func TestConvertExactInverseRate(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{{Base: "EUR", AsOf: clk.Now().Add(-time.Hour), Source: "t", Rates: map[string]decimal.Decimal{"KWD": d("3")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSpread(ctx, tenant, 0); err != nil {
		t.Fatal(err)
	}
	q, err := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "KWD", BuyCurrency: "EUR", SellAmount: ptr("3.045")})
	if err != nil {
		t.Fatal(err)
	}
	if !q.BuyAmount.Equal(d("1.02")) || !q.MidRate.Equal(d("0.33333333333333333333")) || !q.SpreadAmount.IsZero() {
		t.Fatalf("quote = %+v", q)
	}
	cash := ensureAccount(t, s, tenant, "cash:psp:KWD", "KWD", ledger.KindAsset, 4)
	escrow := ensureAccount(t, s, tenant, "escrow:kwd", "EUR", ledger.KindLiability, 0)
	c, err := book(s, q, cash.ID, escrow.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Booking.Clearing.Equal(d("1.01")) || !c.Booking.Spread.IsZero() || !c.Booking.Rounding.Equal(d("-0.01")) {
		t.Fatalf("booking = %+v", c.Booking)
	}
	checkConversion(t, q, c)
}

// TestConversionConservesMoney books random conversions between currencies
// of 0, 2, 3 and 4 decimals with random spreads and checks, from the ledger
// balances, that every unit is accounted for in each currency.
func TestConversionConservesMoney(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	seed := rand.Uint64() // logged: rerun a failure with this seed
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))

	// USD-based rates with awkward digits; every other pair is crossed.
	rates := map[string]decimal.Decimal{
		"EUR": d("0.9187312"), "JPY": d("151.4172"), "KWD": d("0.30791"), "BHD": d("0.376"),
		"CLF": d("0.02847"), "CLP": d("947.13"), "GBP": d("0.78653"),
	}
	if _, err := s.ImportRates(ctx, tenant, []fx.RateSet{{Base: "USD", AsOf: clk.Now().Add(-time.Hour), Source: "desk", Rates: rates}}); err != nil {
		t.Fatal(err)
	}
	currencies := []string{"USD", "EUR", "JPY", "KWD", "BHD", "CLF", "CLP", "GBP"}
	from, to := map[string]uuid.UUID{}, map[string]uuid.UUID{}
	for _, c := range currencies {
		from[c] = ensureAccount(t, s, tenant, "cash:psp:"+c, c, ledger.KindAsset, 4).ID
		to[c] = ensureAccount(t, s, tenant, "escrow:prop:"+c, c, ledger.KindLiability, 0).ID
	}
	zero := func() map[string]decimal.Decimal {
		m := map[string]decimal.Decimal{}
		for _, c := range currencies {
			m[c] = decimal.Zero
		}
		return m
	}
	paid, received, clearing, revenue, rounding := zero(), zero(), zero(), zero(), zero()
	const conversions = 80
	booked := 0
	for i := 0; booked < conversions && i < 4*conversions; i++ {
		if i%10 == 0 {
			if _, err := s.SetSpread(ctx, tenant, rng.Int64N(fx.MaxSpreadBps+1)); err != nil {
				t.Fatal(err)
			}
		}
		sell := currencies[rng.IntN(len(currencies))]
		buy := currencies[rng.IntN(len(currencies))]
		if sell == buy {
			continue
		}
		req := fx.QuoteRequest{SellCurrency: sell, BuyCurrency: buy}
		c := sell
		if rng.IntN(2) == 0 {
			c = buy
		}
		cur, _ := money.Lookup(c)
		amount := decimal.New(rng.Int64N(100_000_000)+1, -cur.MinorUnits)
		if c == sell {
			req.SellAmount = &amount
		} else {
			req.BuyAmount = &amount
		}
		q, err := s.Quote(ctx, tenant, req)
		if _, tooSmall := valid.As(err); tooSmall {
			continue
		}
		if err != nil {
			t.Fatalf("quote %+v: %v", req, err)
		}
		conv, err := book(s, q, from[sell], to[buy])
		if err != nil {
			t.Fatalf("book %+v: %v", q, err)
		}
		booked++
		checkConversion(t, q, conv)
		paid[sell] = paid[sell].Add(q.SellAmount)
		clearing[sell] = clearing[sell].Sub(q.SellAmount)
		clearing[buy] = clearing[buy].Add(conv.Booking.Clearing)
		received[buy] = received[buy].Add(q.BuyAmount)
		revenue[buy] = revenue[buy].Add(conv.Booking.Spread)
		rounding[buy] = rounding[buy].Add(conv.Booking.Rounding)
		clk.Advance(time.Second)
	}
	if booked < conversions {
		t.Fatalf("only %d conversions booked", booked)
	}
	for _, c := range currencies {
		got := map[string]decimal.Decimal{
			"paid":     posted(t, s, tenant, "cash:psp:"+c),    // asset: debits
			"received": posted(t, s, tenant, "escrow:prop:"+c), // liability: credits
			"clearing": posted(t, s, tenant, fx.ClearingAccount(c)),
			"revenue":  posted(t, s, tenant, fx.RevenueAccount(c)),
			"rounding": posted(t, s, tenant, fx.RoundingAccount(c)).Neg(), // expense: a gain is a credit
		}
		want := map[string]decimal.Decimal{"paid": paid[c], "received": received[c], "clearing": clearing[c], "revenue": revenue[c], "rounding": rounding[c]}
		for k := range want {
			if !got[k].Equal(want[k]) {
				t.Errorf("%s %s: ledger %s, expected %s", c, k, got[k], want[k])
			}
		}
		// Per currency, debit-normal balances equal credit-normal ones:
		// what customers paid in plus the clearing position equals what was
		// delivered plus the spread and the rounding result.
		debits := got["paid"].Add(got["clearing"])
		credits := got["received"].Add(got["revenue"]).Add(got["rounding"])
		if !debits.Equal(credits) {
			t.Errorf("%s does not balance: paid %s + clearing %s ≠ received %s + revenue %s + rounding %s",
				c, got["paid"], got["clearing"], got["received"], got["revenue"], got["rounding"])
		}
	}
	var n int
	if err := s.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM fx_conversions WHERE tenant_id = $1`, tenant).Scan(&n); err != nil || n != booked {
		t.Fatalf("%d conversions recorded (%v), want %d", n, err, booked)
	}
}

// checkConversion checks one conversion: its entry balances per currency,
// the split adds up, the clearing amount is the sell amount at mid within
// half a buy minor unit, and the rounding stays within its bound.
func checkConversion(t *testing.T, q fx.Quote, c fx.Conversion) {
	t.Helper()
	sums := map[string]decimal.Decimal{}
	for _, p := range c.Entry.Postings {
		amt := p.Amount
		if p.Direction == ledger.SideCredit {
			amt = amt.Neg()
		}
		sums[p.Currency] = sums[p.Currency].Add(amt)
	}
	for cur, sum := range sums {
		if !sum.IsZero() {
			t.Errorf("quote %s: %s postings sum to %s", q.ID, cur, sum)
		}
	}
	buy, _ := money.Lookup(q.BuyCurrency)
	sell, _ := money.Lookup(q.SellCurrency)
	unit := decimal.New(1, -buy.MinorUnits)
	b := c.Booking
	if !b.Clearing.Equal(q.BuyAmount.Add(b.Spread).Add(b.Rounding)) || !b.Spread.Equal(q.SpreadAmount) {
		t.Errorf("quote %s: split %+v does not add up to %s + %s", q.ID, b, q.BuyAmount, q.SpreadAmount)
	}
	if diff := b.Clearing.Sub(q.SellAmount.Mul(q.MidRate)).Abs(); diff.GreaterThan(unit.Div(decimal.NewFromInt(2))) {
		t.Errorf("quote %s: clearing %s is %s away from the value at mid", q.ID, b.Clearing, diff)
	}
	// A fixed sell amount leaves at most one unit of rounding, either way; a
	// fixed buy amount adds the sell amount's rounding (half a sell minor
	// unit at the rate).
	bound := unit
	if q.FixedSide == fx.FixedBuy {
		bound = bound.Add(decimal.New(5, -sell.MinorUnits-1).Mul(q.Rate))
	}
	if b.Rounding.Abs().GreaterThan(bound) {
		t.Errorf("quote %s (%s fixed): rounding %s beyond bound %s", q.ID, q.FixedSide, b.Rounding, bound)
	}
	if !b.Spread.Equal(money.Round(q.SellAmount.Mul(q.MidRate).Mul(decimal.New(q.SpreadBps, -4)), buy)) {
		t.Errorf("quote %s: spread %s", q.ID, b.Spread)
	}
}
