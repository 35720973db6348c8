package api

import (
	"reflect"
	"testing"

	"github.com/escrowd/escrowd/escrow"
)

var benchCreateBody = []byte(`{"order_ref":"PO-1","amount":"1250.00","currency":"EUR",
 "buyer":{"id":"b-1","name":"Ana Buyer","country":"DE","email":"ana@example.com"},
 "seller":{"id":"s-1","name":"Sam Seller","country":"CN"},
 "milestones":[{"name":"deposit","amount":"250.00"},{"name":"rest","amount":"1000.00"}],
 "terms":{"inspection_hours":168,"auto_release":true}}`)

// BenchmarkDecodeJSON measures decodeJSON on an escrow creation body, and
// checkKeys alone: what exact key matching adds to each request.
func BenchmarkDecodeJSON(b *testing.B) {
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v escrow.CreateRequest
			if err := decodeJSON(benchCreateBody, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkKeys", func(b *testing.B) {
		b.ReportAllocs()
		t := reflect.TypeOf(&escrow.CreateRequest{})
		for b.Loop() {
			if err := checkKeys(benchCreateBody, t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
