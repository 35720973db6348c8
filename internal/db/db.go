// Package db holds escrowd's database plumbing: the connection pool, the one
// function through which every write runs (a SERIALIZABLE transaction that is
// retried on serialization failures), migrations and test databases.
package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Options tune the pool. Zero values take the defaults.
type Options struct {
	MaxConns        int32         // default 16
	MaxTxAttempts   int           // default DefaultMaxTxAttempts
	ConnectTimeout  time.Duration // default 10s
	ApplicationName string        // default "escrowd"
}

// idleInTxTimeout ends a session idle inside a transaction for longer.
const idleInTxTimeout = "60s"

// DefaultMaxTxAttempts bounds how often one transaction function runs before
// the serialization failure is returned to the caller.
const DefaultMaxTxAttempts = 30

// DB is a connection pool that knows which server it talks to.
type DB struct {
	Pool *pgxpool.Pool
	// CockroachDB is true when the server reported a crdb_version parameter.
	CockroachDB bool

	maxAttempts    int
	metrics        *metrics
	gate           serialGate
	migrationLease time.Duration // 0: migrationLockLease (tests shorten it)
}

type metrics struct {
	txTotal   *prometheus.CounterVec
	txRetries *prometheus.CounterVec
	txSerial  prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		txTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "escrowd_db_transactions_total",
			Help: "Write transactions by outcome: committed; rejected (the change was refused: a domain error); failed (the database, the connection or the retries failed it).",
		}, []string{"outcome"}),
		txRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "escrowd_db_transaction_retries_total",
			Help: "Write transaction attempts retried, by SQLSTATE and phase (body, commit).",
		}, []string{"sqlstate", "phase"}),
		txSerial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "escrowd_db_transaction_serial_attempts_total",
			Help: "Transaction attempts run alone in the process after repeated serialization failures (PostgreSQL).",
		}),
	}
}

// Open connects to url, registers decimal support on every connection and
// detects whether the server is CockroachDB.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse url: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	} else {
		cfg.MaxConns = 16
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	if opt.ApplicationName == "" {
		opt.ApplicationName = "escrowd"
	}
	cfg.ConnConfig.ConnectTimeout = opt.ConnectTimeout
	cfg.ConnConfig.RuntimeParams["application_name"] = opt.ApplicationName
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		registerDecimal(c.TypeMap())
		registerUUID(c.TypeMap())
		// A transaction left open by a crashed or stuck caller is ended by
		// the server, so it can hold no lock for long (ledger sealing also
		// counts on transactions being short).
		if _, err := c.Exec(ctx, "SET idle_in_transaction_session_timeout = '"+idleInTxTimeout+"'"); err != nil {
			return err
		}
		// Every write runs in an explicit SERIALIZABLE transaction (Tx).
		// Plain reads on the pool (authentication, GET handlers) need no
		// serializability, and under PostgreSQL's SSI their predicate locks
		// would make concurrent writers abort each other for nothing. (On
		// CockroachDB without read committed enabled this stays serializable.)
		_, err := c.Exec(ctx, "SET default_transaction_isolation = 'read committed'")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	d := &DB{Pool: pool, maxAttempts: opt.MaxTxAttempts, metrics: newMetrics()}
	if d.maxAttempts <= 0 {
		d.maxAttempts = DefaultMaxTxAttempts
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	d.CockroachDB = conn.Conn().PgConn().ParameterStatus("crdb_version") != ""
	conn.Release()
	return d, nil
}

// Close closes the pool.
func (d *DB) Close() { d.Pool.Close() }

// Collectors returns the Prometheus collectors of this pool: transaction
// outcomes, retries and pool statistics.
func (d *DB) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.metrics.txTotal, d.metrics.txRetries, d.metrics.txSerial, &poolCollector{pool: d.Pool}}
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.Pool.Ping(ctx) }

// Retryable reports whether err is a serialization failure (40001) or a
// deadlock (40P01) after which the whole transaction may be run again.
func Retryable(err error) bool {
	code := SQLState(err)
	return code == "40001" || code == "40P01"
}

// Restart returns a serialization failure raised by escrowd itself, for a
// transaction tx that learned of a row its snapshot cannot see (from a
// process-wide cache: a row committed after the snapshot was taken).
// Restarting it is the serializable outcome, as when the database finds
// such a conflict; the error carries SQLSTATE 40001 so that Tx's retry loop
// runs the transaction again, with a new snapshot. It returns nil where a
// retry would keep the snapshot: on CockroachDB, crdbpgx retries inside
// the same transaction (ROLLBACK TO SAVEPOINT), so the caller reports its
// own error instead.
func Restart(tx pgx.Tx, reason string) error {
	if _, ok := tx.(*pipeTx); !ok {
		return nil
	}
	return &pgconn.PgError{Severity: "ERROR", Code: "40001", Message: reason}
}

// SQLState returns the SQLSTATE of err, or "" when err carries none.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// IsUniqueViolation reports whether err is a unique violation, optionally on
// the named constraint (empty matches any).
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// IsNoRows reports whether err means a query returned no row.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// Retries returns how many attempts were retried after an error with the
// given SQLSTATE in the given phase ("body" or "commit") since Open.
func (d *DB) Retries(sqlstate, phase string) int {
	var m dto.Metric
	if err := d.metrics.txRetries.WithLabelValues(sqlstate, phase).Write(&m); err != nil {
		return 0
	}
	return int(m.GetCounter().GetValue())
}
