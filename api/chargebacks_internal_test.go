package api

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/disputes"
)

// TestChargebackViewShowsVoidedCoverage: a chargeback that voided a
// claim's coverage waiting for review says so, with the amounts in the
// escrow's currency as strings, so that a marketplace can tell why the
// coverage was not paid and what is paid again at the decision. None is
// an empty list, not null.
func TestChargebackViewShowsVoidedCoverage(t *testing.T) {
	d := uuid.New()
	for _, tc := range []struct {
		name   string
		voided []disputes.VoidedCoverage
		want   string
	}{
		{"none", nil, `[]`},
		{"one", []disputes.VoidedCoverage{{DisputeID: d, Amount: decimal.RequireFromString("1000"), Taken: decimal.RequireFromString("400.5")}},
			`[{"dispute_id":"` + d.String() + `","amount":"1000.000","taken_amount":"400.500"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := disputes.Chargeback{Currency: "KWD", EscrowCurrency: "KWD", VoidedCoverage: tc.voided}
			b, err := json.Marshal(chargebackView(c))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if string(got["voided_coverage"]) != tc.want {
				t.Errorf("voided_coverage %s, want %s", got["voided_coverage"], tc.want)
			}
		})
	}
}
