package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	crdbpgx "github.com/cockroachdb/cockroach-go/v2/crdb/crdbpgxv5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Backoff bounds between attempts of a retried transaction.
const (
	backoffBase = 2 * time.Millisecond
	backoffMax  = 500 * time.Millisecond
)

// TxFunc is the body of a transaction. It may run several times: it must
// have no side effect but SQL on tx (no HTTP calls, sleeps or channel sends).
type TxFunc func(tx pgx.Tx) error

// Tx runs fn in a SERIALIZABLE transaction and commits it. Serialization
// failures (40001) and deadlocks (40P01) restart the whole transaction, at
// most MaxTxAttempts times, with jittered exponential backoff between
// attempts. This is the only way escrowd writes.
//
// On CockroachDB it uses crdbpgx.ExecuteTx (the savepoint retry protocol).
// On PostgreSQL it must not: crdb.ExecuteInTx ignores the error of the COMMIT
// that follows RELEASE SAVEPOINT, and PostgreSQL reports serialization
// failures at COMMIT, so a write could be lost silently. There a full-restart
// loop runs that checks every COMMIT, and the transaction is a pipeTx: BEGIN
// goes with its first statement, and writes queued with Send or Later go
// with its next statement or with COMMIT, in one round trip.
//
// On PostgreSQL a write transaction starts with sequential scans disabled
// (SET LOCAL enable_seqscan = off, sent with BEGIN). A
// sequential scan under SERIALIZABLE takes a predicate lock on the whole
// table, which conflicts with every concurrent insert into it, and the
// planner picks one for any table of a few pages, i.e. for every table of
// a young database; PostgreSQL's documentation on serializable isolation
// advises steering the planner to index scans for this reason. A statement
// with no usable index still runs as a sequential scan.
func (d *DB) Tx(ctx context.Context, fn TxFunc) error {
	return d.run(ctx, txWrite, fn)
}

// TxLazyCommit is Tx for a write whose loss in a crash is harmless because
// nothing else depends on it being durable until a later transaction of the
// same request commits: on PostgreSQL its COMMIT does not wait for the WAL
// flush (SET LOCAL synchronous_commit = off), and any later synchronous
// commit flushes it first, since the WAL is written in order. The
// idempotency claim is such a write: after a crash that loses it, the
// request's change cannot have committed either, and the retry claims the
// key afresh. It is meant for inserts by key, and leaves sequential scans
// on (one statement less). CockroachDB has no such setting; there it is Tx.
func (d *DB) TxLazyCommit(ctx context.Context, fn TxFunc) error {
	return d.run(ctx, txWriteLazy, fn)
}

// ReadTx runs fn in a read-only SERIALIZABLE transaction, retried like Tx. Use
// it for reads that must see one consistent snapshot across statements.
func (d *DB) ReadTx(ctx context.Context, fn TxFunc) error {
	return d.run(ctx, txRead, fn)
}

// txKind is what a transaction does; it decides how it begins.
type txKind int

const (
	txWrite txKind = iota
	txWriteLazy
	txRead
)

// beginPG lists the statements that begin a transaction of each kind on
// PostgreSQL (sent with the transaction's first statement: see pipeTx).
var beginPG = [...][]string{
	txWrite:     {"BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE", "SET LOCAL enable_seqscan = off"},
	txWriteLazy: {"BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE", "SET LOCAL synchronous_commit = off"},
	txRead:      {"BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"},
}

func (d *DB) run(ctx context.Context, kind txKind, fn TxFunc) error {
	var err error
	if d.CockroachDB {
		opts := pgx.TxOptions{IsoLevel: pgx.Serializable}
		if kind == txRead {
			opts.AccessMode = pgx.ReadOnly
		}
		attempt := 0
		// The attempts are counted here: crdb.WithMaxRetries(ctx, 0),
		// for one attempt, would retry without limit (the context's
		// bound is a backstop: crdb's own default stops at 50 retries).
		var last error
		err = crdbpgx.ExecuteTx(crdb.WithMaxRetries(ctx, d.maxAttempts), d.Pool, opts, func(tx pgx.Tx) error {
			attempt++
			if attempt > 1 {
				// The last attempt failed in fn, or fn succeeded and
				// RELEASE (the commit) failed.
				phase := "commit"
				if last != nil {
					phase = "body"
				}
				if attempt > d.maxAttempts {
					return errRetriesExhausted{last}
				}
				d.metrics.txRetries.WithLabelValues("40001", phase).Inc()
			}
			last = fn(tx)
			return last
		})
		var x errRetriesExhausted
		if errors.As(err, &x) {
			err = fmt.Errorf("db: transaction failed after %d attempts: %w", d.maxAttempts, x.cause())
		}
	} else {
		err = d.restartLoop(ctx, beginPG[kind], fn)
	}
	if err != nil {
		d.metrics.txTotal.WithLabelValues(outcomeOf(err)).Inc()
		return err
	}
	d.metrics.txTotal.WithLabelValues("committed").Inc()
	return nil
}

// errRetriesExhausted ends the CockroachDB retry loop. It hides the
// transaction function's last error (nil when the last attempt failed at
// RELEASE) from crdbpgx, which would retry a 40001 it finds in the chain;
// run wraps the cause once the loop has ended.
type errRetriesExhausted struct{ last error }

func (e errRetriesExhausted) Error() string { return e.cause().Error() }

func (e errRetriesExhausted) cause() error {
	if e.last == nil {
		return &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "serialization failure at commit (RELEASE SAVEPOINT)"}
	}
	return e.last
}

// outcomeOf labels a transaction that did not commit: "failed" when the
// database or the connection failed it (an error with a SQLSTATE, retries
// used up, a network error, the context ending), "rejected" when its
// function refused the change (a domain error: invalid state, not found,
// an idempotency key replayed or in use). Alert on failed; rejected is the
// normal business of an API.
func outcomeOf(err error) string {
	var netErr net.Error
	var connErr *pgconn.ConnectError
	switch {
	case SQLState(err) != "", errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr), errors.As(err, &connErr), pgconn.Timeout(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "failed"
	}
	return "rejected"
}

// restartLoop is the PostgreSQL retry loop: begin, run, commit, and on a
// retryable error anywhere (including COMMIT) roll back and start again;
// after SerialAfter failed attempts the transaction runs alone in the
// process (serialGate).
func (d *DB) restartLoop(ctx context.Context, begin []string, fn TxFunc) error {
	for attempt := 1; ; attempt++ {
		done := d.gate.leave
		if attempt > SerialAfter {
			open, err := d.gate.enterAlone(ctx)
			if err != nil {
				return err
			}
			d.metrics.txSerial.Inc()
			done = open
		} else if err := d.gate.enter(ctx); err != nil {
			return err
		}
		phase, err := func() (string, error) {
			defer done() // also when fn panics
			return d.attempt(ctx, begin, fn)
		}()
		if err == nil {
			return nil
		}
		if !Retryable(err) {
			return err
		}
		if attempt >= d.maxAttempts {
			return fmt.Errorf("db: transaction failed after %d attempts: %w", attempt, err)
		}
		d.metrics.txRetries.WithLabelValues(SQLState(err), phase).Inc()
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// attempt runs fn once and commits; it reports in which phase an error arose.
func (d *DB) attempt(ctx context.Context, begin []string, fn TxFunc) (phase string, err error) {
	tx, err := d.beginPipe(ctx, begin)
	if err != nil {
		return "begin", err
	}
	defer func() {
		if p := recover(); p != nil {
			// Never leave a connection idle in an open transaction.
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			// The rollback error is irrelevant: the attempt failed already.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(tx); err != nil {
		return "body", err
	}
	if err = tx.Commit(ctx); err != nil {
		if errors.Is(err, pgx.ErrTxCommitRollback) {
			return "commit", fmt.Errorf("db: commit rolled back (a statement failed inside the transaction and the error was ignored): %w", err)
		}
		return "commit", err
	}
	return "", nil
}

// backoff returns the pause before attempt+1: exponential with full jitter.
func backoff(attempt int) time.Duration {
	ceiling := backoffBase << min(attempt, 8)
	if ceiling > backoffMax {
		ceiling = backoffMax
	}
	return time.Duration(rand.Int64N(int64(ceiling))) + backoffBase/2
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
