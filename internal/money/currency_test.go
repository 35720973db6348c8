package money

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		code    string
		minor   int32
		numeric string
		wantErr bool
	}{
		{"USD", 2, "840", false},
		{"EUR", 2, "978", false},
		{"GBP", 2, "826", false},
		{"JPY", 0, "392", false},
		{"KRW", 0, "410", false},
		{"CLP", 0, "152", false},
		{"ISK", 0, "352", false},
		{"VND", 0, "704", false},
		{"XAF", 0, "950", false},
		{"XOF", 0, "952", false},
		{"UGX", 0, "800", false},
		{"PYG", 0, "600", false},
		{"RWF", 0, "646", false},
		{"KMF", 0, "174", false},
		{"DJF", 0, "262", false},
		{"GNF", 0, "324", false},
		{"VUV", 0, "548", false},
		{"XPF", 0, "953", false},
		{"BIF", 0, "108", false},
		{"BHD", 3, "048", false},
		{"KWD", 3, "414", false},
		{"OMR", 3, "512", false},
		{"JOD", 3, "400", false},
		{"TND", 3, "788", false},
		{"IQD", 3, "368", false},
		{"LYD", 3, "434", false},
		{"CLF", 4, "990", false},
		{"UYW", 4, "927", false},
		{"ZWG", 2, "924", false},
		{"usd", 0, "", true},
		{"Usd", 0, "", true},
		{" USD", 0, "", true},
		{"USD ", 0, "", true},
		{"", 0, "", true},
		{"US", 0, "", true},
		{"USDX", 0, "", true},
		{"XYZ", 0, "", true},
		{"XAU", 0, "", true}, // no minor units
		{"XDR", 0, "", true},
		{"XTS", 0, "", true},
		{"HRK", 0, "", true}, // withdrawn 2023
		{"840", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			c, err := Lookup(tt.code)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownCurrency) {
					t.Fatalf("Lookup(%q) error = %v, want ErrUnknownCurrency", tt.code, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.code, err)
			}
			if c.Code != tt.code || c.MinorUnits != tt.minor || c.Numeric != tt.numeric || c.Name == "" {
				t.Errorf("Lookup(%q) = %+v, want minor %d numeric %s", tt.code, c, tt.minor, tt.numeric)
			}
		})
	}
}

func TestLookupErrorNamesCode(t *testing.T) {
	_, err := Lookup("XYZ")
	if err == nil || !strings.Contains(err.Error(), `"XYZ"`) {
		t.Fatalf("error %v does not name the code", err)
	}
	_, err = Lookup(strings.Repeat("A", 1000))
	if err == nil || len(err.Error()) > 64 {
		t.Fatalf("error for a long code is not bounded: %v", err)
	}
}

func TestLookupHistoric(t *testing.T) {
	for _, code := range []string{"HRK", "LTL", "ZWL", "USD"} {
		if _, err := LookupHistoric(code); err != nil {
			t.Errorf("LookupHistoric(%q): %v", code, err)
		}
	}
	if _, err := LookupHistoric("XYZ"); !errors.Is(err, ErrUnknownCurrency) {
		t.Errorf("LookupHistoric(XYZ) error = %v", err)
	}
}

func TestAll(t *testing.T) {
	all := All()
	if len(all) < 150 {
		t.Fatalf("All() has %d currencies, want 150+", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b Currency) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("All() is not sorted by code")
	}
	for _, c := range all {
		if got, err := Lookup(c.Code); err != nil || got != c {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", c.Code, got, err, c)
		}
	}
	all[0].Code = "ZZZ"
	if All()[0].Code == "ZZZ" {
		t.Error("All() does not return a copy")
	}
}

func TestLoadTableRejectsBadData(t *testing.T) {
	const header = "code,numeric,minor_units,name,withdrawn\n"
	tests := map[string]string{
		"empty":        "",
		"bad header":   "a,b,c,d,e\nUSD,840,2,US Dollar,\n",
		"bad minor":    header + "USD,840,x,US Dollar,\n",
		"lower code":   header + "usd,840,2,US Dollar,\n",
		"dup code":     header + "USD,840,2,US Dollar,\nUSD,841,2,US Dollar,\n",
		"dup numeric":  header + "USD,840,2,US Dollar,\nUSX,840,2,US Dollar,\n",
		"short number": header + "USD,84,2,US Dollar,\n",
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := loadTable(data); err == nil {
				t.Error("loadTable accepted bad data")
			}
		})
	}
}
