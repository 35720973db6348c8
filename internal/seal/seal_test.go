package seal_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/escrowd/escrowd/internal/seal"
)

func box(t *testing.T, fill byte) *seal.Box {
	t.Helper()
	b, err := seal.New(bytes.Repeat([]byte{fill}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := box(t, 1)
	const secret, ctx = "whsec_abc", "webhook_endpoints.secret:1"
	s1, err := b.Seal(secret, ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal(secret, ctx)
	if !seal.Sealed(s1) || strings.Contains(s1, secret) || s1 == s2 {
		t.Fatalf("sealed values %q, %q: want sealed, without the secret, with fresh nonces", s1, s2)
	}
	if got, err := b.Open(s1, ctx); err != nil || got != secret {
		t.Fatalf("open = %q, %v", got, err)
	}
	flip := map[byte]byte{'A': 'B'}[s1[len(s1)-6]]
	if flip == 0 {
		flip = 'A'
	}
	tampered := s1[:len(s1)-6] + string(flip) + s1[len(s1)-5:]
	for _, tc := range []struct {
		name   string
		box    *seal.Box
		stored string
		ctx    string
		want   error
	}{
		{"another row", b, s1, "webhook_endpoints.secret:2", seal.ErrDamaged},
		{"tampered", b, tampered, ctx, seal.ErrDamaged},
		{"another key", box(t, 2), s1, ctx, seal.ErrWrongKey},
		{"no key", nil, s1, ctx, seal.ErrNoKey},
		{"no key id", b, "sealed:v1:abc", ctx, seal.ErrDamaged},
	} {
		if got, err := tc.box.Open(tc.stored, tc.ctx); !errors.Is(err, tc.want) || got != "" {
			t.Errorf("%s: open = %q, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	// Without a key values stay plain, and plain values open as they are.
	var none *seal.Box
	if s, err := none.Seal(secret, ctx); err != nil || s != secret {
		t.Fatalf("nil box seal = %q, %v", s, err)
	}
	for _, bx := range []*seal.Box{none, b} {
		if got, err := bx.Open(secret, ctx); err != nil || got != secret {
			t.Fatalf("open of a plain value = %q, %v", got, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb}, seal.KeySize) // 0xfb makes '+', '/' or '-', '_' appear
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if got, err := seal.ParseKey(" " + enc.EncodeToString(key) + "\n"); err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%s) = %x, %v", enc.EncodeToString(key), got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(key[:16])} {
		if _, err := seal.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestDerivedKeys(t *testing.T) {
	b := box(t, 1)
	a1, a2, other := b.Key("step-up codes"), b.Key("step-up codes"), b.Key("something else")
	if len(a1) != 32 || !bytes.Equal(a1, a2) || bytes.Equal(a1, other) || bytes.Equal(a1, box(t, 2).Key("step-up codes")) {
		t.Fatalf("derived keys %x %x %x: want 32 bytes, stable per purpose and key, different otherwise", a1, a2, other)
	}
	var none *seal.Box
	if none.Key("step-up codes") != nil {
		t.Fatal("a nil box derived a key")
	}
}
