package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Exact field names. encoding/json matches an object's keys to struct
// fields case-insensitively, and of two keys naming one field the last
// wins: {"amount":"1.00","Amount":"30.00"} decodes as 30.00, so what a
// gateway that validated "amount" saw is not what escrowd books.
// checkKeys runs before the decoder and refuses that: every key must be a
// declared name, exactly, and no object may repeat a key.

// maxKeyDepth bounds the nesting checkKeys follows. No request type nests
// more than a few levels, and none takes free-form JSON values.
const maxKeyDepth = 64

// errKeySyntax says the document is not well-formed JSON: checkKeys leaves
// the explanation to the decoder, which says where.
var errKeySyntax = errors.New("malformed JSON")

// checkKeys walks the first JSON value of body against t, the type it will
// be decoded into: 400 unknown_field for an object key that is not exactly
// the name of a field (json tags; embedded structs promoted; "-" fields
// skipped), 400 invalid_json for a key repeated in one object. Problems
// name the key's path ("buyer.email", "milestones[1].name"). Types with
// their own UnmarshalJSON decide their own keys, and maps and interface
// values take any key, but no object anywhere may repeat one. errKeySyntax
// means body is not well-formed.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := keyWalker{dec: dec}
	return w.value(t, 0)
}

// keyWalker holds the path to the value being walked as a stack of steps,
// spelt out only for a problem: a path string built at each level would
// keep a copy per level alive, memory quadratic in the nesting depth, and
// cost an allocation per key of every body.
type keyWalker struct {
	dec  *json.Decoder
	path []pathStep
}

// pathStep is one step of a path: an object's key, or (index >= 0) an
// array's element.
type pathStep struct {
	key   string
	index int
}

// at names the value being walked ("buyer.email", "milestones[1].name").
func (w *keyWalker) at() string {
	var b strings.Builder
	for _, s := range w.path {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		} else {
			b.WriteString(keySegment(s.key))
		}
	}
	return strings.TrimPrefix(b.String(), ".")
}

func (w *keyWalker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, errKeySyntax
	}
	return tok, nil
}

// value walks one JSON value at path; t is nil where any key is allowed
// (the value is free-form, or will not decode anyway).
func (w *keyWalker) value(t reflect.Type, depth int) error {
	if depth > maxKeyDepth {
		return problemf(http.StatusBadRequest, "invalid_json", fmt.Sprintf("the JSON body nests deeper than %d levels", maxKeyDepth))
	}
	tok, err := w.token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	t = schemaOf(t)
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			w.path = append(w.path, pathStep{index: i})
			if err := w.value(elem, depth+1); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		strict := false
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields, strict = structFields(t), true
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for w.dec.More() {
			tok, err := w.token()
			if err != nil {
				return err
			}
			key, ok := tok.(string)
			if !ok {
				return errKeySyntax
			}
			w.path = append(w.path, pathStep{key: key, index: -1})
			if seen[key] {
				at := w.at()
				return fieldProblem(http.StatusBadRequest, "invalid_json", at, "appears more than once in one object")
			}
			seen[key] = true
			vt := elem
			if strict {
				ft, known := fields[key]
				if !known {
					at := w.at()
					return fieldProblem(http.StatusBadRequest, "unknown_field", at, "is not a known field")
				}
				vt = ft
			}
			if err := w.value(vt, depth+1); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	}
	if _, err := w.token(); err != nil { // the closing delimiter
		return err
	}
	return nil
}

// keySegment is key's segment of a path: ".key", a NUL written as its
// escape, as nulField writes it (no database text takes NUL).
func keySegment(key string) string {
	return "." + strings.ReplaceAll(key, "\x00", `\u0000`)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schemaOf is the type whose keys checkKeys checks for a value decoded
// into t: pointers followed; nil (any key) for a type that decodes itself
// or for an interface.
func schemaOf(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

// fieldCache holds structFields' answers by type.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// structFields maps the JSON names of struct type t to their types, as
// encoding/json resolves them: the json tag's name or the Go name,
// "-" skipped, unexported fields skipped, the fields of untagged embedded
// structs promoted; of fields with one name the shallowest wins, a tagged
// one over untagged ones at the same depth, and a tie hides the name.
func structFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	type cand struct {
		typ    reflect.Type
		depth  int
		tagged bool
		count  int // candidates at the best (depth, tagged)
	}
	best := map[string]*cand{}
	var walk func(t reflect.Type, depth int, visiting map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, visiting map[reflect.Type]bool) {
		if visiting[t] {
			return
		}
		visiting[t] = true
		defer delete(visiting, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
				if name == "" && ft.Kind() == reflect.Struct {
					walk(ft, depth+1, visiting)
					continue
				}
			} else if !f.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = f.Name
			}
			c, ok := best[name]
			switch {
			case !ok || depth < c.depth || (depth == c.depth && tagged && !c.tagged):
				best[name] = &cand{typ: f.Type, depth: depth, tagged: tagged, count: 1}
			case depth == c.depth && tagged == c.tagged:
				c.count++
			}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	out := make(map[string]reflect.Type, len(best))
	for name, c := range best {
		if c.count == 1 {
			out[name] = c.typ
		}
	}
	fieldCache.Store(t, out)
	return out
}
