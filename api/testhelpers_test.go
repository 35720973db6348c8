package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/services"
	"github.com/escrowd/escrowd/internal/tenants"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

// env is a real escrowd HTTP server on a fresh test database, with two
// tenants (A and B) and a key for every role in each.
type env struct {
	t       *testing.T
	db      *db.DB
	clock   *clock.Fake
	srv     *httptest.Server
	deps    api.Deps
	tenantA uuid.UUID
	tenantB uuid.UUID
	keys    map[uuid.UUID]map[tenants.Role]string
}

// newEnv builds the server with every service, as cmd/escrowd wires them.
// Domain packages add their service to buildDeps.
func newEnv(t *testing.T) *env {
	t.Helper()
	d := dbtest.New(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	ms, err := db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: d, clock: clk, keys: map[uuid.UUID]map[tenants.Role]string{}}
	e.deps = buildDeps(t, d, clk, ms)
	e.srv = httptest.NewServer(api.New(e.deps))
	t.Cleanup(e.srv.Close)
	for i, name := range []string{"Tenant A", "Tenant B"} {
		tn, err := e.deps.Tenants.CreateTenant(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.tenantA = tn.ID
		} else {
			e.tenantB = tn.ID
		}
		e.keys[tn.ID] = map[tenants.Role]string{}
		for _, r := range tenants.Roles {
			_, secret, err := e.deps.Tenants.CreateKey(context.Background(), tn.ID, r, "test")
			if err != nil {
				t.Fatal(err)
			}
			e.keys[tn.ID][r] = secret
		}
	}
	return e
}

// buildDeps wires every service on d through internal/services, as
// cmd/escrowd/wire.go does.
func buildDeps(t *testing.T, d *db.DB, clk clock.Clock, ms []db.Migration) api.Deps {
	t.Helper()
	set, err := services.New(d, clk, services.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	return api.Deps{
		DB: d, Clock: clk, Migrations: ms, Tenants: set.Tenants, Outbox: set.Outbox, Ledger: set.Ledger, FX: set.FX,
		Escrows: set.Escrows, Risk: set.Risk, Disputes: set.Disputes, Reconcile: set.Reconcile,
	}
}

// resp is a decoded HTTP answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map.
func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// code is the problem code of an error answer.
func (r resp) code(t *testing.T) string {
	t.Helper()
	c, _ := r.json(t)["code"].(string)
	return c
}

// req is one request to send.
type req struct {
	method, path string
	tenant       uuid.UUID
	role         tenants.Role
	body         any    // marshalled to JSON unless raw is set
	raw          []byte // sent as is
	contentType  string
	idemKey      string // "" = a fresh one for POST and DELETE; "-" = none
	header       map[string]string
}

// do sends r as the key of (tenant, role).
func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	ct := r.contentType
	switch {
	case r.raw != nil:
		body = bytes.NewReader(r.raw)
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
		if ct == "" {
			ct = "application/json"
		}
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		hr.Header.Set("Content-Type", ct)
	}
	if r.role != "" {
		tenant := r.tenant
		if tenant == uuid.Nil {
			tenant = e.tenantA
		}
		hr.Header.Set("Authorization", "Bearer "+e.keys[tenant][r.role])
	}
	switch {
	case r.idemKey == "-":
	case r.idemKey != "":
		hr.Header.Set("Idempotency-Key", r.idemKey)
	case r.method == http.MethodPost || r.method == http.MethodDelete:
		hr.Header.Set("Idempotency-Key", uuid.NewString())
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") && res.StatusCode != http.StatusMethodNotAllowed {
		e.t.Errorf("%s %s: %d answered with Content-Type %q, want application/problem+json", r.method, r.path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// must sends r and fails the test unless the status is want.
func (e *env) must(want int, r req) resp {
	e.t.Helper()
	got := e.do(r)
	if got.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, got.status, want, got.body)
	}
	return got
}
