package tenants

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestKeyCache(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Principal{TenantID: uuid.New(), KeyID: uuid.New(), Role: RoleFinance}
	sum, other := [32]byte{1}, [32]byte{2}

	var c keyCache
	_, gen, ok := c.get(sum, t0)
	if ok {
		t.Fatal("empty cache hit")
	}
	c.put(sum, p, t0, gen)
	cases := []struct {
		name string
		sum  [32]byte
		at   time.Time
		hit  bool
	}{
		{"same key at once", sum, t0, true},
		{"same key just before the TTL", sum, t0.Add(KeyCacheTTL - time.Nanosecond), true},
		{"same key at the TTL", sum, t0.Add(KeyCacheTTL), false},
		{"another secret", other, t0, false},
	}
	for _, tc := range cases {
		got, _, ok := c.get(tc.sum, tc.at)
		if ok != tc.hit || (ok && got != p) {
			t.Errorf("%s: got %+v, %v; want hit %v", tc.name, got, ok, tc.hit)
		}
	}

	// A revocation clears the cache, and a read begun before it is not
	// cached afterwards.
	_, before, _ := c.get(other, t0)
	c.clear()
	if _, _, ok := c.get(sum, t0); ok {
		t.Fatal("hit after clear")
	}
	c.put(other, p, t0, before)
	if _, _, ok := c.get(other, t0); ok {
		t.Fatal("a key read before the clear was cached after it")
	}

	// The cache is bounded.
	_, gen, _ = c.get(sum, t0)
	for i := range MaxCachedKeys + 1 {
		c.put([32]byte{byte(i), byte(i >> 8), byte(i >> 16), 9}, p, t0, gen)
	}
	if n := len(c.entries); n > MaxCachedKeys {
		t.Fatalf("cache holds %d keys, limit %d", n, MaxCachedKeys)
	}
}
