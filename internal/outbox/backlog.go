package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// The backlog job.
const (
	// JobPlaceBacklog is the periodic job that places the events of
	// tenants that do not poll; PlaceBacklogEvery is its period.
	JobPlaceBacklog   = "outbox.place_backlog"
	PlaceBacklogEvery = time.Minute
	// BacklogAge is how long an event waits unplaced before the job places
	// it: a tenant that polls has its events placed within PlaceEvery, so
	// the job leaves it alone.
	BacklogAge = time.Minute
	// BacklogTenants bounds the tenants one run places the events of, up
	// to sequenceRounds × SequenceBatch each.
	BacklogTenants = 50
)

// PlaceBacklog places the events of up to BacklogTenants tenants that have
// events unplaced since BacklogAge before now, the tenants placed least
// recently first (never placed: first of all), so that with more tenants
// than that every one is reached within a few runs. It returns how many
// events it placed.
//
// Events are placed when their tenant polls (Poll). A tenant that only
// receives webhooks never polls, and without this its events would stay
// unplaced for good: a feed it starts polling one day would first place
// the whole backlog, a few thousand events per poll, and the index range
// every placing reads would grow without bound.
//
// Finding the tenants reads every tenant's row and, through
// events_tenant_seq (tenant_id, seq IS NULL), its unplaced events' index
// entries and rows until one is older than BacklogAge (a tenant that polls
// has few, all recent), at READ COMMITTED; each tenant is then placed as a
// poll would, in its own transactions.
func PlaceBacklog(ctx context.Context, d *db.DB, now time.Time) (int, error) {
	rows, err := d.Pool.Query(ctx, `
		SELECT t.id FROM tenants t LEFT JOIN event_feeds f ON f.tenant_id = t.id
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = t.id AND e.seq IS NULL AND e.created_at <= $1)
		ORDER BY f.placed_at IS NOT NULL, f.placed_at, t.id LIMIT $2`, now.Add(-BacklogAge), BacklogTenants)
	if err != nil {
		return 0, fmt.Errorf("place backlog: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, fmt.Errorf("place backlog: %w", err)
	}
	// One tenant's failure does not stop the others'.
	total := 0
	var errs []error
	for _, tenant := range tenants {
		n, err := sequence(ctx, d, tenant, now)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", tenant, err))
		}
	}
	return total, errors.Join(errs...)
}
