package disputes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/risk"
)

// closedDeadline is next_deadline_at of a closed dispute: after every real
// deadline, so the agents' queue sorts on one NOT NULL column.
var closedDeadline = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

const disputeColumns = `id, tenant_id, escrow_id, status, reason, claimed_amount, currency, description, COALESCE(assignee, ''), evidence_hours,
	seller_response_due_at, escalation_due_at, evidence_due_at, next_deadline_at, seller_responded_at, escalated_at, COALESCE(escalated_by, ''),
	outcome, refund_amount, covered_amount, recovered_amount, receivable_amount, capped, rationale, COALESCE(resolved_by, ''),
	accepted_offer_id, refund_payout_id, release_payout_id, resolved_at, withdrawn_at, version, created_at, updated_at,
	COALESCE(coverage_status, ''), coverage_decision_id, coverage_entry_ids, coverage_review_id`

func scanDispute(row pgx.Row) (Dispute, error) {
	var d Dispute
	var status string
	var next time.Time
	var outcome *string
	var refund *decimal.Decimal
	var r Resolution
	var resolvedAt *time.Time
	var coverageEntries []byte
	err := row.Scan(&d.ID, &d.TenantID, &d.EscrowID, &status, &d.Reason, &d.ClaimedAmount, &d.Currency, &d.Description, &d.Assignee, &d.EvidenceHours,
		&d.SellerResponseDueAt, &d.EscalationDueAt, &d.EvidenceDueAt, &next, &d.SellerRespondedAt, &d.EscalatedAt, &d.EscalatedBy,
		&outcome, &refund, &r.Covered, &r.Recovered, &r.Receivable, &r.Capped, &r.Rationale, &r.ResolvedBy,
		&r.AcceptedOfferID, &r.RefundPayoutID, &r.ReleasePayoutID, &resolvedAt, &d.WithdrawnAt, &d.Version, &d.CreatedAt, &d.UpdatedAt,
		&r.CoverageStatus, &r.CoverageDecisionID, &coverageEntries, &r.CoverageReviewID)
	if err != nil {
		return Dispute{}, err
	}
	if err := json.Unmarshal(coverageEntries, &r.CoverageEntryIDs); err != nil {
		return Dispute{}, fmt.Errorf("dispute %s: coverage entries: %w", d.ID, err)
	}
	d.Status = Status(status)
	if next.Before(closedDeadline) {
		d.NextDeadlineAt = &next
	}
	if outcome != nil {
		r.Outcome = *outcome
		if refund != nil {
			r.RefundAmount = *refund
		}
		if resolvedAt != nil {
			r.ResolvedAt = *resolvedAt
		}
		d.Resolution = &r
	}
	return d, nil
}

// loadDispute reads a dispute of tenant; lock takes its row lock. Writes
// lock the dispute before the escrow (the escrow hooks lock it), so locks
// are always taken in that order.
func loadDispute(ctx context.Context, q db.Querier, tenant, id uuid.UUID, lock bool) (Dispute, error) {
	// By primary key alone, the tenant compared here (see "Point reads" in docs/architecture.md).
	sql := `SELECT ` + disputeColumns + ` FROM disputes WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	d, err := scanDispute(q.QueryRow(ctx, sql, id))
	if db.IsNoRows(err) || (err == nil && d.TenantID != tenant) {
		return Dispute{}, fmt.Errorf("dispute %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Dispute{}, fmt.Errorf("dispute %s: load: %w", id, err)
	}
	return d, nil
}

// insertDispute inserts an open dispute; the partial unique index allows
// one open dispute per escrow (ErrDisputeOpen).
func insertDispute(ctx context.Context, tx pgx.Tx, d Dispute) error {
	tag, err := tx.Exec(ctx, `
		INSERT INTO disputes (id, tenant_id, escrow_id, status, reason, claimed_amount, currency, description, evidence_hours,
			seller_response_due_at, escalation_due_at, evidence_due_at, next_deadline_at, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)
		ON CONFLICT DO NOTHING`,
		d.ID, d.TenantID, d.EscrowID, string(d.Status), d.Reason, d.ClaimedAmount, d.Currency, d.Description, d.EvidenceHours,
		d.SellerResponseDueAt, d.EscalationDueAt, d.EvidenceDueAt, deadlineColumn(d), d.CreatedAt)
	if err != nil {
		return fmt.Errorf("dispute %s: insert: %w", d.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("escrow %s: %w", d.EscrowID, ErrDisputeOpen)
	}
	return nil
}

func deadlineColumn(d Dispute) time.Time {
	if d.NextDeadlineAt == nil {
		return closedDeadline
	}
	return *d.NextDeadlineAt
}

// saveDispute writes d's mutable fields, guarded on the status and version
// it was loaded with (from, d.Version), and bumps the version.
func saveDispute(ctx context.Context, tx pgx.Tx, d *Dispute, from Status, now time.Time) error {
	var outcome *string
	var refund *decimal.Decimal
	r := Resolution{Covered: decimal.Zero, Recovered: decimal.Zero, Receivable: decimal.Zero}
	var resolvedAt *time.Time
	if d.Resolution != nil {
		r = *d.Resolution
		outcome, refund, resolvedAt = &r.Outcome, &r.RefundAmount, &r.ResolvedAt
	}
	var assignee, escalatedBy, resolvedBy, coverageStatus *string
	if r.CoverageStatus != "" {
		coverageStatus = &r.CoverageStatus
	}
	coverageEntries := []byte("[]")
	if len(r.CoverageEntryIDs) > 0 {
		coverageEntries, _ = json.Marshal(r.CoverageEntryIDs)
	}
	if d.Assignee != "" {
		assignee = &d.Assignee
	}
	if d.EscalatedBy != "" {
		escalatedBy = &d.EscalatedBy
	}
	if r.ResolvedBy != "" {
		resolvedBy = &r.ResolvedBy
	}
	tag, err := tx.Exec(ctx, `
		UPDATE disputes SET status = $4, assignee = $5, evidence_due_at = $6, next_deadline_at = $7, seller_responded_at = $8,
			escalated_at = $9, escalated_by = $10, outcome = $11, refund_amount = $12, covered_amount = $13, recovered_amount = $14,
			receivable_amount = $15, capped = $16, rationale = $17, resolved_by = $18, accepted_offer_id = $19, refund_payout_id = $20,
			release_payout_id = $21, resolved_at = $22, withdrawn_at = $23, version = version + 1, updated_at = $24,
			coverage_status = $25, coverage_decision_id = $26, coverage_entry_ids = $27, coverage_review_id = $28
		WHERE id = $1 AND status = $2 AND version = $3`,
		d.ID, string(from), d.Version, string(d.Status), assignee, d.EvidenceDueAt, deadlineColumn(*d), d.SellerRespondedAt,
		d.EscalatedAt, escalatedBy, outcome, refund, r.Covered, r.Recovered, r.Receivable, r.Capped, r.Rationale, resolvedBy,
		r.AcceptedOfferID, r.RefundPayoutID, r.ReleasePayoutID, resolvedAt, d.WithdrawnAt, now,
		coverageStatus, r.CoverageDecisionID, coverageEntries, r.CoverageReviewID)
	if err != nil {
		return fmt.Errorf("dispute %s: save: %w", d.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("dispute %s: save: %w", d.ID, ErrConcurrentChange)
	}
	d.Version++
	d.UpdatedAt = now
	return nil
}

// coverageClawed is what the escrow's completed coverage took back from
// the seller: recovered from its payable or booked as its receivable
// (together what was covered). Coverage still waiting for review took
// nothing yet: its recovery is a pending hold that a rejection or an
// expiry releases, so counting it would let a chargeback claw back less
// than the seller was paid and leave the rest with the seller.
func coverageClawed(ctx context.Context, q db.Querier, escrowID uuid.UUID) (decimal.Decimal, error) {
	var sum decimal.Decimal
	if err := q.QueryRow(ctx, `SELECT COALESCE(sum(recovered_amount + receivable_amount), 0) FROM disputes
		WHERE escrow_id = $1 AND status = 'resolved' AND coverage_status = 'completed'`,
		escrowID).Scan(&sum); err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: coverage clawed back: %w", escrowID, err)
	}
	return sum, nil
}

// coveragePayouts is what the escrow's earlier coverage paid the buyer in
// the last risk.PayoutsWindow before now (completed, and the dispute row
// changed since then: a coverage completes when its claim is resolved or
// its review approved, and the row is not changed after that but to void
// or pay it again, so this counts more, never less) or holds while it
// waits for review, whatever its age (escrow.SettleInput.CoveragePayouts).
func coveragePayouts(ctx context.Context, q db.Querier, escrowID uuid.UUID, now time.Time) (decimal.Decimal, error) {
	var sum decimal.Decimal
	if err := q.QueryRow(ctx, `SELECT COALESCE(sum(covered_amount), 0) FROM disputes
		WHERE escrow_id = $1 AND status = 'resolved' AND (coverage_status = 'pending_review' OR coverage_status = 'completed' AND updated_at > $2)`,
		escrowID, now.Add(-risk.PayoutsWindow)).Scan(&sum); err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: recent coverage: %w", escrowID, err)
	}
	return sum, nil
}

// recoveredBefore is what the buyer of the escrow got back outside the
// escrow account, in one round trip: covered, what earlier resolved
// disputes covered from the guarantee (coveredBefore), and chargedBack,
// what chargebacks not won (lost, or still undecided: the card network
// returned the money to the buyer at once) took back beyond the money the
// escrow held, gross, in the escrow's currency. A chargeback of held money
// is a refund payout of the escrow, which escrow.Claimable counts already.
// Without chargedBack, a buyer refunded by the card network could be
// refunded again by a dispute.
func recoveredBefore(ctx context.Context, q db.Querier, escrowID uuid.UUID) (covered, chargedBack decimal.Decimal, err error) {
	if err := q.QueryRow(ctx, `
		SELECT (SELECT COALESCE(sum(covered_amount), 0) FROM disputes WHERE escrow_id = $1 AND status = 'resolved'),
		       (SELECT COALESCE(sum(COALESCE(escrow_amount, amount) - from_held), 0) FROM chargebacks WHERE escrow_id = $1 AND status <> 'won')`,
		escrowID).Scan(&covered, &chargedBack); err != nil {
		return covered, chargedBack, fmt.Errorf("escrow %s: recovered: %w", escrowID, err)
	}
	return covered, chargedBack, nil
}

const offerColumns = `id, dispute_id, by_party, refund_amount, note, status, created_at, decided_at`

func scanOffer(row pgx.Row) (Offer, error) {
	var o Offer
	err := row.Scan(&o.ID, &o.DisputeID, &o.By, &o.RefundAmount, &o.Note, &o.Status, &o.CreatedAt, &o.DecidedAt)
	return o, err
}

func loadOffer(ctx context.Context, q db.Querier, tenant, disputeID, id uuid.UUID) (Offer, error) {
	o, err := scanOffer(q.QueryRow(ctx, `SELECT `+offerColumns+` FROM dispute_offers WHERE tenant_id = $1 AND dispute_id = $2 AND id = $3`,
		tenant, disputeID, id))
	if db.IsNoRows(err) {
		return Offer{}, fmt.Errorf("offer %s: %w", id, ErrOfferNotFound)
	}
	if err != nil {
		return Offer{}, fmt.Errorf("offer %s: %w", id, err)
	}
	return o, nil
}

func offersOf(ctx context.Context, q db.Querier, disputeID uuid.UUID) ([]Offer, error) {
	rows, err := q.Query(ctx, `SELECT `+offerColumns+` FROM dispute_offers WHERE dispute_id = $1 ORDER BY created_at, id LIMIT $2`, disputeID, MaxOffers)
	if err != nil {
		return nil, fmt.Errorf("dispute %s: offers: %w", disputeID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Offer, error) { return scanOffer(row) })
}

// decideOffer moves an open offer to status; zero rows is ErrOfferNotOpen.
func decideOffer(ctx context.Context, tx pgx.Tx, o *Offer, status string, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE dispute_offers SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'open'`, o.ID, status, now)
	if err != nil {
		return fmt.Errorf("offer %s: %w", o.ID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("offer %s is %s: %w", o.ID, o.Status, ErrOfferNotOpen)
	}
	o.Status, o.DecidedAt = status, &now
	return nil
}

const evidenceColumns = `id, dispute_id, chargeback_id, party, kind, description, uri, sha256, created_at`

func scanEvidence(row pgx.Row) (Evidence, error) {
	var e Evidence
	err := row.Scan(&e.ID, &e.DisputeID, &e.ChargebackID, &e.Party, &e.Kind, &e.Description, &e.URI, &e.SHA256, &e.CreatedAt)
	return e, err
}

// insertEvidence stores evidence; nothing updates or deletes it later.
func insertEvidence(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, e Evidence) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM dispute_evidence WHERE dispute_id = $1 OR chargeback_id = $2`,
		e.DisputeID, e.ChargebackID).Scan(&n); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if n >= MaxEvidence {
		return fmt.Errorf("evidence: %w", errTooMany("evidence", MaxEvidence, "dispute or chargeback"))
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO dispute_evidence (`+evidenceColumns+`, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, e.DisputeID, e.ChargebackID, e.Party, e.Kind, e.Description, e.URI, e.SHA256, e.CreatedAt, tenant)
	if err != nil {
		return fmt.Errorf("evidence %s: insert: %w", e.ID, err)
	}
	return nil
}

func evidenceOf(ctx context.Context, q db.Querier, column string, id uuid.UUID) ([]Evidence, error) {
	rows, err := q.Query(ctx, `SELECT `+evidenceColumns+` FROM dispute_evidence WHERE `+column+` = $1 ORDER BY created_at, id LIMIT $2`, id, MaxEvidence)
	if err != nil {
		return nil, fmt.Errorf("evidence of %s: %w", id, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Evidence, error) { return scanEvidence(row) })
}
