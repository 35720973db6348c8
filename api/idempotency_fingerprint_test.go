package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/idem"
)

// TestIdempotencyKeyStoredBeforeTheFingerprintChanged: a request completed
// under a key when the fingerprint was method, URI and body only (a01b072)
// and retried after the upgrade by the same key is replayed, not refused
// as another request (422 idempotency_key_reused); a key claimed now
// under that legacy form is not, since new keys are stored under the new
// fingerprint only.
func TestIdempotencyKeyStoredBeforeTheFingerprintChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	body := map[string]any{"url": "https://hooks.example.test/legacy", "event_types": []string{"*"}}
	b, _ := json.Marshal(body)
	h := sha256.New() // the fingerprint as a01b072 computed it
	h.Write([]byte("POST /v1/webhook-endpoints\n"))
	h.Write(b)
	claim, err := idem.Claim(ctx, e.db, e.tenantA, "legacy", h.Sum(nil), e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := `{"id":"stored-before-the-upgrade"}`
	if err := e.db.Tx(ctx, func(tx pgx.Tx) error {
		return idem.Complete(ctx, tx, e.tenantA, "legacy", claim.Owner, idem.Response{Status: 201, Body: []byte(stored)})
	}); err != nil {
		t.Fatal(err)
	}
	got := e.do(req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: body, idemKey: "legacy"})
	if got.status != http.StatusCreated || got.header.Get("Idempotent-Replayed") != "true" || string(got.body) != stored {
		t.Fatalf("the same request retried after the upgrade: %d %s, want the stored 201 replayed", got.status, got.body)
	}
	// Another request under the legacy key is still refused.
	other := map[string]any{"url": "https://hooks.example.test/other", "event_types": []string{"*"}}
	e.must(http.StatusUnprocessableEntity, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: other, idemKey: "legacy"})

	// A key written now holds the new fingerprint, never the legacy one.
	e.must(http.StatusCreated, req{method: "POST", path: "/v1/webhook-endpoints", role: mp, body: other, idemKey: "new"})
	ob, _ := json.Marshal(other)
	h = sha256.New()
	h.Write([]byte("POST /v1/webhook-endpoints\n"))
	h.Write(ob)
	var newHash []byte
	if err := e.db.Pool.QueryRow(ctx, `SELECT request_hash FROM idempotency_keys WHERE tenant_id = $1 AND key = 'new'`, e.tenantA).Scan(&newHash); err != nil {
		t.Fatal(err)
	}
	if string(newHash) == string(h.Sum(nil)) {
		t.Fatal("a new key is stored under the legacy fingerprint")
	}
}

// TestIdempotencyKeyBindsTheMediaType: the media type decides how the body
// is read (POST /v1/fx/rates takes JSON, XML or CSV), so the same bytes
// sent again under the same key with another Content-Type are another
// request: not answered with the first one's stored response.
func TestIdempotencyKeyBindsTheMediaType(t *testing.T) {
	e := newEnv(t)
	feed, err := os.ReadFile(fxRealECB)
	if err != nil {
		t.Fatal(err)
	}
	first := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, raw: feed, contentType: "text/csv", idemKey: "feed-1"})
	second := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, raw: feed, contentType: "application/xml", idemKey: "feed-1"})
	if second.header.Get("Idempotent-Replayed") == "true" {
		t.Fatalf("first as text/csv: %d; the same bytes as application/xml under the same key: %d replayed %s (%d rates stored); want 201 or 422 idempotency_key_reused",
			first.status, second.status, second.body, fxCountRates(e))
	}
	// Parameters and case of the media type are not part of the request.
	third := e.do(req{method: http.MethodPost, path: "/v1/fx/rates", role: rcFin, raw: feed, contentType: "Text/CSV; charset=utf-8", idemKey: "feed-1"})
	if third.header.Get("Idempotent-Replayed") != "true" || third.status != first.status {
		t.Fatalf("the first request again as Text/CSV; charset=utf-8: %d replayed %q, want its stored %d", third.status, third.header.Get("Idempotent-Replayed"), first.status)
	}
}
