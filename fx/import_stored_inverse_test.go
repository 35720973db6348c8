package fx_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/fx"
)

// The contradicting-inverse check held within one import only: EUR/GBP
// 0.85 in one import and GBP/EUR 2.5 at the same instant in a second were
// both stored, and the quotes of the two directions (each priced from its
// direct rate on a tie) bought 2103.80 EUR back with 1000.00 EUR. An
// import is checked against the stored inverse rates at its instants,
// from any source, naming its row.
func TestImportRefusesContradictingStoredInverse(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	at := clk.Now().Add(-time.Hour).Format(time.RFC3339)
	later := clk.Now().Add(-time.Hour + time.Second).Format(time.RFC3339)
	imp := func(rows string) (fx.ImportResult, error) {
		t.Helper()
		sets, err := fx.ParseRatesFile(strings.NewReader("base,quote,rate,as_of,source\n" + rows))
		if err != nil {
			t.Fatal(err)
		}
		return s.ImportRates(ctx, tenant, sets)
	}
	if _, err := imp("EUR,GBP,0.85," + at + ",desk\nEUR,GBP,0.86," + at + ",ecb\n"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, rows, want string }{
		{"above the largest", "EUR,USD,1.08," + at + ",desk\nGBP,EUR,2.5," + at + ",desk\n",
			"GBP/EUR 2.5 (source desk, line 3) contradicts the stored EUR/GBP 0.86 at the same instant"},
		{"below the smallest", "GBP,EUR,1.1," + at + ",other\n",
			"GBP/EUR 1.1 (source other, line 2) contradicts the stored EUR/GBP 0.85 at the same instant"},
	} {
		res, err := imp(tt.rows)
		if err == nil {
			sell, _ := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "EUR", BuyCurrency: "GBP", SellAmount: ptr("1000.00")})
			back, _ := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "GBP", BuyCurrency: "EUR", SellAmount: &sell.BuyAmount})
			t.Fatalf("%s: imported (%+v): 1000.00 EUR buys %s GBP, which buy %s EUR back", tt.name, res, sell.BuyAmount, back.BuyAmount)
		}
		var re *fx.RateError
		if !errors.Is(err, fx.ErrInvalidRate) || !errors.As(err, &re) || re.Element != "rate" || !strings.HasPrefix(re.Reason, tt.want) {
			t.Errorf("%s: error = %v, want a *fx.RateError (invalid_rate) on rate: %s", tt.name, err, tt.want)
		}
	}
	if n := countRates(t, s, tenant); n != 2 {
		t.Errorf("%d rates stored, want the first import's 2", n)
	}
	// Within MaxInverseDeviationBps of both stored rates: stored.
	if res, err := imp("GBP,EUR,1.1696," + at + ",desk\n"); err != nil || res.Inserted != 1 {
		t.Fatalf("consistent inverse: %+v, %v", res, err)
	}
	// At another instant the inverse is not compared: both directions are
	// priced from the newer rate, so they agree.
	if res, err := imp("GBP,EUR,2.5," + later + ",desk\n"); err != nil || res.Inserted != 1 {
		t.Fatalf("inverse at another instant: %+v, %v", res, err)
	}
	for _, p := range []struct{ from, to, want string }{{"EUR", "GBP", "0.4"}, {"GBP", "EUR", "2.5"}} {
		r, err := s.CurrentRate(ctx, tenant, p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Rate.Rate.Equal(d(p.want)) {
			t.Errorf("%s/%s = %s as of %s, want %s: priced from GBP/EUR 2.5, the newer rate", p.from, p.to, r.Rate.Rate, r.AsOf, p.want)
		}
	}
}
