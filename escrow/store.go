package escrow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

const escrowColumns = `id, tenant_id, order_ref, state, COALESCE(state_before_dispute, ''), buyer, seller, currency, amount, fee_total, buyer_fee,
	funded_amount, released_amount, refunded_amount, pending_amount, fee_collected, buyer_fee_parts, seller_fee_parts, terms, fees, policy, risk_context, metadata,
	shipment, ledger_account_id, version, created_at, updated_at, funding_deadline_at, funded_at, shipped_at, delivered_at,
	inspection_ends_at, closed_at`

func scanEscrow(row pgx.Row) (Escrow, error) {
	var e Escrow
	var state, before string
	var buyer, seller, terms, fees, policy, rc, md, ship []byte
	err := row.Scan(&e.ID, &e.TenantID, &e.OrderRef, &state, &before, &buyer, &seller, &e.Currency, &e.Amount, &e.FeeTotal, &e.BuyerFee,
		&e.Funded, &e.Released, &e.Refunded, &e.Pending, &e.FeeCollect, &e.BuyerFeeParts, &e.SellerFeeParts, &terms, &fees, &policy, &rc, &md,
		&ship, &e.AccountID, &e.Version, &e.CreatedAt, &e.UpdatedAt, &e.FundingDeadlineAt, &e.FundedAt, &e.ShippedAt, &e.DeliveredAt,
		&e.InspectionEndsAt, &e.ClosedAt)
	if err != nil {
		return Escrow{}, err
	}
	e.State, e.StateBeforeDispute = State(state), State(before)
	for _, f := range []struct {
		b []byte
		v any
	}{{buyer, &e.Buyer}, {seller, &e.Seller}, {terms, &e.Terms}, {fees, &e.Fees}, {policy, &e.Policy}, {rc, &e.RiskContext}, {md, &e.Metadata}} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return Escrow{}, fmt.Errorf("escrow %s: decode: %w", e.ID, err)
		}
	}
	if ship != nil {
		e.Shipment = &Shipment{}
		if err := json.Unmarshal(ship, e.Shipment); err != nil {
			return Escrow{}, fmt.Errorf("escrow %s: decode shipment: %w", e.ID, err)
		}
	}
	return e, nil
}

// load reads one escrow of tenant with its milestones; lock takes a row
// lock so that concurrent actions on the escrow queue instead of retrying.
//
// The row is read by its primary key alone and the tenant compared here
// (docs/architecture.md, "Point reads", says why).
//
// The escrow and its milestones are read in one round trip.
func load(ctx context.Context, q db.Querier, tenant, id uuid.UUID, lock bool) (Escrow, error) {
	sql := `SELECT ` + escrowColumns + ` FROM escrows WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	b := &pgx.Batch{}
	b.Queue(sql, id)
	b.Queue(`SELECT idx, name, amount, released, refunded, pending FROM escrow_milestones WHERE escrow_id = $1 ORDER BY idx`, id)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	e, err := scanEscrow(br.QueryRow())
	if db.IsNoRows(err) || (err == nil && e.TenantID != tenant) {
		return Escrow{}, fmt.Errorf("escrow %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Escrow{}, fmt.Errorf("escrow %s: load: %w", id, err)
	}
	rows, err := br.Query()
	if err == nil {
		e.Milestones, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Milestone, error) {
			var m Milestone
			err := row.Scan(&m.Index, &m.Name, &m.Amount, &m.Released, &m.Refunded, &m.Pending)
			return m, err
		})
	}
	if err == nil {
		err = br.Close()
	}
	if err != nil {
		return Escrow{}, fmt.Errorf("escrow %s: milestones: %w", id, err)
	}
	e.stored = slices.Clone(e.Milestones)
	return e, nil
}

// insertEscrow inserts e and its milestones; an existing order_ref of the
// tenant gives a DuplicateOrderRefError naming the existing escrow.
func insertEscrow(ctx context.Context, tx pgx.Tx, e Escrow) error {
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	tag, err := tx.Exec(ctx, `
		INSERT INTO escrows (id, tenant_id, order_ref, state, buyer, seller, buyer_id, seller_id, currency, amount, fee_total, buyer_fee,
			terms, fees, policy, risk_context, metadata, ledger_account_id, version, created_at, updated_at, funding_deadline_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1, $19, $19, $20)
		ON CONFLICT (tenant_id, order_ref) DO NOTHING`,
		e.ID, e.TenantID, e.OrderRef, string(e.State), js(e.Buyer), js(e.Seller), e.Buyer.ID, e.Seller.ID, e.Currency, e.Amount, e.FeeTotal, e.BuyerFee,
		js(e.Terms), js(e.Fees), js(e.Policy), js(nonNil(e.RiskContext)), js(nonNil(e.Metadata)), e.AccountID, e.CreatedAt, e.FundingDeadlineAt)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		var existing uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM escrows WHERE tenant_id = $1 AND order_ref = $2`, e.TenantID, e.OrderRef).Scan(&existing); err != nil {
			return err
		}
		return &DuplicateOrderRefError{OrderRef: e.OrderRef, ExistingID: existing}
	}
	b := &db.Batch{}
	for _, m := range e.Milestones {
		b.Queue(`INSERT INTO escrow_milestones (escrow_id, idx, name, amount) VALUES ($1, $2, $3, $4)`, e.ID, m.Index, m.Name, m.Amount)
	}
	if err := db.Send(ctx, tx, b); err != nil {
		return fmt.Errorf("escrow %s: milestones: %w", e.ID, err)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// save writes e's mutable fields and the milestones that changed since
// load back, guarded on the version it was loaded with (the update fails in
// the database otherwise: db.MustChange), and bumps the version. The writes
// are held back (db.Send) and go with the transaction's next statement or
// its COMMIT.
func save(ctx context.Context, tx pgx.Tx, e *Escrow, now time.Time) error {
	var ship []byte
	if e.Shipment != nil {
		ship, _ = json.Marshal(e.Shipment)
	}
	var before *string
	if e.StateBeforeDispute != "" {
		s := string(e.StateBeforeDispute)
		before = &s
	}
	b := &db.Batch{}
	b.QueueMap(func(err error) error {
		if db.NothingChanged(err) {
			return fmt.Errorf("escrow %s: save: %w", e.ID, ErrVersionMismatch)
		}
		return err
	}, db.MustChange(`
		UPDATE escrows SET state = $3, state_before_dispute = $4, funded_amount = $5, released_amount = $6, refunded_amount = $7,
			pending_amount = $8, fee_collected = $9, shipment = $10, funded_at = $11, shipped_at = $12, delivered_at = $13,
			inspection_ends_at = $14, closed_at = $15, version = version + 1, updated_at = $16,
			buyer_fee_parts = $17, seller_fee_parts = $18
		WHERE id = $1 AND version = $2`),
		e.ID, e.Version, string(e.State), before, e.Funded, e.Released, e.Refunded, e.Pending, e.FeeCollect, ship,
		e.FundedAt, e.ShippedAt, e.DeliveredAt, e.InspectionEndsAt, e.ClosedAt, now, e.BuyerFeeParts, e.SellerFeeParts)
	for i, m := range e.Milestones {
		if i < len(e.stored) && e.stored[i].sameAmounts(m) {
			continue
		}
		b.Queue(`UPDATE escrow_milestones SET released = $3, refunded = $4, pending = $5 WHERE escrow_id = $1 AND idx = $2`,
			e.ID, m.Index, m.Released, m.Refunded, m.Pending)
	}
	if err := db.Send(ctx, tx, b); err != nil {
		return fmt.Errorf("escrow %s: save: %w", e.ID, err)
	}
	if err := writeNews(ctx, tx, e, now); err != nil {
		return err
	}
	e.stored = slices.Clone(e.Milestones)
	e.Version++
	e.UpdatedAt = now
	return nil
}

const payoutColumns = `id, tenant_id, escrow_id, kind, trigger, milestone_idx, order_amount, gross, fee, buyer_fee_part, seller_fee_part,
	net, allocation, status, reason, decision_id, review_id, entry_id, created_at, updated_at, risk`

func scanPayout(row pgx.Row) (Payout, error) {
	var p Payout
	var alloc, rs []byte
	var idx *int64
	err := row.Scan(&p.ID, &p.TenantID, &p.EscrowID, &p.Kind, &p.Trigger, &idx, &p.OrderAmount, &p.Gross, &p.Fee, &p.BuyerFeePart,
		&p.SellerFeePart, &p.Net, &alloc, &p.Status, &p.Reason, &p.DecisionID, &p.ReviewID, &p.EntryID, &p.CreatedAt, &p.UpdatedAt, &rs)
	if err != nil {
		return Payout{}, err
	}
	if rs != nil {
		p.Risk = &RiskSummary{}
		if err := json.Unmarshal(rs, p.Risk); err != nil {
			return Payout{}, fmt.Errorf("payout %s: risk: %w", p.ID, err)
		}
	}
	if idx != nil {
		i := int(*idx)
		p.MilestoneIdx = &i
	}
	if err := json.Unmarshal(alloc, &p.Allocation); err != nil {
		return Payout{}, fmt.Errorf("payout %s: allocation: %w", p.ID, err)
	}
	return p, nil
}

// insertPayout stores a new payout; the insert is held back (db.Send).
func insertPayout(ctx context.Context, tx pgx.Tx, p Payout) error {
	alloc, _ := json.Marshal(p.Allocation)
	var rs []byte
	if p.Risk != nil {
		rs, _ = json.Marshal(p.Risk)
	}
	err := db.Later(ctx, tx, `
		INSERT INTO escrow_payouts (`+payoutColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20)`,
		p.ID, p.TenantID, p.EscrowID, p.Kind, p.Trigger, p.MilestoneIdx, p.OrderAmount, p.Gross, p.Fee, p.BuyerFeePart, p.SellerFeePart,
		p.Net, alloc, p.Status, p.Reason, p.DecisionID, p.ReviewID, p.EntryID, p.CreatedAt, rs)
	if err != nil {
		return fmt.Errorf("payout %s: insert: %w", p.ID, err)
	}
	return nil
}

// PayoutFeeParts recomputes from an escrow's payouts the fee parts its row
// carries (Escrow.BuyerFeeParts, SellerFeeParts), for audits and tests.
func PayoutFeeParts(ctx context.Context, q db.Querier, escrowID uuid.UUID) (buyer, seller decimal.Decimal, err error) {
	err = q.QueryRow(ctx, `
		SELECT COALESCE(sum(buyer_fee_part), 0), COALESCE(sum(seller_fee_part), 0) FROM escrow_payouts
		WHERE escrow_id = $1 AND status IN ('completed', 'pending_review', 'awaiting_confirmation')`, escrowID).Scan(&buyer, &seller)
	if err != nil {
		return decimal.Decimal{}, decimal.Decimal{}, fmt.Errorf("escrow %s: fee parts: %w", escrowID, err)
	}
	return buyer, seller, nil
}

// setPayoutStatus moves p from status from to p.Status; the update is held
// back (db.Send) and fails in the database when p is no longer in from.
func setPayoutStatus(ctx context.Context, tx pgx.Tx, p Payout, from string, now time.Time) error {
	b := &db.Batch{}
	b.QueueMap(func(err error) error {
		if db.NothingChanged(err) {
			return fmt.Errorf("payout %s: status changed concurrently: %w", p.ID, ErrPayoutNotAwaiting)
		}
		return fmt.Errorf("payout %s: status: %w", p.ID, err)
	}, db.MustChange(`UPDATE escrow_payouts SET status = $3, review_id = $4, entry_id = $5, updated_at = $6 WHERE id = $1 AND status = $2`),
		p.ID, from, p.Status, p.ReviewID, p.EntryID, now)
	return db.Send(ctx, tx, b)
}

func loadPayout(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Payout, error) {
	p, err := scanPayout(q.QueryRow(ctx, `SELECT `+payoutColumns+` FROM escrow_payouts WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if db.IsNoRows(err) {
		return Payout{}, fmt.Errorf("payout %s: %w", id, ErrReleaseNotFound)
	}
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: %w", id, err)
	}
	return p, nil
}

// waitingClosingRefund finds a refund of e that closes it (a trigger of
// closedBy) and waits for a review or a confirmation: its id and trigger,
// ok false when there is none. An escrow with nothing pending has none and
// costs no read.
func waitingClosingRefund(ctx context.Context, tx pgx.Tx, e Escrow) (id uuid.UUID, trigger string, ok bool, err error) {
	if !e.Pending.IsPositive() {
		return uuid.Nil, "", false, nil
	}
	err = tx.QueryRow(ctx, `
		SELECT id, trigger FROM escrow_payouts
		WHERE escrow_id = $1 AND kind = $2 AND status IN ($3, $4) AND trigger = ANY ($5)
		ORDER BY created_at, id LIMIT 1`,
		e.ID, KindRefund, StatusPendingReview, StatusAwaitingConfirmation, slices.Sorted(maps.Keys(closedBy))).Scan(&id, &trigger)
	if db.IsNoRows(err) {
		return uuid.Nil, "", false, nil
	}
	if err != nil {
		return uuid.Nil, "", false, fmt.Errorf("escrow %s: waiting closing refund: %w", e.ID, err)
	}
	return id, trigger, true, nil
}

// waitingOutcomePayout finds a payout of a dispute outcome of e (trigger
// dispute) waiting for a review or a confirmation: its id and kind, ok
// false when there is none. An escrow with nothing pending has none and
// costs no read.
func waitingOutcomePayout(ctx context.Context, tx pgx.Tx, e Escrow) (id uuid.UUID, kind string, ok bool, err error) {
	if !e.Pending.IsPositive() {
		return uuid.Nil, "", false, nil
	}
	err = tx.QueryRow(ctx, `
		SELECT id, kind FROM escrow_payouts
		WHERE escrow_id = $1 AND trigger = $2 AND status IN ($3, $4)
		ORDER BY created_at, id LIMIT 1`,
		e.ID, TriggerDispute, StatusPendingReview, StatusAwaitingConfirmation).Scan(&id, &kind)
	if db.IsNoRows(err) {
		return uuid.Nil, "", false, nil
	}
	if err != nil {
		return uuid.Nil, "", false, fmt.Errorf("escrow %s: waiting outcome payout: %w", e.ID, err)
	}
	return id, kind, true, nil
}

// WaitingPayoutsPage is how many waiting payouts waitingPayouts reads per
// query; it reads page after page until it has them all.
const WaitingPayoutsPage = 1000

// waitingPayouts reads e's payouts waiting for a review or a step-up
// confirmation, oldest first: the payouts whose holds make e.Pending.
// They are selected by status, so no number of payouts before them
// (blocked attempts are stored too) can leave one out, as reading the
// first MaxPayoutsRead payouts (payoutsOf, for the timeline) did. They
// are read in pages of WaitingPayoutsPage after the last one read (by
// created_at, id), and all of them are returned: a chargeback must be
// booked and a dispute outcome carried out whatever number waits. Their
// gross amounts must add up to e.Pending: a waiting payout missing from
// the list is an error, not a hold left for a reviewer to pay out after
// its money went elsewhere. Each holds at least a minor unit, so the
// pages end before their total passes e.Pending (a page that would pass
// it is the same error). e must be as loaded, or changed only by payouts
// already sent (a held insert goes with the read).
func waitingPayouts(ctx context.Context, q db.Querier, e Escrow) ([]Payout, error) {
	var ps []Payout
	held := decimal.Zero
	for {
		var rows pgx.Rows
		var err error
		if len(ps) == 0 {
			rows, err = q.Query(ctx, `SELECT `+payoutColumns+` FROM escrow_payouts WHERE escrow_id = $1 AND status IN ($2, $3) ORDER BY created_at, id LIMIT $4`,
				e.ID, StatusPendingReview, StatusAwaitingConfirmation, WaitingPayoutsPage)
		} else {
			last := ps[len(ps)-1]
			rows, err = q.Query(ctx, `SELECT `+payoutColumns+` FROM escrow_payouts WHERE escrow_id = $1 AND status IN ($2, $3) AND (created_at, id) > ($5, $6)
				ORDER BY created_at, id LIMIT $4`,
				e.ID, StatusPendingReview, StatusAwaitingConfirmation, WaitingPayoutsPage, last.CreatedAt, last.ID)
		}
		if err != nil {
			return nil, fmt.Errorf("escrow %s: waiting payouts: %w", e.ID, err)
		}
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Payout, error) { return scanPayout(row) })
		if err != nil {
			return nil, fmt.Errorf("escrow %s: waiting payouts: %w", e.ID, err)
		}
		for _, p := range page {
			held = held.Add(p.Gross)
		}
		ps = append(ps, page...)
		if len(page) < WaitingPayoutsPage || held.GreaterThan(e.Pending) {
			break
		}
	}
	if !held.Equal(e.Pending) { // assertion: holdPayout keeps them equal
		return nil, fmt.Errorf("escrow %s: %d payouts waiting for a decision hold %s, the escrow's pending amount is %s", e.ID, len(ps), held, e.Pending)
	}
	return ps, nil
}

// payoutsOf reads the first MaxPayoutsRead payouts of an escrow, for its
// timeline; money paths read what they need by status (waitingPayouts).
func payoutsOf(ctx context.Context, q db.Querier, escrowID uuid.UUID) ([]Payout, error) {
	rows, err := q.Query(ctx, `SELECT `+payoutColumns+` FROM escrow_payouts WHERE escrow_id = $1 ORDER BY created_at, id LIMIT $2`, escrowID, MaxPayoutsRead)
	if err != nil {
		return nil, fmt.Errorf("escrow %s: payouts: %w", escrowID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Payout, error) { return scanPayout(row) })
}
