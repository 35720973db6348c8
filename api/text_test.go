package api

import (
	"errors"
	"testing"
)

// TestDecodeJSONRefusesNUL: a string holding U+0000 (no database text
// column or JSONB value takes it; it used to be a 500) is a 422 naming
// where it is; the text "\u0000" written with an escaped backslash is
// ordinary text.
func TestDecodeJSONRefusesNUL(t *testing.T) {
	for _, tc := range []struct {
		body, field string // field "": accepted
	}{
		{`{"amount":"1\u0000"}`, "amount"},
		{`{"tags":["a","b\u0000c"]}`, "tags[1]"},
		{`{"amount":"1","tags":["\u0000"]}`, "tags[0]"},
		{`{"amount":"a\\u0000"}`, ""},
		{`{"amount":"a\\\u0000"}`, "amount"},
		{`{"amount":"\u00000"}`, "amount"},
		{`{"amount":"\u0001"}`, ""},
		{`{"amount":"1"}`, ""},
	} {
		var v decodeTarget
		err := decodeJSON([]byte(tc.body), &v)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v, want accepted", tc.body, err)
			}
			continue
		}
		var pe *problemError
		if !errors.As(err, &pe) || pe.p.Status != 422 || pe.p.Code != "validation_failed" || len(pe.p.Errors) != 1 || pe.p.Errors[0].Field != tc.field {
			t.Errorf("%s: %v, want 422 validation_failed naming %s", tc.body, err, tc.field)
		}
	}
}

// TestNULField: the path of a NUL in nested objects and arrays, keys
// included, first in key order.
func TestNULField(t *testing.T) {
	for _, tc := range []struct {
		body, path string
	}{
		{`{"b":{"c":[1,{"d":"\u0000"}]}}`, "b.c[1].d"},
		{`{"z":"\u0000","a":"\u0000"}`, "a"},
		{`{"a":{"k\u0000":1}}`, `a.k\u0000`},
		{`["x","\u0000"]`, "[1]"},
		{`{"a":"\\u0000"}`, ""},
	} {
		got, ok := nulField([]byte(tc.body))
		if ok != (tc.path != "") || got != tc.path {
			t.Errorf("%s: %q %v, want %q", tc.body, got, ok, tc.path)
		}
	}
}
