package disputes

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db"
)

// Detail is a dispute with its offers, evidence and timeline.
type Detail struct {
	Dispute  Dispute
	Offers   []Offer
	Evidence []Evidence
	Timeline []TimelineItem
}

// TimelineItem is one thing that happened to a dispute: an event (the
// dispute's own, and those of its outcome's payouts), an offer, or
// evidence.
type TimelineItem struct {
	At   time.Time      `json:"at"`
	Kind string         `json:"kind"` // event, offer, evidence
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data map[string]any `json:"data"`
}

// Get returns a dispute of tenant with its full timeline.
func (s *Service) Get(ctx context.Context, tenant, id uuid.UUID) (Detail, error) {
	q := s.DB.Pool
	d, err := loadDispute(ctx, q, tenant, id, false)
	if err != nil {
		return Detail{}, err
	}
	out := Detail{Dispute: d}
	if out.Offers, err = offersOf(ctx, q, d.ID); err != nil {
		return Detail{}, err
	}
	if out.Evidence, err = evidenceOf(ctx, q, "dispute_id", d.ID); err != nil {
		return Detail{}, err
	}
	// The dispute's events, and the payout events of its outcome.
	payouts := []string{}
	if r := d.Resolution; r != nil {
		for _, p := range []*uuid.UUID{r.RefundPayoutID, r.ReleasePayoutID} {
			if p != nil {
				payouts = append(payouts, p.String())
			}
		}
	}
	rows, err := q.Query(ctx, `
		SELECT id, type, payload, created_at FROM events
		WHERE tenant_id = $1 AND subject_id = $2
		  AND (payload->>'dispute_id' = $3 OR payload->>'refund_id' = ANY ($4) OR payload->>'release_id' = ANY ($4))
		ORDER BY id LIMIT $5`, tenant, d.EscrowID.String(), d.ID.String(), payouts, MaxTimeline)
	if err != nil {
		return Detail{}, fmt.Errorf("dispute %s: timeline: %w", id, err)
	}
	var evID uuid.UUID
	var typ string
	var payload []byte
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&evID, &typ, &payload, &at}, func() error {
		out.Timeline = append(out.Timeline, TimelineItem{At: at, Kind: "event", Type: typ, ID: evID.String(), Data: escrow.TimelineData(typ, payload)})
		return nil
	})
	if err != nil {
		return Detail{}, fmt.Errorf("dispute %s: timeline: %w", id, err)
	}
	for _, o := range out.Offers {
		out.Timeline = append(out.Timeline, TimelineItem{At: o.CreatedAt, Kind: "offer", Type: "offer." + o.Status, ID: o.ID.String(),
			Data: map[string]any{"by": o.By, "refund_amount": fmtAmount(o.RefundAmount, d.Currency), "note": o.Note, "status": o.Status, "decided_at": o.DecidedAt}})
	}
	for _, e := range out.Evidence {
		out.Timeline = append(out.Timeline, TimelineItem{At: e.CreatedAt, Kind: "evidence", Type: "evidence." + e.Kind, ID: e.ID.String(),
			Data: map[string]any{"party": e.Party, "kind": e.Kind, "description": e.Description, "uri": e.URI, "sha256": e.SHA256}})
	}
	sort.SliceStable(out.Timeline, func(i, j int) bool { return out.Timeline[i].At.Before(out.Timeline[j].At) })
	return out, nil
}

// Filter selects disputes for the agents' queue; empty fields match all.
type Filter struct {
	Status   Status
	Assignee string
	// Overdue: nil all, true only open disputes past their next deadline,
	// false the others.
	Overdue *bool
	// After is the cursor: the position of the last dispute of the
	// previous page.
	After *Cursor
	Limit int
}

// Cursor is a position in the queue (next deadline, id).
type Cursor struct {
	Deadline time.Time `json:"d"`
	ID       uuid.UUID `json:"i"`
}

// CursorOf is the position of d in the queue.
func CursorOf(d Dispute) Cursor { return Cursor{Deadline: deadlineColumn(d), ID: d.ID} }

// List returns a page of the tenant's disputes, the next deadline first
// (closed disputes last).
func (s *Service) List(ctx context.Context, tenant uuid.UUID, f Filter) ([]Dispute, error) {
	if f.Limit <= 0 || f.Limit > MaxListLimit {
		f.Limit = MaxListLimit
	}
	after := Cursor{Deadline: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}
	if f.After != nil {
		after = *f.After
	}
	overdue := ""
	if f.Overdue != nil {
		overdue = fmt.Sprint(*f.Overdue)
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+disputeColumns+` FROM disputes
		WHERE tenant_id = $1 AND (next_deadline_at, id) > ($2, $3) AND ($4 = '' OR status = $4) AND ($5 = '' OR assignee = $5)
		  AND ($6 = '' OR ($6 = 'true') = (status IN ('negotiating', 'under_review') AND next_deadline_at < $7))
		ORDER BY next_deadline_at, id LIMIT $8`,
		tenant, after.Deadline, after.ID, string(f.Status), f.Assignee, overdue, s.Clock.Now(), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list disputes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Dispute, error) { return scanDispute(row) })
	if err != nil {
		return nil, fmt.Errorf("list disputes: %w", err)
	}
	return out, nil
}

// Policy returns the tenant's dispute policy, which new escrows copy.
func (s *Service) Policy(ctx context.Context, tenant uuid.UUID) (escrow.TenantPolicy, error) {
	return escrow.PolicyOf(ctx, s.DB.Pool, tenant)
}

// SetPolicy changes the tenant's dispute policy for escrows created from
// now on; running disputes keep the deadlines their escrow copied.
func (s *Service) SetPolicy(ctx context.Context, tenant uuid.UUID, p escrow.Policy) (escrow.TenantPolicy, error) {
	if err := p.Validate(); err != nil {
		return escrow.TenantPolicy{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (escrow.TenantPolicy, error) {
		return escrow.SetPolicy(ctx, tx, tenant, p, s.Clock.Now())
	})
}
