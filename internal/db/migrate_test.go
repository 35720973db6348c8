package db_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

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

// TestMigrateTwiceAndConcurrently: two migrators racing apply everything
// once; a rerun is a no-op.
func TestMigrateTwiceAndConcurrently(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	ms, err := db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range ms {
		total += len(m.Statements)
	}
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
// everything applies, and a migrator that stopped between a schema change
// and its record resumes, while an unrecorded change without the started
// mark is reported.
func TestMigrateSchemaChangesAloneOnCockroachDB(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	d.CockroachDB = true // the path runs on PostgreSQL too
	ctx := context.Background()
	ms, err := db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range ms {
		total += len(m.Statements)
	}
	if n, err := d.Migrate(ctx, ms, "a"); err != nil || n != total {
		t.Fatalf("applied %d of %d: %v", n, total, err)
	}
	var left int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d steps left marked started (%v)", left, err)
	}

	// Stopped after CREATE TABLE ran, before it was recorded.
	first := ms[0]
	dbtest.MustExec(t, d, `DELETE FROM schema_migrations WHERE version = $1 AND step = 0`, first.Version)
	dbtest.MustExec(t, d, `INSERT INTO schema_steps_started (version, step) VALUES ($1, 0)`, first.Version)
	if n, err := d.Migrate(ctx, ms, "b"); err != nil || n != 1 {
		t.Fatalf("resume: applied %d: %v", n, err)
	}
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM schema_steps_started`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d steps left marked started after resuming (%v)", left, err)
	}

	// Unrecorded and never marked started: the schema is not what the
	// record says, which needs an operator.
	dbtest.MustExec(t, d, `DELETE FROM schema_migrations WHERE version = $1 AND step = 0`, first.Version)
	if _, err := d.Migrate(ctx, ms, "c"); err == nil || db.SQLState(err) != "42P07" {
		t.Fatalf("unmarked rerun of %q: err %v, want 42P07", first.Statements[0], err)
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
