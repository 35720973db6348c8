package money

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func mustLookup(t testing.TB, code string) Currency {
	t.Helper()
	c, err := Lookup(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in, cur string
		want    string // "" means an error is expected
		reason  string // substring of the error, when an error is expected
	}{
		{"0", "USD", "0", ""},
		{"1", "USD", "1", ""},
		{"10.5", "USD", "10.5", ""},
		{"10.50", "USD", "10.5", ""},
		{"007.25", "USD", "7.25", ""},
		{"1250.00", "EUR", "1250", ""},
		{"10", "JPY", "10", ""},
		{"1.234", "KWD", "1.234", ""},
		{"1.2345", "CLF", "1.2345", ""},
		{"1.2345", "UYW", "1.2345", ""},
		{strings.Repeat("9", 40), "JPY", strings.Repeat("9", 40), ""},
		{strings.Repeat("9", 37) + ".99", "USD", strings.Repeat("9", 37) + ".99", ""},
		{"000" + strings.Repeat("9", 37), "USD", strings.Repeat("9", 37), ""}, // formats as 40 characters
		{strings.Repeat("9", 38), "USD", "", "too many digits for USD"},       // would format as 41

		{"10.5", "JPY", "", "too many decimal places for JPY (max 0)"},
		{"10.0", "JPY", "", "too many decimal places for JPY (max 0)"},
		{"1.2345", "KWD", "", "too many decimal places for KWD (max 3)"},
		{"1.001", "USD", "", "too many decimal places for USD (max 2)"},
		{"1.12345", "CLF", "", "too many decimal places for CLF (max 4)"},
		{"1e3", "USD", "", "unexpected character 'e'"},
		{"1E3", "USD", "", "unexpected character 'E'"},
		{"NaN", "USD", "", "unexpected character 'N'"},
		{"Inf", "USD", "", "unexpected character 'I'"},
		{"-1", "USD", "", "sign not allowed"},
		{"+1", "USD", "", "sign not allowed"},
		{" 1", "USD", "", "unexpected character ' '"},
		{"1 ", "USD", "", "unexpected character ' '"},
		{"1.", "USD", "", "missing digits after"},
		{".5", "USD", "", "missing digits before"},
		{".", "USD", "", "missing digits before"},
		{"", "USD", "", "empty"},
		{"0x10", "USD", "", "unexpected character 'x'"},
		{"١٢", "USD", "", "unexpected character '١'"},
		{"1,000", "USD", "", "unexpected character ','"},
		{"1.2.3", "USD", "", "more than one '.'"},
		{"1_000", "USD", "", "unexpected character '_'"},
		{"--1", "USD", "", "sign not allowed"},
		{strings.Repeat("1", 41), "JPY", "", "longer than 40 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.cur+"/"+tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in, mustLookup(t, tt.cur))
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidAmount) {
					t.Fatalf("ParseAmount(%q) = %v, %v; want ErrInvalidAmount", tt.in, got, err)
				}
				if !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("error %q does not contain %q", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tt.in, err)
			}
			if !got.Equal(decimal.RequireFromString(tt.want)) {
				t.Errorf("ParseAmount(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSignedAmount(t *testing.T) {
	usd := mustLookup(t, "USD")
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"-1", "-1"},
		{"-0.01", "-0.01"},
		{"1.25", "1.25"},
		{"-0", "0"},
		{"+1", ""},
		{"--1", ""},
		{"-", ""},
		{"-.5", ""},
		{"1-", ""},
		{"-1.001", ""},
		{"-" + strings.Repeat("1", 40), ""}, // 41 characters with the sign
		{"-" + strings.Repeat("1", 37), ""}, // formats as 41 characters
		{"-" + strings.Repeat("1", 36), "-" + strings.Repeat("1", 36)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignedAmount(tt.in, usd)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidAmount) {
					t.Fatalf("ParseSignedAmount(%q) = %v, %v; want ErrInvalidAmount", tt.in, got, err)
				}
				return
			}
			if err != nil || !got.Equal(decimal.RequireFromString(tt.want)) {
				t.Fatalf("ParseSignedAmount(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseAmountZeroCurrency(t *testing.T) {
	if _, err := ParseAmount("1", Currency{}); !errors.Is(err, ErrUnknownCurrency) {
		t.Fatalf("error = %v, want ErrUnknownCurrency", err)
	}
}

func TestParsePlainDecimal(t *testing.T) {
	if d, err := ParsePlainDecimal("121.14", 20); err != nil || d.String() != "121.14" {
		t.Fatalf("ParsePlainDecimal = %v, %v", d, err)
	}
	for _, in := range []string{"abc", "1e3", "-1", "0.123", ""} {
		if _, err := ParsePlainDecimal(in, 2); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("ParsePlainDecimal(%q) error = %v", in, err)
		}
	}
}

func TestCheckExactAndFormat(t *testing.T) {
	tests := []struct {
		in, cur string
		exact   bool
		format  string
	}{
		{"1250", "EUR", true, "1250.00"},
		{"1250.5", "EUR", true, "1250.50"},
		{"1250.500", "EUR", true, "1250.50"}, // trailing zeros are exact
		{"-3.1", "USD", true, "-3.10"},
		{"12", "JPY", true, "12"},
		{"12.000", "JPY", true, "12"},
		{"1.5", "JPY", false, "1.5"}, // not rounded
		{"1.005", "USD", false, "1.005"},
		{"1.2345", "KWD", false, "1.2345"},
		{"1.234", "KWD", true, "1.234"},
		{"0.0001", "CLF", true, "0.0001"},
	}
	for _, tt := range tests {
		t.Run(tt.cur+"/"+tt.in, func(t *testing.T) {
			c := mustLookup(t, tt.cur)
			d := decimal.RequireFromString(tt.in)
			err := CheckExact(d, c)
			if tt.exact != (err == nil) {
				t.Errorf("CheckExact(%s) = %v, want exact=%v", tt.in, err, tt.exact)
			}
			if err != nil && !errors.Is(err, ErrInvalidAmount) {
				t.Errorf("CheckExact error %v does not wrap ErrInvalidAmount", err)
			}
			if got := Format(d, c); got != tt.format {
				t.Errorf("Format(%s) = %q, want %q", tt.in, got, tt.format)
			}
		})
	}
}

func TestRoundHalfEven(t *testing.T) {
	tests := []struct{ in, cur, want string }{
		{"2.345", "USD", "2.34"}, // tie, 4 is even
		{"2.355", "USD", "2.36"}, // tie, 6 is even
		{"2.3451", "USD", "2.35"},
		{"-2.345", "USD", "-2.34"},
		{"-2.355", "USD", "-2.36"},
		{"0.5", "JPY", "0"},
		{"1.5", "JPY", "2"},
		{"2.5", "JPY", "2"},
		{"-0.5", "JPY", "0"},
		{"-1.5", "JPY", "-2"},
		{"1.23455", "KWD", "1.235"}, // .55 of a unit, not a tie
		{"1.2345", "KWD", "1.234"},  // tie, 4 is even
		{"1.2355", "KWD", "1.236"},  // tie, 6 is even
		{"1.23445", "CLF", "1.2344"},
		{"1.23455", "CLF", "1.2346"},
		{"1.2", "USD", "1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.cur+"/"+tt.in, func(t *testing.T) {
			got := Round(decimal.RequireFromString(tt.in), mustLookup(t, tt.cur))
			if !got.Equal(decimal.RequireFromString(tt.want)) {
				t.Errorf("Round(%s %s) = %s, want %s", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestMoney(t *testing.T) {
	eur := mustLookup(t, "EUR")
	m, err := New(decimal.RequireFromString("1250"), eur)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.String(); got != "1250.00 EUR" {
		t.Errorf("String() = %q", got)
	}
	if _, err := New(decimal.RequireFromString("0.001"), eur); !errors.Is(err, ErrInvalidAmount) {
		t.Errorf("New(0.001 EUR) error = %v", err)
	}
}
