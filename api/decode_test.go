package api

import (
	"encoding/json"
	"errors"
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
		{`{"RESPOND_BY":true}`, "invalid_json", "respond_by"},
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

// FuzzDecodeJSON: any body either decodes, without a NUL in any string,
// or is a 400 problem with a known code or a 422 for a NUL, and a named
// field is one of the body's keys.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"amount":"1.00"}`, `{"tags":["a","\u0000"]}`, `{"amount":"\\u0000"}`, `{"delivered_at":"x"}`, `{"milestone":1,"tags":["a"]}`, `{"respond_by":null}`, `[]`, `{"a":1}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := decodeJSON(body, &v)
		if err == nil {
			if strings.ContainsRune(v.Amount+strings.Join(v.Tags, ""), 0) {
				t.Fatalf("%q: accepted with a NUL: %+v", body, v)
			}
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
