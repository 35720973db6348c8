package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/escrowd/escrowd/api"
)

// TestOpenAPIDescribesEveryRoute keeps docs/openapi.yaml true: every route
// of the table appears under paths with its method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	paths := map[string]string{} // path -> its block of the document
	text := string(doc)
	for _, rt := range api.New(e.deps).Routes() {
		block, ok := paths[rt.Path]
		if !ok {
			i := strings.Index(text, "\n  "+rt.Path+":")
			if i < 0 {
				t.Errorf("docs/openapi.yaml does not describe %s", rt.Path)
				continue
			}
			rest := text[i+1:]
			if j := strings.Index(rest[1:], "\n  /"); j >= 0 {
				rest = rest[:j+1]
			}
			block = rest
			paths[rt.Path] = block
		}
		if !strings.Contains(block, "\n    "+strings.ToLower(rt.Method)+":") {
			t.Errorf("docs/openapi.yaml describes %s but not its %s", rt.Path, rt.Method)
		}
	}
}
