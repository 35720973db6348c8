package fx

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseRatesCSV(t *testing.T) {
	in := "\xEF\xBB\xBFbase,quote,rate,as_of,source\n" +
		"EUR,USD,1.0556,2017-03-08T16:00:00+01:00,ecb\n" +
		"EUR,JPY,120.65,2017-03-08T15:00:00Z,ecb\n" + // same instant, same set
		"USD,KWD,0.3075,2024-01-02,\n" + // empty source
		"\"EUR\",GBP,0.86753,2017-03-08T15:00:00Z,ecb\n" +
		"EUR,USD,1.0600,2017-03-08T15:00:00Z,manual\n"
	sets, err := ParseRatesCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 3 {
		t.Fatalf("got %d sets, want 3: %+v", len(sets), sets)
	}
	ecbAsOf := time.Date(2017, 3, 8, 15, 0, 0, 0, time.UTC)
	want := []struct {
		base, source string
		asOf         time.Time
		rates        map[string]string
	}{
		{"EUR", "ecb", ecbAsOf, map[string]string{"USD": "1.0556", "JPY": "120.65", "GBP": "0.86753"}},
		{"USD", CSVSource, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), map[string]string{"KWD": "0.3075"}},
		{"EUR", "manual", ecbAsOf, map[string]string{"USD": "1.0600"}},
	}
	for i, w := range want {
		s := sets[i]
		if s.Base != w.base || s.Source != w.source || !s.AsOf.Equal(w.asOf) || s.AsOf.Location() != time.UTC || len(s.Rates) != len(w.rates) {
			t.Errorf("set %d = %+v, want %+v", i, s, w)
			continue
		}
		for code, r := range w.rates {
			if !s.Rates[code].Equal(dec(r)) {
				t.Errorf("set %d %s = %s, want %s", i, code, s.Rates[code], r)
			}
		}
	}
}

func TestParseRatesCSVWithoutSourceColumn(t *testing.T) {
	sets, err := ParseRatesCSV(strings.NewReader("base,quote,rate,as_of\r\nEUR,USD,1.0556,2017-03-08\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].Source != CSVSource || !sets[0].Rates["USD"].Equal(dec("1.0556")) {
		t.Fatalf("got %+v", sets)
	}
}

func TestParseRatesCSVErrors(t *testing.T) {
	const h = "base,quote,rate,as_of\n"
	const hs = "base,quote,rate,as_of,source\n"
	tests := []struct {
		name, in string
		line     int
		reason   string
	}{
		{"empty file", "", 1, "missing header"},
		{"header only", h, 1, "no data rows"},
		{"bad header", "base,quote,rate\nEUR,USD,1\n", 1, "header must be"},
		{"header order", "quote,base,rate,as_of\n", 1, "header must be"},
		{"upper-case header", "BASE,QUOTE,RATE,AS_OF\n", 1, "header must be"},
		{"unknown base", h + "EUR,USD,1.05,2017-03-08\nXYZ,USD,1,2017-03-08\n", 3, "unknown currency \"XYZ\""},
		{"unknown quote", h + "EUR,usd,1.05,2017-03-08\n", 2, "unknown currency \"usd\""},
		{"same currency", h + "EUR,EUR,1,2017-03-08\n", 2, "same as base"},
		{"bad rate", h + "EUR,USD,abc,2017-03-08\n", 2, `rate "abc" is not a decimal`},
		{"exponent rate", h + "EUR,USD,1e3,2017-03-08\n", 2, "is not a decimal"},
		{"zero rate", h + "EUR,USD,0,2017-03-08\n", 2, "not positive"},
		{"spaces", h + "EUR, USD,1,2017-03-08\n", 2, "unknown currency"},
		{"bad as_of", h + "EUR,USD,1,08/03/2017\n", 2, "neither RFC 3339 nor YYYY-MM-DD"},
		{"zero as_of", h + "EUR,USD,1,0001-01-01T00:00:00Z\n", 2, "zero time"},
		{"as_of in year 1", h + "EUR,USD,1,2017-03-08\nEUR,JPY,120,0001-01-02\n", 3, `as_of "0001-01-02" is before 1999`},
		{"as_of before 1999 in UTC", h + "EUR,USD,1,1999-01-01T00:30:00+01:00\n", 2, "is before 1999"},
		{"huge rate", h + "EUR,USD,100000000000000000000000000000000000000,2017-03-08\n", 2, "is outside 0.000000000001..1000000000000"},
		{"tiny rate", h + "EUR,USD,0.0000000000009,2017-03-08\n", 2, "is outside"},
		{"as_of without zone", h + "EUR,USD,1,2017-03-08T15:00:00\n", 2, "neither RFC 3339"},
		{"duplicate", h + "EUR,USD,1,2017-03-08\nEUR,USD,2,2017-03-08T00:00:00Z\n", 3, "duplicate EUR/USD"},
		// fx_rates.as_of keeps microseconds: rows 100 ns apart are one key
		// there, so one set here (they were two sets, and the import
		// counted the second unchanged or failed with 409 and no line).
		{"duplicate within a microsecond", h + "EUR,CHF,1.0702,2017-03-08T10:00:00.0000001Z\nEUR,CHF,1.0702,2017-03-08T10:00:00.0000002Z\n", 3, "duplicate EUR/CHF"},
		{"duplicate within a microsecond, other zone", h + "EUR,CHF,1.0702,2017-03-08T10:00:00.000001999Z\nEUR,CHF,1.0703,2017-03-08T11:00:00.000001+01:00\n", 3, "duplicate EUR/CHF"},
		{"bad source", hs + "EUR,USD,1,2017-03-08,my feed\n", 2, "source may only contain"},
		{"missing field", h + "EUR,USD,1,2017-03-08\nEUR,JPY,120\n", 3, "wrong number of fields"},
		{"bare quote", h + "EUR,USD,1\"2,2017-03-08\n", 2, "bare \""},
		{"quoted newline shifts lines", h + "EUR,USD,1,\"2017-03-08\"\n\"EUR\nX\",USD,1,2017-03-08\n", 3, "unknown currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRatesCSV(strings.NewReader(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want *ParseError", err)
			}
			if pe.Line != tt.line || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("got line %d reason %q, want line %d containing %q", pe.Line, pe.Reason, tt.line, tt.reason)
			}
		})
	}
}

// The bounds of a rate and of as_of admit the real extremes: a rate of
// about a million (IRR per EUR) and its inverse, the 1999 start of the
// euro, and the limits themselves.
func TestParseRatesCSVBounds(t *testing.T) {
	in := "base,quote,rate,as_of\n" +
		"EUR,IRR,1050000,2024-06-03\nIRR,EUR,0.00000095238,2024-06-03\nEUR,VES,39.53,2024-06-03\n" +
		"USD,VES,4200000,2021-09-30\nCLF,VES,170000000,2021-09-30\n" +
		"EUR,USD,1.1789,1999-01-04\nEUR,JPY,1000000000000,1999-01-01\nEUR,GBP,0.000000000001,1999-01-01T00:00:00Z\n"
	sets, err := ParseRatesCSV(strings.NewReader(in))
	if err != nil || len(sets) != 6 {
		t.Fatalf("got %d sets, %v", len(sets), err)
	}
}

func TestParseRatesCSVLimits(t *testing.T) {
	t.Run("rows", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("base,quote,rate,as_of\n")
		for i := range MaxCSVRows + 1 {
			fmt.Fprintf(&b, "EUR,USD,1,2017-03-08T00:00:%02d.%04dZ\n", i%60, i)
		}
		_, err := ParseRatesCSV(strings.NewReader(b.String()))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != MaxCSVRows+2 || !strings.Contains(pe.Reason, "more than 10000 rows") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		in := "base,quote,rate,as_of\nEUR,USD,1" + strings.Repeat("0", MaxCSVBytes) + ",2017-03-08\n"
		_, err := ParseRatesCSV(strings.NewReader(in))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "larger than") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("exactly the byte limit", func(t *testing.T) {
		head := "base,quote,rate,as_of\nEUR,USD,1,2017-03-08\n"
		in := head + strings.Repeat("\n", MaxCSVBytes-len(head))
		if _, err := ParseRatesCSV(strings.NewReader(in)); err != nil {
			t.Fatalf("error = %v", err)
		}
	})
}

func FuzzParseRatesCSV(f *testing.F) {
	f.Add([]byte("base,quote,rate,as_of\nEUR,USD,1.0556,2017-03-08\n"))
	f.Add([]byte("\xEF\xBB\xBFbase,quote,rate,as_of,source\nEUR,USD,1.0556,2017-03-08T16:00:00+01:00,ecb\nUSD,JPY,150,2024-01-02,\n"))
	f.Add([]byte("base,quote,rate,as_of\nEUR,USD,abc,2017-03-08\n"))
	f.Add([]byte("base,quote,rate,as_of\n\"EUR\nX\",USD,1,2017-03-08\n"))
	f.Add([]byte("base,quote,rate,as_of\nKWD,CLF,0.0001,0001-01-01T00:00:00Z\n"))
	f.Add([]byte("base,quote,rate,as_of\nEUR,CHF,1.0702,2017-03-08T10:00:00.0000001Z\nEUR,GBP,0.86,2017-03-08T10:00:00.000000999Z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sets, err := ParseRatesCSV(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if len(sets) == 0 {
			t.Fatal("no sets and no error")
		}
		for _, s := range sets {
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted set does not validate: %v", err)
			}
			if s.AsOf.Location() != time.UTC || !s.AsOf.Equal(s.AsOf.Truncate(asOfPrecision)) {
				t.Fatalf("AsOf %s is not UTC to the microsecond", s.AsOf)
			}
		}
	})
}
