package risk

import (
	"math"
	"slices"
	"testing"

	"github.com/shopspring/decimal"
)

func TestActivationMatchesDeclarations(t *testing.T) {
	act := Features{}.Activation()
	var declared []string
	for _, v := range featureVars {
		declared = append(declared, v.name)
		if _, ok := act[v.name]; !ok {
			t.Errorf("Activation lacks declared variable %q", v.name)
		}
	}
	for k := range act {
		if !slices.Contains(declared, k) {
			t.Errorf("Activation sets undeclared variable %q", k)
		}
	}
	if ctx, ok := act["context"].(map[string]string); !ok || ctx == nil {
		t.Errorf("context = %#v, want an empty map", act["context"])
	}
}

func TestCents(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"10000", 1000000},
		{"10000.004", 1000000},
		{"10000.005", 1000001}, // half away from zero
		{"-0.005", -1},
		{"0.1", 10},
		{"92233720368547758.07", math.MaxInt64},
		{"1e30", math.MaxInt64},
		{"-1e30", math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := cents(decimal.RequireFromString(tt.in)); got != tt.want {
				t.Errorf("cents(%s) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestActivationValues(t *testing.T) {
	f := Features{
		AmountUSD:        decimal.RequireFromString("10000.01"),
		BuyerEscrowCount: 3,
		IPCountry:        "NL",
		PartyFrozen:      true,
		Operation:        OperationRefund,
		Context:          map[string]string{"channel": "app"},
	}
	act := f.Activation()
	want := map[string]any{
		"amount_usd":         10000.01,
		"amount_usd_cents":   int64(1000001),
		"buyer_escrow_count": int64(3),
		"ip_country":         "NL",
		"party_frozen":       true,
		"operation":          "refund",
	}
	for k, v := range want {
		if act[k] != v {
			t.Errorf("%s = %#v, want %#v", k, act[k], v)
		}
	}
	if act["context"].(map[string]string)["channel"] != "app" {
		t.Errorf("context = %v", act["context"])
	}
}
