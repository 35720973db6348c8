package outbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
)

// TestPlaceBacklogPlacesTenantsThatDoNotPoll: a tenant that only receives
// webhooks never polls, so nothing placed its events: they stayed
// unplaced for good. The periodic job places the events unplaced for
// BacklogAge, of BacklogTenants tenants per run, those placed least
// recently first.
func TestPlaceBacklogPlacesTenantsThatDoNotPoll(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	quiet := make([]fixture, outbox.BacklogTenants+1)
	for i := range quiet {
		tn, err := (&tenants.Store{DB: f.d, Clock: f.clk}).CreateTenant(ctx, fmt.Sprintf("quiet %d", i))
		if err != nil {
			t.Fatal(err)
		}
		quiet[i] = fixture{d: f.d, clk: f.clk, tenant: tn.ID}
		quiet[i].emit(t)
	}
	unplaced := func(tenant uuid.UUID) int {
		t.Helper()
		var n int
		if err := f.d.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND seq IS NULL`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	place := func(want int) {
		t.Helper()
		if n, err := outbox.PlaceBacklog(ctx, f.d, f.clk.Now()); n != want || err != nil {
			t.Fatalf("placed %d (%v), want %d", n, err, want)
		}
	}
	place(0) // younger than BacklogAge: a tenant that polls places its own
	f.clk.Advance(outbox.BacklogAge)
	place(outbox.BacklogTenants)
	last := quiet[len(quiet)-1] // tenants are taken in id order, among those never placed
	if unplaced(last.tenant) != 1 {
		t.Fatalf("the %d tenants placed first include the last one", outbox.BacklogTenants)
	}
	// The tenants placed already have new events; the one never placed
	// comes first all the same.
	for _, q := range quiet[:outbox.BacklogTenants] {
		q.emit(t)
	}
	f.clk.Advance(outbox.BacklogAge)
	place(outbox.BacklogTenants)
	if unplaced(last.tenant) != 0 {
		t.Fatal("the tenant never placed was left behind")
	}
	place(1)
	place(0)
	for _, q := range quiet {
		if n := unplaced(q.tenant); n != 0 {
			t.Errorf("tenant %s: %d events unplaced", q.tenant, n)
		}
	}
	// Each feed is whole and in order: its events, 1..n.
	for _, q := range quiet[:2] {
		page, err := outbox.Poll(ctx, f.d, q.tenant, outbox.Cursor{}, "", outbox.MaxListLimit, f.clk.Now())
		if err != nil || len(page.Events) != 2 || page.Next.Seq != 2 {
			t.Fatalf("tenant %s's feed: %d events, next %+v (%v), want both", q.tenant, len(page.Events), page.Next, err)
		}
	}
}
