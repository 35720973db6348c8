package reconcile

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestCheckBalances(t *testing.T) {
	ptr := func(s string) *decimal.Decimal { d := dec(t, s); return &d }
	line := func(amount, ccy, status string) StatementLine {
		return StatementLine{Amount: dec(t, amount), Currency: ccy, Status: status}
	}
	tests := []struct {
		name             string
		opening, closing *decimal.Decimal
		lines            []StatementLine
		wantErr          error
		wantDiff         string // set when a *BalanceMismatchError is expected
	}{
		{"ties", ptr("100"), ptr("70.01"), []StatementLine{line("-30", "EUR", StatusBooked), line("0.01", "EUR", StatusBooked)}, nil, ""},
		{"pending excluded", ptr("100"), ptr("100"), []StatementLine{line("-30", "EUR", StatusPending)}, nil, ""},
		{"negative balances", ptr("-5"), ptr("-15.5"), []StatementLine{line("-10.5", "EUR", StatusBooked)}, nil, ""},
		{"no lines", ptr("1"), ptr("1"), nil, nil, ""},
		{"mismatch", ptr("100"), ptr("80"), []StatementLine{line("-30", "EUR", StatusBooked)}, nil, "10"},
		{"no opening", nil, ptr("1"), nil, ErrNoBalances, ""},
		{"no closing", ptr("1"), nil, nil, ErrNoBalances, ""},
		{"mixed currencies", ptr("1"), ptr("2"), []StatementLine{line("1", "USD", StatusBooked)}, ErrMixedCurrencies, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Statement{Currency: "EUR", OpeningBalance: tt.opening, ClosingBalance: tt.closing, Lines: tt.lines}
			err := st.CheckBalances()
			if tt.wantDiff != "" {
				var mm *BalanceMismatchError
				if !errors.As(err, &mm) || !mm.Difference.Equal(dec(t, tt.wantDiff)) {
					t.Fatalf("err = %v, want mismatch with difference %s", err, tt.wantDiff)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestParseUnsignedAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"0", "0", nil},
		{"754.25", "754.25", nil},
		{"007.10000", "7.1", nil},
		{"999999999999999999", "999999999999999999", nil},
		{"1.12345", "1.12345", nil},
		{"", "", errNotDecimal},
		{"1e3", "", errNotDecimal},
		{"-1", "", errNotDecimal},
		{"+1", "", errNotDecimal},
		{".5", "", errNotDecimal},
		{"5.", "", errNotDecimal},
		{"1.2.3", "", errNotDecimal},
		{" 1", "", errNotDecimal},
		{"1,5", "", errNotDecimal},
		{"1.123456", "", errTooManyDigits},
		{"1999999999999999999", "", errTooManyDigits},
	}
	for _, tt := range tests {
		got, err := parseUnsignedAmount(tt.in)
		if !errors.Is(err, tt.wantErr) || (err == nil && !got.Equal(dec(t, tt.want))) {
			t.Errorf("parseUnsignedAmount(%q) = %s, %v; want %s, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
