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

// An import was checked rate by rate only: one file pricing the same pair,
// at the same instant and from the same source, in both directions with
// contradicting values was stored, and the quotes of the two directions
// then came from contradicting rates. It is refused whole, naming the line.
func TestImportRefusesContradictingInversePair(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant := uuid.New()
	csv := "base,quote,rate,as_of,source\n" +
		"EUR,GBP,0.85," + clk.Now().Add(-time.Hour).Format(time.RFC3339) + ",desk\n" +
		"GBP,EUR,2.5," + clk.Now().Add(-time.Hour).Format(time.RFC3339) + ",desk\n"
	sets, err := fx.ParseRatesFile(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ImportRates(ctx, tenant, sets)
	if err == nil {
		sell, _ := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "EUR", BuyCurrency: "GBP", SellAmount: ptr("1000.00")})
		back, _ := s.Quote(ctx, tenant, fx.QuoteRequest{SellCurrency: "GBP", BuyCurrency: "EUR", SellAmount: &sell.BuyAmount})
		t.Fatalf("EUR/GBP 0.85 and GBP/EUR 2.5 at the same instant imported (%+v): 1000.00 EUR buys %s GBP, which buy %s EUR back",
			res, sell.BuyAmount, back.BuyAmount)
	}
	var re *fx.RateError
	if !errors.Is(err, fx.ErrInvalidRate) || !errors.As(err, &re) || re.Line != 3 || re.Element != "rate" {
		t.Errorf("error = %v, want a *fx.RateError (invalid_rate) on line 3, rate", err)
	}
	if n := countRates(t, s, tenant); n != 0 {
		t.Errorf("%d rates stored by the refused import", n)
	}
	// Within MaxInverseDeviationBps the pair is two published figures of
	// one rate, and is stored.
	ok := strings.Replace(csv, "GBP,EUR,2.5,", "GBP,EUR,1.1765,", 1)
	if sets, err = fx.ParseRatesFile(strings.NewReader(ok)); err != nil {
		t.Fatal(err)
	}
	if res, err := s.ImportRates(ctx, tenant, sets); err != nil || res.Inserted != 2 {
		t.Fatalf("consistent pair: %+v, %v", res, err)
	}
}
