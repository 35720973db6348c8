package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/escrowd/escrowd/internal/valid"
)

// Problem is an RFC 9457 problem details body with escrowd's stable code.
type Problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Code   string             `json:"code"`
	Detail string             `json:"detail,omitempty"`
	Errors []valid.FieldError `json:"errors,omitempty"`
	// Extra members (e.g. existing_id, state, reasons).
	Extra map[string]any `json:"-"`
	// tokenError is the RFC 6750 error code of a 401's challenge: set when
	// a key was sent and refused, left out when none was sent.
	tokenError string
}

// authScheme is the challenge every 401 carries in WWW-Authenticate (RFC
// 9110 section 11.6.1 requires one): the scheme escrowd takes its API
// keys in, Authorization: Bearer (RFC 6750).
const authScheme = `Bearer realm="escrowd"`

// MarshalJSON flattens Extra into the object, as RFC 9457 extension members.
func (p Problem) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": p.Type, "title": p.Title, "status": p.Status, "code": p.Code}
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if len(p.Errors) > 0 {
		m["errors"] = p.Errors
	}
	for k, v := range p.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func newProblem(status int, code, detail string) Problem {
	return Problem{Type: "urn:escrowd:problem:" + code, Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// problemError is an error the API answers as it stands.
type problemError struct{ p Problem }

func (e *problemError) Error() string { return e.p.Code + ": " + e.p.Detail }

func problemf(status int, code, detail string) error {
	return &problemError{p: newProblem(status, code, detail)}
}

func fieldProblem(status int, code, field, message string) error {
	p := newProblem(status, code, field+": "+message)
	p.Errors = []valid.FieldError{{Field: field, Message: message}}
	return &problemError{p: p}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	body, _ := json.Marshal(p)
	if s, ok := p.Extra["retry_after_seconds"]; ok {
		w.Header().Set("Retry-After", fmt.Sprint(s))
	}
	if p.Status == http.StatusUnauthorized {
		challenge := authScheme
		if p.tokenError != "" {
			challenge += `, error="` + p.tokenError + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
