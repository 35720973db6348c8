package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// A Batch is a list of writes sent together by Send.
type Batch struct{ items []later }

// Queue adds a write.
func (b *Batch) Queue(sql string, args ...any) {
	b.items = append(b.items, later{sql: sql, args: args})
}

// QueueMap adds a write whose error, if it fails, onErr maps (to a domain
// error, say).
func (b *Batch) QueueMap(onErr func(error) error, sql string, args ...any) {
	b.items = append(b.items, later{sql: sql, args: args, onErr: onErr})
}

// Len is the number of writes queued.
func (b *Batch) Len() int { return len(b.items) }

// Send sends b's writes on tx. In a transaction of Tx on PostgreSQL they are
// held back and go with tx's next statement or with its COMMIT, in the same
// round trip (see pipeTx); elsewhere they run at once, in one round trip.
//
// Only writes whose outcome the transaction does not read may be sent this
// way: nothing looks at their row counts or rows, so a write that must
// change a row has to fail in the database when it does not (MustChange).
// Their errors come back from the call that sends them, or from COMMIT.
func Send(ctx context.Context, tx pgx.Tx, b *Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if p, ok := tx.(*pipeTx); ok {
		for _, l := range b.items {
			if err := p.hold(ctx, l); err != nil {
				return err
			}
		}
		return nil
	}
	pb := &pgx.Batch{}
	for _, l := range b.items {
		pb.Queue(l.sql, l.args...)
	}
	br := tx.SendBatch(ctx, pb)
	for _, l := range b.items {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return l.failed(err)
		}
	}
	return br.Close()
}

// Later is Send for one write.
func Later(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	b := &Batch{}
	b.Queue(sql, args...)
	return Send(ctx, tx, b)
}

// MustChange wraps a data-modifying statement (INSERT, UPDATE or DELETE
// without RETURNING) so that it fails in the database, with SQLSTATE 22012
// (division by zero), when it changes no row. A write sent with Send can
// then carry its own check, since its row count is never read. The idiom
// is plain SQL that PostgreSQL and CockroachDB both run.
func MustChange(sql string) string {
	return "WITH changed AS (" + sql + " RETURNING 1) SELECT 1 / count(*) FROM changed"
}

// NothingChanged reports whether err is the failure of a MustChange
// statement that changed no row.
func NothingChanged(err error) bool { return SQLState(err) == "22012" }

// AfterCommit registers f to run once tx has committed, and not at all if
// this attempt fails. It is for caches of what tx wrote: it runs only in
// PostgreSQL transactions of Tx (not on CockroachDB, nor outside Tx), so
// nothing may depend on it for correctness.
func AfterCommit(tx pgx.Tx, f func()) {
	if p, ok := tx.(*pipeTx); ok {
		p.commit = append(p.commit, f)
	}
}
