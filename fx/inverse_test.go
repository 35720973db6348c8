package fx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// checkInverses compares every rate of an import with its inverse at the
// same instant, whatever their sources, within MaxInverseDeviationBps.
func TestCheckInverses(t *testing.T) {
	set := func(base string, asOf time.Time, source string, rates ...string) RateSet {
		s := RateSet{Base: base, AsOf: asOf, Source: source, Rates: map[string]decimal.Decimal{}}
		for i := 0; i < len(rates); i += 2 {
			s.Rates[rates[i]] = dec(rates[i+1])
		}
		return s
	}
	tests := []struct {
		name string
		sets []RateSet
		ok   bool
	}{
		{"consistent", []RateSet{set("EUR", day2, "desk", "GBP", "0.85"), set("GBP", day2, "desk", "EUR", "1.1765")}, true},
		{"contradicting", []RateSet{set("EUR", day2, "desk", "GBP", "0.85"), set("GBP", day2, "desk", "EUR", "2.5")}, false},
		{"product exactly 1.01", []RateSet{set("EUR", day2, "desk", "USD", "1.01"), set("USD", day2, "desk", "EUR", "1")}, true},
		{"product 1.0101", []RateSet{set("EUR", day2, "desk", "USD", "1.0101"), set("USD", day2, "desk", "EUR", "1")}, false},
		{"product exactly 0.99", []RateSet{set("EUR", day2, "desk", "USD", "0.99"), set("USD", day2, "desk", "EUR", "1")}, true},
		{"product 0.9899", []RateSet{set("EUR", day2, "desk", "USD", "0.9899"), set("USD", day2, "desk", "EUR", "1")}, false},
		{"other sources, same instant", []RateSet{set("EUR", day2, "ecb", "GBP", "0.85"), set("GBP", day2, "desk", "EUR", "2.5")}, false},
		{"other instants", []RateSet{set("EUR", day1, "desk", "GBP", "0.85"), set("GBP", day2, "desk", "EUR", "2.5")}, true},
		{"same microsecond", []RateSet{set("EUR", day2, "desk", "GBP", "0.85"), set("GBP", day2.Add(500*time.Nanosecond), "desk", "EUR", "2.5")}, false},
		{"tiny and huge rates", []RateSet{set("EUR", day2, "desk", "IRR", "1050000"), set("IRR", day2, "desk", "EUR", "0.00000095238")}, true},
		{"one set", []RateSet{set("EUR", day2, "ecb", "GBP", "0.85", "USD", "1.0556")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkInverses(tt.sets)
			if tt.ok != (err == nil) {
				t.Fatalf("checkInverses = %v, want ok=%v", err, tt.ok)
			}
			var re *RateError
			if err != nil && (!errors.Is(err, ErrInvalidRate) || !errors.As(err, &re) || re.Line != 0 || re.Element != "") {
				t.Errorf("error %#v: want a *RateError matching ErrInvalidRate, without line", err)
			}
		})
	}
}

// From a rates CSV, the error names the line of the later row of the two
// (the API answers 422 invalid_rate with line and element).
func TestCheckInversesNamesTheCSVLine(t *testing.T) {
	sets, err := ParseRatesCSV(strings.NewReader("base,quote,rate,as_of,source\n" +
		"GBP,EUR,2.5,2017-03-08T15:00:00Z,desk\n" +
		"EUR,USD,1.0556,2017-03-08T15:00:00Z,ecb\n" +
		"EUR,GBP,0.85,2017-03-08T16:00:00+01:00,ecb\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = validateImport(sets, day2.Add(time.Hour))
	var re *RateError
	if !errors.As(err, &re) || re.Line != 4 || re.Element != "rate" || !errors.Is(err, ErrInvalidRate) {
		t.Fatalf("error = %v, want a *RateError on line 4, rate", err)
	}
	want := "EUR/GBP 0.85 (source ecb, line 4) contradicts GBP/EUR 2.5 (source desk, line 2) at the same instant 2017-03-08T15:00:00Z: their product 2.125 is more than 1% from 1"
	if re.Reason != want {
		t.Errorf("reason %q\nwant   %q", re.Reason, want)
	}
	if x := re.ProblemExtra(); x["line"] != 4 || x["element"] != "rate" {
		t.Errorf("ProblemExtra = %v", x)
	}
	if got := re.Error(); got != "fx: invalid rate: line 4 rate: "+want {
		t.Errorf("Error() = %q", got)
	}
}
