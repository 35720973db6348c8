package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Migration limits.
const (
	migrationLockLease        = 60 * time.Second // how long a migrator holds the lock without renewing it
	migrationLockWait         = 3 * time.Minute  // how long a migrator waits for another to finish
	maxStatementsPerMigration = 200
)

// Migration is one embedded migration file, split into statements. Each
// statement runs in its own transaction (one DDL per transaction, as
// CockroachDB requires for safe online schema changes).
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads every NNNN_name.sql file of fsys's root, ordered by
// version.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations: version %d used by %s and %s", v, prev, e.Name())
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Clean(e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", e.Name(), err)
		}
		stmts := SplitStatements(string(body))
		if len(stmts) == 0 || len(stmts) > maxStatementsPerMigration {
			return nil, fmt.Errorf("migrations: %s: %d statements (want 1..%d)", e.Name(), len(stmts), maxStatementsPerMigration)
		}
		out = append(out, Migration{Version: v, Name: m[2], Statements: stmts})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// SplitStatements splits SQL text into statements at semicolons that end a
// line, dropping comment-only lines. Migrations keep one statement per
// semicolon-terminated block and no semicolons inside string literals.
func SplitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			if s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

var bootstrap = []string{
	`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT8 NOT NULL,
		step INT8 NOT NULL,
		name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
		PRIMARY KEY (version, step)
	)`,
	`CREATE TABLE IF NOT EXISTS schema_lock (
		id INT8 PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at TIMESTAMPTZ NOT NULL
	)`,
	// Schema changes begun on CockroachDB and not yet recorded (applyAlone).
	`CREATE TABLE IF NOT EXISTS schema_steps_started (
		version INT8 NOT NULL,
		step INT8 NOT NULL,
		started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
		PRIMARY KEY (version, step)
	)`,
}

// Migrate applies every statement of ms not yet recorded in
// schema_migrations, in order, each in its own transaction with its record
// (on CockroachDB, a schema change runs alone and is recorded after it
// completes: see applyAlone). It is a no-op
// when everything is applied. Two instances starting at once are safe: a
// lock row with a lease (no advisory locks, which CockroachDB lacks) lets one
// migrate while the other waits, then finds nothing left to do.
func (d *DB) Migrate(ctx context.Context, ms []Migration, holder string) (applied int, err error) {
	for _, stmt := range bootstrap {
		if err := d.execBootstrap(ctx, stmt); err != nil {
			return 0, err
		}
	}
	if err := d.acquireMigrationLock(ctx, holder); err != nil {
		return 0, err
	}
	defer func() {
		_, rerr := d.Pool.Exec(context.WithoutCancel(ctx), `DELETE FROM schema_lock WHERE id = 1 AND holder = $1`, holder)
		if err == nil && rerr != nil {
			err = fmt.Errorf("migrate: release lock: %w", rerr)
		}
	}()
	done, err := d.appliedSteps(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		for i, stmt := range m.Statements {
			if done[[2]int{m.Version, i}] {
				continue
			}
			var err error
			if d.CockroachDB && isSchemaChange(stmt) {
				err = d.applyAlone(ctx, holder, m, i, stmt)
			} else {
				err = d.Tx(ctx, func(tx pgx.Tx) error {
					// The statement, the lease renewal (which proves we
					// still hold the lock) and the record commit together.
					if _, err := tx.Exec(ctx, stmt); err != nil {
						return err
					}
					if err := d.renewMigrationLock(ctx, tx, holder); err != nil {
						return err
					}
					return recordStep(ctx, tx, m, i)
				})
			}
			if err != nil {
				return applied, fmt.Errorf("migrate %04d_%s step %d: %w", m.Version, m.Name, i, err)
			}
			applied++
		}
	}
	return applied, nil
}

// renewMigrationLock extends holder's lease on the migration lock, in tx;
// it fails when another migrator has taken the lock over.
func (d *DB) renewMigrationLock(ctx context.Context, tx pgx.Tx, holder string) error {
	tag, err := tx.Exec(ctx, `UPDATE schema_lock SET expires_at = now() + $2::INT8 * INTERVAL '1 millisecond' WHERE id = 1 AND holder = $1`,
		holder, d.lease().Milliseconds())
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errLostMigrationLock
	}
	return nil
}

var errLostMigrationLock = errors.New("lost the migration lock")

// recordStep records step i of m as applied, in tx.
func recordStep(ctx context.Context, tx pgx.Tx, m Migration, i int) error {
	_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, step, name) VALUES ($1, $2, $3)`, m.Version, i, m.Name)
	return err
}

// isSchemaChange reports whether stmt is a schema change on CockroachDB
// (CREATE, ALTER, DROP, COMMENT, GRANT, REVOKE, TRUNCATE) rather than a
// data migration. Statements come from SplitStatements, so they start with
// their keyword (comment lines are dropped).
func isSchemaChange(stmt string) bool {
	words := strings.Fields(stmt)
	if len(words) == 0 {
		return false
	}
	switch strings.ToUpper(words[0]) {
	case "CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE", "TRUNCATE":
		return true
	}
	return false
}

// applyAlone applies the schema change stmt, step i of m, on CockroachDB.
// There a schema change inside an explicit transaction is finished after
// COMMIT, where a failed backfill or validation is no longer reported to
// the transaction that recorded it as applied; and from v25.1 on
// (autocommit_before_ddl) the transaction is committed before the change
// runs, so the statements after it and the RELEASE SAVEPOINT run outside
// it. So the statement runs alone, as an implicit transaction that
// CockroachDB answers once the change is complete, with the lease renewed
// while it runs (execRenewing); then a transaction records it.
//
// The step is marked started first, and the mark is removed when the step
// is recorded or its statement is refused with an error that says nothing
// changed (rolledBack). A migrator that finds the mark of an unrecorded
// step stops with an error: an earlier one stopped, or lost the lock,
// after marking it, and its change may be complete, still running (a
// schema change job on CockroachDB outlives the statement that started
// it, and IF NOT EXISTS does not wait for it) or never started. Only an
// operator can tell (SHOW JOBS); the error says what to do in each case.
func (d *DB) applyAlone(ctx context.Context, holder string, m Migration, i int, stmt string) error {
	leaseFrom := time.Now()
	var resumed bool
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		if err := d.renewMigrationLock(ctx, tx, holder); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO schema_steps_started (version, step) VALUES ($1, $2) ON CONFLICT (version, step) DO NOTHING`, m.Version, i)
		resumed = tag.RowsAffected() == 0
		return err
	})
	if err != nil {
		return err
	}
	if resumed {
		name := strings.ReplaceAll(m.Name, "'", "''")
		return fmt.Errorf("an earlier migrator started this step and did not record it. Look for its job in SHOW JOBS: once it has succeeded, "+
			"record the step (INSERT INTO schema_migrations (version, step, name) VALUES (%d, %d, '%s'); DELETE FROM schema_steps_started WHERE version = %d AND step = %d); "+
			"when it failed, or there is none, delete the mark (DELETE FROM schema_steps_started WHERE version = %d AND step = %d) and migrate again",
			m.Version, i, name, m.Version, i, m.Version, i)
	}
	if err := d.execRenewing(ctx, holder, stmt, leaseFrom); err != nil {
		if rolledBack(ctx, err) {
			if _, derr := d.Pool.Exec(context.WithoutCancel(ctx), clearMarkSQL, m.Version, i); derr != nil {
				return fmt.Errorf("%w (and clearing its started mark: %v)", err, derr)
			}
		}
		return err
	}
	return d.Tx(ctx, func(tx pgx.Tx) error {
		if err := d.renewMigrationLock(ctx, tx, holder); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, clearMarkSQL, m.Version, i); err != nil {
			return err
		}
		return recordStep(ctx, tx, m, i)
	})
}

// clearMarkSQL removes the started mark of step $2 of version $1.
const clearMarkSQL = `DELETE FROM schema_steps_started WHERE version = $1 AND step = $2`

// errStatementCancelled marks a statement execRenewing cancelled because
// the lease could not be kept.
var errStatementCancelled = errors.New("migration statement cancelled")

// rolledBack reports whether the schema change that failed with err
// certainly changed nothing: the database refused it with a SQLSTATE, and
// neither the context nor the lease cancelled it (on CockroachDB a
// cancelled statement's schema change job may go on), nor is its outcome
// unknown (40003).
func rolledBack(ctx context.Context, err error) bool {
	switch SQLState(err) {
	case "", "40003", "57014": // none, statement_completion_unknown, query_canceled
		return false
	}
	return ctx.Err() == nil && !errors.Is(err, errStatementCancelled)
}

// execRenewing runs stmt on the pool and renews holder's lease, renewed
// last at leaseFrom, every third of it until stmt returns: a schema change
// may run for longer than a lease (an index built over a large table). A
// renewal that fails is tried again at the next tick, each bounded by the
// lease's end; when the lock is lost, or the next tick would come after
// the lease's end, stmt is cancelled and the error (errStatementCancelled)
// says why.
func (d *DB) execRenewing(ctx context.Context, holder, stmt string, leaseFrom time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lease, every := d.lease(), d.lease()/3
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			rctx, done := context.WithDeadline(ctx, leaseFrom.Add(lease))
			err := d.Tx(rctx, func(tx pgx.Tx) error { return d.renewMigrationLock(rctx, tx, holder) })
			done()
			switch {
			case err == nil:
				leaseFrom = start // the server counts from its transaction's start, after this
			case ctx.Err() != nil:
				return
			case errors.Is(err, errLostMigrationLock) || !time.Now().Add(every).Before(leaseFrom.Add(lease)):
				cancel(fmt.Errorf("%w: renew lease: %v", errStatementCancelled, err))
				return
			}
		}
	}()
	_, err := d.Pool.Exec(ctx, stmt)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, errStatementCancelled) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	cancel(nil)
	wg.Wait()
	return err
}

// lease is how long a migrator holds the lock without renewing it.
func (d *DB) lease() time.Duration {
	if d.migrationLease > 0 {
		return d.migrationLease
	}
	return migrationLockLease
}

// Pending returns how many statements of ms are not applied yet.
func (d *DB) Pending(ctx context.Context, ms []Migration) (int, error) {
	done, err := d.appliedSteps(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		for i := range m.Statements {
			if !done[[2]int{m.Version, i}] {
				n++
			}
		}
	}
	return n, nil
}

func (d *DB) appliedSteps(ctx context.Context) (map[[2]int]bool, error) {
	rows, err := d.Pool.Query(ctx, `SELECT version, step FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	done := map[[2]int]bool{}
	var v, s int
	_, err = pgx.ForEachRow(rows, []any{&v, &s}, func() error {
		done[[2]int{v, s}] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied: %w", err)
	}
	return done, nil
}

// execBootstrap runs a CREATE TABLE IF NOT EXISTS. Two PostgreSQL sessions
// creating the same table at once can collide on the catalog (23505); the
// loser (23505, 42P07, or 42710 for the table's row type) tries again and
// then finds the table.
func (d *DB) execBootstrap(ctx context.Context, stmt string) error {
	var err error
	for range 5 {
		if _, err = d.Pool.Exec(ctx, stmt); err == nil || !(IsUniqueViolation(err, "") || SQLState(err) == "42P07" || SQLState(err) == "42710" || Retryable(err)) {
			break
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return serr
		}
	}
	if err != nil {
		return fmt.Errorf("migrate: bootstrap: %w", err)
	}
	return nil
}

func (d *DB) acquireMigrationLock(ctx context.Context, holder string) error {
	deadline := time.Now().Add(migrationLockWait)
	for {
		var got string
		err := d.Tx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `
				INSERT INTO schema_lock (id, holder, expires_at) VALUES (1, $1, now() + $2::INT8 * INTERVAL '1 millisecond')
				ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
				WHERE schema_lock.expires_at < now() OR schema_lock.holder = excluded.holder
				RETURNING holder`, holder, d.lease().Milliseconds()).Scan(&got)
		})
		if err == nil && got == holder {
			return nil
		}
		// No row back: another migrator holds the lease. A serialization
		// failure means the same (its lease renewals conflict with us).
		if err != nil && !IsNoRows(err) && !Retryable(err) {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("migrate: lock held by another migrator for over %s", migrationLockWait)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}
