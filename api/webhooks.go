package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
)

type createEndpointRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
}

func (s *Server) createWebhookEndpoint(r *http.Request, body []byte) (any, error) {
	var in createEndpointRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if field, msg := s.outbox.ValidateEndpoint(in.URL, in.EventTypes); field != "" {
		return nil, valid.Field(field, msg)
	}
	return s.outbox.CreateEndpoint(r.Context(), principal(r).TenantID, in.URL, in.EventTypes)
}

// listWebhookEndpoints answers GET /v1/webhook-endpoints?limit=&cursor=,
// paged like every list.
func (s *Server) listWebhookEndpoints(r *http.Request) (any, error) {
	return idPage(r, func(after uuid.UUID, limit int) ([]outbox.Endpoint, error) {
		return s.outbox.ListEndpoints(r.Context(), principal(r).TenantID, after, limit)
	}, func(ep outbox.Endpoint) uuid.UUID { return ep.ID })
}

// disableWebhookEndpoint answers DELETE /v1/webhook-endpoints/{id} with
// the endpoint, disabled (outbox.DisableEndpoint): 200 also when it was
// disabled already, since the endpoint is still there (listed, with when
// it was disabled). It takes no fields: the body, if any, is an empty
// JSON object.
func (s *Server) disableWebhookEndpoint(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if err := decodeNoFields(body); err != nil {
		return nil, err
	}
	return s.outbox.DisableEndpoint(r.Context(), principal(r).TenantID, id)
}
