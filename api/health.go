package api

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) healthz(*http.Request) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

// readyz answers 200 when the database answers and every migration is
// applied, 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		writeProblem(w, newProblem(http.StatusServiceUnavailable, "database_unavailable", "the database does not answer"))
		return
	}
	pending, err := s.db.Pending(ctx, s.ms)
	if err != nil || pending > 0 {
		writeProblem(w, newProblem(http.StatusServiceUnavailable, "migrations_pending", "database migrations are not applied; run `escrowd migrate`"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
