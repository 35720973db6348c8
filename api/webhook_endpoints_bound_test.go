package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/escrowd/escrowd/internal/outbox"
)

// TestDisabledWebhookEndpointsAreBounded: a disabled endpoint stays as
// history but counts toward outbox.MaxEndpointsInAll, so creating and
// disabling in a loop cannot grow a tenant's endpoints without end; and
// the enabled endpoints every write reads (Emit) are found through the
// partial index of enabled ones, not among the disabled.
func TestDisabledWebhookEndpointsAreBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// All but one place taken by disabled endpoints (as create and
	// disable would leave them, without 2,000 requests).
	if _, err := e.db.Pool.Exec(ctx, `
		INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret, created_at, disabled_at)
		SELECT gen_random_uuid(), $1, 'https://hooks.example.test/' || i, ARRAY['*'], 'whsec_x', now(), now()
		FROM generate_series(1, $2::INT) AS i`, e.tenantA, outbox.MaxEndpointsInAll-1); err != nil {
		t.Fatal(err)
	}
	hook := func(path string) req {
		return req{method: "POST", path: "/v1/webhook-endpoints", role: mp,
			body: map[string]any{"url": "https://hooks.example.test/" + path, "event_types": []string{"*"}}}
	}
	ep := e.must(201, hook("last")).json(t)
	e.must(200, req{method: "DELETE", path: "/v1/webhook-endpoints/" + ep["id"].(string), role: mp})
	got := e.do(hook("one-too-many"))
	if got.status != 422 || got.code(t) != "too_many_endpoints" || !strings.Contains(got.json(t)["detail"].(string), "disabled endpoints count toward") {
		t.Fatalf("endpoint %d, all others there (one enabled): %d %s, want 422 too_many_endpoints saying disabled ones count", outbox.MaxEndpointsInAll+1, got.status, got.body)
	}
	var rows int
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1`, e.tenantA).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows > outbox.MaxEndpointsInAll {
		t.Fatalf("tenant holds %d webhook endpoints, more than MaxEndpointsInAll %d", rows, outbox.MaxEndpointsInAll)
	}

	// Emit's query of enabled endpoints reads the partial index.
	if _, err := e.db.Pool.Exec(ctx, `ANALYZE webhook_endpoints`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	r, err := e.db.Pool.Query(ctx, `EXPLAIN SELECT id FROM webhook_endpoints
		WHERE tenant_id = $1 AND disabled_at IS NULL AND ($2 = ANY (event_types) OR '*' = ANY (event_types))`, e.tenantA, "escrow.created")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var line string
		if err := r.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "webhook_endpoints_tenant_enabled") {
		t.Fatalf("the enabled endpoints of a tenant with %d endpoints, all but one disabled, are not read through webhook_endpoints_tenant_enabled:\n%s", rows, plan.String())
	}
}
