package tenants

import (
	"sync"
	"time"
)

// Limits of the authenticated-key cache.
const (
	// KeyCacheTTL is how long an authenticated key is trusted without
	// reading api_keys again. A key revoked on another node (or with the
	// escrowd keys command) still authenticates here for at most this
	// long; on the node that revoked it, at once.
	KeyCacheTTL = 2 * time.Second
	// MaxCachedKeys bounds the cache; past it, it starts afresh.
	MaxCachedKeys = 10_000
)

// keyCache remembers the principals of keys that authenticated, by the
// SHA-256 of the secret (a wrong secret cannot hit it), for KeyCacheTTL:
// every API request authenticates, and the lookup was a round trip of its
// own. Failures are not cached. The zero value is ready to use.
type keyCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cachedKey
	gen     uint64 // bumped by clear
}

type cachedKey struct {
	p       Principal
	expires time.Time
}

// get returns the cached principal of sum, or the generation to pass to
// put after reading the key.
func (c *keyCache) get(sum [32]byte, now time.Time) (Principal, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok || !now.Before(e.expires) {
		return Principal{}, c.gen, false
	}
	return e.p, c.gen, true
}

// put caches p unless the cache was cleared since gen was read: the key
// may have been revoked after it was read.
func (c *keyCache) put(sum [32]byte, p Principal, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= MaxCachedKeys {
		c.entries = make(map[[32]byte]cachedKey)
	}
	c.entries[sum] = cachedKey{p: p, expires: now.Add(KeyCacheTTL)}
}

// clear forgets every key (a key was revoked).
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	c.gen++
}
