package fx_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/db"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

// Before 7d9892f ParseECB dated every feed 15:00 UTC; since then a summer
// feed is dated 14:00 UTC. Without a migration re-dating the rows stored
// before, the same publication re-imported after the upgrade was stored a
// second time, and the old row, an hour "newer", was the one LatestRate
// served (its age understated by an hour). Migrations 0201 and 0202
// re-date the old summer rows, deleting those already stored again.
func TestECBSummerRowsStoredBeforeRedated(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	tenant, other := uuid.New(), uuid.New()
	clk.Set(time.Date(2017, 7, 11, 16, 0, 0, 0, time.UTC))
	// What the version before 7d9892f stored (dbtest.New has run the
	// migrations on the empty table: the rows come after, as on a server
	// upgraded with them in place).
	insert := func(tenant uuid.UUID, quote, asOf, source, rate string) {
		t.Helper()
		if _, err := s.DB.Pool.Exec(ctx, `INSERT INTO fx_rates (tenant_id, base, quote, as_of, source, rate, imported_at)
			VALUES ($1, 'EUR', $2, $3, $4, $5, '2017-07-10T15:05:00Z')`, tenant, quote, asOf, source, rate); err != nil {
			t.Fatal(err)
		}
	}
	insert(tenant, "USD", "2017-07-10T15:00:00Z", "ecb", "1.1413")   // summer: re-dated to 14:00
	insert(tenant, "USD", "2017-03-08T15:00:00Z", "ecb", "1.0556")   // winter: right as it is
	insert(tenant, "USD", "2017-03-26T15:00:00Z", "ecb", "1.0776")   // first day of summer time: re-dated
	insert(tenant, "USD", "2017-10-29T15:00:00Z", "ecb", "1.1630")   // first day of winter time: right as it is
	insert(tenant, "USD", "2017-07-09T15:00:00Z", "desk", "1.1400")  // not the ECB's
	insert(tenant, "JPY", "2017-07-11T15:00:00Z", "ecb", "129.63")   // stored again since, same rate: the old row goes
	insert(tenant, "JPY", "2017-07-11T14:00:00Z", "ecb", "129.63")   //
	insert(other, "GBP", "2017-07-11T15:00:00Z", "ecb", "0.88")      // stored since with another rate: both stay
	insert(other, "GBP", "2017-07-11T14:00:00Z", "ecb", "0.89")      //
	insert(other, "GBP", "2017-07-12T15:00:00.5Z", "ecb", "0.88")    // not on the hour
	insert(other, "GBP", "2017-07-13T16:00:00+01:00", "ecb", "0.88") // 15:00 UTC written otherwise: re-dated
	applyMigrations(t, s, "0201_fx_rates_ecb_summer_duplicates.sql", "0202_fx_rates_ecb_summer_redate.sql")

	rows, err := s.DB.Pool.Query(ctx, `SELECT tenant_id = $1, quote, as_of, source, rate::TEXT FROM fx_rates ORDER BY tenant_id = $1 DESC, quote, as_of, source`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var mine bool
		var quote, source, rate string
		var asOf time.Time
		if err := rows.Scan(&mine, &quote, &asOf, &source, &rate); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{map[bool]string{true: "tenant", false: "other"}[mine], quote, asOf.UTC().Format(time.RFC3339Nano), source, rate}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tenant JPY 2017-07-11T14:00:00Z ecb 129.63",
		"tenant USD 2017-03-08T15:00:00Z ecb 1.0556",
		"tenant USD 2017-03-26T14:00:00Z ecb 1.0776",
		"tenant USD 2017-07-09T15:00:00Z desk 1.1400",
		"tenant USD 2017-07-10T14:00:00Z ecb 1.1413",
		"tenant USD 2017-10-29T15:00:00Z ecb 1.1630",
		"other GBP 2017-07-11T14:00:00Z ecb 0.89",
		"other GBP 2017-07-11T15:00:00Z ecb 0.88",
		"other GBP 2017-07-12T15:00:00.5Z ecb 0.88",
		"other GBP 2017-07-13T14:00:00Z ecb 0.88",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after 0201 and 0202:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The same ECB feed re-imported: nothing new, and LatestRate serves the
	// publication time.
	clk.Set(time.Date(2017, 7, 10, 16, 0, 0, 0, time.UTC))
	set, err := fx.ParseECB(strings.NewReader(`<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<Cube><Cube time='2017-07-10'><Cube currency='USD' rate='1.1413'/></Cube></Cube></gesmes:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	n := countRates(t, s, tenant)
	res, err := s.ImportRates(ctx, tenant, []fx.RateSet{set})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 0 || res.Unchanged != 1 || countRates(t, s, tenant) != n {
		t.Errorf("re-import of the same ECB feed after the upgrade: %+v, %d rows stored; want 0 inserted, 1 unchanged, %d rows",
			res, countRates(t, s, tenant), n)
	}
	r, err := fx.LatestRate(ctx, s.DB.Pool, tenant, "EUR", "USD", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2017, 7, 10, 14, 0, 0, 0, time.UTC); !r.AsOf.Equal(want) || r.Source != fx.ECBSource {
		t.Errorf("EUR/USD served as of %s from %s, want the publication time %s", r.AsOf, r.Source, want)
	}
	// Run again, the migrations change nothing.
	applyMigrations(t, s, "0201_fx_rates_ecb_summer_duplicates.sql", "0202_fx_rates_ecb_summer_redate.sql")
	if m := countRates(t, s, tenant); m != n {
		t.Errorf("%d rows after a second run, want %d", m, n)
	}
}

// applyMigrations runs the statements of the named migration files on
// s's database, as Migrate does (one transaction each).
func applyMigrations(t *testing.T, s *fx.Service, names ...string) {
	t.Helper()
	for _, name := range names {
		body, err := fs.ReadFile(escrowdsql.Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range db.SplitStatements(string(body)) {
			if _, err := s.DB.Pool.Exec(context.Background(), stmt); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}
