package outbox

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/seal"
)

// Store is the service behind the events and webhook-endpoint routes.
type Store struct {
	DB    *db.DB
	Clock clock.Clock
	// Secrets seals webhook signing secrets (nil: stored plain).
	Secrets *seal.Box
	// Options say which URLs endpoints may name; the Deliverer's client
	// must be made with the same (NewClient).
	Options Options
}

// Redelivered says how many deliveries an event redelivery queued.
type Redelivered struct {
	EventID uuid.UUID `json:"event_id"`
	Queued  int64     `json:"queued"`
}

// ResourceID names the event for the audit log.
func (r Redelivered) ResourceID() string { return r.EventID.String() }

// ResourceID names the endpoint for the audit log.
func (e Endpoint) ResourceID() string { return e.ID.String() }

// ValidateEndpoint checks an endpoint's URL and event types under s's
// Options.
func (s *Store) ValidateEndpoint(url string, types []string) (field, msg string) {
	return ValidateEndpoint(url, types, s.Options)
}

// CreateEndpoint registers a webhook endpoint for tenant.
func (s *Store) CreateEndpoint(ctx context.Context, tenant uuid.UUID, url string, types []string) (Endpoint, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Endpoint, error) {
		return CreateEndpoint(ctx, tx, s.Secrets, s.Options, tenant, url, types, s.Clock.Now())
	})
}

// DisableEndpoint disables tenant's endpoint id (see DisableEndpoint).
func (s *Store) DisableEndpoint(ctx context.Context, tenant, id uuid.UUID) (Endpoint, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Endpoint, error) {
		return DisableEndpoint(ctx, tx, tenant, id, s.Clock.Now())
	})
}

// Redeliver queues an event of tenant for delivery again.
func (s *Store) Redeliver(ctx context.Context, tenant, eventID uuid.UUID) (Redelivered, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Redelivered, error) {
		n, err := Redeliver(ctx, tx, tenant, eventID, s.Clock.Now())
		return Redelivered{EventID: eventID, Queued: n}, err
	})
}

// Poll answers tenant's events after from in its feed, optionally of one
// type.
func (s *Store) Poll(ctx context.Context, tenant uuid.UUID, from Cursor, typ string, limit int) (FeedPage, error) {
	return Poll(ctx, s.DB, tenant, from, typ, limit, s.Clock.Now())
}

// PlaceBacklog places the events of tenants that do not poll (the
// periodic job JobPlaceBacklog; see PlaceBacklog).
func (s *Store) PlaceBacklog(ctx context.Context) (int, error) {
	return PlaceBacklog(ctx, s.DB, s.Clock.Now())
}

// GetEvent returns one event of tenant.
func (s *Store) GetEvent(ctx context.Context, tenant, id uuid.UUID) (Event, error) {
	return GetEvent(ctx, s.DB, tenant, id)
}

// ListEndpoints lists a page of tenant's endpoints: at most limit, after
// the id after (see ListEndpoints).
func (s *Store) ListEndpoints(ctx context.Context, tenant, after uuid.UUID, limit int) ([]Endpoint, error) {
	return ListEndpoints(ctx, s.DB, tenant, after, limit)
}
