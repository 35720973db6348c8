// Package outbox writes events in the same transaction as the change they
// describe, lists them for polling, and delivers them to webhook endpoints
// at least once, outside any database transaction.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Limits.
const (
	MaxListLimit  = 500
	MaxEventTypes = 50
)

// ErrNotFound is returned for an event or endpoint that does not exist for
// the tenant.
var ErrNotFound = errors.New("not found")

// Event is a fact that happened, for marketplaces to poll or receive.
type Event struct {
	ID        uuid.UUID       `json:"id"`
	TenantID  uuid.UUID       `json:"-"`
	Type      string          `json:"type"`
	SubjectID string          `json:"subject_id"`
	Payload   json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Emit records an event of type typ about subject with payload (marshalled
// to JSON) in tx, and queues a delivery to every enabled webhook endpoint of
// the tenant subscribed to typ. Event ids are UUIDv7, so they sort by time.
func Emit(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, typ, subject string, payload any, at time.Time) (uuid.UUID, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return uuid.Nil, fmt.Errorf("event %s: marshal: %w", typ, err)
	}
	id := uuid.Must(uuid.NewV7())
	// Held back (db.Send): the event, then its deliveries.
	b := &db.Batch{}
	b.Queue(`INSERT INTO events (id, tenant_id, type, subject_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, tenant, typ, subject, body, at)
	b.Queue(`
		INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, next_attempt_at, created_at)
		SELECT gen_random_uuid(), tenant_id, id, $2, 'pending', $4, $4 FROM webhook_endpoints
		WHERE tenant_id = $1 AND disabled_at IS NULL AND ($3 = ANY (event_types) OR '*' = ANY (event_types))`,
		tenant, id, typ, at)
	if err := db.Send(ctx, tx, b); err != nil {
		return uuid.Nil, fmt.Errorf("event %s: %w", typ, err)
	}
	return id, nil
}

// ListEvents returns a tenant's events after the id after (uuid.Nil for the
// start), optionally of one type, in id order. Not for polling: an event
// committed late can have an id before events already listed (see Poll).
// Only tests call it, and no index serves it (the two it had were dropped,
// migrations 0013 and 0014): it scans the tenant's events.
func ListEvents(ctx context.Context, d *db.DB, tenant uuid.UUID, after uuid.UUID, typ string, limit int) ([]Event, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	rows, err := d.Pool.Query(ctx, `
		SELECT id, tenant_id, type, subject_id, payload, created_at FROM events
		WHERE tenant_id = $1 AND id > $2 AND ($3 = '' OR type = $3)
		ORDER BY id LIMIT $4`, tenant, after, typ, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// GetEvent returns one event of the tenant.
func GetEvent(ctx context.Context, d *db.DB, tenant, id uuid.UUID) (Event, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT id, tenant_id, type, subject_id, payload, created_at FROM events WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if db.IsNoRows(err) {
		return Event{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	return e, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var e Event
	err := row.Scan(&e.ID, &e.TenantID, &e.Type, &e.SubjectID, &e.Payload, &e.CreatedAt)
	return e, err
}
