package db_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

// TestMigrationsArePortable fails on SQL that CockroachDB lacks or treats
// differently from PostgreSQL.
func TestMigrationsArePortable(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		"trigger":              regexp.MustCompile(`(?i)\bcreate\s+(or\s+replace\s+)?trigger\b`),
		"function/procedure":   regexp.MustCompile(`(?i)\bcreate\s+(or\s+replace\s+)?(function|procedure)\b`),
		"serial":               regexp.MustCompile(`(?i)\b(small|big)?serial\d?\b`),
		"sequence":             regexp.MustCompile(`(?i)\b(create\s+sequence|nextval)\b`),
		"advisory lock":        regexp.MustCompile(`(?i)\bpg_(try_)?advisory`),
		"notify/listen":        regexp.MustCompile(`(?i)\b(notify|listen)\b`),
		"deferrable":           regexp.MustCompile(`(?i)\bdeferr(able|ed)\b`),
		"exclusion constraint": regexp.MustCompile(`(?i)\bexclude\s+using\b`),
		"domain":               regexp.MustCompile(`(?i)\bcreate\s+domain\b`),
		"plpgsql":              regexp.MustCompile(`(?i)\b(plpgsql|do\s+\$\$)`),
	}
	files, err := filepath.Glob("../../sql/migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") {
				continue
			}
			for what, re := range forbidden {
				if re.MatchString(line) {
					t.Errorf("%s:%d: %s is not portable to CockroachDB: %s", filepath.Base(f), i+1, what, strings.TrimSpace(line))
				}
			}
		}
	}
	// The scanner itself must catch what it claims to.
	for what, sample := range map[string]string{"serial": "id BIGSERIAL PRIMARY KEY", "trigger": "CREATE TRIGGER t", "advisory lock": "SELECT pg_advisory_lock(1)"} {
		if !forbidden[what].MatchString(sample) {
			t.Errorf("scanner misses %s in %q", what, sample)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	got := db.SplitStatements("-- c\nCREATE TABLE a (\n x INT8\n);\n\nCREATE INDEX i ON a (x);\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE TABLE a") || got[1] != "CREATE INDEX i ON a (x)" {
		t.Fatalf("got %q", got)
	}
}

// embedded returns the embedded migrations and their number of statements.
func embedded(t *testing.T) ([]db.Migration, int) {
	t.Helper()
	ms, err := db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range ms {
		total += len(m.Statements)
	}
	return ms, total
}

// TestMigrateTwiceAndConcurrently: two migrators racing apply everything
// once; a rerun is a no-op.
func TestMigrateTwiceAndConcurrently(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	ms, total := embedded(t)
	var wg sync.WaitGroup
	applied := make([]int, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = d.Migrate(ctx, ms, []string{"a", "b"}[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if applied[0]+applied[1] != total {
		t.Fatalf("applied %v, want %d in total", applied, total)
	}
	again, err := d.Migrate(ctx, ms, "c")
	if err != nil || again != 0 {
		t.Fatalf("rerun applied %d (err %v), want 0", again, err)
	}
	pending, err := d.Pending(ctx, ms)
	if err != nil || pending != 0 {
		t.Fatalf("pending %d (err %v)", pending, err)
	}
}

// TestMigrateSchemaChangesAloneOnCockroachDB runs the CockroachDB path of
// Migrate (schema changes alone, then recorded) against the test server:
// everything applies; a step marked started whose change had not run is
// applied; one whose change had run is reported, naming the earlier
// migrator; an unrecorded change without a mark is reported.
func TestMigrateSchemaChangesAloneOnCockroachDB(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	d.CockroachDB = true // the path runs on PostgreSQL too
	ctx := context.Background()
	ms, total := embedded(t)
	if n, err := d.Migrate(ctx, ms, "a"); err != nil || n != total {
		t.Fatalf("applied %d of %d: %v", n, total, err)
	}
	var left int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d steps left marked started (%v)", left, err)
	}

	// An earlier migrator marked a step and stopped: the next one stops
	// too, without running the statement, and says what to do.
	extra := append(ms, db.Migration{Version: 9000, Name: "extra", Statements: []string{`CREATE TABLE extra (x INT8)`}})
	dbtest.MustExec(t, d, `INSERT INTO schema_steps_started (version, step) VALUES (9000, 0)`)
	if _, err := d.Migrate(ctx, extra, "b"); err == nil || !strings.Contains(err.Error(), "earlier migrator") {
		t.Fatalf("marked step: err %v, want one naming the earlier migrator", err)
	}
	if tableExists(t, d, "extra") {
		t.Fatal("the marked step's statement ran")
	}
	// Its change never ran: the operator deletes the mark, as the error
	// says, and the next run applies it.
	dbtest.MustExec(t, d, `DELETE FROM schema_steps_started WHERE version = 9000 AND step = 0`)
	if n, err := d.Migrate(ctx, extra, "c"); err != nil || n != 1 || !tableExists(t, d, "extra") {
		t.Fatalf("after deleting the mark: applied %d: %v", n, err)
	}
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d steps left marked started (%v)", left, err)
	}

	// Unrecorded and never marked started: the schema is not what the
	// record says, and the statement's own error is returned.
	dbtest.MustExec(t, d, `DELETE FROM schema_migrations WHERE version = 9000`)
	if _, err := d.Migrate(ctx, extra, "d"); err == nil || db.SQLState(err) != "42P07" {
		t.Fatalf("unmarked rerun: err %v, want 42P07", err)
	}
}

func tableExists(t *testing.T, d *db.DB, name string) bool {
	t.Helper()
	var n int
	if err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.tables WHERE table_name = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// waitForMark waits until step (version, 0) is marked started, that is
// until its migrator holds the lock and is about to run the statement.
func waitForMark(t *testing.T, d *db.DB, version int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var n int
		err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_steps_started WHERE version = $1`, version).Scan(&n)
		if err != nil && db.SQLState(err) != "42P01" { // created by the migrator
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatalf("step %d never marked started", version)
}

// TestFailedSchemaChangeIsNotResumed: a schema change that fails leaves
// no started mark, so the next run fails the same way instead of taking
// the error as "already applied".
func TestFailedSchemaChangeIsNotResumed(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	d.CockroachDB = true
	ctx := context.Background()
	bad := []db.Migration{{Version: 1, Name: "bad", Statements: []string{`CREATE TABLE t (x INT8)`, `CREATE INDEX t_y ON t (y)`}}}
	for run := range 2 {
		n, err := d.Migrate(ctx, bad, "a")
		if db.SQLState(err) != "42703" || n != 1-run {
			t.Fatalf("run %d: applied %d, err %v; want the undefined column", run, n, err)
		}
	}
	var marks int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started`).Scan(&marks); err != nil || marks != 0 {
		t.Fatalf("%d started marks (%v), want 0", marks, err)
	}
}

// TestSchemaChangeRenewsTheLease: on the CockroachDB path a schema change
// longer than the lease keeps the lock (a second migrator waits, then finds
// it applied); one whose lock is taken over is cancelled, and one whose
// renewals cannot get through before the lease ends is cancelled too;
// both keep their started mark.
func TestSchemaChangeRenewsTheLease(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	d.CockroachDB = true
	db.SetMigrationLease(d, 600*time.Millisecond)
	ctx := context.Background()
	migrate := func(ms []db.Migration, holder string) <-chan error {
		out := make(chan error, 1)
		go func() {
			n, err := d.Migrate(ctx, ms, holder)
			if err == nil && n != 1 {
				err = fmt.Errorf("%s applied %d steps", holder, n)
			}
			out <- err
		}()
		return out
	}

	slow := []db.Migration{{Version: 1, Name: "slow", Statements: []string{`CREATE TABLE slow AS SELECT 1 AS x FROM pg_sleep(2)`}}}
	a := migrate(slow, "a")
	waitForMark(t, d, 1)
	n, err := d.Migrate(ctx, slow, "b") // waits for a's lock, renewed through the change
	if err != nil || n != 0 {
		t.Fatalf("b: applied %d, err %v; want it to find the step applied", n, err)
	}
	if err := <-a; err != nil {
		t.Fatalf("a: %v", err)
	}

	lost := []db.Migration{{Version: 2, Name: "lost", Statements: []string{`CREATE TABLE lost AS SELECT 1 AS x FROM pg_sleep(5)`}}}
	c := migrate(lost, "c")
	waitForMark(t, d, 2)
	dbtest.MustExec(t, d, `UPDATE schema_lock SET holder = 'thief' WHERE id = 1`)
	if err := <-c; err == nil || !strings.Contains(err.Error(), "lost the migration lock") {
		t.Fatalf("lock taken over during the change: err %v", err)
	}

	stuck := []db.Migration{{Version: 3, Name: "stuck", Statements: []string{`CREATE TABLE stuck AS SELECT 1 AS x FROM pg_sleep(5)`}}}
	dbtest.MustExec(t, d, `DELETE FROM schema_lock`)
	e := migrate(stuck, "e")
	waitForMark(t, d, 3)
	tx, err := d.Pool.Begin(ctx) // holds the lock row: renewals wait
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT holder FROM schema_lock WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the lease; the statement runs 5 s
	_ = tx.Rollback(ctx)                // lets e release the lock and return
	err = <-e
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("renewals blocked past the lease: err %v", err)
	}
	for _, name := range []string{"lost", "stuck"} {
		if tableExists(t, d, name) {
			t.Errorf("table %s exists: its statement was not cancelled", name)
		}
	}
	var marks int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started WHERE version IN (2, 3)`).Scan(&marks); err != nil || marks != 2 {
		t.Fatalf("%d marks of the cancelled steps (%v), want 2", marks, err)
	}
}

// TestIsSchemaChange: the statements CockroachDB runs as schema changes,
// whatever space follows their keyword.
func TestIsSchemaChange(t *testing.T) {
	for stmt, want := range map[string]bool{
		"CREATE TABLE a (x INT8)": true, "create\nindex i on a (x)": true, "ALTER\tTABLE a ADD COLUMN y INT8": true,
		"DROP INDEX IF EXISTS i": true, "GRANT SELECT ON a TO b": true, "REVOKE SELECT ON a FROM b": true,
		"TRUNCATE a": true, "COMMENT ON TABLE a IS 'x'": true, "UPDATE a SET x = 1": false,
		"INSERT INTO a VALUES (1)": false, "WITH c AS (SELECT 1) UPDATE a SET x = 1": false, "": false,
	} {
		if got := db.IsSchemaChange(stmt); got != want {
			t.Errorf("IsSchemaChange(%q) = %v, want %v", stmt, got, want)
		}
	}
}

// TestQueriesArePortable fails on SQL in Go code that CockroachDB types
// differently from PostgreSQL: a placeholder multiplied by an interval
// must carry its type ($1::INT8 * INTERVAL), because CockroachDB gives an
// untyped one the type of the other operand and finds no interval *
// interval.
func TestQueriesArePortable(t *testing.T) {
	untypedInterval := regexp.MustCompile(`(?i)\$\d+\s*\*\s*interval\b|\binterval\s*'[^']*'\s*\*\s*\$\d+`)
	for _, sample := range []string{`now() + $2 * INTERVAL '1 second'`, `INTERVAL '1 day' * $3`} {
		if !untypedInterval.MatchString(sample) {
			t.Fatalf("scanner misses %q", sample)
		}
	}
	if untypedInterval.MatchString(`now() + $2::INT8 * INTERVAL '1 second'`) {
		t.Fatal("scanner flags a typed placeholder")
	}
	err := filepath.WalkDir("../..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (strings.HasPrefix(e.Name(), ".") && path != "../.." || e.Name() == "bin") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(body), "\n") {
			if untypedInterval.MatchString(line) {
				t.Errorf("%s:%d: untyped placeholder times an interval: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
