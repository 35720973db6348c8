package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/seal"
	"github.com/escrowd/escrowd/internal/valid"
)

// Delivery limits.
const (
	DeliveryBatch   = 20
	DeliveryTimeout = 10 * time.Second
	// DeliveryLease is how long a worker holds the deliveries it claimed:
	// a whole batch of attempts cut at DeliveryTimeout, with leaseMargin
	// to spare. A worker starts an attempt only if it can end within the
	// lease (less the margin), and releases the rest of its batch when it
	// cannot, so no other worker claims a delivery still being sent.
	DeliveryLease    = 5 * time.Minute
	RetryFor         = 72 * time.Hour // keep retrying a delivery at least this long
	leaseMargin      = time.Minute    // for recording outcomes, and clocks apart between instances
	firstRetryDelay  = 30 * time.Second
	maxRetryDelay    = 6 * time.Hour
	maxErrorTextSize = 500
	// outcomeTimeout bounds recording an attempt's outcome (or releasing
	// a claim), which goes on when the worker's context has ended
	// (shutdown): a delivery made but not recorded would be sent again.
	outcomeTimeout = 10 * time.Second
)

// The lease covers a batch's worst case, and recording an outcome fits in
// the margin (a negative constant does not convert to uint64: these lines
// stop the build when it does not).
const (
	_ = uint64(DeliveryLease - DeliveryBatch*DeliveryTimeout - leaseMargin)
	_ = uint64(leaseMargin - outcomeTimeout)
)

// Deliverer sends pending deliveries to webhook endpoints, at least once.
// Several instances may run side by side: deliveries are claimed with a
// lease and a claim token under FOR UPDATE SKIP LOCKED, HTTP happens
// outside transactions, and an outcome is recorded only under the claim
// that made the attempt.
type Deliverer struct {
	DB    *db.DB
	Clock clock.Clock
	// Client sends the deliveries (nil: NewClient(Options{})). Whatever
	// client is given, redirects are not followed: a 3xx is a failed
	// attempt. Only NewClient's checks the addresses it connects to.
	Client *http.Client
	Log    *slog.Logger
	// Secrets opens sealed signing secrets (Store.Secrets' key).
	Secrets *seal.Box
}

type claimed struct {
	id, eventID, endpointID uuid.UUID
	url, secret             string
	event                   Event
	// disabled: the endpoint was disabled when the batch was loaded.
	disabled bool
}

// notSent is the last_error of a delivery failed unattempted because its
// endpoint was disabled (DisableEndpoint).
const notSent = "not sent: the endpoint was disabled"

// RetryDelay is the pause after the n-th failed attempt (n from 1):
// exponential from 30 s, capped at 6 h.
func RetryDelay(n int) time.Duration {
	d := firstRetryDelay
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// RunOnce delivers up to DeliveryBatch due deliveries and returns how many
// it attempted or failed unattempted (their endpoint was disabled: see
// dropDisabled), and the outcomes it could not record (see below).
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	now := d.Clock.Now()
	claim := uuid.New()
	leaseEnd := now.Add(DeliveryLease)
	var ids []uuid.UUID
	err := d.DB.Tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1)
			ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, DeliveryBatch)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET locked_until = $2, claim = $3 WHERE id = ANY ($1)`, ids, leaseEnd, claim)
		return err
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	rows, err := d.DB.Pool.Query(ctx, `
		SELECT w.id, w.event_id, w.endpoint_id, ep.url, ep.secret, ep.disabled_at IS NOT NULL,
		       e.id, e.tenant_id, e.type, e.subject_id, e.payload, e.created_at
		FROM webhook_deliveries w
		JOIN webhook_endpoints ep ON ep.id = w.endpoint_id
		JOIN events e ON e.id = w.event_id
		WHERE w.id = ANY ($1) AND w.claim = $2`, ids, claim)
	if err != nil {
		return 0, fmt.Errorf("load deliveries: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := row.Scan(&c.id, &c.eventID, &c.endpointID, &c.url, &c.secret, &c.disabled,
			&c.event.ID, &c.event.TenantID, &c.event.Type, &c.event.SubjectID, &c.event.Payload, &c.event.CreatedAt)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("load deliveries: %w", err)
	}
	client := withoutRedirects(d.Client)
	// An outcome that cannot be recorded does not stop the batch: the
	// delivery stays claimed until its lease ends, then is attempted
	// again, and the others are still sent. Stopping would leave them
	// claimed too, and a delivery whose outcome never records (it comes
	// first by next_attempt_at) would hold back every delivery behind it.
	var errs []error
	batch, done, err := d.dropDisabled(ctx, batch, claim)
	if err != nil {
		errs = append(errs, err)
	}
	for i, c := range batch {
		// Not attempted: what the lease has no room for, and, once ctx
		// has ended (shutdown), the rest of the batch, which would only
		// fail at once and count as attempts.
		if ctx.Err() != nil || d.Clock.Now().Add(DeliveryTimeout+leaseMargin).After(leaseEnd) {
			errs = append(errs, d.release(ctx, batch[i:], claim))
			return done, errors.Join(errs...)
		}
		if i > 0 {
			// The batch was loaded up to a lease ago: the endpoint may
			// have been disabled since (one indexed read an attempt).
			off, err := d.endpointDisabled(ctx, c.endpointID)
			switch {
			case err != nil && ctx.Err() != nil:
				errs = append(errs, d.release(ctx, batch[i:], claim))
				return done, errors.Join(errs...)
			case err != nil:
				// Left claimed until its lease ends, as an outcome not
				// recorded.
				errs = append(errs, fmt.Errorf("delivery %s of event %s: endpoint: %w", c.id, c.eventID, err))
				continue
			case off:
				if err := d.failDisabled(ctx, []claimed{c}, claim); err != nil {
					errs = append(errs, err)
					continue
				}
				done++
				continue
			}
		}
		status, derr := d.post(ctx, client, c)
		if derr != nil && ctx.Err() != nil && errors.Is(derr, ctx.Err()) {
			// Cut off by our own shutdown, not answered: no attempt of
			// the endpoint's to count (at the end of the retry window it
			// would fail the delivery for good), so it goes back with
			// the rest.
			errs = append(errs, d.release(ctx, batch[i:], claim))
			return done, errors.Join(errs...)
		}
		done++
		if err := d.record(ctx, c, claim, status, derr); err != nil {
			errs = append(errs, fmt.Errorf("delivery %s of event %s: outcome not recorded: %w", c.id, c.eventID, err))
		}
	}
	return done, errors.Join(errs...)
}

// dropDisabled fails, unattempted and in one statement, the deliveries of
// batch whose endpoint was disabled when it was loaded, and returns the
// rest and how many it failed. They are failed, not skipped: a pending
// delivery to a disabled endpoint would be claimed again and again, and
// a disabled endpoint is never enabled again. When the update fails they
// stay claimed until the lease ends, and are dropped from the batch all
// the same.
func (d *Deliverer) dropDisabled(ctx context.Context, batch []claimed, claim uuid.UUID) ([]claimed, int, error) {
	var off, on []claimed
	for _, c := range batch {
		if c.disabled {
			off = append(off, c)
		} else {
			on = append(on, c)
		}
	}
	if len(off) == 0 {
		return batch, 0, nil
	}
	if err := d.failDisabled(ctx, off, claim); err != nil {
		return on, 0, err
	}
	return on, len(off), nil
}

// endpointDisabled reports whether an endpoint is disabled now.
func (d *Deliverer) endpointDisabled(ctx context.Context, endpoint uuid.UUID) (bool, error) {
	var off bool
	err := d.DB.Pool.QueryRow(ctx, `SELECT disabled_at IS NOT NULL FROM webhook_endpoints WHERE id = $1`, endpoint).Scan(&off)
	return off, err
}

// failDisabled marks deliveries claimed under claim failed for good,
// unattempted, with notSent as their last error, and releases them.
func (d *Deliverer) failDisabled(ctx context.Context, cs []claimed, claim uuid.UUID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	ids := claimedIDs(cs)
	err := d.DB.Tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE webhook_deliveries SET status = 'failed', last_error = $3, locked_until = NULL, claim = NULL
			WHERE id = ANY ($1) AND claim = $2`, ids, claim, notSent)
		return err
	})
	if err != nil {
		return fmt.Errorf("%d deliveries to disabled endpoints: not failed: %w", len(ids), err)
	}
	if d.Log != nil {
		d.Log.Info("webhook deliveries to disabled endpoints failed unattempted", "count", len(ids))
	}
	return nil
}

// claimedIDs are the ids of the claimed deliveries cs.
func claimedIDs(cs []claimed) []uuid.UUID {
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.id
	}
	return ids
}

// release gives back the deliveries of a batch that a worker will not
// attempt, for any worker to claim at once, also when ctx has ended.
func (d *Deliverer) release(ctx context.Context, rest []claimed, claim uuid.UUID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	ids := claimedIDs(rest)
	return d.DB.Tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET locked_until = NULL, claim = NULL WHERE id = ANY ($1) AND claim = $2`, ids, claim)
		return err
	})
}

// post sends one event; it runs outside any transaction. A signing secret
// that does not open (sealed under another key, or no key configured)
// fails the attempt, which is retried like any other.
func (d *Deliverer) post(ctx context.Context, client *http.Client, c claimed) (int, error) {
	secret, err := d.Secrets.Open(c.secret, secretContext(c.endpointID))
	if err != nil {
		return 0, fmt.Errorf("endpoint %s: signing secret: %w", c.endpointID, err)
	}
	body, err := json.Marshal(c.event)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "escrowd-webhooks/1")
	req.Header.Set("Escrowd-Event-Id", c.event.ID.String())
	req.Header.Set("Escrowd-Signature", Sign(secret, d.Clock.Now(), body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d (to %q): %w", resp.StatusCode, resp.Header.Get("Location"), errRedirect)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// record stores the outcome of an attempt made under claim, counted on the
// delivery as it is now (a redelivery may have reset its attempts and
// window while the attempt ran). When another worker has claimed the
// delivery since (this one's lease ran out), the outcome is dropped: the
// newer claim's stands. The outcome is recorded also when ctx has ended
// (see outcomeTimeout).
func (d *Deliverer) record(ctx context.Context, c claimed, claim uuid.UUID, status int, derr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	now := d.Clock.Now()
	var stale bool
	var attempts int      // of the attempt recorded
	var state, msg string // of a failed one
	err := d.DB.Tx(ctx, func(tx pgx.Tx) error {
		state = ""
		var created time.Time
		err := tx.QueryRow(ctx, `SELECT attempts, created_at FROM webhook_deliveries WHERE id = $1 AND claim = $2 FOR UPDATE`, c.id, claim).
			Scan(&attempts, &created)
		if stale = db.IsNoRows(err); stale {
			return nil
		}
		if err != nil {
			return err
		}
		attempts++
		if derr == nil {
			_, err := tx.Exec(ctx, `
				UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, last_status = $3, last_error = '',
					delivered_at = $4, locked_until = NULL, claim = NULL WHERE id = $1`, c.id, attempts, status, now)
			return err
		}
		// The error can quote the endpoint (a redirect's Location, a
		// URL): any text, made storable.
		msg = valid.StorableText(derr.Error(), maxErrorTextSize)
		// Retried until an attempt is made at or after the end of the
		// window: when the next backoff would pass that end, the last
		// attempt is scheduled at the end itself.
		next := now.Add(RetryDelay(attempts))
		end := created.Add(RetryFor)
		state = "pending"
		switch {
		case !now.Before(end):
			state = "failed"
		case next.After(end):
			next = end
		}
		_, err = tx.Exec(ctx, `
			UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5,
				next_attempt_at = $6, locked_until = NULL, claim = NULL WHERE id = $1`, c.id, state, attempts, status, msg, next)
		return err
	})
	// Logged once, after the transaction, which may have run more than
	// once.
	switch {
	case d.Log == nil || err != nil:
	case stale:
		d.Log.Warn("webhook delivery outcome dropped: claimed by another worker since", "delivery", c.id, "event", c.eventID, "err", derr)
	case state != "":
		d.Log.Warn("webhook delivery failed", "delivery", c.id, "event", c.eventID, "attempt", attempts, "final", state == "failed", "err", msg)
	}
	return err
}

// Loop runs RunOnce every interval until ctx ends.
func (d *Deliverer) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil && d.Log != nil {
				d.Log.Error("webhook deliveries", "err", err)
			}
			if n < DeliveryBatch || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
