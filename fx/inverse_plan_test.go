package fx

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// checkStoredInverses runs in the import's SERIALIZABLE transaction, where
// every read predicate-locks what it scans: on a new database (no
// statistics) its query reads each key through the primary key, with all
// the key's columns as index conditions, and never scans the table, the
// tenant's whole range or all its rates at the instant.
func TestStoredInversesPlan(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	rows, err := tx.Query(ctx, "EXPLAIN "+storedInversesSQL, uuid.New(),
		[]string{"GBP", "USD"}, []string{"EUR", "EUR"}, []time.Time{asOf, asOf})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan") || strings.Contains(text, "Filter: ((base") || strings.Contains(text, "Filter: ((quote") {
		t.Errorf("plan scans or filters:\n%s", text)
	}
	if n := strings.Count(text, "Index Scan using fx_rates_pkey"); n != 1 || !strings.Contains(text, "(base = k.base) AND (quote = k.quote) AND (as_of = k.as_of))") {
		t.Errorf("want one lookup of each key in fx_rates_pkey:\n%s", text)
	}
}
