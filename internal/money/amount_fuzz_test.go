package money

import (
	"strings"
	"testing"
)

func FuzzParseAmount(f *testing.F) {
	seeds := []struct {
		s, code string
	}{
		{"0", "USD"}, {"10.5", "JPY"}, {"1.2345", "KWD"}, {"1.234", "KWD"},
		{"1e3", "USD"}, {"NaN", "USD"}, {"-1", "USD"}, {"+1", "USD"},
		{" 1", "USD"}, {"1.", "USD"}, {".5", "USD"}, {"", "USD"},
		{"0x10", "USD"}, {"١٢", "USD"}, {strings.Repeat("9", 41), "JPY"},
		{"1.2345", "CLF"}, {"007.00", "EUR"}, {"Infinity", "USD"},
	}
	for _, s := range seeds {
		f.Add(s.s, s.code)
	}
	f.Fuzz(func(t *testing.T, s, code string) {
		c, err := Lookup(code)
		if err != nil {
			c, _ = Lookup("USD")
		}
		d, err := ParseAmount(s, c)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "eEN") {
			t.Fatalf("accepted %q containing e, E or N", s)
		}
		if len(s) > MaxAmountLength {
			t.Fatalf("accepted %d characters", len(s))
		}
		if d.IsNegative() {
			t.Fatalf("ParseAmount(%q) = %s is negative", s, d)
		}
		if err := CheckExact(d, c); err != nil {
			t.Fatalf("ParseAmount(%q, %s) = %s is not exact: %v", s, c.Code, d, err)
		}
		out := Format(d, c)
		back, err := ParseAmount(out, c)
		if err != nil {
			t.Fatalf("Format(%q) = %q does not re-parse: %v", s, out, err)
		}
		if !back.Equal(d) {
			t.Fatalf("round trip %q -> %q -> %s", s, out, back)
		}
	})
}
