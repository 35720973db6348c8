package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Feed limits.
const (
	// SequenceBatch is how many events one transaction places in a feed.
	SequenceBatch = 1000
	// sequenceRounds bounds the placing transactions of one poll: a
	// backlog longer than that (events of a tenant nobody polled, or
	// written before feeds existed) is placed over the next polls.
	sequenceRounds = 5
	// PlaceEvery is the least time between two placings of a tenant's
	// events (see sequence): an event comes into the feed up to that long
	// after it commits, and a tenant's pollers, however busy, run at most
	// one placing transaction per PlaceEvery between them.
	PlaceEvery = time.Second
)

// A tenant's feed is its events in the order their transactions committed,
// which is not the order of their ids: an id (UUIDv7) is made when the
// event is written, and a transaction that wrote an event can commit after
// another that wrote a newer one. A cursor over ids can therefore pass an
// event that commits later, and the poller never sees it. So an event gets
// its place in the feed (events.seq) only once it has committed: before
// answering, a poll places the tenant's committed events that have none,
// after the last place given (sequence), unless they were placed less than
// PlaceEvery ago. Placing transactions take turns on the tenant's
// event_feeds row, so places become visible in order: a reader that sees a
// place sees every smaller one, and a cursor never passes an event it has
// not been shown. Events of a tenant that does not poll are placed by
// PlaceBacklog, a periodic job.

// Cursor is where a poll of a feed starts: after the place Seq (0: from
// the start), or, when After is set, after that event's place.
type Cursor struct {
	Seq   int64
	After uuid.UUID
	// ByID makes After any id (GET /v1/events?after=, which meant "the
	// events with a greater id" before the feed was in commit order): one
	// that is none of the tenant's events starts the feed just before
	// the first placed event with a greater id (see startAfterID).
	// Without it, After must be one of the tenant's events (a cursor).
	ByID bool
}

// FeedPage is one poll's answer.
type FeedPage struct {
	Events []Event
	// Next is where the next poll starts: after the last event of this
	// page, or where this poll started when it has none. It is still an
	// event id (After) when that event had no place yet: events written
	// before feeds existed are placed a few thousand per poll, oldest
	// first.
	Next Cursor
}

// Poll answers up to limit of tenant's events of type typ ("" for all)
// after from, in feed order, at now; from.After must be an event of the
// tenant (ErrNotFound otherwise) unless from.ByID.
func Poll(ctx context.Context, d *db.DB, tenant uuid.UUID, from Cursor, typ string, limit int, now time.Time) (FeedPage, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	if _, err := sequence(ctx, d, tenant, now); err != nil {
		return FeedPage{}, err
	}
	if from.After != uuid.Nil {
		var seq *int64
		err := d.Pool.QueryRow(ctx, `SELECT seq FROM events WHERE tenant_id = $1 AND id = $2`, tenant, from.After).Scan(&seq)
		switch {
		case db.IsNoRows(err) && from.ByID:
			start, err := startAfterID(ctx, d, tenant, from.After)
			if err != nil {
				return FeedPage{}, fmt.Errorf("poll events: %w", err)
			}
			from = Cursor{Seq: start}
		case db.IsNoRows(err):
			return FeedPage{}, fmt.Errorf("event %s: %w", from.After, ErrNotFound)
		case err != nil:
			return FeedPage{}, fmt.Errorf("poll events: %w", err)
		case seq == nil:
			return FeedPage{Events: []Event{}, Next: from}, nil
		default:
			from = Cursor{Seq: *seq}
		}
	}
	const cols = `SELECT id, tenant_id, type, subject_id, payload, created_at, seq FROM events`
	var rows pgx.Rows
	var err error
	if typ == "" {
		rows, err = d.Pool.Query(ctx, cols+` WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenant, from.Seq, limit)
	} else {
		rows, err = d.Pool.Query(ctx, cols+` WHERE tenant_id = $1 AND type = $2 AND seq > $3 ORDER BY seq LIMIT $4`, tenant, typ, from.Seq, limit)
	}
	if err != nil {
		return FeedPage{}, fmt.Errorf("poll events: %w", err)
	}
	type placed struct {
		Event
		seq int64
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (placed, error) {
		var p placed
		err := row.Scan(&p.ID, &p.TenantID, &p.Type, &p.SubjectID, &p.Payload, &p.CreatedAt, &p.seq)
		return p, err
	})
	if err != nil {
		return FeedPage{}, fmt.Errorf("poll events: %w", err)
	}
	page := FeedPage{Events: make([]Event, len(evs)), Next: from}
	for i, p := range evs {
		page.Events[i] = p.Event
		page.Next.Seq = p.seq
	}
	return page, nil
}

// startAfterID is where the feed starts for "the events with an id greater
// than id", id being none of tenant's events: just before the first placed
// event with a greater id, or, when none is placed, at the end of the feed.
// Either way no event with a greater id is passed: those placed have a
// place after the start, and those not placed yet will get one after every
// place given. Events with a smaller id placed after the start (committed
// late) are served too. One statement, so one snapshot: the places it sees
// are 1..n (placing transactions take turns, see sequence), and the two
// reads agree. It scans the feed in order up to the first event with a
// greater id, or the events after id: meant for a poller's first request
// (an id made from a time), whose next_cursor is then a place.
func startAfterID(ctx context.Context, d *db.DB, tenant, id uuid.UUID) (int64, error) {
	var start int64
	err := d.Pool.QueryRow(ctx, `
		SELECT COALESCE(
			(SELECT min(seq) - 1 FROM events WHERE tenant_id = $1 AND id > $2),
			(SELECT COALESCE(max(seq), 0) FROM events WHERE tenant_id = $1))`, tenant, id).Scan(&start)
	return start, err
}

// sequence places tenant's committed events that have no place in its feed
// yet, oldest id first, after the last place given: up to SequenceBatch
// per transaction, sequenceRounds transactions. It places nothing when the
// tenant's events were placed less than PlaceEvery before now. It returns
// how many it placed.
//
// Placing is a SERIALIZABLE write, and on PostgreSQL its reads take SSI
// predicate locks, which last until every transaction that overlapped it
// has ended. Any of them that inserts into a page it read gets an
// rw-dependency from it, and one that also has an rw-dependency out to a
// transaction that committed first (it read a row that one then updated:
// a balance, a setting) is aborted with 40001 and retried by db.Tx. So
// the placing transaction reads as little as it can: the tenant's
// event_feeds row first (placers of a tenant take turns there, before
// reading any event), then the tenant's unplaced events at the end of its
// own range of events_tenant_seq (PostgreSQL sorts NULLs last; CockroachDB
// sorts them first, at the start of the range, and takes no predicate
// locks, so there it does not matter), which other tenants' events are not
// written to once the index spans more than a page or two (they were in
// the partial index events_unsequenced, one page for everyone: 0012); and
// PlaceEvery bounds how often it runs. What remains: a write of another
// tenant whose event lands on the same leaf page (small tables; tenants
// next to each other in tenant_id order) or any write while the heap or
// index predicate locks of a large batch have been promoted to a lock on
// the whole relation (max_pred_locks_per_relation) can still be aborted
// and retried; placing transactions run at most once per PlaceEvery per
// tenant.
func sequence(ctx context.Context, d *db.DB, tenant uuid.UUID, now time.Time) (int, error) {
	total := 0
	for round := range sequenceRounds {
		// Looked for outside a transaction first: a poll with nothing to
		// place, or within PlaceEvery of the last placing, writes nothing
		// and takes no predicate lock.
		var pending bool
		var placedAt *time.Time
		if err := d.Pool.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = $1 AND seq IS NULL),
			       (SELECT placed_at FROM event_feeds WHERE tenant_id = $1)`, tenant).Scan(&pending, &placedAt); err != nil {
			return total, fmt.Errorf("place events: %w", err)
		}
		if !pending || round == 0 && placedRecently(placedAt, now) {
			return total, nil
		}
		var n int
		err := d.Tx(ctx, func(tx pgx.Tx) error {
			n = 0
			// The tenant's row first, locked (and made on first use):
			// placing transactions of the tenant take turns from here,
			// a concurrent one failing to serialize and running again
			// after this one, having read no event yet.
			var last int64
			var placedAt *time.Time
			if err := tx.QueryRow(ctx, `
				INSERT INTO event_feeds (tenant_id, last_seq) VALUES ($1, 0)
				ON CONFLICT (tenant_id) DO UPDATE SET last_seq = event_feeds.last_seq RETURNING last_seq, placed_at`, tenant).
				Scan(&last, &placedAt); err != nil {
				return err
			}
			if round == 0 && placedRecently(placedAt, now) {
				return nil // another poll placed them meanwhile
			}
			rows, err := tx.Query(ctx, `SELECT id FROM events WHERE tenant_id = $1 AND seq IS NULL ORDER BY id LIMIT $2`, tenant, SequenceBatch)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			if err != nil || len(ids) == 0 {
				return err
			}
			// Reached through the same range of events_tenant_seq (seq
			// IS NULL), not the primary key, whose right-most page holds
			// every tenant's newest events.
			tag, err := tx.Exec(ctx, `
				UPDATE events SET seq = $3::INT8 + u.n FROM unnest($2::UUID[]) WITH ORDINALITY AS u (id, n)
				WHERE events.tenant_id = $1 AND events.seq IS NULL AND events.id = u.id`, tenant, ids, last)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != int64(len(ids)) {
				return fmt.Errorf("placed %d of %d events read in the same transaction", tag.RowsAffected(), len(ids))
			}
			n = len(ids)
			_, err = tx.Exec(ctx, `UPDATE event_feeds SET last_seq = $2, placed_at = $3 WHERE tenant_id = $1`, tenant, last+int64(n), now)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("place events: %w", err)
		}
		total += n
		if n < SequenceBatch {
			return total, nil
		}
	}
	return total, nil
}

// placedRecently reports whether a placing at placedAt is less than
// PlaceEvery before now (a clock behind another instance's counts as
// recent, for at most the difference).
func placedRecently(placedAt *time.Time, now time.Time) bool {
	return placedAt != nil && now.Sub(*placedAt) < PlaceEvery
}
