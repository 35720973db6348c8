package escrow

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// MaxListLimit bounds a page of escrows; MaxTimelineItems a timeline.
const (
	MaxListLimit     = 500
	MaxTimelineItems = 2000
	// MaxPayoutsRead bounds the payouts read for one escrow (a timeline).
	MaxPayoutsRead = 1000
)

// Filter selects escrows of a tenant; empty fields match all.
type Filter struct {
	OrderRef string
	State    State
	SellerID string
	BuyerID  string
	After    uuid.UUID // cursor: the last id of the previous page
	Limit    int
}

// List returns a page of escrows in id order (ids are random: a stable,
// complete order for paging, not creation order).
func (s *Service) List(ctx context.Context, tenant uuid.UUID, f Filter) ([]Escrow, error) {
	if f.Limit <= 0 || f.Limit > MaxListLimit {
		f.Limit = MaxListLimit
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+escrowColumns+` FROM escrows
		WHERE tenant_id = $1 AND id > $2 AND ($3 = '' OR order_ref = $3) AND ($4 = '' OR state = $4)
		  AND ($5 = '' OR seller_id = $5) AND ($6 = '' OR buyer_id = $6)
		ORDER BY id LIMIT $7`, tenant, f.After, f.OrderRef, string(f.State), f.SellerID, f.BuyerID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list escrows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Escrow, error) { return scanEscrow(row) })
	if err != nil {
		return nil, fmt.Errorf("list escrows: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]uuid.UUID, len(out))
	at := make(map[uuid.UUID]int, len(out))
	for i, e := range out {
		ids[i], at[e.ID] = e.ID, i
	}
	rows, err = s.DB.Pool.Query(ctx, `SELECT escrow_id, idx, name, amount, released, refunded, pending FROM escrow_milestones
		WHERE escrow_id = ANY ($1) ORDER BY escrow_id, idx`, ids)
	if err != nil {
		return nil, fmt.Errorf("list escrows: milestones: %w", err)
	}
	var eid uuid.UUID
	var m Milestone
	_, err = pgx.ForEachRow(rows, []any{&eid, &m.Index, &m.Name, &m.Amount, &m.Released, &m.Refunded, &m.Pending}, func() error {
		out[at[eid]].Milestones = append(out[at[eid]].Milestones, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list escrows: milestones: %w", err)
	}
	return out, nil
}

// TimelineItem is one thing that happened to an escrow.
type TimelineItem struct {
	At   time.Time      `json:"at"`
	Kind string         `json:"kind"` // event, funding, payout
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data map[string]any `json:"data"`
}

// TimelineData decodes an event's stored payload for a timeline, which
// every role that reads the escrow sees: the buyer's one-time code of a
// release.confirmation_required event is left out (the marketplace gets
// it in the event itself, by webhook or GET /v1/events).
func TimelineData(typ string, payload []byte) map[string]any {
	var data map[string]any
	_ = json.Unmarshal(payload, &data)
	if typ == "release.confirmation_required" {
		delete(data, "code")
	}
	return data
}

// Timeline lists, in order, an escrow's events (state changes, releases,
// refunds, risk alerts, dispute events), its fundings with their ledger
// entries, and its payouts with their ledger entries and risk decisions.
func (s *Service) Timeline(ctx context.Context, tenant, id uuid.UUID) ([]TimelineItem, error) {
	e, err := load(ctx, s.DB.Pool, tenant, id, false)
	if err != nil {
		return nil, err
	}
	var out []TimelineItem
	rows, err := s.DB.Pool.Query(ctx, `SELECT id, type, payload, created_at FROM events WHERE tenant_id = $1 AND subject_id = $2 ORDER BY id LIMIT $3`,
		tenant, e.ID.String(), MaxTimelineItems)
	if err != nil {
		return nil, fmt.Errorf("escrow %s: timeline: %w", id, err)
	}
	var evID uuid.UUID
	var typ string
	var payload []byte
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&evID, &typ, &payload, &at}, func() error {
		out = append(out, TimelineItem{At: at, Kind: "event", Type: typ, ID: evID.String(), Data: TimelineData(typ, payload)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("escrow %s: timeline: %w", id, err)
	}
	rows, err = s.DB.Pool.Query(ctx, `SELECT id, payment_ref, amount, currency, credited, fx_quote_id, entry_id, created_at FROM escrow_fundings WHERE escrow_id = $1 ORDER BY created_at LIMIT $2`, e.ID, MaxTimelineItems)
	if err != nil {
		return nil, fmt.Errorf("escrow %s: timeline: %w", id, err)
	}
	var fid, entry uuid.UUID
	var quote *uuid.UUID
	var ref, cur string
	var amount, credited decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&fid, &ref, &amount, &cur, &credited, &quote, &entry, &at}, func() error {
		out = append(out, TimelineItem{At: at, Kind: "funding", Type: "ledger.entry", ID: fid.String(), Data: map[string]any{
			"payment_ref": ref, "amount": fmtAmount(amount, cur), "currency": cur, "credited": fmtAmount(credited, e.Currency),
			"fx_quote_id": quote, "ledger_entry_id": entry}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("escrow %s: timeline: %w", id, err)
	}
	ps, err := payoutsOf(ctx, s.DB.Pool, e.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		data := map[string]any{"status": p.Status, "trigger": p.Trigger, "amount": fmtAmount(p.OrderAmount, e.Currency),
			"fee_amount": fmtAmount(p.Fee, e.Currency), "ledger_entry_id": p.EntryID}
		if p.Risk != nil {
			data["risk"] = map[string]any{"decision_id": p.Risk.DecisionID, "decision": p.Risk.Decision, "score": p.Risk.Score, "reasons": p.Risk.Reasons}
		}
		out = append(out, TimelineItem{At: p.CreatedAt, Kind: "payout", Type: p.Kind, ID: p.ID.String(), Data: data})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}
