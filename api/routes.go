package api

import (
	"net/http"
	"net/http/pprof"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/tenants"
)

// Role sets used in the table.
var (
	anyRole       = []tenants.Role{tenants.RoleMarketplace, tenants.RoleDisputeAgent, tenants.RoleRiskReviewer, tenants.RoleFinance, tenants.RoleAdmin}
	marketplace   = []tenants.Role{tenants.RoleMarketplace, tenants.RoleAdmin}
	finance       = []tenants.Role{tenants.RoleFinance, tenants.RoleAdmin}
	adminOnly     = []tenants.Role{tenants.RoleAdmin}
	agents        = []tenants.Role{tenants.RoleDisputeAgent, tenants.RoleAdmin}
	reviewers     = []tenants.Role{tenants.RoleRiskReviewer, tenants.RoleAdmin}
	reviewersOrMP = []tenants.Role{tenants.RoleRiskReviewer, tenants.RoleMarketplace, tenants.RoleAdmin}
	// escrowReaders may read escrows and releases: the marketplace, and the
	// people who decide on them, who get the parties' personal data masked
	// unless they ask ?unmasked=true, which is audited (personal.go).
	escrowReaders = []tenants.Role{tenants.RoleMarketplace, tenants.RoleDisputeAgent, tenants.RoleRiskReviewer, tenants.RoleFinance, tenants.RoleAdmin}
)

// routes is the route table: every route of escrowd with the roles allowed
// on it. A test walks it: every route × every role × another tenant's
// resource.
func (s *Server) routes() []route {
	var t []route
	// Foundation: health, events, webhooks, profiling (the operator
	// tenant's admins only: see Deps.Operator).
	t = append(t,
		route{method: http.MethodGet, path: "/healthz", read: s.healthz},
		route{method: http.MethodGet, path: "/readyz", serve: s.readyz},
		route{method: http.MethodGet, path: "/v1/events", roles: marketplace, read: s.listEvents},
		route{method: http.MethodGet, path: "/v1/events/{id}", roles: marketplace, read: s.getEvent},
		route{method: http.MethodPost, path: "/v1/events/{id}/redeliver", roles: marketplace, write: s.redeliverEvent, render: renderRedeliver, idempotent: true},
		route{method: http.MethodGet, path: "/v1/webhook-endpoints", roles: marketplace, read: s.listWebhookEndpoints},
		route{method: http.MethodPost, path: "/v1/webhook-endpoints", roles: marketplace, write: s.createWebhookEndpoint, render: renderCreated, idempotent: true},
		route{method: http.MethodDelete, path: "/v1/webhook-endpoints/{id}", roles: marketplace, write: s.disableWebhookEndpoint, render: renderOK, idempotent: true},
		route{method: http.MethodGet, path: "/debug/pprof/", roles: adminOnly, operator: true, serve: pprof.Index},
		route{method: http.MethodGet, path: "/debug/pprof/profile", roles: adminOnly, operator: true, serve: pprof.Profile},
		route{method: http.MethodGet, path: "/debug/pprof/trace", roles: adminOnly, operator: true, serve: pprof.Trace},
		route{method: http.MethodGet, path: "/debug/pprof/{profile}", roles: adminOnly, operator: true, serve: pprof.Index},
	)
	// Domain route blocks are appended below, one per package.
	// routes:ledger
	t = append(t, s.ledgerRoutes()...)
	// routes:fx
	t = append(t,
		route{method: http.MethodGet, path: "/v1/currencies", roles: anyRole, read: s.listCurrencies},
		route{method: http.MethodPost, path: "/v1/fx/rates", roles: finance, write: s.importRates, render: renderImport, idempotent: true,
			accept: []string{"application/json", "application/xml", "text/xml", "text/csv"}, bodyLimit: fx.MaxCSVBytes},
		route{method: http.MethodGet, path: "/v1/fx/rates", roles: []tenants.Role{tenants.RoleMarketplace, tenants.RoleFinance, tenants.RoleAdmin}, read: s.getRate},
		route{method: http.MethodPost, path: "/v1/fx/quotes", roles: marketplace, write: s.createQuote, render: s.renderQuote, idempotent: true},
		route{method: http.MethodGet, path: "/v1/fx/quotes/{id}", roles: marketplace, read: s.getQuote},
		route{method: http.MethodGet, path: "/v1/fx/settings", roles: finance, read: s.getFXSettings},
		route{method: http.MethodPut, path: "/v1/fx/settings", roles: adminOnly, write: s.putFXSettings, render: renderFXSettings},
	)
	// routes:escrow
	t = append(t, s.escrowRoutes()...)
	// routes:risk
	t = append(t,
		route{method: http.MethodGet, path: "/v1/risk/decisions/{id}", roles: reviewersOrMP, read: s.getRiskDecision},
		route{method: http.MethodGet, path: "/v1/risk/rules", roles: reviewers, read: s.getRiskRules},
		route{method: http.MethodPut, path: "/v1/risk/rules", roles: adminOnly, write: s.putRiskRules, render: renderOK},
		route{method: http.MethodPost, path: "/v1/risk/sanctions-lists", roles: adminOnly, write: s.loadSanctionsList, render: renderCreated,
			idempotent: true, accept: []string{"text/csv"}, bodyLimit: MaxFileBodyBytes},
		route{method: http.MethodGet, path: "/v1/risk/reviews", roles: reviewers, read: s.listRiskReviews},
		route{method: http.MethodGet, path: "/v1/risk/reviews/{id}", roles: reviewers, read: s.getRiskReview},
		route{method: http.MethodPost, path: "/v1/risk/reviews/{id}/approve", roles: reviewers, write: s.decideRiskReview(true), render: renderOK, idempotent: true},
		route{method: http.MethodPost, path: "/v1/risk/reviews/{id}/reject", roles: reviewers, write: s.decideRiskReview(false), render: renderOK, idempotent: true},
		route{method: http.MethodGet, path: "/v1/risk/clearances", roles: reviewers, read: s.listRiskClearances},
		route{method: http.MethodPost, path: "/v1/risk/clearances/{id}/revoke", roles: reviewers, write: s.revokeRiskClearance, render: renderOK, idempotent: true},
		route{method: http.MethodPost, path: "/v1/parties/{id}/freeze", roles: reviewersOrMP, write: s.freezeParty, render: renderOK, idempotent: true},
		route{method: http.MethodPost, path: "/v1/parties/{id}/unfreeze", roles: reviewersOrMP, write: s.unfreezeParty, render: renderOK, idempotent: true},
	)
	// routes:disputes
	t = append(t, s.disputeRoutes()...)
	t = append(t, s.chargebackRoutes()...)
	// routes:reconcile
	t = append(t, s.reconcileRoutes()...)
	return t
}

// renderCreated answers 201 with the result as it is.
func renderCreated(v any) (int, any) { return http.StatusCreated, v }

// renderOK answers 200 with the result as it is.
func renderOK(v any) (int, any) { return http.StatusOK, v }

// RouteInfo describes one route of the table, for tests and documentation.
type RouteInfo struct {
	Method     string
	Path       string
	Roles      []tenants.Role // nil: public
	Idempotent bool           // requires Idempotency-Key
	Write      bool           // changes state (audited)
}

// Routes lists the route table.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.table))
	for i, rt := range s.table {
		out[i] = RouteInfo{Method: rt.method, Path: rt.path, Roles: rt.roles, Idempotent: rt.idempotent, Write: rt.write != nil}
	}
	return out
}
