package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// A Finisher runs at the end of a write transaction started by Write, after
// the domain work succeeded and before COMMIT, with the domain's result. The
// API uses it to store the idempotent response and the audit record in the
// same transaction as the change. It may run several times (retries).
type Finisher func(ctx context.Context, tx pgx.Tx, result any) error

type finisherKey struct{}

// WithFinisher returns a context whose Write transactions call f before
// committing.
func WithFinisher(ctx context.Context, f Finisher) context.Context {
	return context.WithValue(ctx, finisherKey{}, f)
}

// Write runs fn in a transaction (see Tx) and returns its result. When ctx
// carries a Finisher, it runs inside the same transaction with the result,
// so that whatever the caller records about the request commits with the
// change or not at all. Every exported domain method that changes state goes
// through Write.
func Write[T any](ctx context.Context, d *DB, fn func(tx pgx.Tx) (T, error)) (T, error) {
	var out T
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		v, err := fn(tx)
		if err != nil {
			return err
		}
		if f, ok := ctx.Value(finisherKey{}).(Finisher); ok && f != nil {
			if err := f(ctx, tx, v); err != nil {
				return err
			}
		}
		out = v
		return nil
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}
