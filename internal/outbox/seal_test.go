package outbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/seal"
	"github.com/escrowd/escrowd/internal/tenants"
)

// TestWebhookSecretSealed: with a key, an endpoint's signing secret is
// stored sealed, not as the secret, and deliveries are still signed with
// the secret the endpoint was given. A secret stored plain before the key
// was set keeps working. A deliverer without the key delivers nothing and
// records why, to retry later.
func TestWebhookSecretSealed(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tn, err := (&tenants.Store{DB: d, Clock: clk}).CreateTenant(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	box, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{status: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	sealedSrv, plainSrv := srv.URL+"/sealed", srv.URL+"/plain"
	sealedEP, err := (&outbox.Store{DB: d, Clock: clk, Secrets: box, Options: loopback}).CreateEndpoint(ctx, tn.ID, sealedSrv, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	plainEP, err := (&outbox.Store{DB: d, Clock: clk, Options: loopback}).CreateEndpoint(ctx, tn.ID, plainSrv, []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	rows, _ := d.Pool.Query(ctx, `SELECT url, secret FROM webhook_endpoints`)
	var u, s string
	if _, err := pgx.ForEachRow(rows, []any{&u, &s}, func() error { stored[u] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	if s := stored[sealedSrv]; !seal.Sealed(s) || strings.Contains(s, sealedEP.Secret) {
		t.Fatalf("stored secret %q: want it sealed", s)
	}
	if stored[plainSrv] != plainEP.Secret {
		t.Fatalf("endpoint created without a key: stored %q", stored[plainSrv])
	}
	// A process about to deliver checks it holds the key.
	other, _ := seal.New(bytes.Repeat([]byte{8}, seal.KeySize))
	for _, tc := range []struct {
		box  *seal.Box
		want string
	}{{box, ""}, {nil, "1 sealed under key " + box.KeyID()}, {other, "the configured key is " + other.KeyID()}} {
		err := outbox.CheckSecrets(ctx, d, tc.box)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckSecrets with key %q: %v, want %q", tc.box.KeyID(), err, tc.want)
		}
	}
	if err := d.Tx(ctx, func(tx pgx.Tx) error {
		_, err := outbox.Emit(ctx, tx, tn.ID, "escrow.funded", "e1", map[string]string{"amount": "10.00"}, clk.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Without the key: nothing is sent, the sealed delivery waits.
	noKey := &outbox.Deliverer{DB: d, Clock: clk, Client: &http.Client{Timeout: 5 * time.Second}}
	if _, err := noKey.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var status, lastErr string
	if err := d.Pool.QueryRow(ctx, `SELECT w.status, w.last_error FROM webhook_deliveries w JOIN webhook_endpoints ep ON ep.id = w.endpoint_id
		WHERE ep.url = $1`, sealedSrv).Scan(&status, &lastErr); err != nil {
		t.Fatal(err)
	}
	if status != "pending" || !strings.Contains(lastErr, "no key is configured") || len(rc.paths()) != 1 || rc.paths()[0] != "/plain" {
		t.Fatalf("without the key: status %s, last error %q, requests %v", status, lastErr, rc.paths())
	}

	// With the key, after the retry delay: signed with the endpoint's secret.
	clk.Advance(outbox.RetryDelay(1) + time.Second)
	withKey := &outbox.Deliverer{DB: d, Clock: clk, Client: &http.Client{Timeout: 5 * time.Second}, Secrets: box}
	if n, err := withKey.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	paths := rc.paths()
	if len(paths) != 2 || paths[1] != "/sealed" {
		t.Fatalf("requests %v", paths)
	}
	for i, secret := range []string{plainEP.Secret, sealedEP.Secret} {
		ts, v1, _ := strings.Cut(rc.got[i].Get("Escrowd-Signature"), ",")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(strings.TrimPrefix(ts, "t=") + "."))
		mac.Write(rc.bodies[i])
		if strings.TrimPrefix(v1, "v1=") != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("delivery to %s: signature does not verify with the endpoint's secret", paths[i])
		}
	}
}
