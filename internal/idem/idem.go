// Package idem stores idempotency keys: the first request with a key runs,
// and its response is stored in the same transaction as its change; later
// requests with the same key replay it.
package idem

import (
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
	// PruneBatch bounds how many expired keys one prune statement deletes.
	PruneBatch = 1000
)

// Errors.
var (
	ErrReused = errors.New("idempotency key reused with a different request")
	ErrInUse  = errors.New("idempotency key in use by a request still running")
	ErrLost   = errors.New("idempotency key taken over by another request")
)

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

// Claim registers key for tenant with the request hash, in its own
// transaction, so a concurrent request with the same key sees it.
func Claim(ctx context.Context, d *db.DB, tenant uuid.UUID, key string, hash []byte, now time.Time) (Begin, error) {
	owner := uuid.Must(uuid.NewV7())
	var out Begin
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		out = Begin{}
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, owner, locked_until, created_at)
			VALUES ($1, $2, $3, 'in_progress', $4, $5, $6) ON CONFLICT (tenant_id, key) DO NOTHING`,
			tenant, key, hash, owner, now.Add(Lease), now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			out.Owner = owner
			return nil
		}
		var storedHash []byte
		var status string
		var lockedUntil time.Time
		var respStatus *int
		var respBody []byte
		err = tx.QueryRow(ctx, `
			SELECT request_hash, status, locked_until, response_status, response_body
			FROM idempotency_keys WHERE tenant_id = $1 AND key = $2`, tenant, key).
			Scan(&storedHash, &status, &lockedUntil, &respStatus, &respBody)
		if err != nil {
			return err
		}
		switch {
		case string(storedHash) != string(hash):
			return ErrReused
		case status == "done" && respStatus != nil:
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
// transaction (the one that made the change). It fails with ErrLost when the
// claim was taken over, which rolls the change back.
func Complete(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, key string, owner uuid.UUID, resp Response) error {
	tag, err := tx.Exec(ctx, `
		UPDATE idempotency_keys SET status = 'done', response_status = $4, response_body = $5
		WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND status = 'in_progress'`,
		tenant, key, owner, resp.Status, resp.Body)
	if err != nil {
		return fmt.Errorf("idempotency key %q: complete: %w", key, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("idempotency key %q: %w", key, ErrLost)
	}
	return nil
}

// Abandon releases a claim whose request failed without a response worth
// replaying (a server error), so the client may retry with the same key.
func Abandon(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, key string, owner uuid.UUID) error {
	_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND status = 'in_progress'`,
		tenant, key, owner)
	if err != nil {
		return fmt.Errorf("idempotency key %q: abandon: %w", key, err)
	}
	return nil
}

// Prune deletes keys created before cutoff, at most PruneBatch per call; it
// returns how many it deleted.
func Prune(ctx context.Context, d *db.DB, cutoff time.Time) (int64, error) {
	var n int64
	err := d.Tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
				SELECT tenant_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`, cutoff, PruneBatch)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
