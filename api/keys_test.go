package api

import (
	"runtime"
	"strings"
	"testing"

	"github.com/escrowd/escrowd/escrow"
)

// nestedMetadataBody is an escrow creation body whose metadata (a
// map[string]string, below which checkKeys lets any key through) holds
// depth objects nested in one another, each under a key of keyLen bytes.
func nestedMetadataBody(depth, keyLen int) []byte {
	key := `"` + strings.Repeat("k", keyLen) + `":`
	var b strings.Builder
	b.WriteString(`{"metadata":`)
	for range depth {
		b.WriteString("{" + key)
	}
	b.WriteString("1")
	b.WriteString(strings.Repeat("}", depth))
	b.WriteString("}")
	return []byte(b.String())
}

// TestCheckKeysMemoryIsLinear: refusing or decoding a body costs a small
// multiple of its size, however deep it nests. A path string built at
// each level of the walk (every frame keeping its own copy alive) made a
// 1 MiB body nested 1,000 deep allocate about 500 MB, and a 20 KB one of
// 10,001 nested arrays 150 MB.
func TestCheckKeysMemoryIsLinear(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		into func() any
	}{
		{"deeper than the limit, long keys", nestedMetadataBody(1000, 1000), func() any { return new(escrow.CreateRequest) }},
		{"within the limit, long keys", nestedMetadataBody(60, 16000), func() any { return new(escrow.CreateRequest) }},
		{"a route without fields, 10,001 nested arrays", []byte(strings.Repeat("[", 10001) + strings.Repeat("]", 10001)), func() any { return new(struct{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.body) > MaxBodyBytes {
				t.Fatalf("the body has %d bytes, over MaxBodyBytes", len(tc.body))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := decodeJSON(tc.body, tc.into())
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("decoded a body that nests objects into metadata's strings")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*uint64(len(tc.body)) {
				t.Errorf("a %d-byte body allocated %d KB (%d times its size)", len(tc.body), alloc>>10, alloc/uint64(len(tc.body)))
			}
		})
	}
}
