package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxLaterStatements bounds the writes a transaction holds back (Later,
// Send): once that many wait, Send sends them before it holds back more,
// so a transaction that writes many rows (a chargeback voiding every
// payout waiting, each with its events) keeps its memory bounded.
const MaxLaterStatements = 1000

// pipeTx is a PostgreSQL transaction that saves round trips: it sends BEGIN
// with its first statement, and the writes queued with Later or Send with
// its next statement or with COMMIT, all in one pipeline (one network
// write, one Sync). Statements run in the order they were issued, so a
// read sees the writes queued before it.
//
// A held-back write reports its error from whichever call sends it; the
// transaction is then aborted in the database, and COMMIT, if it was in the
// same pipeline, is not run (the server skips to the Sync after an error).
// That is why only statements that fail in the database when they fail at
// all may be held back: their row counts are never looked at (see
// MustChange).
type pipeTx struct {
	pc      *pgxpool.Conn
	conn    *pgx.Conn
	begin   []string // statements that open the transaction
	begun   bool     // begin was sent
	pending []later
	done    bool     // committed or rolled back
	commit  []func() // run after a successful COMMIT (AfterCommit)
}

// later is a write held back by a pipeTx.
type later struct {
	sql   string
	args  []any
	onErr func(error) error // maps the statement's error; nil keeps it
}

// failed is the error to return when l failed with err.
func (l later) failed(err error) error {
	if l.onErr != nil {
		return l.onErr(err)
	}
	return err
}

var _ pgx.Tx = (*pipeTx)(nil)

// beginPipe acquires a connection for a transaction that starts with the
// statements begin.
func (d *DB) beginPipe(ctx context.Context, begin []string) (*pipeTx, error) {
	pc, err := d.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &pipeTx{pc: pc, conn: pc.Conn(), begin: begin}, nil
}

// direct reports whether a statement can go to the connection as is:
// BEGIN was sent and no write is held back.
func (t *pipeTx) direct() bool { return t.begun && len(t.pending) == 0 }

// send sends, in one pipeline, BEGIN if it was not sent yet, the held-back
// writes and then tail, reads the results of all but tail and returns the
// batch positioned at tail's first result. On error the batch is closed.
func (t *pipeTx) send(ctx context.Context, tail []*pgx.QueuedQuery) (pgx.BatchResults, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	b := &pgx.Batch{}
	var begin []string
	if !t.begun {
		begin = t.begin
		for _, s := range begin {
			b.Queue(s)
		}
		t.begun = true
	}
	pending := t.pending
	t.pending = nil
	for _, l := range pending {
		b.Queue(l.sql, l.args...)
	}
	b.QueuedQueries = append(b.QueuedQueries, tail...)
	br := t.conn.SendBatch(ctx, b)
	for _, s := range begin {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("db: %s: %w", s, err)
		}
	}
	for _, l := range pending {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, l.failed(fmt.Errorf("db: held-back write: %w", err))
		}
	}
	return br, nil
}

// flush sends BEGIN and the held-back writes, if any.
func (t *pipeTx) flush(ctx context.Context) error {
	if t.direct() {
		return nil
	}
	br, err := t.send(ctx, nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// hold queues l to be sent with the next statement, first sending what
// waits when MaxLaterStatements writes do.
func (t *pipeTx) hold(ctx context.Context, l later) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if len(t.pending) >= MaxLaterStatements {
		if err := t.flush(ctx); err != nil {
			return err
		}
	}
	t.pending = append(t.pending, l)
	return nil
}

// Exec runs sql, after whatever is held back, in the same round trip.
func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.done {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, []*pgx.QueuedQuery{{SQL: sql, Arguments: args}})
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs sql, after whatever is held back, in the same round trip.
func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.send(ctx, []*pgx.QueuedQuery{{SQL: sql, Arguments: args}})
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow is Query for one row.
func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &oneRow{rows: rows, err: err}
}

// SendBatch sends b after whatever is held back, in the same round trip.
func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.done {
		return errBatch{pgx.ErrTxClosed}
	}
	if t.direct() {
		return t.conn.SendBatch(ctx, b)
	}
	br, err := t.send(ctx, b.QueuedQueries)
	if err != nil {
		return errBatch{err}
	}
	return br
}

// Commit sends BEGIN (if anything was held back), the held-back writes and
// COMMIT in one round trip. A transaction that sent nothing commits
// nothing.
func (t *pipeTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.begun && len(t.pending) == 0 {
		t.finish()
		for _, f := range t.commit {
			f()
		}
		return nil
	}
	br, err := t.send(ctx, []*pgx.QueuedQuery{{SQL: "COMMIT"}})
	if err != nil {
		return err // Rollback ends it
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	t.finish()
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	for _, f := range t.commit {
		f()
	}
	return nil
}

// Rollback drops what is held back and rolls back what was sent. The
// connection goes back to the pool, or is closed when it is not idle.
func (t *pipeTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.pending = nil
	var err error
	if t.begun && t.conn.PgConn().TxStatus() != 'I' && !t.conn.IsClosed() {
		_, err = t.conn.Exec(ctx, "ROLLBACK")
	}
	t.finish()
	return err
}

// finish returns the connection to the pool (which closes it unless it is
// idle outside a transaction).
func (t *pipeTx) finish() {
	t.done = true
	t.pending = nil
	t.pc.Release()
}

// Begin would start a savepoint; escrowd does not nest transactions.
func (t *pipeTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("db: nested transactions are not supported")
}

// CopyFrom sends what is held back, then copies.
func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// LargeObjects is not supported (escrowd stores none).
func (t *pipeTx) LargeObjects() pgx.LargeObjects {
	panic("db: large objects are not supported")
}

// Prepare prepares on the connection (statements outlive transactions).
func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

// Conn returns the connection the transaction runs on.
func (t *pipeTx) Conn() *pgx.Conn { return t.conn }

// batchRows closes its batch with the rows.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br == nil {
		return
	}
	if err := r.br.Close(); err != nil && r.err == nil {
		r.err = err
	}
	r.br = nil
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// oneRow is a pgx.Row over rows, as pgx's own.
type oneRow struct {
	rows pgx.Rows
	err  error
}

func (r *oneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	rows := r.rows
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// errBatch is a batch that failed before it was sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return &oneRow{err: b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
