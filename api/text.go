package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/escrowd/escrowd/internal/valid"
)

// notStorable is the message of a field that is not storable text.
const notStorable = "must be UTF-8 text without the NUL character"

// checkParams answers 400 invalid_parameter, naming it, for a path
// variable, query parameter (name or value) or Idempotency-Key header
// that is not storable text. It runs before every route's handler, so no
// handler passes such text to the database.
func checkParams(r *http.Request) error {
	vars := mux.Vars(r)
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !valid.Storable(pathVar(r, name)) {
			return fieldProblem(http.StatusBadRequest, "invalid_parameter", name, notStorable)
		}
	}
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !valid.Storable(name) {
			return fieldProblem(http.StatusBadRequest, "invalid_parameter", "(query)", "parameter names "+notStorable)
		}
		for _, v := range q[name] {
			if !valid.Storable(v) {
				return fieldProblem(http.StatusBadRequest, "invalid_parameter", name, notStorable)
			}
		}
	}
	if k := r.Header.Get("Idempotency-Key"); !valid.Storable(k) {
		return fieldProblem(http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key", notStorable)
	}
	return nil
}

// nulField returns the path of the first string of the JSON document body
// (a key or a value, in document order for arrays and key order for
// objects) that holds U+0000, written as an escape: encoding/json decodes
// "\u0000" into a NUL, which no database text column or JSONB value
// takes. Other text is UTF-8 already: encoding/json replaces invalid
// bytes. ok is false when there is none (the common case costs one scan
// of the body).
func nulField(body []byte) (path string, ok bool) {
	if !hasNULEscape(body) {
		return "", false
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "(body)", true
	}
	if p, ok := findNUL(doc, ""); ok {
		return p, true
	}
	return "(body)", true
}

// hasNULEscape reports whether body has the JSON escape \u0000 (an escaped
// backslash followed by "u0000" is not one).
func hasNULEscape(body []byte) bool {
	for i := 0; i < len(body); i += 2 { // past the escape's backslash and letter
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
		if i+5 < len(body) && body[i+1] == 'u' && string(body[i+2:i+6]) == "0000" {
			return true
		}
	}
	return false
}

// findNUL walks a decoded JSON value for a string holding NUL; path names
// where it is ("buyer.name", "milestones[1].name").
func findNUL(v any, path string) (string, bool) {
	join := func(key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	switch x := v.(type) {
	case string:
		return path, strings.IndexByte(x, 0) >= 0
	case []any:
		for i, e := range x {
			if p, ok := findNUL(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if strings.IndexByte(k, 0) >= 0 {
				return join(strings.ReplaceAll(k, "\x00", `\u0000`)), true
			}
			if p, ok := findNUL(x[k], join(k)); ok {
				return p, true
			}
		}
	}
	return "", false
}
