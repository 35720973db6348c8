package escrow

import (
	"maps"
	"testing"

	"github.com/escrowd/escrowd/internal/doctest"
)

// TestDocumentedTransitions: docs/architecture.md's escrow table is this
// package's transitions table.
func TestDocumentedTransitions(t *testing.T) {
	doc, err := doctest.Transitions("../docs/architecture.md", "escrow state")
	if err != nil {
		t.Fatal(err)
	}
	code := doctest.Strings(transitions)
	if !maps.EqualFunc(doc, code, maps.Equal) {
		t.Errorf("docs/architecture.md's escrow states differ from escrow/transitions.go:\ndoc  %v\ncode %v", doc, code)
	}
}
