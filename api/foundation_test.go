package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/idem"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// otherTenantResource returns the id of a resource of tenant B that the
// {id} of path names, so a request from tenant A must get 404. Domains add
// their resource kinds here; unknown kinds get a random id (also 404).
var otherTenantResource = map[string]func(e *env) string{
	"/v1/events/": func(e *env) string {
		var id uuid.UUID
		err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
			var err error
			id, err = outbox.Emit(context.Background(), tx, e.tenantB, "test.event", "x", map[string]string{"a": "b"}, e.clock.Now())
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		return id.String()
	},
}

// escrowOfB makes a funded escrow of tenant B and, when release is set,
// releases it; it returns the escrow id and the release id.
func escrowOfB(e *env, release bool) (string, string) {
	e.loadRates(e.tenantB)
	ref := "B-" + uuid.NewString()[:8]
	es := e.newEscrow(e.tenantB, ref, "20.00", "EUR", nil)
	id := es["id"].(string)
	e.escrowAct(e.tenantB, id, "fund", map[string]any{"amount": "20.00", "currency": "EUR", "payment_ref": ref}, 200)
	if !release {
		return id, ""
	}
	r := e.escrowAct(e.tenantB, id, "release", nil, 200)
	return id, r["release"].(map[string]any)["id"].(string)
}

func init() {
	otherTenantResource["/v1/webhook-endpoints/"] = func(e *env) string {
		ep, err := e.deps.Outbox.CreateEndpoint(context.Background(), e.tenantB, "https://hooks.example.test/b", []string{"*"})
		if err != nil {
			e.t.Fatal(err)
		}
		return ep.ID.String()
	}
	otherTenantResource["/v1/escrows/"] = func(e *env) string { id, _ := escrowOfB(e, false); return id }
	otherTenantResource["/v1/releases/"] = func(e *env) string { _, rel := escrowOfB(e, true); return rel }
}

// sampleBodies are valid request bodies per route, so that a request on
// another tenant's resource fails for the right reason (404), not for its
// body. Domains add theirs.
var sampleBodies = map[string]any{
	"POST /v1/escrows/{id}/fund":         map[string]any{"amount": "1.00", "currency": "EUR", "payment_ref": "walk"},
	"POST /v1/escrows/{id}/ship":         map[string]any{"carrier": "DHL", "tracking_number": "1"},
	"POST /v1/escrows/{id}/deliver":      map[string]any{},
	"POST /v1/escrows/{id}/accept":       map[string]any{},
	"POST /v1/escrows/{id}/release":      map[string]any{},
	"POST /v1/escrows/{id}/refund":       map[string]any{"amount": "1.00", "reason": "walk"},
	"POST /v1/escrows/{id}/cancel":       map[string]any{"reason": "walk"},
	"POST /v1/releases/{id}/confirm":     map[string]any{"code": "123456"},
	"POST /v1/releases/{id}/resend-code": map[string]any{},
	"POST /v1/events/{id}/redeliver":     map[string]any{},
	"DELETE /v1/webhook-endpoints/{id}":  map[string]any{},
}

func fillPath(e *env, path string) string {
	if !strings.Contains(path, "{") {
		return path
	}
	id := uuid.NewString()
	for prefix, mk := range otherTenantResource {
		if strings.HasPrefix(path, prefix) {
			id = mk(e)
			break
		}
	}
	out := path
	for strings.Contains(out, "{") {
		i, j := strings.Index(out, "{"), strings.Index(out, "}")
		out = out[:i] + id + out[j+1:]
	}
	return out
}

// TestRouteTableRolesAndTenants walks the whole route table: every route ×
// every role × another tenant's resource. A role the route does not allow
// gets 403; an allowed role never gets 401/403/5xx, and on another tenant's
// resource it gets 404.
func TestRouteTableRolesAndTenants(t *testing.T) {
	e := newEnv(t)
	srv := api.New(e.deps)
	routes := srv.Routes()
	if len(routes) < 8 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	for _, rt := range routes {
		if rt.Roles == nil || strings.HasPrefix(rt.Path, "/debug/pprof") {
			continue
		}
		path := fillPath(e, rt.Path)
		for _, role := range tenants.Roles {
			body := sampleBodies[rt.Method+" "+rt.Path]
			if body == nil && rt.Method != http.MethodGet {
				body = map[string]any{}
			}
			got := e.do(req{method: rt.Method, path: path, role: role, body: body})
			allowed := slices.Contains(rt.Roles, role)
			switch {
			case !allowed && got.status != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", rt.Method, rt.Path, role, got.status)
			case allowed && (got.status == 401 || got.status == 403 || got.status >= 500):
				t.Errorf("%s %s as %s: %d (%s), allowed roles must get past auth", rt.Method, rt.Path, role, got.status, got.body)
			case allowed && strings.Contains(rt.Path, "{id}") && sampleBodies[rt.Method+" "+rt.Path] != nil && got.status != http.StatusNotFound:
				t.Errorf("%s %s as %s on another tenant's resource: %d, want 404", rt.Method, rt.Path, role, got.status)
			case allowed && strings.Contains(rt.Path, "{id}") && rt.Method == http.MethodGet && got.status != http.StatusNotFound:
				t.Errorf("%s %s as %s on another tenant's resource: %d, want 404", rt.Method, rt.Path, role, got.status)
			case allowed && strings.Contains(rt.Path, "{id}") && rt.Method != http.MethodGet && !slices.Contains([]int{400, 404, 422}, got.status):
				t.Errorf("%s %s as %s on another tenant's resource: %d, want 404 (or a body error)", rt.Method, rt.Path, role, got.status)
			}
		}
		// No key at all, and a wrong key: 401, with the challenge RFC 9110
		// requires (RFC 6750's error only when a key was sent).
		for h, challenge := range map[string]string{
			"":                   `Bearer realm="escrowd"`,
			"Basic dXNlcjpwdw==": `Bearer realm="escrowd"`,
			"Bearer esk_wrong":   `Bearer realm="escrowd", error="invalid_token"`,
		} {
			r := req{method: rt.Method, path: path, header: map[string]string{}}
			if h != "" {
				r.header["Authorization"] = h
			}
			got := e.do(r)
			if got.status != http.StatusUnauthorized {
				t.Errorf("%s %s with Authorization %q: %d, want 401", rt.Method, rt.Path, h, got.status)
			}
			if c := got.header.Values("WWW-Authenticate"); len(c) != 1 || c[0] != challenge {
				t.Errorf("%s %s with Authorization %q: WWW-Authenticate %q, want %q", rt.Method, rt.Path, h, c, challenge)
			}
		}
	}
}

// TestBearerSchemeIsCaseInsensitive: RFC 9110 makes the scheme name of
// Authorization case-insensitive, so "bearer <key>" authenticates as
// "Bearer <key>" does; a scheme that only starts like it does not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	key := e.keys[e.tenantA][tenants.RoleMarketplace]
	for h, want := range map[string]int{"bearer " + key: 200, "BEARER " + key: 200, "Bearerx " + key: 401, "bearer": 401} {
		if got := e.do(req{method: "GET", path: "/v1/events", header: map[string]string{"Authorization": h}}); got.status != want {
			t.Errorf("Authorization %q: %d, want %d", strings.Replace(h, key, "<key>", 1), got.status, want)
		}
	}
}

// TestProfilerIsTheOperators: /debug/pprof/ profiles the whole process,
// which every tenant shares, so it is the operator's: the admin keys of the
// operator tenant (A here) may use it; another tenant's keys find no such
// route (404, as an unknown route), and without an operator nobody does.
func TestProfilerIsTheOperators(t *testing.T) {
	e := newEnv(t)
	off := e.srv // the server as newEnv builds it: no operator
	deps := e.deps
	deps.Operator = e.tenantA
	on := httptest.NewServer(api.New(deps))
	t.Cleanup(on.Close)
	defer func() { e.srv = off }()
	admin, mp := tenants.RoleAdmin, tenants.RoleMarketplace
	for _, tc := range []struct {
		name     string
		operator bool
		r        req
		status   int
		code     string
	}{
		{"operator's admin", true, req{method: "GET", path: "/debug/pprof/", tenant: e.tenantA, role: admin}, 200, ""},
		{"operator's admin, a profile", true, req{method: "GET", path: "/debug/pprof/goroutine?debug=1", tenant: e.tenantA, role: admin}, 200, ""},
		{"operator's other role", true, req{method: "GET", path: "/debug/pprof/", tenant: e.tenantA, role: mp}, 403, "forbidden"},
		{"no key", true, req{method: "GET", path: "/debug/pprof/", header: map[string]string{}}, 401, "unauthorized"},
		{"another tenant's admin", true, req{method: "GET", path: "/debug/pprof/goroutine?debug=2", tenant: e.tenantB, role: admin}, 404, "route_not_found"},
		{"another tenant's admin, the index", true, req{method: "GET", path: "/debug/pprof/", tenant: e.tenantB, role: admin}, 404, "route_not_found"},
		{"another tenant's other role", true, req{method: "GET", path: "/debug/pprof/trace", tenant: e.tenantB, role: mp}, 404, "route_not_found"},
		{"no operator: admin", false, req{method: "GET", path: "/debug/pprof/goroutine?debug=2", tenant: e.tenantA, role: admin}, 404, "route_not_found"},
		{"no operator: no key", false, req{method: "GET", path: "/debug/pprof/", header: map[string]string{}}, 404, "route_not_found"},
		{"no operator: another method", false, req{method: "DELETE", path: "/debug/pprof/", tenant: e.tenantA, role: admin}, 404, "route_not_found"},
		// The method is checked after the key: a 405 and its Allow header
		// would tell another tenant the route exists.
		{"another tenant's admin, another method", true, req{method: "DELETE", path: "/debug/pprof/", tenant: e.tenantB, role: admin}, 404, "route_not_found"},
		{"another tenant's admin, POST a profile", true, req{method: "POST", path: "/debug/pprof/profile", tenant: e.tenantB, role: admin}, 404, "route_not_found"},
		{"no key, another method", true, req{method: "DELETE", path: "/debug/pprof/", header: map[string]string{}}, 401, "unauthorized"},
		{"operator's other role, another method", true, req{method: "DELETE", path: "/debug/pprof/", tenant: e.tenantA, role: mp}, 403, "forbidden"},
		{"operator's admin, another method", true, req{method: "DELETE", path: "/debug/pprof/", tenant: e.tenantA, role: admin}, 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.srv = off
			if tc.operator {
				e.srv = on
			}
			got := e.do(tc.r)
			if got.status != tc.status {
				t.Fatalf("%s %s: %d, want %d: %.200s", tc.r.method, tc.r.path, got.status, tc.status, got.body)
			}
			if tc.code != "" && got.code(t) != tc.code {
				t.Fatalf("code %q, want %q", got.code(t), tc.code)
			}
			if tc.status == 405 && got.header.Get("Allow") != "GET" {
				t.Fatalf("Allow %q, want GET", got.header.Get("Allow"))
			}
		})
	}
}

func TestRevokedKeyIsRefused(t *testing.T) {
	e := newEnv(t)
	e.must(200, req{method: "GET", path: "/v1/events", role: tenants.RoleMarketplace})
	keys, err := e.deps.Tenants.ListKeys(context.Background(), e.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Role == tenants.RoleMarketplace {
			if err := e.deps.Tenants.RevokeKey(context.Background(), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := e.must(401, req{method: "GET", path: "/v1/events", role: tenants.RoleMarketplace})
	if got.code(t) != "unauthorized" {
		t.Fatalf("code %q", got.code(t))
	}
	if c := got.header.Get("WWW-Authenticate"); c != `Bearer realm="escrowd", error="invalid_token"` {
		t.Fatalf("revoked key: WWW-Authenticate %q", c)
	}
}

func TestProblemAnswers(t *testing.T) {
	e := newEnv(t)
	big := make([]byte, api.MaxBodyBytes+10)
	for i := range big {
		big[i] = ' '
	}
	mp := tenants.RoleMarketplace
	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
		field  string
	}{
		{"malformed json", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: []byte(`{"url": `), contentType: "application/json"}, 400, "invalid_json", ""},
		{"not an object", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: []byte(`[1]`), contentType: "application/json"}, 400, "invalid_json", ""},
		{"trailing data", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: []byte(`{} {}`), contentType: "application/json"}, 400, "invalid_json", ""},
		{"wrong type names the field", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: []byte(`{"url": 5}`), contentType: "application/json"}, 400, "invalid_json", "url"},
		{"unknown field", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: map[string]any{"url": "https://x.test", "event_types": []string{"*"}, "colour": "red"}}, 400, "unknown_field", "colour"},
		{"validation names the field", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: map[string]any{"url": "ftp://x", "event_types": []string{"*"}}}, 422, "validation_failed", "url"},
		{"body too large", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: big, contentType: "application/json"}, 413, "body_too_large", ""},
		{"wrong content type", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, raw: []byte(`url=x`), contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"missing idempotency key", req{method: "POST", path: "/v1/webhook-endpoints", role: mp, idemKey: "-", body: map[string]any{"url": "https://x.test", "event_types": []string{"*"}}}, 400, "idempotency_key_required", ""},
		{"unknown route", req{method: "GET", path: "/v1/nothing-here", role: mp}, 404, "route_not_found", ""},
		{"wrong method", req{method: "DELETE", path: "/v1/events", role: mp, header: map[string]string{}}, 405, "method_not_allowed", ""},
		{"limit too large", req{method: "GET", path: "/v1/events?limit=501", role: mp}, 422, "validation_failed", "limit"},
		{"bad cursor", req{method: "GET", path: "/v1/events?cursor=!!!", role: mp}, 400, "invalid_cursor", "cursor"},
		{"malformed id is not found", req{method: "GET", path: "/v1/events/not-a-uuid", role: mp}, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.do(tc.r)
			if got.status != tc.status || got.code(t) != tc.code {
				t.Fatalf("got %d %q, want %d %q: %s", got.status, got.code(t), tc.status, tc.code, got.body)
			}
			if tc.field != "" {
				errs, _ := got.json(t)["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Fatalf("errors %v do not name field %q", errs, tc.field)
				}
			}
		})
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	mp := tenants.RoleMarketplace
	body := map[string]any{"url": "https://hooks.example.test/a", "event_types": []string{"escrow.funded"}}
	first := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "k1"})
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first answer marked as replayed")
	}
	again := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "k1"})
	if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Fatalf("replay: header %q body %s, want the stored response", again.header.Get("Idempotent-Replayed"), again.body)
	}
	list := e.must(200, req{method: "GET", path: "/v1/webhook-endpoints", role: mp}).json(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("%d endpoints after a replay, want 1", n)
	}
	// Same key, another request.
	other := map[string]any{"url": "https://hooks.example.test/b", "event_types": []string{"*"}}
	if got := e.must(422, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: other, idemKey: "k1"}); got.code(t) != "idempotency_key_reused" {
		t.Fatalf("code %q", got.code(t))
	}
	// The same key in another tenant is another key.
	e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, tenant: e.tenantB, body: other, idemKey: "k1"})
	// A rejected request is replayed as rejected.
	bad := map[string]any{"url": "nope", "event_types": []string{"*"}}
	e.must(422, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: bad, idemKey: "k2"})
	if got := e.must(422, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: bad, idemKey: "k2"}); got.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("rejected answer not replayed")
	}
	// A key still held by a running request: 409; after its lease, taken over.
	ctx := context.Background()
	claim, err := idem.Claim(ctx, e.db, e.tenantA, "k3", []byte("another request"), e.clock.Now(), nil)
	if err != nil || claim.Replay != nil {
		t.Fatalf("claim: %v %v", claim, err)
	}
	if got := e.must(422, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "k3"}); got.code(t) != "idempotency_key_reused" {
		t.Fatalf("code %q", got.code(t))
	}
	var inFlight idem.Begin
	if inFlight, err = idem.Claim(ctx, e.db, e.tenantA, "k4", e.hashOf(mp, "POST", "/v1/webhook-endpoints", body), e.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if got := e.must(409, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "k4"}); got.code(t) != "idempotency_key_in_use" {
		t.Fatalf("code %q", got.code(t))
	}
	e.clock.Advance(idem.Lease + 1)
	e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "k4"})
	// The crashed first owner can no longer complete: its claim was taken over.
	err = e.db.Tx(ctx, func(tx pgx.Tx) error {
		return idem.Complete(ctx, tx, e.tenantA, "k4", inFlight.Owner, idem.Response{Status: 201})
	})
	if err == nil {
		t.Fatal("the old owner completed a key taken over by another request")
	}
	// Pruning removes keys older than the retention.
	e.clock.Advance(31 * 24 * time.Hour)
	n, err := idem.Prune(ctx, e.db, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil || n < 4 {
		t.Fatalf("pruned %d (err %v), want all old keys", n, err)
	}
}

// TestIdempotencyAbandon: an abandoned claim (a 5xx) lets the same request
// run again under its key, and a response stored after all — a COMMIT that
// succeeded though the caller saw an error, or an earlier owner finishing
// late — is replayed, never lost with the key.
func TestIdempotencyAbandon(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hash := []byte("request")
	now := e.clock.Now()
	first, err := idem.Claim(ctx, e.db, e.tenantA, "a1", hash, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	abandon := func(owner uuid.UUID) {
		t.Helper()
		if err := e.db.Tx(ctx, func(tx pgx.Tx) error { return idem.Abandon(ctx, tx, e.tenantA, "a1", owner) }); err != nil {
			t.Fatal(err)
		}
	}
	abandon(first.Owner)
	second, err := idem.Claim(ctx, e.db, e.tenantA, "a1", hash, now, nil)
	if err != nil || second.Replay != nil || second.Owner == first.Owner {
		t.Fatalf("retry after abandon: %+v %v, want a new claim", second, err)
	}
	if _, err := idem.Claim(ctx, e.db, e.tenantA, "a1", []byte("another"), now, nil); !errors.Is(err, idem.ErrReused) {
		t.Fatalf("another request under an abandoned key: %v, want ErrReused", err)
	}
	// The first owner finishes late; the second then fails with a 5xx and
	// abandons. The first owner's response is what the key replays.
	if err := e.db.Tx(ctx, func(tx pgx.Tx) error {
		return idem.Complete(ctx, tx, e.tenantA, "a1", first.Owner, idem.Response{Status: 201, Body: []byte(`{"ok":1}`)})
	}); err != nil {
		t.Fatal(err)
	}
	abandon(second.Owner)
	got, err := idem.Claim(ctx, e.db, e.tenantA, "a1", hash, now, nil)
	if err != nil || got.Replay == nil || got.Replay.Status != 201 || string(got.Replay.Body) != `{"ok":1}` {
		t.Fatalf("claim after a late completion: %+v %v, want the replay", got, err)
	}
	err = e.db.Tx(ctx, func(tx pgx.Tx) error {
		return idem.Complete(ctx, tx, e.tenantA, "a1", second.Owner, idem.Response{Status: 201, Body: []byte(`{}`)})
	})
	if !errors.Is(err, idem.ErrLost) {
		t.Fatalf("second completion: %v, want ErrLost", err)
	}
}

// hashOf is the idempotency hash of a request with body (JSON) sent by
// tenant A's key of role, without If-Match.
func (e *env) hashOf(role tenants.Role, method, path string, body any) []byte {
	e.t.Helper()
	b, _ := json.Marshal(body)
	p, err := e.deps.Tenants.Authenticate(context.Background(), e.keys[e.tenantA][role])
	if err != nil {
		e.t.Fatal(err)
	}
	return api.RequestHash(method, path, p.KeyID, "", "application/json", b)
}

// TestIdempotencyKeyIsTheCallersAndItsPrecondition: a key's stored
// response is replayed only to the same request from the same API key
// under the same If-Match. Another key of the tenant (whose role may see
// other data: escrow and dispute answers mask personal data by role), or
// another precondition, is 422 idempotency_key_reused, not the replay.
func TestIdempotencyKeyIsTheCallersAndItsPrecondition(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"url": "https://hooks.example.test/a", "event_types": []string{"*"}}
	first := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "shared"})
	got := e.do(req{method: "POST", path: "/v1/webhook-endpoints", role: tenants.RoleAdmin, body: body, idemKey: "shared"})
	if got.status != 422 || got.code(t) != "idempotency_key_reused" {
		t.Fatalf("another API key of the tenant, same Idempotency-Key: %d %s (replayed %q), want 422 idempotency_key_reused",
			got.status, got.body, got.header.Get("Idempotent-Replayed"))
	}
	again := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "shared"})
	if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Fatalf("the first caller's retry: replayed %q, body %s; want the stored response", again.header.Get("Idempotent-Replayed"), again.body)
	}

	e.loadRates(e.tenantA)
	es := e.newEscrow(e.tenantA, "PO-ifmatch", "30.00", "EUR", nil)
	id, version := es["id"].(string), fmt.Sprint(es["version"])
	fund := map[string]any{"amount": "10.00", "currency": "EUR", "payment_ref": "im-1"}
	send := func(ifMatch string) resp {
		r := req{method: "POST", path: "/v1/escrows/" + id + "/fund", role: mp, body: fund, idemKey: "fund-if-match", header: map[string]string{}}
		if ifMatch != "" {
			r.header["If-Match"] = ifMatch
		}
		return e.do(r)
	}
	if got := send(version); got.status != 200 {
		t.Fatalf("fund under If-Match %s: %d %s", version, got.status, got.body)
	}
	if got := send(version); got.status != 200 || got.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same retry: %d, replayed %q; want the stored 200", got.status, got.header.Get("Idempotent-Replayed"))
	}
	// The same precondition spelt as an entity tag is the same request.
	if got := send(`"` + version + `"`); got.status != 200 || got.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same retry with If-Match %q: %d %s, replayed %q; want the stored 200", `"`+version+`"`, got.status, got.body, got.header.Get("Idempotent-Replayed"))
	}
	for _, other := range []string{"99", ""} {
		got := send(other)
		if got.status != 422 || got.code(t) != "idempotency_key_reused" {
			t.Errorf("retry under If-Match %q: %d %s (replayed %q), want 422 idempotency_key_reused",
				other, got.status, got.body, got.header.Get("Idempotent-Replayed"))
		}
	}
}

// TestAuditRecords: every state-changing request leaves an audit record,
// accepted or rejected, and reads leave none.
func TestAuditRecords(t *testing.T) {
	e := newEnv(t)
	mp := tenants.RoleMarketplace
	e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: map[string]any{"url": "https://a.test/x", "event_types": []string{"*"}}})
	e.must(422, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: map[string]any{"url": "x", "event_types": []string{"*"}}})
	e.must(200, req{method: "GET", path: "/v1/webhook-endpoints", role: mp})
	rows, err := e.db.Pool.Query(context.Background(), `SELECT route, status, outcome, role, resource_id FROM audit_log WHERE tenant_id = $1 ORDER BY at, id`, e.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		route, outcome, role, resource string
		status                         int
	}
	var got []rec
	var r rec
	_, err = pgx.ForEachRow(rows, []any{&r.route, &r.status, &r.outcome, &r.role, &r.resource}, func() error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].status != 201 || got[0].outcome != "ok" || got[0].resource == "" || got[1].status != 422 || got[1].outcome != "rejected" || got[0].route != "/v1/webhook-endpoints" || got[0].role != "marketplace" {
		t.Fatalf("audit records %+v", got)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t)
	e.must(200, req{method: "GET", path: "/healthz"})
	e.must(200, req{method: "GET", path: "/readyz"})
	e.must(200, req{method: "GET", path: "/v1/events", role: tenants.RoleMarketplace})
	m := e.must(200, req{method: "GET", path: "/metrics"})
	for _, want := range []string{`escrowd_http_requests_total{method="GET",route="/v1/events",status="200"} 1`, "escrowd_http_request_duration_seconds_bucket"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Not ready while a migration is pending.
	deps := e.deps
	deps.Migrations = append(slices.Clone(deps.Migrations), db.Migration{Version: 9999, Name: "future", Statements: []string{"SELECT 1"}})
	srv := httptest.NewServer(api.New(deps))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a pending migration: %d, want 503", res.StatusCode)
	}
}

// TestWebhookEndpointRefusesInternalAddresses: a marketplace key cannot
// point deliveries at escrowd's loopback services, the cloud metadata
// endpoint or private networks.
func TestWebhookEndpointRefusesInternalAddresses(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{
		"http://127.0.0.1:5432/",
		"http://localhost:8080/v1/escrows",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://10.0.0.5/internal",
		"http://[::1]:9200/_bulk",
	} {
		got := e.do(req{method: "POST", path: "/v1/webhook-endpoints", role: tenants.RoleMarketplace,
			body: map[string]any{"url": u, "event_types": []string{"*"}}})
		if got.status != 422 || got.code(t) != "validation_failed" || !strings.Contains(string(got.body), `"field":"url"`) {
			t.Errorf("POST /v1/webhook-endpoints url=%s: %d %s, want 422 naming url", u, got.status, got.body)
		}
	}
}

// TestWebhookEndpointsArePagedAndCapped: the list takes limit and cursor
// like every list, and a tenant has at most outbox.MaxEndpoints endpoints.
func TestWebhookEndpointsArePagedAndCapped(t *testing.T) {
	e := newEnv(t)
	created := map[string]bool{}
	for i := range outbox.MaxEndpoints {
		ep := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp,
			body: map[string]any{"url": fmt.Sprintf("https://hooks.example.test/%d", i), "event_types": []string{"*"}}}).json(t)
		created[ep["id"].(string)] = true
	}
	got := e.do(req{method: "POST", path: "/v1/webhook-endpoints", role: mp,
		body: map[string]any{"url": "https://hooks.example.test/one-too-many", "event_types": []string{"*"}}})
	if got.status != 422 || got.code(t) != "too_many_endpoints" || !strings.Contains(got.json(t)["detail"].(string), fmt.Sprint(outbox.MaxEndpoints)) {
		t.Fatalf("endpoint %d: %d %s, want 422 too_many_endpoints naming the limit", outbox.MaxEndpoints+1, got.status, got.body)
	}
	for _, q := range []string{"limit=abc", "limit=0", "limit=501"} {
		got := e.do(req{method: "GET", path: "/v1/webhook-endpoints?" + q, role: mp})
		errs, _ := got.json(t)["errors"].([]any)
		if got.status != 422 || got.code(t) != "validation_failed" || len(errs) == 0 || errs[0].(map[string]any)["field"] != "limit" {
			t.Errorf("%s: %d %s, want 422 naming limit", q, got.status, got.body)
		}
	}
	if got := e.do(req{method: "GET", path: "/v1/webhook-endpoints?cursor=!!!", role: mp}); got.status != 400 || got.code(t) != "invalid_cursor" {
		t.Errorf("bad cursor: %d %s, want 400 invalid_cursor", got.status, got.body)
	}
	seen := map[string]bool{}
	var sizes []int
	for path := "/v1/webhook-endpoints?limit=20"; path != ""; {
		page := e.must(200, req{method: "GET", path: path, role: mp}).json(t)
		data := page["data"].([]any)
		sizes = append(sizes, len(data))
		for _, d := range data {
			ep := d.(map[string]any)
			if seen[ep["id"].(string)] || ep["secret"] != nil {
				t.Fatalf("endpoint %v listed twice or with its secret", ep)
			}
			seen[ep["id"].(string)] = true
		}
		path = ""
		if c, _ := page["next_cursor"].(string); c != "" {
			path = "/v1/webhook-endpoints?limit=20&cursor=" + c
		}
	}
	if !slices.Equal(sizes, []int{20, 20, 10}) || len(seen) != len(created) {
		t.Fatalf("pages of %v endpoints, %d listed; want pages of 20, 20, 10 listing all %d", sizes, len(seen), len(created))
	}
}

// TestWebhookEndpointDisable: DELETE /v1/webhook-endpoints/{id} disables
// the endpoint and answers it (disabled_at set, no secret); it stays
// listed, no event queues a delivery for it any more, and it no longer
// counts toward outbox.MaxEndpoints, so a tenant at the limit can make
// room. Disabling it again answers the same; another tenant's endpoint
// and unknown ids are 404; the request is audited.
func TestWebhookEndpointDisable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ep := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp,
		body: map[string]any{"url": "https://hooks.example.test/old", "event_types": []string{"*"}}}).json(t)
	id := ep["id"].(string)
	path := "/v1/webhook-endpoints/" + id
	e.clock.Advance(time.Minute)
	got := e.must(200, req{method: "DELETE", path: path, role: mp, idemKey: "disable-1"})
	off := got.json(t)
	disabledAt, _ := off["disabled_at"].(string)
	if off["id"] != id || off["url"] != ep["url"] || off["secret"] != nil || disabledAt != e.clock.Now().Format(time.RFC3339) {
		t.Fatalf("disabled endpoint %v, want it with disabled_at %s and no secret", off, e.clock.Now().Format(time.RFC3339))
	}
	// A retry replays; disabling again answers the endpoint as it is.
	if again := e.must(200, req{method: "DELETE", path: path, role: mp, idemKey: "disable-1"}); again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(got.body) {
		t.Fatalf("retry: replayed %q, %s", again.header.Get("Idempotent-Replayed"), again.body)
	}
	e.clock.Advance(time.Minute)
	if twice := e.must(200, req{method: "DELETE", path: path, role: tenants.RoleAdmin}).json(t); twice["disabled_at"] != disabledAt {
		t.Fatalf("disabled twice: %v, want disabled_at %s unchanged", twice, disabledAt)
	}
	list := e.must(200, req{method: "GET", path: "/v1/webhook-endpoints", role: mp}).json(t)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["disabled_at"] != disabledAt {
		t.Fatalf("list after disabling: %v", list)
	}
	// Another tenant's endpoint, an unknown id, no id: 404; a field: 400.
	for _, r := range []req{
		{method: "DELETE", path: path, role: mp, tenant: e.tenantB},
		{method: "DELETE", path: "/v1/webhook-endpoints/" + uuid.NewString(), role: mp},
		{method: "DELETE", path: "/v1/webhook-endpoints/not-a-uuid", role: mp},
	} {
		if got := e.do(r); got.status != 404 || got.code(t) != "not_found" {
			t.Errorf("DELETE %s as tenant %v: %d %s, want 404 not_found", r.path, r.tenant, got.status, got.body)
		}
	}
	if got := e.do(req{method: "DELETE", path: path, role: mp, body: map[string]any{"enabled": false}}); got.status != 400 || got.code(t) != "unknown_field" {
		t.Errorf("DELETE with a field: %d %s, want 400 unknown_field", got.status, got.body)
	}
	if got := e.do(req{method: "DELETE", path: path, role: mp, idemKey: "-"}); got.status != 400 || got.code(t) != "idempotency_key_required" {
		t.Errorf("DELETE without Idempotency-Key: %d %s, want 400 idempotency_key_required", got.status, got.body)
	}

	// An event emitted now queues no delivery for it.
	live := e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp,
		body: map[string]any{"url": "https://hooks.example.test/live", "event_types": []string{"*"}}}).json(t)
	var ev uuid.UUID
	if err := e.db.Tx(ctx, func(tx pgx.Tx) error {
		var err error
		ev, err = outbox.Emit(ctx, tx, e.tenantA, "test.event", "x", map[string]string{"a": "b"}, e.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var to []string
	rows, err := e.db.Pool.Query(ctx, `SELECT endpoint_id::TEXT FROM webhook_deliveries WHERE event_id = $1`, ev)
	if err != nil {
		t.Fatal(err)
	}
	if to, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(to, []string{live["id"].(string)}) {
		t.Fatalf("event after the disable queued for %v, want only the enabled endpoint %s", to, live["id"])
	}

	// Audited as every write: the two disables (a replay is no new request).
	var n int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND method = 'DELETE' AND route = '/v1/webhook-endpoints/{id}' AND resource_id = $2 AND status = 200`,
		e.tenantA, id).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d audit records of the disables (%v), want 2", n, err)
	}

	// A tenant at the limit makes room by disabling one.
	var last outbox.Endpoint
	for i := 1; i < outbox.MaxEndpoints; i++ { // with live: the limit
		if last, err = e.deps.Outbox.CreateEndpoint(ctx, e.tenantA, fmt.Sprintf("https://hooks.example.test/%d", i), []string{"*"}); err != nil {
			t.Fatal(err)
		}
	}
	more := map[string]any{"url": "https://hooks.example.test/more", "event_types": []string{"*"}}
	if got := e.do(req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: more}); got.status != 422 || got.code(t) != "too_many_endpoints" {
		t.Fatalf("at the limit: %d %s, want 422 too_many_endpoints", got.status, got.body)
	}
	e.must(200, req{method: "DELETE", path: "/v1/webhook-endpoints/" + last.ID.String(), role: mp})
	e.must(201, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: more})
}

func TestEventsPolling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for i, typ := range []string{"a.one", "b.two", "a.one", "a.one"} {
		err := e.db.Tx(ctx, func(tx pgx.Tx) error {
			id, err := outbox.Emit(ctx, tx, e.tenantA, typ, "s", map[string]int{"n": i}, e.clock.Now())
			ids = append(ids, id.String())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	mp := tenants.RoleMarketplace
	all := e.must(200, req{method: "GET", path: "/v1/events", role: mp}).json(t)["data"].([]any)
	if len(all) != 4 {
		t.Fatalf("%d events, want 4", len(all))
	}
	ofType := e.must(200, req{method: "GET", path: "/v1/events?type=a.one&after=" + ids[0], role: mp}).json(t)["data"].([]any)
	if len(ofType) != 2 || ofType[0].(map[string]any)["id"] != ids[2] {
		t.Fatalf("after+type: %v", ofType)
	}
	page := e.must(200, req{method: "GET", path: "/v1/events?limit=3", role: mp}).json(t)
	next, _ := page["next_cursor"].(string)
	if len(page["data"].([]any)) != 3 || next == "" {
		t.Fatalf("first page %v", page)
	}
	rest := e.must(200, req{method: "GET", path: "/v1/events?limit=3&cursor=" + next, role: mp}).json(t)
	if data := rest["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != ids[3] || rest["has_more"] != false {
		t.Fatalf("second page %v", rest)
	}
	// The cursor has moved over every event served: nothing comes twice.
	if again := e.must(200, req{method: "GET", path: "/v1/events?cursor=" + rest["next_cursor"].(string), role: mp}).json(t)["data"].([]any); len(again) != 0 {
		t.Fatalf("polled again from the last cursor: %v", again)
	}
	// A cursor from before events had places in the feed (an event id)
	// still works.
	legacy := base64.RawURLEncoding.EncodeToString([]byte(`"` + ids[1] + `"`))
	if got := e.must(200, req{method: "GET", path: "/v1/events?cursor=" + legacy, role: mp}).json(t)["data"].([]any); len(got) != 2 || got[0].(map[string]any)["id"] != ids[2] {
		t.Fatalf("after an event-id cursor: %v", got)
	}
	for _, bad := range []string{"bm90IGpzb24", base64.RawURLEncoding.EncodeToString([]byte(`-1`)), base64.RawURLEncoding.EncodeToString([]byte(`"` + uuid.NewString() + `"`))} {
		e.must(400, req{method: "GET", path: "/v1/events?cursor=" + bad, role: mp})
	}
	// ?after= takes any id, as when the feed was in id order: one that is
	// no event starts at the first event with a greater id (a UUIDv7 made
	// from a time: the events written since).
	for after, want := range map[string]int{"019c0000-0000-7000-8000-000000000000": 4, uuid.NewString(): 0, "00000000-0000-0000-0000-000000000000": 4} {
		if got := e.must(200, req{method: "GET", path: "/v1/events?after=" + after, role: mp}).json(t)["data"].([]any); len(got) != want {
			t.Fatalf("after %s, no event's id: %d events, want %d", after, len(got), want)
		}
	}
	if got := e.must(422, req{method: "GET", path: "/v1/events?after=nope", role: mp}); !strings.Contains(string(got.body), `"field":"after"`) {
		t.Fatalf("after something not an id: %s", got.body)
	}
	// Tenant B sees none of them, also after one of their ids.
	if got := e.must(200, req{method: "GET", path: "/v1/events", role: mp, tenant: e.tenantB}).json(t)["data"].([]any); len(got) != 0 {
		t.Fatalf("tenant B sees %d of tenant A's events", len(got))
	}
	if got := e.must(200, req{method: "GET", path: "/v1/events?after=" + ids[0], role: mp, tenant: e.tenantB}).json(t)["data"].([]any); len(got) != 0 {
		t.Fatalf("tenant B sees %d of tenant A's events", len(got))
	}
	e.must(404, req{method: "GET", path: "/v1/events/" + ids[0], role: mp, tenant: e.tenantB})
}

// TestEventsCursorServesLateCommits: an event whose transaction commits
// after a newer event's is still served to a poller following
// next_cursor. Ids follow the order events were written, not committed,
// and nothing bounds how long a write transaction runs after writing one
// (here it waits while the clock moves well past any settling time): a
// cursor over ids used to move past it for good.
func TestEventsCursorServesLateCommits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	slow, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	late, err := outbox.Emit(ctx, slow, e.tenantA, "escrow.funded", "slow", map[string]string{}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var early uuid.UUID
	if err := e.db.Tx(ctx, func(tx pgx.Tx) error {
		early, err = outbox.Emit(ctx, tx, e.tenantA, "escrow.funded", "fast", map[string]string{}, e.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if early.String() < late.String() {
		t.Fatalf("ids %s, %s: want the late event's the smaller", late, early)
	}
	mp := tenants.RoleMarketplace
	e.clock.Advance(time.Hour)
	page := e.must(200, req{method: "GET", path: "/v1/events", role: mp}).json(t)
	if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != early.String() {
		t.Fatalf("first poll %v, want the committed event only", page)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(outbox.PlaceEvery) // polls place events at most once per PlaceEvery
	next := e.must(200, req{method: "GET", path: "/v1/events?cursor=" + url.QueryEscape(page["next_cursor"].(string)), role: mp}).json(t)
	if data := next["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != late.String() {
		t.Fatalf("event %s, committed after the cursor passed newer ones, not served next: %v", late, next)
	}
	// The same through ?type= and ?after=.
	if data := e.must(200, req{method: "GET", path: "/v1/events?type=escrow.funded&after=" + early.String(), role: mp}).json(t)["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != late.String() {
		t.Fatalf("after %s: %v, want the event committed after it", early, data)
	}
}

func TestMethodNotAllowedSaysAllow(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]string{
		"/v1/webhook-endpoints":        "GET, POST",
		"/v1/parties/shop%2F42/freeze": "POST", // routes match the escaped path
	} {
		got := e.must(405, req{method: "DELETE", path: path, role: tenants.RoleMarketplace})
		if got.header.Get("Allow") != want {
			t.Fatalf("%s: Allow %q, want %q", path, got.header.Get("Allow"), want)
		}
	}
}

// TestRoutesWithoutFieldsRefuseBadBodies: write routes that take no fields
// accept an empty body or {}, and refuse malformed JSON (400 invalid_json)
// and any field (400 unknown_field) before they act.
func TestRoutesWithoutFieldsRefuseBadBodies(t *testing.T) {
	e := newEnv(t)
	fin := tenants.RoleFinance
	e.newEscrow(e.tenantA, "PO-nofields", "10.00", "EUR", nil)
	e.clock.Advance(outbox.PlaceEvery)
	evs := e.must(200, req{method: "GET", path: "/v1/events?type=escrow.created", role: mp}).json(t)["data"].([]any)
	event := evs[0].(map[string]any)["id"].(string)
	some := uuid.NewString() // the body is checked before the resource is looked up
	routes := []struct {
		method, path string
		role         tenants.Role
	}{
		{"POST", "/v1/events/" + event + "/redeliver", mp},
		{"POST", "/v1/releases/" + some + "/resend-code", mp},
		{"DELETE", "/v1/reconciliation/matches/" + some, fin},
		{"POST", "/v1/ledger/verify", fin},
		{"POST", "/v1/parties/" + some + "/unfreeze", mp},
	}
	for _, rt := range routes {
		for _, tc := range []struct{ body, code string }{
			{`{{{`, "invalid_json"},
			{`[]`, "invalid_json"},
			{`{} {}`, "invalid_json"},
			{`{"endpoint_id":"x"}`, "unknown_field"},
		} {
			got := e.do(req{method: rt.method, path: rt.path, role: rt.role, raw: []byte(tc.body), contentType: "application/json"})
			if got.status != 400 || got.code(t) != tc.code {
				t.Errorf("%s %s with %s: %d %.200s, want 400 %s", rt.method, rt.path, tc.body, got.status, got.body, tc.code)
			}
		}
	}
	if got := e.do(req{method: "POST", path: "/v1/ledger/verify", role: fin, raw: []byte(`x`), contentType: "text/plain"}); got.status != 415 {
		t.Errorf("ledger verify with text/plain: %d %s, want 415", got.status, got.body)
	}
	for _, body := range []string{``, `{}`, ` { } `} {
		ct := "application/json"
		if body == "" {
			ct = ""
		}
		e.must(202, req{method: "POST", path: "/v1/events/" + event + "/redeliver", role: mp, raw: []byte(body), contentType: ct})
		e.must(200, req{method: "POST", path: "/v1/ledger/verify", role: fin, raw: []byte(body), contentType: ct})
	}
	// An empty body is no body, whatever Content-Type a client sends with
	// it (curl -d '' sends a form type, fetch with body '' text/plain).
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain;charset=UTF-8"} {
		e.must(200, req{method: "POST", path: "/v1/ledger/verify", role: fin, raw: []byte{}, contentType: ct})
		e.must(202, req{method: "POST", path: "/v1/events/" + event + "/redeliver", role: mp, raw: []byte{}, contentType: ct})
	}
}
