package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/escrowd/escrowd/internal/outbox"
)

// pathVar is the {name} path variable, unescaped (routes match the
// escaped path: see New).
func pathVar(r *http.Request, name string) string {
	v := mux.Vars(r)[name]
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// pathID parses the {name} path variable as a UUID; anything else is a
// resource that cannot exist: 404.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	v := pathVar(r, name)
	id, err := uuid.Parse(v)
	if err != nil {
		return uuid.Nil, problemf(http.StatusNotFound, "not_found", name+" "+v+" not found")
	}
	return id, nil
}

func (s *Server) listEvents(r *http.Request) (any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var from outbox.Cursor
	if a := q.Get("after"); a != "" {
		// Any id: one that is none of the tenant's events starts at the
		// first event with a greater id (see outbox.Cursor.ByID).
		if from.After, err = uuid.Parse(a); err != nil {
			return nil, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "after", "must be an event id")
		}
		from.ByID = true
	}
	cursor := q.Get("cursor") != ""
	if cursor {
		if from, err = decodeEventCursor(r); err != nil {
			return nil, err
		}
	}
	page, err := s.outbox.Poll(r.Context(), principal(r).TenantID, from, q.Get("type"), limit)
	switch {
	case errors.Is(err, outbox.ErrNotFound):
		return nil, fieldProblem(http.StatusBadRequest, "invalid_cursor", "cursor", "is not a cursor this API returned")
	case err != nil:
		return nil, err
	}
	out := eventPage{Data: page.Events, HasMore: len(page.Events) == limit || page.Next.After != uuid.Nil}
	switch {
	case page.Next.After != uuid.Nil:
		out.NextCursor = encodeCursor(page.Next.After)
	case page.Next.Seq > 0:
		out.NextCursor = encodeCursor(page.Next.Seq)
	}
	return out, nil
}

// decodeEventCursor reads ?cursor=: a place in the tenant's feed (a
// number), or an event id (a string), which cursors were before events had
// places, and are while the event has none yet.
func decodeEventCursor(r *http.Request) (outbox.Cursor, error) {
	var raw json.RawMessage
	if err := decodeCursor(r, &raw); err != nil {
		return outbox.Cursor{}, err
	}
	var c outbox.Cursor
	if json.Unmarshal(raw, &c.Seq) == nil && c.Seq >= 0 {
		return c, nil
	}
	var id string
	if json.Unmarshal(raw, &id) == nil {
		if after, err := uuid.Parse(id); err == nil {
			return outbox.Cursor{After: after}, nil
		}
	}
	return outbox.Cursor{}, fieldProblem(http.StatusBadRequest, "invalid_cursor", "cursor", "is not a cursor this API returned")
}

// eventPage is a page of events, in the order their changes committed.
// next_cursor is where to poll from next (it moves over every event
// served); has_more says whether to poll again at once.
type eventPage struct {
	Data       []outbox.Event `json:"data"`
	NextCursor string         `json:"next_cursor,omitempty"`
	HasMore    bool           `json:"has_more"`
}

func (s *Server) getEvent(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.outbox.GetEvent(r.Context(), principal(r).TenantID, id)
}

func renderRedeliver(v any) (int, any) { return http.StatusAccepted, v }

// redeliverEvent answers POST /v1/events/{id}/redeliver. It takes no
// fields: the body, if any, is an empty JSON object.
func (s *Server) redeliverEvent(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if err := decodeNoFields(body); err != nil {
		return nil, err
	}
	return s.outbox.Redeliver(r.Context(), principal(r).TenantID, id)
}
