package api

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/escrowd/escrowd/internal/outbox"
)

// pathID parses the {name} path variable as a UUID; anything else is a
// resource that cannot exist: 404.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(mux.Vars(r)[name])
	if err != nil {
		return uuid.Nil, problemf(http.StatusNotFound, "not_found", name+" "+mux.Vars(r)[name]+" not found")
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
	page := Page[outbox.Event]{Data: evs}
	if page.Data == nil {
		page.Data = []outbox.Event{}
	}
	if len(evs) == limit {
		page.NextCursor = encodeCursor(evs[len(evs)-1].ID)
	}
	return page, nil
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
