package api

import (
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
	after := uuid.Nil
	if a := q.Get("after"); a != "" {
		if after, err = uuid.Parse(a); err != nil {
			return nil, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "after", "must be an event id")
		}
	}
	if err := decodeCursor(r, &after); err != nil {
		return nil, err
	}
	evs, err := s.outbox.ListEvents(r.Context(), principal(r).TenantID, after, q.Get("type"), limit)
	if err != nil {
		return nil, err
	}
	page := eventPage{Data: evs, HasMore: len(evs) == limit}
	if page.Data == nil {
		page.Data = []outbox.Event{}
	}
	// The cursor moves only over settled events (see outbox.SettleTime).
	next := after
	settled := s.clock.Now().Add(-outbox.SettleTime)
	for _, ev := range evs {
		if ev.CreatedAt.After(settled) {
			break
		}
		next = ev.ID
	}
	if next != uuid.Nil {
		page.NextCursor = encodeCursor(next)
	}
	return page, nil
}

// eventPage is a page of events. next_cursor is where to poll from next:
// it moves only over settled events, so events newer than
// outbox.SettleTime come again on the next poll; has_more says whether the
// next page is already full.
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

func (s *Server) redeliverEvent(r *http.Request, _ []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.outbox.Redeliver(r.Context(), principal(r).TenantID, id)
}
