package valid_test

import (
	"strings"
	"testing"

	"github.com/escrowd/escrowd/internal/valid"
)

func TestStorableText(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "endpoint answered 500", 100, "endpoint answered 500"},
		{"at the limit", "abcd", 4, "abcd"},
		{"cut", "abcdef", 4, "abcd"},
		{"NUL dropped", "a\x00b", 10, "ab"},
		{"invalid UTF-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"cut before a 2-byte character it would split", "abé", 3, "ab"},
		{"cut after a whole 2-byte character", "abé", 4, "abé"},
		{"cut before a 3-byte character", "a€", 3, "a"},
		{"cut before a 4-byte character", "a😀", 4, "a"},
		{"a replacement cut whole", "ab\xff", 4, "ab"},
		{"nothing fits", "é", 1, ""},
		{"zero", "abc", 0, ""},
	} {
		got := valid.StorableText(c.in, c.max)
		if got != c.want {
			t.Errorf("%s: StorableText(%q, %d) = %q, want %q", c.name, c.in, c.max, got, c.want)
		}
		if !valid.Storable(got) || len(got) > max(c.max, 0) {
			t.Errorf("%s: %q is not storable in %d bytes", c.name, got, c.max)
		}
	}
	// Every cut of a long non-ASCII text is storable.
	long := strings.Repeat("é€😀x", 50)
	for n := range len(long) + 2 {
		if got := valid.StorableText(long, n); !valid.Storable(got) || len(got) > n || !strings.HasPrefix(long, got) || len(got) < n-3 {
			t.Fatalf("StorableText(long, %d) = %q", n, got)
		}
	}
}
