package risk

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestFeaturePlanOnANewDatabase: on tables without statistics (a new
// database) the feature query reads each party's rows through that
// party's own index. With min() the first-seen subqueries were planned as
// a scan of the tenant's whole range of risk_observations_device,
// filtered by party: every payout read (and, under SERIALIZABLE,
// predicate-locked) all of the tenant's escrows until autovacuum first
// analyzed the table.
func TestFeaturePlanOnANewDatabase(t *testing.T) {
	e := newEnv(t)
	in := GateInput{TenantID: e.tenant, EscrowID: uuid.New(), Buyer: Party{ID: "buyer-1"}, Seller: Party{ID: "seller-1"}}
	rows, err := e.db.Pool.Query(context.Background(), "EXPLAIN "+stateSQL, featureArgs(in, "device-1", e.clock.Now())...)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	for _, bad := range []string{"Seq Scan", "Filter: (buyer_id", "Filter: (seller_id"} {
		if strings.Contains(text, bad) {
			t.Errorf("the feature query's plan has %q:\n%s", bad, text)
		}
	}
	if n := strings.Count(text, "risk_observations_device"); n != 1 {
		t.Errorf("risk_observations_device read %d times, want once (the device's escrows):\n%s", n, text)
	}
}
