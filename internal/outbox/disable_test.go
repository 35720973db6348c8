package outbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// deliveryTo reads the delivery of event to endpoint.
func (f fixture) deliveryTo(t *testing.T, endpoint, event uuid.UUID) delivery {
	t.Helper()
	var w delivery
	if err := f.d.Pool.QueryRow(context.Background(), `
		SELECT status, attempts, last_status, last_error, next_attempt_at FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2`, endpoint, event).
		Scan(&w.status, &w.attempts, &w.lastStatus, &w.lastError, &w.next); err != nil {
		t.Fatal(err)
	}
	return w
}

const notSent = "not sent: the endpoint was disabled"

// TestDisabledEndpointIsSentNothing: once an endpoint is disabled, no
// event queues a delivery for it, and the deliveries pending for it (due
// now, or waiting out a backoff) are failed unattempted when they come
// due, while the other endpoints' go out. Disabling is the tenant's own:
// another tenant's endpoint, or an unknown one, is ErrNotFound.
func TestDisabledEndpointIsSentNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	down, up := &receiver{status: http.StatusServiceUnavailable}, &receiver{status: http.StatusOK}
	downSrv, upSrv := httptest.NewServer(down), httptest.NewServer(up)
	defer downSrv.Close()
	defer upSrv.Close()
	off, on := f.endpoint(t, downSrv.URL), f.endpoint(t, upSrv.URL)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(loopback)}

	backoff := f.emit(t) // to off: one failed attempt, then a backoff
	if n, err := dl.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("attempted %d (%v), want 2", n, err)
	}
	due := f.emit(t) // to off: pending, due now
	got, err := f.store.DisableEndpoint(ctx, f.tenant, off.ID)
	if err != nil || got.ID != off.ID || got.DisabledAt == nil || !got.DisabledAt.Equal(f.clk.Now()) || got.Secret != "" {
		t.Fatalf("disable: %+v (%v), want the endpoint disabled now, without its secret", got, err)
	}
	after := f.emit(t)
	var n int
	if err := f.d.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2`, off.ID, after).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d deliveries (%v) to the disabled endpoint of an event emitted after, want none", n, err)
	}

	f.clk.Advance(outbox.RetryDelay(1))
	if n, err := dl.RunOnce(ctx); err != nil || n != 4 {
		t.Fatalf("handled %d (%v), want 4: 2 failed unattempted, 2 sent", n, err)
	}
	if got := len(down.paths()); got != 1 {
		t.Fatalf("the disabled endpoint got %d requests, want only the 1 before it was disabled", got)
	}
	if got := len(up.paths()); got != 3 {
		t.Fatalf("the enabled endpoint got %d requests, want 3", got)
	}
	for ev, attempts := range map[uuid.UUID]int{backoff: 1, due: 0} {
		if w := f.deliveryTo(t, off.ID, ev); w.status != "failed" || w.attempts != attempts || w.lastError != notSent {
			t.Errorf("delivery of %s to the disabled endpoint: %+v, want failed after %d attempts with %q", ev, w, attempts, notSent)
		}
	}
	if n, err := dl.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("then: handled %d (%v), want nothing left", n, err)
	}
	if r, err := f.store.Redeliver(ctx, f.tenant, due); err != nil || r.Queued != 1 {
		t.Fatalf("redelivered to %d endpoints (%v), want only the enabled one", r.Queued, err)
	}
	if w := f.deliveryTo(t, off.ID, due); w.status != "failed" {
		t.Fatalf("a redelivery put the disabled endpoint's delivery back: %+v", w)
	}

	// Disabling again changes nothing.
	first := *got.DisabledAt
	f.clk.Advance(time.Hour)
	if again, err := f.store.DisableEndpoint(ctx, f.tenant, off.ID); err != nil || again.DisabledAt == nil || !again.DisabledAt.Equal(first) {
		t.Fatalf("disabled again: %+v (%v), want disabled_at %s kept", again, err, first)
	}

	other, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ tenant, id uuid.UUID }{{other.ID, on.ID}, {f.tenant, uuid.New()}} {
		if _, err := f.store.DisableEndpoint(ctx, c.tenant, c.id); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("disable endpoint %s as tenant %s: %v, want ErrNotFound", c.id, c.tenant, err)
		}
	}
	list, err := f.store.ListEndpoints(ctx, f.tenant, uuid.Nil, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("endpoints %+v (%v)", list, err)
	}
	for _, ep := range list {
		if (ep.ID == on.ID) != (ep.DisabledAt == nil) {
			t.Errorf("endpoint %s: disabled_at %v", ep.ID, ep.DisabledAt)
		}
	}
}

// TestEndpointDisabledMidBatchIsSentNothingMore: a batch is sent one
// delivery after another, up to a lease long; an endpoint disabled while
// the batch is being sent gets none of the deliveries the worker has not
// started yet. Each endpoint here disables the other when it is called:
// whichever comes first, the other is not called.
func TestEndpointDisabledMidBatchIsSentNothingMore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var calls atomic.Int32
	var a, b outbox.Endpoint
	disabling := func(other *outbox.Endpoint) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if _, err := f.store.DisableEndpoint(ctx, f.tenant, other.ID); err != nil {
				t.Error(err)
			}
			w.WriteHeader(http.StatusOK)
		})
	}
	srvA, srvB := httptest.NewServer(disabling(&b)), httptest.NewServer(disabling(&a))
	defer srvA.Close()
	defer srvB.Close()
	a, b = f.endpoint(t, srvA.URL), f.endpoint(t, srvB.URL)
	ev := f.emit(t)
	dl := &outbox.Deliverer{DB: f.d, Clock: f.clk, Client: outbox.NewClient(loopback)}
	if n, err := dl.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("handled %d (%v), want 2", n, err)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d endpoints called, want 1: the other was disabled by then", c)
	}
	wa, wb := f.deliveryTo(t, a.ID, ev), f.deliveryTo(t, b.ID, ev)
	sent, notSentTo := wa, wb
	if wa.status != "delivered" {
		sent, notSentTo = wb, wa
	}
	if sent.status != "delivered" || notSentTo.status != "failed" || notSentTo.attempts != 0 || notSentTo.lastError != notSent {
		t.Fatalf("deliveries %+v and %+v, want one delivered and the other failed unattempted", wa, wb)
	}
}
