package db_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
)

// TestCommitTimeSerializationFailureIsRetried builds a write skew between two
// SERIALIZABLE transactions so that PostgreSQL rejects the first one at
// COMMIT with 40001. Tx must notice the failed COMMIT, run the function again
// and land the write exactly once. This is the case crdb.ExecuteTx gets
// wrong on PostgreSQL.
func TestCommitTimeSerializationFailureIsRetried(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	if d.CockroachDB {
		t.Skip("commit-time serialization failures are a PostgreSQL behaviour; CockroachDB runs through crdbpgx")
	}
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOL NOT NULL)`)
	dbtest.MustExec(t, d, `CREATE TABLE landed (id INT8 PRIMARY KEY)`)
	dbtest.MustExec(t, d, `INSERT INTO doctors VALUES ('alice', true), ('bob', true)`)

	var attempts atomic.Int32
	var commitErrs []string
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		n := attempts.Add(1)
		var onCall int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&onCall); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE doctors SET on_call = false WHERE name = 'alice'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO landed VALUES (1)`); err != nil {
			return err
		}
		if n == 1 {
			// A concurrent transaction reads what we wrote and writes what
			// we read, then commits first: our COMMIT must fail.
			other, err := d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
			if err != nil {
				return err
			}
			var c int
			if err := other.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&c); err != nil {
				return err
			}
			if _, err := other.Exec(ctx, `UPDATE doctors SET on_call = false WHERE name = 'bob'`); err != nil {
				return err
			}
			if err := other.Commit(ctx); err != nil {
				commitErrs = append(commitErrs, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx: %v (other commit errors: %v)", err, commitErrs)
	}
	if got := attempts.Load(); got != 2 {
		t.Fatalf("attempts = %d, want 2 (first attempt must fail at COMMIT and be retried)", got)
	}
	if got := d.Retries("40001", "commit"); got != 1 {
		t.Fatalf("commit-phase retries = %d, want 1", got)
	}
	var landed int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM landed`).Scan(&landed); err != nil {
		t.Fatal(err)
	}
	if landed != 1 {
		t.Fatalf("landed rows = %d, want exactly 1", landed)
	}
}

// TestPlainCommitFailureIsObserved shows the raw behaviour the retry loop
// relies on: without a retry, PostgreSQL reports the write skew at COMMIT.
func TestPlainCommitFailureIsObserved(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	if d.CockroachDB {
		t.Skip("PostgreSQL behaviour")
	}
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call BOOL NOT NULL)`)
	dbtest.MustExec(t, d, `INSERT INTO doctors VALUES ('alice', true), ('bob', true)`)
	t1, _ := d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	t2, _ := d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	var c int
	mustOK(t, t1.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&c))
	mustOK(t, t2.QueryRow(ctx, `SELECT count(*) FROM doctors WHERE on_call`).Scan(&c))
	_, err := t1.Exec(ctx, `UPDATE doctors SET on_call = false WHERE name = 'alice'`)
	mustOK(t, err)
	_, err = t2.Exec(ctx, `UPDATE doctors SET on_call = false WHERE name = 'bob'`)
	mustOK(t, err)
	mustOK(t, t2.Commit(ctx))
	err = t1.Commit(ctx)
	if db.SQLState(err) != "40001" {
		t.Fatalf("commit error = %v, want SQLSTATE 40001 at COMMIT", err)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentIncrementsAllLand runs contended read-modify-write
// transactions; every one must land exactly once.
func TestConcurrentIncrementsAllLand(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE counter (id INT8 PRIMARY KEY, n INT8 NOT NULL)`)
	dbtest.MustExec(t, d, `INSERT INTO counter VALUES (1, 0)`)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- d.Tx(ctx, func(tx pgx.Tx) error {
					var n int
					if err := tx.QueryRow(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != workers*each {
		t.Fatalf("counter = %d, want %d", n, workers*each)
	}
}

// TestNonRetryableErrorIsReturnedOnce: a domain error stops at once.
func TestNonRetryableErrorIsReturnedOnce(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	boom := errors.New("boom")
	calls := 0
	err := d.Tx(context.Background(), func(pgx.Tx) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want boom once", err, calls)
	}
}

// TestAttemptsAreBounded: a transaction that keeps failing to serialize
// runs MaxTxAttempts times, then returns the serialization failure; on
// both paths (the CockroachDB one, crdbpgx's savepoint retries, runs
// against PostgreSQL too). One attempt means no retry.
func TestAttemptsAreBounded(t *testing.T) {
	_, url := dbtest.NewEmpty(t)
	for _, cockroach := range []bool{false, true} {
		for _, max := range []int{1, 3} {
			d, err := db.Open(context.Background(), url, db.Options{MaxConns: 2, MaxTxAttempts: max})
			if err != nil {
				t.Fatal(err)
			}
			if d.CockroachDB && !cockroach {
				d.Close()
				continue // the PostgreSQL path begins with PostgreSQL settings
			}
			d.CockroachDB = cockroach
			calls := 0
			err = d.Tx(context.Background(), func(pgx.Tx) error {
				calls++
				if calls < 10 {
					return &pgconn.PgError{Code: "40001", Message: "conflict"}
				}
				return nil
			})
			d.Close()
			if calls != max || !db.Retryable(err) {
				t.Errorf("cockroach=%v max=%d: %d attempts, err %v; want %d attempts and the 40001", cockroach, max, calls, err, max)
			}
		}
	}
}

// TestWriteRunsFinisherInSameTransaction: a failing finisher rolls back the
// domain change with it.
func TestWriteRunsFinisherInSameTransaction(t *testing.T) {
	d, _ := dbtest.NewEmpty(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `CREATE TABLE things (id INT8 PRIMARY KEY)`)
	dbtest.MustExec(t, d, `CREATE TABLE receipts (id INT8 PRIMARY KEY)`)
	fail := errors.New("finisher failed")
	for _, tc := range []struct {
		name     string
		finisher db.Finisher
		wantErr  error
		want     int
	}{
		{"finisher ok", func(ctx context.Context, tx pgx.Tx, v any) error {
			_, err := tx.Exec(ctx, `INSERT INTO receipts VALUES ($1)`, v.(int))
			return err
		}, nil, 1},
		{"finisher fails", func(context.Context, pgx.Tx, any) error { return fail }, fail, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.MustExec(t, d, `DELETE FROM things`)
			dbtest.MustExec(t, d, `DELETE FROM receipts`)
			_, err := db.Write(db.WithFinisher(ctx, tc.finisher), d, func(tx pgx.Tx) (int, error) {
				_, err := tx.Exec(ctx, `INSERT INTO things VALUES (7)`)
				return 7, err
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var things, receipts int
			mustOK(t, d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM things), (SELECT count(*) FROM receipts)`).Scan(&things, &receipts))
			if things != tc.want || receipts != tc.want {
				t.Fatalf("things=%d receipts=%d, want %d each", things, receipts, tc.want)
			}
		})
	}
}
