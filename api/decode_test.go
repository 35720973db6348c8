package api

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// decodeTarget has the field kinds request bodies use.
type decodeTarget struct {
	Amount      string     `json:"amount"`
	Milestone   *int       `json:"milestone,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	RespondBy   time.Time  `json:"respond_by"`
	Tags        []string   `json:"tags,omitempty"`
	// Nested objects: a pointer, a slice and a map of structs, a
	// free-form map, an embedded struct, a skipped field and a raw value.
	Buyer      *decodeParty           `json:"buyer,omitempty"`
	Milestones []decodeParty          `json:"milestones,omitempty"`
	ByRole     map[string]decodeParty `json:"by_role,omitempty"`
	Metadata   map[string]any         `json:"metadata,omitempty"`
	Internal   string                 `json:"-"`
	Raw        json.RawMessage        `json:"raw,omitempty"`
	decodeEmbedded
}

type decodeParty struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// decodeEmbedded's fields are promoted into decodeTarget, as encoding/json
// does.
type decodeEmbedded struct {
	Note string `json:"note,omitempty"`
}

// TestDecodeJSONNamesTheField: every rejected body is a 400 problem, and
// a value of the wrong form names its field, time.Time fields included
// (their own UnmarshalJSON tells encoding/json no field).
func TestDecodeJSONNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		body, code, field string
	}{
		{`{"delivered_at":"yesterday"}`, "invalid_json", "delivered_at"},
		{`{"delivered_at":5}`, "invalid_json", "delivered_at"},
		{`{"respond_by":"2026-13-01T00:00:00Z"}`, "invalid_json", "respond_by"},
		{`{"respond_by":true}`, "invalid_json", "respond_by"},
		{`{"milestone":"0"}`, "invalid_json", "milestone"},
		{`{"tags":"a"}`, "invalid_json", "tags"},
		{`{"amount":"1","colour":"red"}`, "unknown_field", "colour"},
		{`{"amount":`, "invalid_json", ""},
		{`{"amount":"1"} {}`, "invalid_json", ""},
		{``, "invalid_json", ""},
	} {
		var v decodeTarget
		err := decodeJSON([]byte(tc.body), &v)
		var pe *problemError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a problem", tc.body, err)
			continue
		}
		var field string
		if len(pe.p.Errors) > 0 {
			field = pe.p.Errors[0].Field
		}
		if pe.p.Status != 400 || pe.p.Code != tc.code || field != tc.field {
			t.Errorf("%s: %d %s field %q (%s), want 400 %s field %q", tc.body, pe.p.Status, pe.p.Code, field, pe.p.Detail, tc.code, tc.field)
		}
	}
	var v decodeTarget
	if err := decodeJSON([]byte(`{"amount":"1.00","delivered_at":"2026-11-22T10:00:00Z","respond_by":"2026-11-23T10:00:00+01:00"}`), &v); err != nil {
		t.Fatalf("a valid body: %v", err)
	}
	if v.DeliveredAt == nil || !v.DeliveredAt.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("delivered_at %v", v.DeliveredAt)
	}
}

// TestDecodeJSONKeysAreExact: encoding/json matches keys to fields
// case-insensitively and lets the last of two keys for one field win;
// decodeJSON takes only exact names and refuses a key repeated in one
// object, naming its path, at any depth.
func TestDecodeJSONKeysAreExact(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, field string
	}{
		{"upper-case name", `{"AMOUNT":"1.00"}`, "unknown_field", "AMOUNT"},
		{"second spelling of a field", `{"amount":"1.00","Amount":"30.00"}`, "unknown_field", "Amount"},
		{"case variant of a time field", `{"RESPOND_BY":true}`, "unknown_field", "RESPOND_BY"},
		{"case variant in a nested struct", `{"buyer":{"id":"b","Name":"x"}}`, "unknown_field", "buyer.Name"},
		{"unknown key in a slice element", `{"milestones":[{"id":"a"},{"id":"b","colour":1}]}`, "unknown_field", "milestones[1].colour"},
		{"unknown key in a map of structs", `{"by_role":{"seller":{"ID":"s"}}}`, "unknown_field", "by_role.seller.ID"},
		{"embedded field in another case", `{"Note":"n"}`, "unknown_field", "Note"},
		{"skipped field", `{"Internal":"x"}`, "unknown_field", "Internal"},
		{"skipped field by its tag", `{"-":"x"}`, "unknown_field", "-"},
		{"repeated key", `{"amount":"1.00","amount":"30.00"}`, "invalid_json", "amount"},
		{"repeated key in a nested object", `{"buyer":{"id":"a","id":"b"}}`, "invalid_json", "buyer.id"},
		{"repeated key in a free-form map", `{"metadata":{"k":1,"k":2}}`, "invalid_json", "metadata.k"},
		{"repeated key in a raw value", `{"raw":{"a":1,"a":2}}`, "invalid_json", "raw.a"},
		{"repeated escaped key", `{"amount":"1.00","am\u006funt":"2.00"}`, "invalid_json", "amount"},
		{"NUL in an unknown key", `{"a\u0000b":1}`, "unknown_field", `a\u0000b`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v decodeTarget
			err := decodeJSON([]byte(tc.body), &v)
			var pe *problemError
			if !errors.As(err, &pe) {
				t.Fatalf("%s: %v (decoded %+v), want a problem", tc.body, err, v)
			}
			var field string
			if len(pe.p.Errors) > 0 {
				field = pe.p.Errors[0].Field
			}
			if pe.p.Status != 400 || pe.p.Code != tc.code || field != tc.field {
				t.Fatalf("%s: %d %s field %q (%s), want 400 %s field %q", tc.body, pe.p.Status, pe.p.Code, field, pe.p.Detail, tc.code, tc.field)
			}
		})
	}
	var v decodeTarget
	body := `{"amount":"1.00","buyer":{"id":"b","name":"B"},"milestones":[{"id":"m"}],"by_role":{"Any Key":{"name":"x"}},` +
		`"metadata":{"Free":{"Form":[{"x":1}]}},"raw":{"Anything":1,"ANYTHING":2},"note":"n","respond_by":"2026-11-23T10:00:00Z"}`
	if err := decodeJSON([]byte(body), &v); err != nil {
		t.Fatalf("exact names: %v", err)
	}
	if v.Buyer == nil || v.Buyer.Name != "B" || v.Note != "n" || v.ByRole["Any Key"].Name != "x" || len(v.Raw) == 0 {
		t.Fatalf("decoded %+v", v)
	}
}

// declaredKey reports whether key may appear in an object of a
// decodeTarget body at path (a path of keys, with "[]" for an array
// element and "*" for a map's key): the names decodeTarget declares,
// written out here by hand.
func declaredKey(path []string, key string) bool {
	top := []string{"amount", "milestone", "delivered_at", "respond_by", "tags", "buyer", "milestones", "by_role", "metadata", "raw", "note"}
	party := []string{"id", "name"}
	p := strings.Join(path, "/")
	switch {
	case p == "":
		return slices.Contains(top, key)
	case p == "buyer", p == "milestones/[]", p == "by_role/*":
		return slices.Contains(party, key)
	case p == "by_role", strings.HasPrefix(p, "metadata"), strings.HasPrefix(p, "raw"):
		return true // a map's keys, or free-form values
	}
	return false // no other objects decode into decodeTarget
}

// bodyKeys walks a well-formed JSON document and calls visit for every key
// of every object, with the key path of the object (see declaredKey), and
// whether the key was already in that object.
func bodyKeys(t *testing.T, body []byte, visit func(path []string, key string, repeated bool)) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	var walk func(path []string, mapKeys bool)
	walk = func(path []string, mapKeys bool) {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		switch tok {
		case json.Delim('['):
			for dec.More() {
				walk(append(path, "[]"), false)
			}
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				key := k.(string)
				visit(path, key, seen[key])
				seen[key] = true
				next := key
				if mapKeys {
					next = "*"
				}
				walk(append(slices.Clip(path), next), len(path) == 0 && key == "by_role")
			}
		default:
			return
		}
		_, _ = dec.Token()
	}
	walk(nil, false)
}

// FuzzDecodeJSON: any body either decodes, without a NUL in any string,
// or is a 400 problem with a known code or a 422 for a NUL, and a named
// field is one of the body's keys.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"amount":"1.00"}`, `{"tags":["a","\u0000"]}`, `{"amount":"\\u0000"}`, `{"delivered_at":"x"}`, `{"milestone":1,"tags":["a"]}`, `{"respond_by":null}`, `[]`, `{"a":1}`, `{`, `null`,
		`{"amount":"1","Amount":"2"}`, `{"buyer":{"id":"b","name":"n"},"milestones":[{"id":"m"}]}`, `{"by_role":{"x":{"name":"n"}},"metadata":{"k":[{"K":1}]}}`,
		`{"note":"n","raw":{"a":1}}`, `{"buyer":{"id":"a","id":"b"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := decodeJSON(body, &v)
		if err == nil {
			if strings.ContainsRune(v.Amount+strings.Join(v.Tags, ""), 0) {
				t.Fatalf("%q: accepted with a NUL: %+v", body, v)
			}
			// Every key of an accepted body is a declared name, exactly,
			// once per object (free-form values aside).
			bodyKeys(t, body, func(path []string, key string, repeated bool) {
				if !declaredKey(path, key) {
					t.Fatalf("%q: accepted the key %q at %v, which decodeTarget does not declare", body, key, path)
				}
				if repeated {
					t.Fatalf("%q: accepted the key %q twice in one object at %v", body, key, path)
				}
			})
			return
		}
		var pe *problemError
		if !errors.As(err, &pe) {
			t.Fatalf("%q: %v is not a problem", body, err)
		}
		nul := pe.p.Status == 422 && pe.p.Code == "validation_failed"
		if !nul && (pe.p.Status != 400 || (pe.p.Code != "invalid_json" && pe.p.Code != "unknown_field")) {
			t.Fatalf("%q: %d %s", body, pe.p.Status, pe.p.Code)
		}
		if len(pe.p.Errors) == 0 || pe.p.Errors[0].Field == "(body)" {
			return
		}
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return // a duplicate-key or invalid object can still fail on a field
		}
		field := pe.p.Errors[0].Field
		for k := range raw {
			if strings.EqualFold(k, field) || strings.HasPrefix(field, k+".") || strings.HasPrefix(field, k+"[") {
				return
			}
		}
		t.Fatalf("%q: problem names %q, not a key of the body", body, field)
	})
}
