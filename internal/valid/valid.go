// Package valid carries field-level validation errors from domain packages
// to the API, which answers them as problem+json with the fields named.
package valid

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// CodeValidationFailed is the problem code when none more specific applies.
const CodeValidationFailed = "validation_failed"

// FieldError says what is wrong with one input field. Field uses the JSON
// names of the request (e.g. "milestones[1].amount").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// Code is the problem code this error stands for (e.g. invalid_amount,
	// unknown_currency); empty means validation_failed.
	Code string `json:"-"`
}

// Errors is a list of field errors; it is an error when not empty.
type Errors []FieldError

// Error joins the field errors.
func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add appends a field error with the generic code.
func (e *Errors) Add(field, message string) {
	*e = append(*e, FieldError{Field: field, Message: message})
}

// AddCode appends a field error with a specific problem code.
func (e *Errors) AddCode(code, field, message string) {
	*e = append(*e, FieldError{Field: field, Message: message, Code: code})
}

// Err returns e as an error, or nil when it is empty.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Code is the problem code of the list: the first specific code, else
// validation_failed.
func (e Errors) Code() string {
	for _, f := range e {
		if f.Code != "" {
			return f.Code
		}
	}
	return CodeValidationFailed
}

// Field returns a one-field error.
func Field(field, message string) error { return Errors{{Field: field, Message: message}} }

// FieldCode returns a one-field error with a specific problem code.
func FieldCode(code, field, message string) error {
	return Errors{{Field: field, Message: message, Code: code}}
}

// As extracts validation errors from err.
func As(err error) (Errors, bool) {
	var e Errors
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Storable reports whether s can be stored as database text (PostgreSQL
// and CockroachDB TEXT and JSONB): UTF-8 without NUL. Anything else makes
// the database refuse the statement, which a client would see as a 500.
func Storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// StorableText makes s fit a text column of at most maxBytes bytes, for
// text escrowd records but does not choose (an error's message, which can
// quote what a remote server or a handler said): NULs dropped, invalid
// UTF-8 replaced by U+FFFD, and a longer text cut at a character boundary,
// so the result is Storable. Cut with s[:maxBytes] instead, a multi-byte
// character split in two would make the database refuse the statement.
func StorableText(s string, maxBytes int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= maxBytes {
		return s
	}
	cut := max(maxBytes, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
