package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Body limits.
const (
	// MaxBodyBytes is the default request body limit (1 MiB).
	MaxBodyBytes = 1 << 20
	// MaxFileBodyBytes bounds routes that accept files (statements, lists).
	MaxFileBodyBytes = 16 << 20
)

// readBody reads at most limit bytes of the request body: 413 beyond it.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, problemf(http.StatusBadRequest, "invalid_body", "could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, problemf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body exceeds %d bytes", limit))
	}
	return b, nil
}

// checkContentType answers 415 unless the request's media type is one of
// allowed. A request without a body is let through whatever its
// Content-Type says: clients send one with an empty body too (curl -d ""
// a form type, fetch text/plain), and there is nothing to misread.
func checkContentType(r *http.Request, body []byte, allowed []string) (string, error) {
	ct := r.Header.Get("Content-Type")
	if len(body) == 0 {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mt == a {
				return mt, nil
			}
		}
	}
	return "", problemf(http.StatusUnsupportedMediaType, "unsupported_media_type",
		fmt.Sprintf("Content-Type %q is not accepted here; use %s", ct, strings.Join(allowed, " or ")))
}

// decodeJSON decodes body strictly into v: one JSON object, every key
// exactly a declared field name and none repeated (checkKeys: encoding/json
// alone would take "Amount" for "amount"), no trailing data, no string
// holding NUL (422: no database text takes it). Errors name the field.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return problemf(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object")
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil && !errors.Is(err, errKeySyntax) {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a second line behind checkKeys, which refuses unknown keys first
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, body, v)
	}
	if dec.More() {
		return problemf(http.StatusBadRequest, "invalid_json", "unexpected data after the JSON object")
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return problemf(http.StatusBadRequest, "invalid_json", "unexpected data after the JSON object")
	}
	if field, ok := nulField(body); ok {
		return fieldProblem(http.StatusUnprocessableEntity, "validation_failed", field, "must not contain the NUL character (\\u0000)")
	}
	return nil
}

// decodeNoFields checks the body of a route that takes no fields: it may
// be empty; anything else must be a JSON object with no keys, decoded as
// strictly as any other body (malformed JSON 400 invalid_json, any key
// 400 unknown_field).
func decodeNoFields(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var in struct{}
	return decodeJSON(body, &in)
}

// jsonProblem explains err, the error of decoding body into v.
func jsonProblem(err error, body []byte, v any) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return fieldProblem(http.StatusBadRequest, "invalid_json", field, "must be a JSON "+jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return problemf(http.StatusBadRequest, "invalid_json", fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		quoted := strings.TrimPrefix(err.Error(), "json: unknown field ")
		field, uerr := strconv.Unquote(quoted) // encoding/json quotes it with %q
		if uerr != nil {
			field = strings.Trim(quoted, `"`)
		}
		return fieldProblem(http.StatusBadRequest, "unknown_field", field, "is not a known field")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problemf(http.StatusBadRequest, "invalid_json", "the JSON body ends unexpectedly")
	default:
		if field, typ, ok := failingField(body, v); ok {
			return fieldProblem(http.StatusBadRequest, "invalid_json", field, mustBe(typ))
		}
		return problemf(http.StatusBadRequest, "invalid_json", "the request body is not valid JSON")
	}
}

// failingField finds the top-level field of the JSON object body whose
// value the matching field of *v cannot take. A type with its own
// UnmarshalJSON (time.Time) fails without telling encoding/json which
// field it was, so a bad delivered_at would otherwise be "not valid JSON"
// with no field named. Each field is decoded alone; at most
// maxFailingFieldScan fields are tried.
func failingField(body []byte, v any) (string, reflect.Type, bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return "", nil, false
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "", nil, false
	}
	for i := 0; i < t.NumField() && i < maxFailingFieldScan; i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || f.Anonymous || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if val, ok := raw[name]; ok { // keys are exact (checkKeys)
			if err := json.Unmarshal(val, reflect.New(f.Type).Interface()); err != nil {
				return name, f.Type, true
			}
		}
	}
	return "", nil, false
}

// maxFailingFieldScan bounds the fields failingField tries.
const maxFailingFieldScan = 64

// mustBe says what a field of type t takes, for a field problem.
func mustBe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(time.Time{}) {
		return "must be an RFC 3339 date-time string, e.g. 2026-11-22T10:00:00Z"
	}
	return "is not a valid " + jsonKind(t.Kind().String())
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}
