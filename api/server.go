// Package api is escrowd's HTTP interface: one route table, thin handlers
// that decode strictly, call one domain service and write JSON, and one
// table that maps domain errors to problem+json. It knows no SQL.
package api

import (
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/seal"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
	"github.com/escrowd/escrowd/risk"
)

// Deps are what the server needs. cmd/escrowd builds them; tests build them
// on a real test database.
type Deps struct {
	DB         *db.DB
	Clock      clock.Clock
	Log        *slog.Logger
	Tenants    *tenants.Store
	Outbox     *outbox.Store
	FX         *fx.Service
	Escrows    *escrow.Service
	Ledger     *ledger.Service
	Risk       *risk.Service
	Disputes   *disputes.Service
	Reconcile  *reconcile.Service
	Migrations []db.Migration
	// Registry receives the HTTP metrics and is served on /metrics. A fresh
	// one is made when nil.
	Registry *prometheus.Registry
	// Secrets seals the responses kept for idempotent replay (they hold
	// webhook signing secrets and parties' personal data); nil: plain.
	Secrets *seal.Box
	// Operator names the operator tenant: the admin keys of that tenant,
	// and of no other, may use the operator routes (/debug/pprof/, which
	// profiles the whole process every tenant shares). uuid.Nil turns
	// them off: they answer 404 as unknown routes.
	Operator uuid.UUID
}

// Server is the HTTP handler of escrowd.
type Server struct {
	db        *db.DB
	clock     clock.Clock
	log       *slog.Logger
	tenants   *tenants.Store
	outbox    *outbox.Store
	fx        *fx.Service
	escrows   *escrow.Service
	ledger    *ledger.Service
	risk      *risk.Service
	disputes  *disputes.Service
	reconcile *reconcile.Service
	ms        []db.Migration
	reg       *prometheus.Registry
	metrics   *httpMetrics
	router    *mux.Router
	table     []route
	secrets   *seal.Box
	operator  uuid.UUID // see Deps.Operator
}

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{db: d.DB, clock: d.Clock, log: d.Log, tenants: d.Tenants, outbox: d.Outbox, fx: d.FX, escrows: d.Escrows, ledger: d.Ledger, risk: d.Risk, disputes: d.Disputes, ms: d.Migrations, reg: d.Registry, secrets: d.Secrets, metrics: newHTTPMetrics()}
	s.reconcile, s.operator = d.Reconcile, d.Operator
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.reg.MustRegister(s.metrics.requests, s.metrics.latency)
	// Routes match the escaped path, so a path variable may hold an
	// escaped "/" (a marketplace's party id "shop/42" is
	// /v1/parties/shop%2F42/freeze); pathVar unescapes it.
	s.router = mux.NewRouter().UseEncodedPath()
	s.router.NotFoundHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, routeNotFound(r))
	}))
	s.router.MethodNotAllowedHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(s.allowed(r), ", "))
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path))
	}))
	s.router.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	s.table = s.routes()
	for _, rt := range s.table {
		m := s.router.Handle(rt.path, s.observe(s.handler(rt)))
		if !rt.operator {
			m.Methods(rt.method)
			continue
		}
		// An operator route matches any method, and its handler checks
		// the method after the key: the mux's 405 and Allow, answered
		// before authentication, would tell any caller the route exists
		// where another tenant's key must find no route (404). Without an
		// operator the route does not match at all: the unknown route's
		// 404.
		m.MatcherFunc(func(*http.Request, *mux.RouteMatch) bool { return s.operator != uuid.Nil })
	}
	return s
}

// routeNotFound is the answer to a request for no route.
func routeNotFound(r *http.Request) Problem {
	return newProblem(http.StatusNotFound, "route_not_found", "no route "+r.URL.Path)
}

// allowed lists the methods the route table has for r's path.
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	_ = s.router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		re, err := rt.GetPathRegexp()
		if err != nil {
			return nil
		}
		if ok, _ := regexp.MatchString(re, r.URL.EscapedPath()); ok {
			methods, _ := rt.GetMethods()
			out = append(out, methods...)
		}
		return nil
	})
	sort.Strings(out)
	return slices.Compact(out)
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }
