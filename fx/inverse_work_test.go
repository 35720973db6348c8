package fx

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkInverses compared every rate with every inverse rate of the same
// instant seen before it: a rates CSV within MaxCSVRows holding EUR/USD
// from 5,000 sources and USD/EUR from 5,000 sources at one instant made
// 25 million decimal products (seconds of CPU for one request). The work
// is now linear in the rates; this bounds it by the allocations of one
// validateImport (the quadratic check made about three per product).
func TestCheckInversesIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("base,quote,rate,as_of,source\n")
	for i := 0; i < MaxCSVRows/2; i++ {
		fmt.Fprintf(&b, "EUR,USD,1.1,2020-01-01,s%d\n", i)
	}
	for i := 0; i < MaxCSVRows/2; i++ {
		fmt.Fprintf(&b, "USD,EUR,0.9090909,2020-01-01,s%d\n", i)
	}
	sets, err := ParseRatesCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var verr error
	allocs := testing.AllocsPerRun(1, func() { verr = validateImport(sets, now) })
	if verr != nil {
		t.Fatalf("consistent rates refused: %v", verr)
	}
	if limit := float64(100 * MaxCSVRows); allocs > limit {
		t.Fatalf("validateImport of %d rates (%d bytes of CSV) made %.0f allocations, want at most %.0f: the inverse check is not linear", MaxCSVRows, b.Len(), allocs, limit)
	}
	t.Logf("%.0f allocations for %d rates", allocs, MaxCSVRows)
}

// Among many inverse rates the one contradicting the new rate is found
// whether it is the smallest or the largest, and the error names the
// later line of the two.
func TestCheckInversesExtremes(t *testing.T) {
	for _, tt := range []struct {
		name, rows string
		line       int
		want       string
	}{
		{"largest", "USD,EUR,0.91,2020-01-01,a\nUSD,EUR,0.95,2020-01-01,b\nUSD,EUR,0.9,2020-01-01,c\nEUR,USD,1.1,2020-01-01,d\n",
			5, "EUR/USD 1.1 (source d, line 5) contradicts USD/EUR 0.95 (source b, line 3)"},
		{"smallest", "USD,EUR,0.91,2020-01-01,a\nUSD,EUR,0.85,2020-01-01,b\nUSD,EUR,0.9,2020-01-01,c\nEUR,USD,1.1,2020-01-01,d\n",
			5, "EUR/USD 1.1 (source d, line 5) contradicts USD/EUR 0.85 (source b, line 3)"},
		{"within", "USD,EUR,0.91,2020-01-01,a\nUSD,EUR,0.9,2020-01-01,b\nEUR,USD,1.1,2020-01-01,d\n", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sets, err := ParseRatesCSV(strings.NewReader("base,quote,rate,as_of,source\n" + tt.rows))
			if err != nil {
				t.Fatal(err)
			}
			err = checkInverses(sets)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkInverses = %v, want nil", err)
				}
				return
			}
			re, ok := err.(*RateError)
			if !ok || re.Line != tt.line || !strings.HasPrefix(re.Reason, tt.want) {
				t.Fatalf("checkInverses = %v, want line %d: %s", err, tt.line, tt.want)
			}
		})
	}
}
