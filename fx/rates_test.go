package fx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var (
	day1 = time.Date(2017, 3, 7, 15, 0, 0, 0, time.UTC)
	day2 = time.Date(2017, 3, 8, 15, 0, 0, 0, time.UTC)
)

func TestRateSetValidate(t *testing.T) {
	valid := func() RateSet {
		return RateSet{Base: "EUR", AsOf: day2, Source: "ecb", Rates: map[string]decimal.Decimal{"USD": dec("1.0556"), "HRK": dec("7.4213")}}
	}
	tests := []struct {
		name   string
		mutate func(*RateSet)
		ok     bool
	}{
		{"valid (withdrawn HRK allowed for historic feeds)", func(*RateSet) {}, true},
		{"unknown base", func(s *RateSet) { s.Base = "XYZ" }, false},
		{"lower-case base", func(s *RateSet) { s.Base = "eur" }, false},
		{"unknown quote", func(s *RateSet) { s.Rates["XYZ"] = dec("1") }, false},
		{"base in rates", func(s *RateSet) { s.Rates["EUR"] = dec("1") }, false},
		{"zero rate", func(s *RateSet) { s.Rates["USD"] = dec("0") }, false},
		{"negative rate", func(s *RateSet) { s.Rates["USD"] = dec("-1") }, false},
		{"no rates", func(s *RateSet) { s.Rates = nil }, false},
		{"zero as-of", func(s *RateSet) { s.AsOf = time.Time{} }, false},
		{"as-of before 1999", func(s *RateSet) { s.AsOf = time.Date(1998, 12, 31, 23, 59, 59, 0, time.UTC) }, false},
		{"as-of 1999 in CET, 1998 in UTC", func(s *RateSet) { s.AsOf = time.Date(1999, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)) }, false},
		{"as-of 1999-01-01", func(s *RateSet) { s.AsOf = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }, true},
		{"huge rate", func(s *RateSet) { s.Rates["USD"] = dec("1e38") }, false},
		{"tiny rate", func(s *RateSet) { s.Rates["USD"] = dec("1e-13") }, false},
		{"largest rate", func(s *RateSet) { s.Rates["USD"] = dec("1000000000000") }, true},
		{"smallest rate", func(s *RateSet) { s.Rates["USD"] = dec("0.000000000001") }, true},
		{"empty source", func(s *RateSet) { s.Source = "" }, false},
		{"long source", func(s *RateSet) { s.Source = strings.Repeat("a", MaxSourceLength+1) }, false},
		{"source with space", func(s *RateSet) { s.Source = "my feed" }, false},
		{"too many rates", func(s *RateSet) {
			for i := range MaxRatesPerSet + 1 {
				s.Rates[string(rune('A'+i%26))+string(rune('A'+i/26%26))+"X"] = dec("1")
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.mutate(&s)
			err := s.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRate) {
				t.Errorf("error %v does not wrap ErrInvalidRate", err)
			}
		})
	}
}

func TestRateSetList(t *testing.T) {
	s := RateSet{Base: "EUR", AsOf: day2, Source: "ecb", Rates: map[string]decimal.Decimal{"USD": dec("1.0556"), "JPY": dec("120.65")}}
	got := s.List()
	if len(got) != 2 || got[0].Quote != "JPY" || got[1].Quote != "USD" || got[1].Base != "EUR" || !got[1].AsOf.Equal(day2) || got[1].Source != "ecb" {
		t.Fatalf("List() = %+v", got)
	}
}

func TestCrossRate(t *testing.T) {
	ecb := []Rate{
		{Base: "EUR", Quote: "USD", Rate: dec("1.0556"), AsOf: day2, Source: "ecb"},
		{Base: "EUR", Quote: "JPY", Rate: dec("120.65"), AsOf: day1, Source: "ecb"},
		{Base: "EUR", Quote: "GBP", Rate: dec("0.86753"), AsOf: day2, Source: "ecb"},
		{Base: "EUR", Quote: "KWD", Rate: dec("0.3218"), AsOf: day2, Source: "manual"},
		{Base: "EUR", Quote: "USD", Rate: dec("1.0500"), AsOf: day1, Source: "ecb"}, // older duplicate
		{Base: "USD", Quote: "CHF", Rate: dec("0.95"), AsOf: day1, Source: "desk"},  // older than its inverse
		{Base: "CHF", Quote: "USD", Rate: dec("1.0625"), AsOf: day2, Source: "bank"},
		{Base: "EUR", Quote: "SEK", Rate: dec("9.5"), AsOf: day1, Source: "ecb"}, // older than its inverse
		{Base: "SEK", Quote: "EUR", Rate: dec("0.1"), AsOf: day2, Source: "riks"},
		{Base: "EUR", Quote: "NOK", Rate: dec("9.0"), AsOf: day2, Source: "ecb"}, // as old as its inverse
		{Base: "NOK", Quote: "EUR", Rate: dec("0.1111"), AsOf: day2, Source: "desk"},
	}
	tests := []struct {
		name, from, to, pivot string
		want                  string // "" means ErrNoRate
		asOf                  time.Time
		source                string
	}{
		{"direct, newest of duplicates", "EUR", "USD", "EUR", "1.0556", day2, "ecb"},
		{"inverse", "USD", "EUR", "", "0.94732853353543008715", day2, "ecb"},
		{"cross USD→JPY through EUR, oldest AsOf", "USD", "JPY", "EUR", "114.29518757104964001516", day1, "ecb"},
		{"cross JPY→USD through EUR", "JPY", "USD", "EUR", "0.00874927476170741815", day1, "ecb"},
		{"cross GBP→USD", "GBP", "USD", "EUR", "1.21678789206136963563", day2, "ecb"},
		{"cross with two sources", "USD", "KWD", "EUR", "0.30485032209170140205", day2, "ecb+manual"},
		{"newer inverse beats older direct", "USD", "CHF", "", "0.94117647058823529412", day2, "bank"}, // 1 / 1.0625
		{"newer direct beats older inverse", "CHF", "USD", "", "1.0625", day2, "bank"},
		{"direct wins a tie with the inverse", "EUR", "NOK", "", "9.0", day2, "ecb"},
		{"direct wins a tie, other way", "NOK", "EUR", "", "0.1111", day2, "desk"},
		{"cross leg takes the newer inverse", "USD", "SEK", "EUR", "9.47328533535430087154", day2, "ecb+riks"}, // 1 / (1.0556 × 0.1)
		{"identity", "USD", "USD", "EUR", "1", time.Time{}, IdentitySource},
		{"no pivot", "USD", "JPY", "", "", time.Time{}, ""},
		{"unknown pair", "USD", "PLN", "EUR", "", time.Time{}, ""},
		{"pivot equals from", "EUR", "PLN", "EUR", "", time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CrossRate(ecb, tt.from, tt.to, tt.pivot)
			if tt.want == "" {
				if !errors.Is(err, ErrNoRate) {
					t.Fatalf("CrossRate = %+v, %v; want ErrNoRate", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Rate.Equal(dec(tt.want)) || got.Base != tt.from || got.Quote != tt.to || !got.AsOf.Equal(tt.asOf) || got.Source != tt.source {
				t.Errorf("CrossRate = %s/%s %s %s %s, want %s %s %s", got.Base, got.Quote, got.Rate, got.AsOf, got.Source, tt.want, tt.asOf, tt.source)
			}
		})
	}
}

func TestCrossRateKeepsSignificantDigits(t *testing.T) {
	rates := []Rate{
		{Base: "USD", Quote: "IRR", Rate: dec("70000000000003"), AsOf: day2, Source: "t"},
		{Base: "USD", Quote: "VND", Rate: dec("0.000000000007"), AsOf: day2, Source: "t"},
	}
	for _, pair := range [][2]string{{"IRR", "USD"}, {"IRR", "VND"}, {"VND", "USD"}, {"VND", "IRR"}} {
		got, err := CrossRate(rates, pair[0], pair[1], "USD")
		if err != nil {
			t.Fatal(err)
		}
		exact := map[[2]string]decimal.Decimal{
			{"IRR", "USD"}: one.DivRound(rates[0].Rate, 200),
			{"IRR", "VND"}: rates[1].Rate.DivRound(rates[0].Rate, 200),
			{"VND", "USD"}: one.DivRound(rates[1].Rate, 200),
			{"VND", "IRR"}: rates[0].Rate.DivRound(rates[1].Rate, 200),
		}[pair]
		relErr := got.Rate.Sub(exact).Abs().DivRound(exact, 200)
		if relErr.GreaterThan(decimal.New(1, -MinRateSignificantDigits)) {
			t.Errorf("%s→%s = %s, relative error %s", pair[0], pair[1], got.Rate, relErr)
		}
	}
}

func TestCrossRateRejectsBadRate(t *testing.T) {
	rates := []Rate{{Base: "EUR", Quote: "USD", Rate: decimal.Zero, AsOf: day2, Source: "t"}}
	for _, pair := range [][2]string{{"EUR", "USD"}, {"USD", "EUR"}} {
		if _, err := CrossRate(rates, pair[0], pair[1], ""); !errors.Is(err, ErrInvalidRate) {
			t.Errorf("%v: error = %v, want ErrInvalidRate", pair, err)
		}
	}
}

func TestCheckFresh(t *testing.T) {
	r := Rate{Base: "EUR", Quote: "USD", Rate: dec("1.0556"), AsOf: day2, Source: "ecb"}
	identity, _ := CrossRate(nil, "USD", "USD", "")
	tests := []struct {
		name   string
		r      Rate
		now    time.Time
		maxAge time.Duration
		want   error
	}{
		{"fresh", r, day2.Add(time.Hour), 26 * time.Hour, nil},
		{"exactly max age", r, day2.Add(26 * time.Hour), 26 * time.Hour, nil},
		{"stale", r, day2.Add(26*time.Hour + time.Second), 26 * time.Hour, ErrRateStale},
		{"zero as-of", Rate{Base: "EUR", Quote: "USD", Rate: dec("1")}, day2, time.Hour, ErrRateStale},
		{"slightly in the future", r, day2.Add(-time.Minute), time.Hour, nil},
		{"in the future", r, day2.Add(-time.Hour), time.Hour, ErrRateInFuture},
		{"identity never stale", identity, day2, time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckFresh(tt.r, tt.now, tt.maxAge)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CheckFresh = %v, want %v", err, tt.want)
			}
			if tt.want == ErrRateStale && !strings.Contains(err.Error(), "old") {
				t.Errorf("stale error %q does not give the age", err)
			}
		})
	}
}
