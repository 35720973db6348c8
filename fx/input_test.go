package fx

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/valid"
)

func TestParseQuoteRequest(t *testing.T) {
	tests := []struct {
		name                  string
		sellCur, buyCur, s, b string
		field, code           string // "" field: valid
		wantSell, wantBuy     string
	}{
		{"sell amount", "USD", "EUR", "100.50", "", "", "", "100.5", ""},
		{"buy amount JPY", "USD", "JPY", "", "15000", "", "", "", "15000"},
		{"KWD mils", "KWD", "USD", "1.234", "", "", "", "1.234", ""},
		{"CLF four decimals", "CLF", "USD", "1.2345", "", "", "", "1.2345", ""},
		{"JPY fraction", "USD", "JPY", "", "10.5", "buy_amount", CodeInvalidAmount, "", ""},
		{"JPY trailing zero", "JPY", "USD", "10.0", "", "sell_amount", CodeInvalidAmount, "", ""},
		{"KWD too precise", "KWD", "USD", "1.2345", "", "sell_amount", CodeInvalidAmount, "", ""},
		{"BHD too precise", "USD", "BHD", "", "1.2345", "buy_amount", CodeInvalidAmount, "", ""},
		{"exponent", "USD", "EUR", "1e3", "", "sell_amount", CodeInvalidAmount, "", ""},
		{"negative", "USD", "EUR", "-1", "", "sell_amount", CodeInvalidAmount, "", ""},
		{"zero", "USD", "EUR", "0", "", "sell_amount", CodeInvalidAmount, "", ""},
		{"unknown sell", "XYZ", "EUR", "1", "", "sell_currency", CodeUnknownCurrency, "", ""},
		{"lower-case buy", "USD", "eur", "1", "", "buy_currency", CodeUnknownCurrency, "", ""},
		{"withdrawn", "HRK", "EUR", "1", "", "sell_currency", CodeUnknownCurrency, "", ""},
		{"missing currency", "", "EUR", "1", "", "sell_currency", valid.CodeValidationFailed, "", ""},
		{"same currency", "EUR", "EUR", "1", "", "buy_currency", valid.CodeValidationFailed, "", ""},
		{"no amount", "USD", "EUR", "", "", "sell_amount", valid.CodeValidationFailed, "", ""},
		{"both amounts", "USD", "EUR", "1", "1", "buy_amount", valid.CodeValidationFailed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseQuoteRequest(tt.sellCur, tt.buyCur, tt.s, tt.b)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantSell != "" && (req.SellAmount == nil || !req.SellAmount.Equal(dec(tt.wantSell))) {
					t.Errorf("sell amount %v, want %s", req.SellAmount, tt.wantSell)
				}
				if tt.wantBuy != "" && (req.BuyAmount == nil || !req.BuyAmount.Equal(dec(tt.wantBuy))) {
					t.Errorf("buy amount %v, want %s", req.BuyAmount, tt.wantBuy)
				}
				return
			}
			fe, ok := valid.As(err)
			if !ok || len(fe) == 0 || fe[0].Field != tt.field || fe.Code() != tt.code || fe[0].Message == "" {
				t.Fatalf("error = %#v, want %s on %s", err, tt.code, tt.field)
			}
		})
	}
}

func TestRatesInput(t *testing.T) {
	ok := RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"USD": "1.0556", "JPY": "120.65"}}
	set, err := ok.RateSet()
	if err != nil {
		t.Fatal(err)
	}
	if set.Source != APISource || set.Base != "EUR" || !set.Rates["USD"].Equal(dec("1.0556")) || set.AsOf.Day() != 8 {
		t.Fatalf("set = %+v", set)
	}
	// as_of is kept to the microsecond, as fx_rates.as_of keeps it.
	fine := RatesInput{Base: "EUR", AsOf: "2017-03-08T10:00:00.123456789+01:00", Rates: map[string]string{"USD": "1.0556"}}
	if set, err := fine.RateSet(); err != nil || !set.AsOf.Equal(time.Date(2017, 3, 8, 9, 0, 0, 123456000, time.UTC)) || set.AsOf.Location() != time.UTC {
		t.Fatalf("as_of with nanoseconds read as %v, %v", set.AsOf, err)
	}
	tests := []struct {
		name  string
		in    RatesInput
		field string
		code  string
	}{
		{"unknown base", RatesInput{Base: "XXX", AsOf: "2017-03-08", Rates: map[string]string{"USD": "1"}}, "base", CodeUnknownCurrency},
		{"missing base", RatesInput{AsOf: "2017-03-08", Rates: map[string]string{"USD": "1"}}, "base", valid.CodeValidationFailed},
		{"bad as_of", RatesInput{Base: "EUR", AsOf: "08.03.2017", Rates: map[string]string{"USD": "1"}}, "as_of", valid.CodeValidationFailed},
		{"bad source", RatesInput{Base: "EUR", AsOf: "2017-03-08", Source: "a b", Rates: map[string]string{"USD": "1"}}, "source", valid.CodeValidationFailed},
		{"no rates", RatesInput{Base: "EUR", AsOf: "2017-03-08"}, "rates", valid.CodeValidationFailed},
		{"unknown quote", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"ZZZ": "1"}}, "rates.ZZZ", CodeUnknownCurrency},
		{"bad rate", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"USD": "1e3"}}, "rates.USD", CodeInvalidRate},
		{"zero rate", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"USD": "0"}}, "rates.USD", CodeInvalidRate},
		{"huge rate", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"USD": "1000000000000.1"}}, "rates.USD", CodeInvalidRate},
		{"tiny rate", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"USD": "0.0000000000001"}}, "rates.USD", CodeInvalidRate},
		{"as_of in year 1", RatesInput{Base: "EUR", AsOf: "0001-01-01T00:00:01Z", Rates: map[string]string{"USD": "1"}}, "as_of", valid.CodeValidationFailed},
		{"base quoted", RatesInput{Base: "EUR", AsOf: "2017-03-08", Rates: map[string]string{"EUR": "1"}}, "rates.EUR", valid.CodeValidationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.RateSet()
			fe, ok := valid.As(err)
			if !ok || fe[0].Field != tt.field || fe.Code() != tt.code {
				t.Fatalf("error = %#v, want %s on %s", err, tt.code, tt.field)
			}
		})
	}
}

func TestParseRatesFileSniffs(t *testing.T) {
	f, err := os.Open(realECB)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets, err := ParseRatesFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].Source != ECBSource || len(sets[0].Rates) != 31 {
		t.Fatalf("ECB file read as %+v", sets)
	}
	sets, err = ParseRatesFile(strings.NewReader("\ufeffbase,quote,rate,as_of\nEUR,USD,1.0556,2017-03-08\nUSD,JPY,114.3,2017-03-08\n"))
	if err != nil || len(sets) != 2 || sets[0].Source != CSVSource {
		t.Fatalf("CSV read as %+v, %v", sets, err)
	}
	_, err = ParseRatesFile(strings.NewReader("  \n<gesmes:Envelope><Cube>"))
	if !errors.Is(err, ErrInvalidRatesFile) {
		t.Fatalf("bad XML error = %v, want ErrInvalidRatesFile", err)
	}
	_, err = ParseRatesFile(strings.NewReader("base,quote,rate,as_of\nEUR,USD,abc,2017-03-08\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Element != "rate" || !errors.Is(err, ErrInvalidRatesFile) {
		t.Fatalf("bad CSV error = %v, want line 2 rate", err)
	}
	if x := pe.ProblemExtra(); x["line"] != 2 || x["element"] != "rate" {
		t.Errorf("ProblemExtra = %v", x)
	}
}

// FuzzParseQuoteRequest checks the edge parser of quote requests: whatever
// it accepts is a valid request whose one amount is positive and exact at
// its currency's minor units; whatever it refuses is a field error.
func FuzzParseQuoteRequest(f *testing.F) {
	for _, s := range [][4]string{
		{"USD", "EUR", "100.50", ""}, {"USD", "JPY", "", "10.5"}, {"KWD", "USD", "1.2345", ""},
		{"CLF", "CLP", "0.0001", ""}, {"usd", "EUR", "1", ""}, {"USD", "USD", "1", ""},
		{"USD", "EUR", "1e3", ""}, {"USD", "EUR", "", ""}, {"USD", "EUR", "1", "1"}, {"BHD", "JPY", "007.000", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, sellCur, buyCur, sellAmt, buyAmt string) {
		req, err := ParseQuoteRequest(sellCur, buyCur, sellAmt, buyAmt)
		if err != nil {
			if fe, ok := valid.As(err); !ok || len(fe) == 0 || fe[0].Field == "" {
				t.Fatalf("error %v is not a field error", err)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted request does not validate: %v", err)
		}
		if (req.SellAmount == nil) == (req.BuyAmount == nil) {
			t.Fatalf("accepted %+v with not exactly one amount", req)
		}
	})
}
