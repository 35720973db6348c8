package outbox_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// receiver is a webhook endpoint that records what it gets and answers
// with status.
type receiver struct {
	mu     sync.Mutex
	status int
	got    []http.Header
	bodies [][]byte
	path   []string
}

// paths returns the paths of the requests so far, in order.
func (rc *receiver) paths() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.path...)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r.Header.Clone())
	rc.bodies = append(rc.bodies, b)
	rc.path = append(rc.path, r.URL.Path)
	w.WriteHeader(rc.status)
}

func TestWebhookDeliverySignedRetriedAndFailed(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ts := &tenants.Store{DB: d, Clock: clk}
	tn, err := ts.CreateTenant(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{status: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	store := &outbox.Store{DB: d, Clock: clk}
	ep, err := store.CreateEndpoint(ctx, tn.ID, srv.URL+"/hook", []string{"escrow.funded"})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(typ string) uuid.UUID {
		var id uuid.UUID
		if err := d.Tx(ctx, func(tx pgx.Tx) error {
			id, err = outbox.Emit(ctx, tx, tn.ID, typ, "e1", map[string]string{"amount": "10.00"}, clk.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	evID := emit("escrow.funded")
	emit("escrow.shipped") // not subscribed
	dl := &outbox.Deliverer{DB: d, Clock: clk, Client: srv.Client()}
	n, err := dl.RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("delivered %d (err %v), want 1", n, err)
	}
	// Signature: t=<unix>,v1=hex(HMAC-SHA256(secret, "t.body")).
	sig := rc.got[0].Get("Escrowd-Signature")
	parts := strings.Split(sig, ",")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "t=") || !strings.HasPrefix(parts[1], "v1=") {
		t.Fatalf("signature header %q", sig)
	}
	mac := hmac.New(sha256.New, []byte(ep.Secret))
	mac.Write([]byte(strings.TrimPrefix(parts[0], "t=") + "."))
	mac.Write(rc.bodies[0])
	if want := hex.EncodeToString(mac.Sum(nil)); strings.TrimPrefix(parts[1], "v1=") != want {
		t.Fatalf("signature %s does not verify (want %s)", parts[1], want)
	}
	if !strings.Contains(string(rc.bodies[0]), evID.String()) {
		t.Fatalf("body %s lacks the event id", rc.bodies[0])
	}
	if n, _ := dl.RunOnce(ctx); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}

	// A failing endpoint is retried with backoff until 72 hours, then failed.
	rc.mu.Lock()
	rc.status = 500
	rc.mu.Unlock()
	emit("escrow.funded")
	attempts := 0
	for range 200 {
		n, err := dl.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		attempts += n
		clk.Advance(outbox.RetryDelay(attempts) + time.Second)
	}
	var status string
	var tries int
	if err := d.Pool.QueryRow(ctx, `SELECT status, attempts FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&status, &tries); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || tries < 10 {
		t.Fatalf("failing delivery: status %s after %d attempts, want failed after many", status, tries)
	}
	var first, last time.Time
	_ = d.Pool.QueryRow(ctx, `SELECT created_at, next_attempt_at FROM webhook_deliveries WHERE status = 'failed'`).Scan(&first, &last)
	if last.Sub(first) < outbox.RetryFor {
		t.Fatalf("gave up after %s, want at least %s", last.Sub(first), outbox.RetryFor)
	}
	// Redelivery puts it back in the queue.
	rc.mu.Lock()
	rc.status = 204
	rc.mu.Unlock()
	if _, err := store.Redeliver(ctx, tn.ID, evID); err != nil {
		t.Fatal(err)
	}
	if n, err := dl.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("redelivered %d (err %v)", n, err)
	}
	if _, err := store.Redeliver(ctx, uuid.New(), evID); err == nil {
		t.Fatal("another tenant redelivered the event")
	}
}

func TestRetryDelayGrowsAndCaps(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n < 30; n++ {
		d := outbox.RetryDelay(n)
		if d < prev || d > 6*time.Hour {
			t.Fatalf("RetryDelay(%d) = %s after %s", n, d, prev)
		}
		prev = d
	}
	if outbox.RetryDelay(1) != 30*time.Second || outbox.RetryDelay(30) != 6*time.Hour {
		t.Fatalf("delays %s .. %s", outbox.RetryDelay(1), outbox.RetryDelay(30))
	}
}
