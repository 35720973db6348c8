// Package idem stores idempotency keys: the first request with a key runs,
// and its response is stored in the same transaction as its change; later
// requests with the same key replay it.
package idem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Limits.
const (
	MaxKeyLength = 255
	// Lease is how long a request owns its key before another request with
	// the same key may take over (the first one crashed before committing).
	Lease = 2 * time.Minute
	// PruneBatch bounds how many expired keys one prune transaction
	// deletes, and PruneMaxBatches how many transactions one Prune runs: at
	// most 500,000 keys a run, so the hourly prune job keeps up with about
	// 140 idempotent requests a second, sustained. A batch took about 35 ms
	// on a 2-core machine (keys with 600-byte responses), so a full run
	// takes about 20 s, well inside a job's run time limit
	// (jobs.RunTimeout).
	PruneBatch      = 1000
	PruneMaxBatches = 500
)

// Errors.
var (
	ErrReused = errors.New("idempotency key reused with a different request")
	ErrInUse  = errors.New("idempotency key in use by a request still running")
	ErrLost   = errors.New("idempotency key taken over by another request")

	errKeyExists = errors.New("idempotency key exists")
)

// leaseEnded is the lease end Abandon sets: long past.
var leaseEnded = time.Unix(0, 0).UTC()

// Begin is the outcome of claiming a key.
type Begin struct {
	// Replay is set when the key already holds a finished response.
	Replay *Response
	// Owner identifies this claim; pass it to Complete or Abandon.
	Owner uuid.UUID
}

// Response is a stored response.
type Response struct {
	Status int
	Body   []byte
}

const insertKeySQL = `
	INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, owner, locked_until, created_at)
	VALUES ($1, $2, $3, 'in_progress', $4, $5, $6)`

// Claim registers key for tenant with the request hash, in its own
// transaction, so a concurrent request with the same key sees it.
//
// A key already held under another hash is refused (ErrReused) unless
// that hash is legacy's (when legacy is not nil): the same request's
// fingerprint as an earlier version computed it, so a request completed
// before an upgrade that changed the fingerprint still replays when
// retried after it. legacy runs only then; a new key is always stored
// under hash.
//
// A new key costs one round trip: the insert is held back and sent with
// BEGIN and COMMIT (db.Send), and the commit does not wait for the WAL
// flush (db.TxLazyCommit: the request's own transaction flushes it). Only
// when the key exists does a second transaction read it.
func Claim(ctx context.Context, d *db.DB, tenant uuid.UUID, key string, hash []byte, now time.Time, legacy func() []byte) (Begin, error) {
	owner := uuid.Must(uuid.NewV7())
	err := d.TxLazyCommit(ctx, func(tx pgx.Tx) error {
		// A row already there makes the insert fail, and so the
		// transaction: ON CONFLICT DO NOTHING would make it commit empty.
		b := &db.Batch{}
		b.QueueMap(func(err error) error {
			if db.IsUniqueViolation(err, "") {
				return errKeyExists
			}
			return err
		}, insertKeySQL,
			tenant, key, hash, owner, now.Add(Lease), now)
		return db.Send(ctx, tx, b)
	})
	switch {
	case err == nil:
		return Begin{Owner: owner}, nil
	case !errors.Is(err, errKeyExists):
		return Begin{}, fmt.Errorf("idempotency key %q: %w", key, err)
	}
	var out Begin
	err = d.Tx(ctx, func(tx pgx.Tx) error {
		out = Begin{}
		var storedHash []byte
		var lockedUntil time.Time
		var respStatus *int
		var respBody []byte
		err := tx.QueryRow(ctx, `
			SELECT k.request_hash, k.locked_until, COALESCE(r.response_status, k.response_status), COALESCE(r.response_body, k.response_body)
			FROM idempotency_keys k
			LEFT JOIN idempotency_responses r ON r.tenant_id = k.tenant_id AND r.key = k.key
			WHERE k.tenant_id = $1 AND k.key = $2`, tenant, key).
			Scan(&storedHash, &lockedUntil, &respStatus, &respBody)
		if db.IsNoRows(err) {
			// Pruned since the insert failed: claim it afresh.
			_, err = tx.Exec(ctx, insertKeySQL,
				tenant, key, hash, owner, now.Add(Lease), now)
			out.Owner = owner
			return err
		}
		if err != nil {
			return err
		}
		switch {
		case !bytes.Equal(storedHash, hash) && (legacy == nil || !bytes.Equal(storedHash, legacy())):
			return ErrReused
		case respStatus != nil:
			out.Replay = &Response{Status: *respStatus, Body: respBody}
			return nil
		case lockedUntil.After(now):
			return ErrInUse
		}
		// The previous owner's lease ran out without a commit: take over.
		_, err = tx.Exec(ctx, `UPDATE idempotency_keys SET owner = $3, locked_until = $4 WHERE tenant_id = $1 AND key = $2`,
			tenant, key, owner, now.Add(Lease))
		out.Owner = owner
		return err
	})
	if err != nil {
		return Begin{}, fmt.Errorf("idempotency key %q: %w", key, err)
	}
	return out, nil
}

// Complete stores the response for a claimed key inside the caller's
// transaction (the one that made the change). It only inserts (see
// migration 0004): when two owners of a key both finish (the first one's
// lease ran out and the second took over), the second to commit fails with
// ErrLost (or a serialization failure, then ErrLost on its retry), which
// rolls its change back, so one change commits.
func Complete(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, key string, owner uuid.UUID, resp Response) error {
	b := &db.Batch{}
	QueueComplete(b, tenant, key, owner, resp)
	return db.Send(ctx, tx, b)
}

// QueueComplete queues Complete's insert on b, to be sent with other
// writes (db.Send); it fails with ErrLost when another owner of the key
// stored a response first (the insert fails in the database, so the
// transaction cannot commit).
func QueueComplete(b *db.Batch, tenant uuid.UUID, key string, owner uuid.UUID, resp Response) {
	b.QueueMap(func(err error) error {
		if db.IsUniqueViolation(err, "") {
			return fmt.Errorf("idempotency key %q: %w", key, ErrLost)
		}
		return err
	}, `
		INSERT INTO idempotency_responses (tenant_id, key, owner, response_status, response_body)
		VALUES ($1, $2, $3, $4, $5)`,
		tenant, key, owner, resp.Status, resp.Body)
}

// Abandon releases a claim whose request failed without a response worth
// replaying (a server error), so the client may retry the same request
// with the same key: it ends the claim's lease, and the retry takes the key
// over. The key row stays (only Prune deletes keys, with their responses),
// so a response stored after all — the request's COMMIT succeeded though
// the client saw an error, or an earlier owner whose lease ran out
// finished — is replayed, never orphaned.
func Abandon(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, key string, owner uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET locked_until = $4 WHERE tenant_id = $1 AND key = $2 AND owner = $3`,
		tenant, key, owner, leaseEnded)
	if err != nil {
		return fmt.Errorf("idempotency key %q: abandon: %w", key, err)
	}
	return nil
}

// Prune deletes the keys created before cutoff, with their responses, in
// batches of PruneBatch keys, each in its own short transaction (one large
// transaction would hold its locks and its snapshot, and grow its
// retries, for the whole run), until a batch finds fewer than PruneBatch
// keys or PruneMaxBatches batches have run. It returns how many keys it
// deleted, also when it fails: the batches before the error stay deleted.
func Prune(ctx context.Context, d *db.DB, cutoff time.Time) (int64, error) {
	return prune(ctx, d, cutoff, PruneBatch, PruneMaxBatches)
}

func prune(ctx context.Context, d *db.DB, cutoff time.Time, batch, maxBatches int) (int64, error) {
	var total int64
	for range maxBatches {
		n, err := pruneBatch(ctx, d, cutoff, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys: %w", err)
		}
		if n < int64(batch) {
			break
		}
	}
	return total, nil
}

// pruneBatch deletes up to batch keys created before cutoff, and their
// responses, in one transaction.
func pruneBatch(ctx context.Context, d *db.DB, cutoff time.Time, batch int) (int64, error) {
	var n int64
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			WITH k AS (
				DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
					SELECT tenant_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)
				RETURNING tenant_id, key),
			r AS (
				DELETE FROM idempotency_responses WHERE (tenant_id, key) IN (SELECT tenant_id, key FROM k))
			SELECT count(*) FROM k`, cutoff, batch).Scan(&n)
	})
	return n, err
}
