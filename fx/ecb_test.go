package fx

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/money"
)

const realECB = "../testdata/real/ecb-eurofxref-daily-2017-03-08.xml"

func TestParseECBRealFile(t *testing.T) {
	f, err := os.Open(realECB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, err := ParseECB(f)
	if err != nil {
		t.Fatal(err)
	}
	if set.Base != "EUR" || set.Source != "ecb" || len(set.Rates) != 31 {
		t.Fatalf("got base %s source %s with %d rates, want EUR ecb 31", set.Base, set.Source, len(set.Rates))
	}
	if want := time.Date(2017, 3, 8, 15, 0, 0, 0, time.UTC); !set.AsOf.Equal(want) {
		t.Errorf("AsOf = %s, want %s", set.AsOf, want)
	}
	for code, want := range map[string]string{
		"USD": "1.0556", "JPY": "120.65", "GBP": "0.86753", "HUF": "310.70",
		"IDR": "14144.80", "KRW": "1216.36", "HRK": "7.4213", "ZAR": "13.7908",
	} {
		if got := set.Rates[code]; !got.Equal(dec(want)) {
			t.Errorf("%s = %s, want %s", code, got, want)
		}
	}
	if err := set.Validate(); err != nil {
		t.Error(err)
	}
}

// The ECB publishes at about 16:00 Frankfurt time: 15:00 UTC in winter,
// 14:00 UTC in summer. A set is dated then, so that the day's feed can be
// imported right after publication and its age is not understated.
func TestParseECBAsOfFrankfurtTime(t *testing.T) {
	tests := []struct {
		day  string
		want time.Time
	}{
		{"2017-03-08", time.Date(2017, 3, 8, 15, 0, 0, 0, time.UTC)},   // CET
		{"2017-07-10", time.Date(2017, 7, 10, 14, 0, 0, 0, time.UTC)},  // CEST
		{"2017-03-24", time.Date(2017, 3, 24, 15, 0, 0, 0, time.UTC)},  // last Friday before summer time
		{"2017-03-26", time.Date(2017, 3, 26, 14, 0, 0, 0, time.UTC)},  // summer time from 01:00 UTC that day
		{"2017-10-27", time.Date(2017, 10, 27, 14, 0, 0, 0, time.UTC)}, // last Friday of summer time
		{"2017-10-29", time.Date(2017, 10, 29, 15, 0, 0, 0, time.UTC)}, // winter time from 01:00 UTC that day
		{"2024-12-31", time.Date(2024, 12, 31, 15, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		set, err := ParseECB(strings.NewReader(ecbDoc(`<Cube time='` + tt.day + `'><Cube currency='USD' rate='1.1'/></Cube>`)))
		if err != nil {
			t.Fatalf("%s: %v", tt.day, err)
		}
		if !set.AsOf.Equal(tt.want) || set.AsOf.Location() != time.UTC {
			t.Errorf("%s: AsOf = %s, want %s", tt.day, set.AsOf, tt.want)
		}
	}
}

const ecbHead = `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<gesmes:subject>Reference rates</gesmes:subject><Cube>`

func ecbDoc(days string) string { return ecbHead + days + `</Cube></gesmes:Envelope>` }

func TestParseECBErrors(t *testing.T) {
	tests := []struct {
		name, doc, element, reason string
	}{
		{"bad rate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='abc'/></Cube>`), "Cube[currency=USD]", `rate "abc" is not a decimal`},
		{"exponent rate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='1e3'/></Cube>`), "Cube[currency=USD]", "is not a decimal"},
		{"negative rate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='-1.05'/></Cube>`), "Cube[currency=USD]", "is not a decimal"},
		{"zero rate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='0.0'/></Cube>`), "Cube[currency=USD]", "not positive"},
		{"missing rate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD'/></Cube>`), "Cube[currency=USD]", "is not a decimal"},
		{"unknown currency", ecbDoc(`<Cube time='2017-03-08'><Cube currency='XYZ' rate='1'/></Cube>`), "Cube[currency=XYZ]", "unknown currency"},
		{"lower-case currency", ecbDoc(`<Cube time='2017-03-08'><Cube currency='usd' rate='1'/></Cube>`), `Cube[currency="usd"]`, "unknown currency"},
		{"missing currency", ecbDoc(`<Cube time='2017-03-08'><Cube rate='1'/></Cube>`), `Cube[currency=""]`, "unknown currency"},
		{"base quoted", ecbDoc(`<Cube time='2017-03-08'><Cube currency='EUR' rate='1'/></Cube>`), "Cube[currency=EUR]", "base currency"},
		{"duplicate", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='1'/><Cube currency='USD' rate='1'/></Cube>`), "Cube[currency=USD]", "duplicate"},
		{"no day", ecbDoc(``), "Cube[time]", "exactly one day, got 0"},
		{"two days", ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='1'/></Cube><Cube time='2017-03-07'><Cube currency='USD' rate='1'/></Cube>`), "Cube[time]", "exactly one day, got 2"},
		{"bad time", ecbDoc(`<Cube time='08.03.2017'><Cube currency='USD' rate='1'/></Cube>`), "Cube[time]", "not a YYYY-MM-DD date"},
		{"no rates", ecbDoc(`<Cube time='2017-03-08'></Cube>`), "Cube[time=2017-03-08]", "no rates"},
		{"wrong root", `<Other><Cube/></Other>`, "Envelope", "malformed XML"},
		{"not XML", `{"rates": {}}`, "Envelope", "no root element"},
		{"truncated", ecbHead + `<Cube time='2017-03-08'>`, "", "malformed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseECB(strings.NewReader(tt.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want *ParseError", err)
			}
			if pe.Element != tt.element || !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("got element %q reason %q, want %q containing %q", pe.Element, pe.Reason, tt.element, tt.reason)
			}
		})
	}
}

func TestParseECBUnknownCurrencyUnwraps(t *testing.T) {
	_, err := ParseECB(strings.NewReader(ecbDoc(`<Cube time='2017-03-08'><Cube currency='XYZ' rate='1'/></Cube>`)))
	if !errors.Is(err, money.ErrUnknownCurrency) {
		t.Fatalf("error = %v, want money.ErrUnknownCurrency", err)
	}
}

func TestParseECBSizeLimit(t *testing.T) {
	doc := ecbHead + `<!--` + strings.Repeat("x", MaxFeedBytes) + `-->` + `<Cube time='2017-03-08'><Cube currency='USD' rate='1'/></Cube></Cube></gesmes:Envelope>`
	_, err := ParseECB(strings.NewReader(doc))
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "larger than") {
		t.Fatalf("error = %v, want size limit", err)
	}
}

func FuzzParseECB(f *testing.F) {
	real, err := os.ReadFile(realECB)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	frankfurt, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='1.0556'/></Cube>`)))
	f.Add([]byte(ecbDoc(`<Cube time='2017-03-08'><Cube currency='USD' rate='abc'/></Cube>`)))
	f.Add([]byte(ecbDoc(`<Cube time='2017-03-08'><Cube currency='HRK' rate='7.4213'/><Cube currency='JPY' rate='120.65'/></Cube>`)))
	f.Add([]byte(`<Envelope><Cube><Cube time="2024-01-02"><Cube currency="KWD" rate="0.3383"/></Cube></Cube></Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseECB(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		if err := set.Validate(); err != nil {
			t.Fatalf("accepted set does not validate: %v", err)
		}
		if local := set.AsOf.In(frankfurt); set.Base != ECBBase || set.Source != ECBSource || local.Hour() != 16 || local.Minute() != 0 || set.AsOf.Location() != time.UTC {
			t.Fatalf("accepted set %+v", set)
		}
	})
}
