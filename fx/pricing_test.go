package fx

import (
	"errors"
	"os"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

func amt(s string) *decimal.Decimal {
	d := dec(s)
	return &d
}

func TestQuoteRequestValidate(t *testing.T) {
	tests := []struct {
		name  string
		req   QuoteRequest
		field string // "" means valid
	}{
		{"sell amount", QuoteRequest{"EUR", "USD", amt("10.00"), nil}, ""},
		{"buy amount", QuoteRequest{"EUR", "JPY", nil, amt("1000")}, ""},
		{"trailing zeros are exact", QuoteRequest{"EUR", "JPY", nil, amt("1000.000")}, ""},
		{"KWD mils", QuoteRequest{"KWD", "USD", amt("1.234"), nil}, ""},
		{"missing sell currency", QuoteRequest{"", "USD", amt("1"), nil}, "sell_currency"},
		{"unknown sell currency", QuoteRequest{"XYZ", "USD", amt("1"), nil}, "sell_currency"},
		{"lower-case buy currency", QuoteRequest{"EUR", "usd", amt("1"), nil}, "buy_currency"},
		{"withdrawn buy currency", QuoteRequest{"EUR", "HRK", amt("1"), nil}, "buy_currency"},
		{"same currencies", QuoteRequest{"EUR", "EUR", amt("1"), nil}, "buy_currency"},
		{"no amount", QuoteRequest{"EUR", "USD", nil, nil}, "sell_amount"},
		{"both amounts", QuoteRequest{"EUR", "USD", amt("1"), amt("1")}, "buy_amount"},
		{"zero sell", QuoteRequest{"EUR", "USD", amt("0"), nil}, "sell_amount"},
		{"negative buy", QuoteRequest{"EUR", "USD", nil, amt("-1")}, "buy_amount"},
		{"JPY fraction", QuoteRequest{"EUR", "JPY", nil, amt("10.5")}, "buy_amount"},
		{"KWD too precise", QuoteRequest{"KWD", "USD", amt("1.2345"), nil}, "sell_amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Message == "" {
				t.Fatalf("Validate() = %v, want *FieldError on %s", err, tt.field)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	const usdJPY = "114.29518757104964001516" // 120.65 / 1.0556, ECB 2017-03-08
	tests := []struct {
		name             string
		sell, buy, mid   string
		bps              int64
		sellAmt, buyAmt  *decimal.Decimal
		rate, s, b, sprd string
	}{
		{"EUR→USD sell", "EUR", "USD", "1.0556", 50, amt("1000.00"), nil, "1.050322", "1000.00", "1050.32", "5.28"},
		{"EUR→USD buy, sell half-even", "EUR", "USD", "1.0556", 50, nil, amt("1000.00"), "1.050322", "952.09", "1000.00", "5.03"},               // 952.0889...
		{"USD→EUR buy, sell half-even down", "USD", "EUR", "0.92", 50, nil, amt("100.00"), "0.9154", "109.24", "100.00", "0.50"},                // 109.24186...
		{"USD→BHD buy, customer pays less than at the rate", "USD", "BHD", "0.376", 50, nil, amt("0.106"), "0.37412", "0.28", "0.106", "0.001"}, // 0.28333...; 0.28 × 0.376 = 0.10528
		{"USD→JPY cross sell", "USD", "JPY", usdJPY, 50, amt("1000.00"), nil, "113.7237116331943918150842", "1000.00", "113724", "571"},
		{"USD→JPY cross buy", "USD", "JPY", usdJPY, 50, nil, amt("10000"), "113.7237116331943918150842", "87.93", "10000", "50"}, // 87.9324...
		{"JPY→USD inverse sell", "JPY", "USD", "0.00874927476170741815", 30, amt("123456"), nil, "0.00872302693742229589555", "123456", "1076.91", "3.24"},
		{"JPY half-even tie down", "EUR", "JPY", "121", 0, amt("0.50"), nil, "121", "0.50", "60", "0"},
		{"JPY half-even tie up", "EUR", "JPY", "121", 0, amt("1.50"), nil, "121", "1.50", "182", "0"},
		{"JPY buy exact, no bump", "EUR", "JPY", "121", 0, nil, amt("121"), "121", "1.00", "121", "0"},
		{"KWD half-even tie up", "USD", "KWD", "0.3075", 0, amt("1.00"), nil, "0.3075", "1.00", "0.308", "0"},
		{"KWD half-even tie down", "USD", "KWD", "0.3075", 0, amt("3.00"), nil, "0.3075", "3.00", "0.922", "0"},
		{"KWD sell side buy", "KWD", "USD", "3.2520", 25, nil, amt("100.00"), "3.24387", "30.827", "100.00", "0.25"}, // 30.8274...
		{"BHD", "USD", "BHD", "0.376", 25, amt("100.00"), nil, "0.37506", "100.00", "37.506", "0.094"},
		{"CLF sell", "CLP", "CLF", "0.0000265", 0, amt("1000000"), nil, "0.0000265", "1000000", "26.5", "0"},
		{"CLF buy", "CLP", "CLF", "0.00002653", 10, nil, amt("1.2345"), "0.00002650347", "46579", "1.2345", "0.0012"},
		{"0 bps, buy: no spread", "JPY", "KWD", "0.00202", 0, nil, amt("10.000"), "0.00202", "4950", "10.000", "0.000"}, // 4950.495
		{"buy, sell half-even tie to even", "EUR", "JPY", "200", 0, nil, amt("5"), "200", "0.02", "5", "0"},             // 0.025
		{"buy, sell half-even tie to even, up", "EUR", "JPY", "200", 0, nil, amt("7"), "200", "0.04", "7", "0"},         // 0.035
		{"max spread", "EUR", "USD", "1.0556", MaxSpreadBps, amt("100.00"), nil, "0.95004", "100.00", "95.00", "10.56"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mid := Rate{Base: tt.sell, Quote: tt.buy, Rate: dec(tt.mid), AsOf: day2, Source: "t"}
			p, err := Price(mid, QuoteRequest{tt.sell, tt.buy, tt.sellAmt, tt.buyAmt}, tt.bps)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Rate.Equal(dec(tt.rate)) || !p.SellAmount.Equal(dec(tt.s)) || !p.BuyAmount.Equal(dec(tt.b)) || !p.SpreadAmount.Equal(dec(tt.sprd)) {
				t.Errorf("got rate %s sell %s buy %s spread %s; want %s %s %s %s", p.Rate, p.SellAmount, p.BuyAmount, p.SpreadAmount, tt.rate, tt.s, tt.b, tt.sprd)
			}
			if !p.MidRate.Equal(dec(tt.mid)) || p.SpreadBps != tt.bps {
				t.Errorf("got mid %s bps %d", p.MidRate, p.SpreadBps)
			}
			checkPriced(t, mid, p, tt.sellAmt == nil)
		})
	}
}

// checkPriced asserts the invariants of a priced quote.
func checkPriced(t *testing.T, mid Rate, p Priced, buyGiven bool) {
	t.Helper()
	sell, _ := money.Lookup(mid.Base)
	buy, _ := money.Lookup(mid.Quote)
	if money.CheckExact(p.SellAmount, sell) != nil || money.CheckExact(p.BuyAmount, buy) != nil || money.CheckExact(p.SpreadAmount, buy) != nil {
		t.Fatalf("inexact amounts: %+v", p)
	}
	if !p.SellAmount.IsPositive() || !p.BuyAmount.IsPositive() || p.SpreadAmount.IsNegative() {
		t.Fatalf("bad signs: %+v", p)
	}
	if !p.SpreadAmount.Equal(money.Round(p.SellAmount.Mul(p.MidRate).Mul(decimal.New(p.SpreadBps, -4)), buy)) {
		t.Fatalf("spread amount %s is not the sell amount's spread at mid: %+v", p.SpreadAmount, p)
	}
	if buyGiven {
		// The sell amount is the nearest to BuyAmount / Rate: within half
		// a sell minor unit.
		half := decimal.New(5, -sell.MinorUnits-1)
		if p.SellAmount.Sub(half).Mul(p.Rate).GreaterThan(p.BuyAmount) || p.SellAmount.Add(half).Mul(p.Rate).LessThan(p.BuyAmount) {
			t.Fatalf("sell amount %s is not %s / %s rounded to the nearest", p.SellAmount, p.BuyAmount, p.Rate)
		}
	}
}

func TestPriceWithRealECBCrossRate(t *testing.T) {
	f, err := os.Open(realECB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, err := ParseECB(f)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := CrossRate(set.List(), "USD", "JPY", "EUR")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Price(mid, QuoteRequest{SellCurrency: "USD", BuyCurrency: "JPY", SellAmount: amt("1000.00")}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !mid.Rate.Equal(dec("114.29518757104964001516")) || !p.BuyAmount.Equal(dec("113724")) || !p.SpreadAmount.Equal(dec("571")) {
		t.Errorf("mid %s priced %+v", mid.Rate, p)
	}
}

// Inverse and cross rates are carried exactly to the final amount, so
// exact ties round half-even; the rounded rate (1/3 as
// 0.33333333333333333333) would round them the wrong way.
func TestPriceExactDerivedRate(t *testing.T) {
	rate := func(base, quote, r string) Rate {
		return Rate{Base: base, Quote: quote, Rate: dec(r), AsOf: day2, Source: "t"}
	}
	tests := []struct {
		name, from, to, pivot string
		rates                 []Rate
		sellAmt, buyAmt       *decimal.Decimal
		mid, sell, buy        string
	}{
		{"inverse, buy side tie", "KWD", "EUR", "", []Rate{rate("EUR", "KWD", "3")}, amt("3.045"), nil,
			"0.33333333333333333333", "3.045", "1.02"}, // 1.015 exactly
		{"inverse, sell side tie", "EUR", "KWD", "", []Rate{rate("KWD", "EUR", "3")}, nil, amt("0.015"),
			"0.33333333333333333333", "0.04", "0.015"}, // 0.045 exactly
		{"cross, buy side tie", "GBP", "JPY", "EUR", []Rate{rate("EUR", "GBP", "0.3"), rate("EUR", "JPY", "1")}, amt("0.45"), nil,
			"3.33333333333333333333", "0.45", "2"}, // 1.5 exactly
		{"cross, sell side tie", "JPY", "GBP", "EUR", []Rate{rate("EUR", "GBP", "1"), rate("EUR", "JPY", "0.3")}, nil, amt("15.00"),
			"3.33333333333333333333", "4", "15.00"}, // 4.5 exactly
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mid, err := CrossRate(tt.rates, tt.from, tt.to, tt.pivot)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Price(mid, QuoteRequest{tt.from, tt.to, tt.sellAmt, tt.buyAmt}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !p.MidRate.Equal(dec(tt.mid)) || !p.SellAmount.Equal(dec(tt.sell)) || !p.BuyAmount.Equal(dec(tt.buy)) {
				t.Errorf("got mid %s sell %s buy %s, want %s %s %s", p.MidRate, p.SellAmount, p.BuyAmount, tt.mid, tt.sell, tt.buy)
			}
		})
	}
	// A derived rate whose value is changed is used as it reads.
	mid, err := CrossRate([]Rate{rate("EUR", "KWD", "3")}, "KWD", "EUR", "")
	if err != nil {
		t.Fatal(err)
	}
	mid.Rate = dec("0.5")
	if p, err := Price(mid, QuoteRequest{"KWD", "EUR", amt("3.000"), nil}, 0); err != nil || !p.BuyAmount.Equal(dec("1.50")) {
		t.Fatalf("changed rate: %+v, %v", p, err)
	}
}

func TestPriceErrors(t *testing.T) {
	usdEUR := Rate{Base: "USD", Quote: "EUR", Rate: dec("0.9"), AsOf: day2, Source: "t"}
	req := QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR", SellAmount: amt("10.00")}
	tests := []struct {
		name  string
		mid   Rate
		req   QuoteRequest
		bps   int64
		want  error
		field string
	}{
		{"negative spread", usdEUR, req, -1, ErrInvalidSpread, ""},
		{"spread too large", usdEUR, req, MaxSpreadBps + 1, ErrInvalidSpread, ""},
		{"rate for another pair", Rate{Base: "EUR", Quote: "USD", Rate: dec("1.1")}, req, 0, ErrInvalidRate, ""},
		{"zero rate", Rate{Base: "USD", Quote: "EUR", Rate: decimal.Zero}, req, 0, ErrInvalidRate, ""},
		{"bad request", usdEUR, QuoteRequest{SellCurrency: "USD", BuyCurrency: "EUR"}, 0, nil, "sell_amount"},
		{"buys nothing", Rate{Base: "IDR", Quote: "USD", Rate: dec("0.000064")}, QuoteRequest{SellCurrency: "IDR", BuyCurrency: "USD", SellAmount: amt("1")}, 0, nil, "sell_amount"},
		{"costs nothing", Rate{Base: "JPY", Quote: "KWD", Rate: dec("0.00202")}, QuoteRequest{SellCurrency: "JPY", BuyCurrency: "KWD", BuyAmount: amt("0.001")}, 0, nil, "buy_amount"}, // 0.495 JPY
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Price(tt.mid, tt.req, tt.bps)
			if tt.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("error = %v, want *FieldError on %s", err, tt.field)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzPrice(f *testing.F) {
	f.Add("EUR", "USD", "1.0556", "1000.00", true, int64(50))
	f.Add("JPY", "KWD", "0.00202", "10.000", false, int64(0))
	f.Add("CLP", "CLF", "0.00002653", "1.2345", false, int64(10))
	f.Add("USD", "JPY", "114.29518757104964001516", "0.01", true, int64(1000))
	f.Fuzz(func(t *testing.T, sellCode, buyCode, midStr, amount string, sellGiven bool, bps int64) {
		sell, err1 := money.Lookup(sellCode)
		buy, err2 := money.Lookup(buyCode)
		mid, err3 := money.ParsePlainDecimal(midStr, RatePrecision)
		if err1 != nil || err2 != nil || err3 != nil {
			return
		}
		req := QuoteRequest{SellCurrency: sellCode, BuyCurrency: buyCode}
		if sellGiven {
			d, err := money.ParseAmount(amount, sell)
			if err != nil {
				return
			}
			req.SellAmount = &d
		} else {
			d, err := money.ParseAmount(amount, buy)
			if err != nil {
				return
			}
			req.BuyAmount = &d
		}
		r := Rate{Base: sellCode, Quote: buyCode, Rate: mid, AsOf: day2, Source: "fuzz"}
		p, err := Price(r, req, bps)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) || errors.Is(err, ErrInvalidSpread) || errors.Is(err, ErrInvalidRate) {
				return
			}
			t.Fatalf("unexpected error: %v", err)
		}
		checkPriced(t, r, p, !sellGiven)
	})
}

func BenchmarkPrice(b *testing.B) {
	// USD→JPY crossed through EUR, as LatestRate derives it from ECB rates.
	mid, err := CrossRate([]Rate{
		{Base: "EUR", Quote: "USD", Rate: dec("1.0556"), AsOf: day2, Source: "ecb"},
		{Base: "EUR", Quote: "JPY", Rate: dec("120.65"), AsOf: day2, Source: "ecb"},
	}, "USD", "JPY", "EUR")
	if err != nil || !mid.Rate.Equal(dec("114.29518757104964001516")) {
		b.Fatalf("mid %+v, %v", mid, err)
	}
	sellReq := QuoteRequest{SellCurrency: "USD", BuyCurrency: "JPY", SellAmount: amt("1234.56")}
	buyReq := QuoteRequest{SellCurrency: "USD", BuyCurrency: "JPY", BuyAmount: amt("150000")}
	b.Run("sell_amount", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Price(mid, sellReq, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("buy_amount", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Price(mid, buyReq, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
}
