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
