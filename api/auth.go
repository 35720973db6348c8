package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/tenants"
)

type principalBox struct {
	p   tenants.Principal
	set bool
}

// principal returns who the request acts as (set by authenticate).
func principal(r *http.Request) tenants.Principal {
	if b, ok := r.Context().Value(keyPrincipal).(*principalBox); ok {
		return b.p
	}
	return tenants.Principal{}
}

// authenticate checks the bearer key (401, with the challenge writeProblem
// adds) and the route's roles (403). An operator route is not found (404,
// as an unknown route) for a key of any other tenant: it is none of theirs.
func (s *Server) authenticate(r *http.Request, rt route) error {
	// The scheme name is case-insensitive (RFC 9110, section 11.1).
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return problemf(http.StatusUnauthorized, "unauthorized", "an API key is required: Authorization: Bearer <key>")
	}
	p, err := s.tenants.Authenticate(r.Context(), secret)
	if err != nil {
		if errors.Is(err, tenants.ErrUnauthorized) {
			prob := newProblem(http.StatusUnauthorized, "unauthorized", "the API key is invalid or revoked")
			prob.tokenError = "invalid_token"
			return &problemError{p: prob}
		}
		return err
	}
	if b, ok := r.Context().Value(keyPrincipal).(*principalBox); ok {
		b.p, b.set = p, true
	}
	if rt.operator && (s.operator == uuid.Nil || p.TenantID != s.operator) {
		return &problemError{routeNotFound(r)}
	}
	if !slices.Contains(rt.roles, p.Role) {
		return problemf(http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not use this route")
	}
	return nil
}
