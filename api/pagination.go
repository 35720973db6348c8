package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// Page size limits for every list endpoint.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// Page is the envelope of every list response.
type Page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageLimit reads ?limit= (1..500, default 100).
func pageLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "limit", "must be an integer from 1 to 500")
	}
	return n, nil
}

// encodeCursor makes an opaque cursor of a position.
func encodeCursor(pos any) string {
	b, _ := json.Marshal(pos)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads ?cursor= into pos; an empty cursor leaves pos as is.
func decodeCursor(r *http.Request, pos any) error {
	s := r.URL.Query().Get("cursor")
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 || json.Unmarshal(b, pos) != nil {
		return fieldProblem(http.StatusBadRequest, "invalid_cursor", "cursor", "is not a cursor this API returned")
	}
	return nil
}

// idPage answers one page of a list ordered by UUID: the limit and cursor
// come from the request, list returns the rows after the cursor, and a
// full page gets the cursor of its last row.
func idPage[T any](r *http.Request, list func(after uuid.UUID, limit int) ([]T, error), id func(T) uuid.UUID) (Page[T], error) {
	limit, err := pageLimit(r)
	if err != nil {
		return Page[T]{}, err
	}
	after := uuid.Nil
	if err := decodeCursor(r, &after); err != nil {
		return Page[T]{}, err
	}
	rows, err := list(after, limit)
	if err != nil {
		return Page[T]{}, err
	}
	page := Page[T]{Data: rows}
	if page.Data == nil {
		page.Data = []T{}
	}
	if len(rows) == limit {
		page.NextCursor = encodeCursor(id(rows[len(rows)-1]))
	}
	return page, nil
}
