package fx_test

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/money"
)

// TestReverseAmount: each part is the cumulative share less what the
// earlier parts took, rounded half-even at the buy currency's minor
// units, so the parts always add up to what was bought.
func TestReverseAmount(t *testing.T) {
	d := decimal.RequireFromString
	for _, tc := range []struct {
		name         string
		buy          string
		sold, bought string
		parts        []string // sell-currency amounts given back, in order
		want         []string // buy-currency amount of each part
	}{
		{name: "USD to EUR, whole", buy: "EUR", sold: "108.55", bought: "100.00", parts: []string{"108.55"}, want: []string{"100.00"}},
		// 50 × 100 / 108.55 = 46.0617…
		{name: "USD to EUR, in two", buy: "EUR", sold: "108.55", bought: "100.00", parts: []string{"50.00", "58.55"}, want: []string{"46.06", "53.94"}},
		// Thirds of 16080 JPY: 33.333… → 33.33, 66.666… → 66.67 (+33.34), 100 (+33.33).
		{name: "JPY sold, in thirds", buy: "EUR", sold: "16080", bought: "100.00", parts: []string{"5360", "5360", "5360"}, want: []string{"33.33", "33.34", "33.33"}},
		// 33.33 × 158.73 = 5290.47…; 66.66 × 158.73 = 10580.94… → 10581.
		{name: "JPY bought", buy: "JPY", sold: "100.00", bought: "15873", parts: []string{"33.33", "33.33", "33.34"}, want: []string{"5290", "5291", "5292"}},
		// 10 × 30.555 / 100 = 3.0555, a tie: half-even to 3.056.
		{name: "KWD bought, tie", buy: "KWD", sold: "100.00", bought: "30.555", parts: []string{"10.00", "90.00"}, want: []string{"3.056", "27.499"}},
		// 1 × 0.01 / 2 = 0.005, a tie: half-even to 0.00; the rest takes the cent.
		{name: "tie to even, down", buy: "EUR", sold: "2.00", bought: "0.01", parts: []string{"1.00", "1.00"}, want: []string{"0.00", "0.01"}},
		// 1 × 0.03 / 2 = 0.015: half-even to 0.02.
		{name: "tie to even, up", buy: "EUR", sold: "2.00", bought: "0.03", parts: []string{"1.00", "1.00"}, want: []string{"0.02", "0.01"}},
		{name: "nothing back", buy: "EUR", sold: "108.55", bought: "100.00", parts: []string{"0"}, want: []string{"0.00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := money.Lookup(tc.buy)
			if err != nil {
				t.Fatal(err)
			}
			before, total := decimal.Zero, decimal.Zero
			for i, p := range tc.parts {
				got, err := fx.ReverseAmount(d(tc.sold), d(tc.bought), before, total, d(p), cur)
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				if !got.Equal(d(tc.want[i])) {
					t.Errorf("part %d (%s after %s): %s, want %s", i, p, before, got, tc.want[i])
				}
				before, total = before.Add(d(p)), total.Add(got)
			}
			if before.Equal(d(tc.sold)) && !total.Equal(d(tc.bought)) {
				t.Errorf("all of %s back gives %s, want %s", tc.sold, total, tc.bought)
			}
		})
	}
}

func TestReverseAmountRefuses(t *testing.T) {
	d := decimal.RequireFromString
	eur, _ := money.Lookup("EUR")
	for _, tc := range []struct{ name, sold, before, this string }{
		{"more than sold", "108.55", "100.00", "8.56"},
		{"nothing sold", "0", "0", "1.00"},
		{"negative part", "108.55", "0", "-1.00"},
		{"negative before", "108.55", "-1.00", "1.00"},
	} {
		if got, err := fx.ReverseAmount(d(tc.sold), d("100.00"), d(tc.before), decimal.Zero, d(tc.this), eur); err == nil {
			t.Errorf("%s: %s, want an error", tc.name, got)
		}
	}
}

// TestReverseAmountAddsUp: random conversions given back in random parts
// give back exactly what they bought, each part within a minor unit of
// its share.
func TestReverseAmountAddsUp(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 38))
	for _, code := range []string{"EUR", "JPY", "KWD"} {
		cur, _ := money.Lookup(code)
		unit := decimal.New(1, -cur.MinorUnits)
		for range 300 {
			sold := decimal.New(r.Int64N(10_000_000)+1, -2)
			bought := decimal.New(r.Int64N(10_000_000)+1, -cur.MinorUnits)
			before, total := decimal.Zero, decimal.Zero
			for before.LessThan(sold) {
				part := decimal.Min(sold.Sub(before), decimal.New(r.Int64N(sold.Coefficient().Int64())+1, -2))
				got, err := fx.ReverseAmount(sold, bought, before, total, part, cur)
				if err != nil {
					t.Fatal(err)
				}
				share := part.Mul(bought).Div(sold)
				if got.Sub(share).Abs().GreaterThan(unit) {
					t.Fatalf("%s of %s sold for %s %s: %s, share %s", part, sold, bought, code, got, share)
				}
				before, total = before.Add(part), total.Add(got)
			}
			if !total.Equal(bought) {
				t.Fatalf("%s sold for %s %s given back gives %s", sold, bought, code, total)
			}
		}
	}
}

// TestReverseAmountAfterChanges: a part is measured against what the
// earlier parts took, so the parts still add up to what was bought when
// another conversion came in at another rate after an earlier reversal,
// or when an earlier reversal was undone (a won chargeback).
func TestReverseAmountAfterChanges(t *testing.T) {
	d := decimal.RequireFromString
	eur, _ := money.Lookup("EUR")
	for _, tc := range []struct {
		name                              string
		sold, bought, before, taken, this string
		want                              string
	}{
		// 54.27 USD bought 50.00 EUR and came back whole (50.00); then
		// 54.77 USD bought 50.00 more at another rate and comes back:
		// 100.00 in all less the 50.00 taken. Shares of today's totals
		// would say 100.00 − 49.77 = 50.23, more than the 50.00 left.
		{name: "conversion after a reversal", sold: "109.04", bought: "100.00", before: "54.27", taken: "50.00", this: "54.77", want: "50.00"},
		// Of 108.55 → 100.00, parts of 0.07 took 0.06 and 0.07; the
		// first was undone, so 0.07 USD stands for 0.07 EUR, and the
		// rest, 108.48, gives back 100.00 − 0.07.
		{name: "rest after an undone part", sold: "108.55", bought: "100.00", before: "0.07", taken: "0.07", this: "108.48", want: "99.93"},
		// Earlier parts took more than the share now: nothing more, never
		// a negative amount.
		{name: "share below what was taken", sold: "108.55", bought: "100.00", before: "0.07", taken: "0.10", this: "0.01", want: "0.00"},
	} {
		got, err := fx.ReverseAmount(d(tc.sold), d(tc.bought), d(tc.before), d(tc.taken), d(tc.this), eur)
		if err != nil || !got.Equal(d(tc.want)) {
			t.Errorf("%s: %s %v, want %s", tc.name, got, err, tc.want)
		}
	}
}
