package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/db/dbtest"
)

func pipeTable(t *testing.T) *db.DB {
	t.Helper()
	d, _ := dbtest.NewEmpty(t)
	dbtest.MustExec(t, d, `CREATE TABLE items (id INT8 PRIMARY KEY, n INT8 NOT NULL DEFAULT 0)`)
	return d
}

func countItems(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM items`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLaterWritesWaitForCommit: on PostgreSQL a transaction that only
// queues writes sends nothing until COMMIT, BEGIN included, and then
// commits them.
func TestLaterWritesWaitForCommit(t *testing.T) {
	d := pipeTable(t)
	if d.CockroachDB {
		t.Skip("held-back writes are a PostgreSQL path; on CockroachDB Send runs at once")
	}
	ctx := context.Background()
	var state string
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		b := &db.Batch{}
		b.Queue(`INSERT INTO items (id) VALUES (1)`)
		b.Queue(`INSERT INTO items (id) VALUES (2)`)
		if err := db.Send(ctx, tx, b); err != nil {
			return err
		}
		// The session has not even begun its transaction.
		return d.Pool.QueryRow(ctx, `SELECT state FROM pg_stat_activity WHERE pid = $1`, tx.Conn().PgConn().PID()).Scan(&state)
	})
	if err != nil {
		t.Fatal(err)
	}
	if state != "idle" {
		t.Errorf("session state with only held-back writes = %q, want idle (nothing sent)", state)
	}
	if n := countItems(t, d); n != 2 {
		t.Errorf("committed rows = %d, want 2", n)
	}
}

// TestLaterWritesAreReadBack: a read after a held-back write sees it.
func TestLaterWritesAreReadBack(t *testing.T) {
	d := pipeTable(t)
	ctx := context.Background()
	var n, sum int
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		if err := db.Later(ctx, tx, `INSERT INTO items (id, n) VALUES (1, 5)`); err != nil {
			return err
		}
		if err := db.Later(ctx, tx, `UPDATE items SET n = n + 2 WHERE id = 1`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT n FROM items`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return err
			}
			n, sum = n+1, sum+v
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || sum != 7 {
		t.Errorf("read back %d rows summing %d, want 1 row of 7", n, sum)
	}
}

// TestLaterSendsPastItsBound: a transaction may hold back more writes
// than MaxLaterStatements; what waits is sent once that many do, and every
// write commits. A failing write past the bound still fails the
// transaction as a whole.
func TestLaterSendsPastItsBound(t *testing.T) {
	d := pipeTable(t)
	ctx := context.Background()
	n := 2*db.MaxLaterStatements + 5
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		for i := range n {
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES ($1)`, i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%d held-back writes: %v", n, err)
	}
	if got := countItems(t, d); got != n {
		t.Errorf("committed rows = %d, want %d", got, n)
	}
	err = d.Tx(ctx, func(tx pgx.Tx) error {
		for i := range n {
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES ($1)`, n+i); err != nil {
				return err
			}
		}
		return db.Later(ctx, tx, `INSERT INTO items (id) VALUES (0)`) // taken
	})
	if err == nil {
		t.Fatal("a duplicate key past the bound committed")
	}
	if got := countItems(t, d); got != n {
		t.Errorf("rows after the failed transaction = %d, want %d (all rolled back)", got, n)
	}
}

var errTaken = errors.New("taken")

// TestLaterFailureRollsBack: a held-back write that fails, whether its
// error surfaces at the next statement or at COMMIT, rolls the whole
// transaction back, COMMIT included, and its error (mapped when asked) is
// what Tx returns; the connection is usable afterwards.
func TestLaterFailureRollsBack(t *testing.T) {
	d := pipeTable(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `INSERT INTO items (id) VALUES (100)`)
	mapTaken := func(err error) error {
		if db.IsUniqueViolation(err, "") {
			return errTaken
		}
		return err
	}
	cases := []struct {
		name  string
		fn    func(tx pgx.Tx) error
		check func(err error) bool
	}{
		{"unique violation at commit, mapped", func(tx pgx.Tx) error {
			b := &db.Batch{}
			b.Queue(`INSERT INTO items (id) VALUES (1)`)
			b.QueueMap(mapTaken, `INSERT INTO items (id) VALUES (100)`)
			b.Queue(`INSERT INTO items (id) VALUES (2)`)
			return db.Send(ctx, tx, b)
		}, func(err error) bool { return errors.Is(err, errTaken) }},
		{"unique violation at the next read", func(tx pgx.Tx) error {
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES (1)`); err != nil {
				return err
			}
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES (100)`); err != nil {
				return err
			}
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n)
		}, func(err error) bool { return db.IsUniqueViolation(err, "items_pkey") }},
		{"MustChange that changes nothing", func(tx pgx.Tx) error {
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES (1)`); err != nil {
				return err
			}
			return db.Later(ctx, tx, db.MustChange(`UPDATE items SET n = 1 WHERE id = $1`), 42)
		}, db.NothingChanged},
		{"error in an immediate statement after held-back writes", func(tx pgx.Tx) error {
			if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES (1)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO items (id) VALUES (100)`)
			return err
		}, func(err error) bool { return db.IsUniqueViolation(err, "items_pkey") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := d.Tx(ctx, c.fn)
			if err == nil || !c.check(err) {
				t.Fatalf("Tx error = %v, want the held-back write's failure", err)
			}
			if n := countItems(t, d); n != 1 {
				t.Fatalf("rows after the failed transaction = %d, want 1 (nothing committed)", n)
			}
			// Every connection of the pool still works.
			for range 4 {
				if err := d.Tx(ctx, func(tx pgx.Tx) error {
					var n int
					return tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n)
				}); err != nil {
					t.Fatalf("transaction after the failure: %v", err)
				}
			}
		})
	}
}

// TestMustChange: a MustChange statement that changes its row passes.
func TestMustChange(t *testing.T) {
	d := pipeTable(t)
	ctx := context.Background()
	dbtest.MustExec(t, d, `INSERT INTO items (id) VALUES (1)`)
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		return db.Later(ctx, tx, db.MustChange(`UPDATE items SET n = 9 WHERE id = $1`), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT n FROM items WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("n = %d, want 9", n)
	}
}

// TestEmptyTransaction: a transaction function that sends nothing commits
// without error, and so does a read-only one.
func TestEmptyTransaction(t *testing.T) {
	d := pipeTable(t)
	ctx := context.Background()
	if err := d.Tx(ctx, func(pgx.Tx) error { return nil }); err != nil {
		t.Fatalf("empty Tx: %v", err)
	}
	var n int
	if err := d.ReadTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM items`).Scan(&n)
	}); err != nil {
		t.Fatalf("ReadTx: %v", err)
	}
	err := d.ReadTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO items (id) VALUES (1)`)
		return err
	})
	if db.SQLState(err) != "25006" {
		t.Fatalf("write in ReadTx: %v, want read_only_sql_transaction (25006)", err)
	}
}

// TestAfterCommit: a function registered with AfterCommit runs once the
// attempt that registered it commits, and never for an attempt that failed.
func TestAfterCommit(t *testing.T) {
	d := pipeTable(t)
	if d.CockroachDB {
		t.Skip("AfterCommit runs in PostgreSQL transactions only")
	}
	ctx := context.Background()
	var attempts, ran []int
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		n := len(attempts) + 1
		attempts = append(attempts, n)
		db.AfterCommit(tx, func() { ran = append(ran, n) })
		if err := db.Later(ctx, tx, `INSERT INTO items (id) VALUES (1)`); err != nil {
			return err
		}
		if n == 1 {
			return &pgconn.PgError{Code: "40001", Message: "simulated serialization failure"}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || ran[0] != 2 {
		t.Fatalf("after-commit functions ran for attempts %v, want [2] (attempts %v)", ran, attempts)
	}
	ran = nil
	err = d.Tx(ctx, func(tx pgx.Tx) error {
		db.AfterCommit(tx, func() { ran = append(ran, 1) })
		return db.Later(ctx, tx, `INSERT INTO items (id) VALUES (1)`) // fails at COMMIT: exists
	})
	if err == nil || len(ran) != 0 {
		t.Fatalf("failed transaction: err %v, after-commit ran %v times", err, len(ran))
	}
}
