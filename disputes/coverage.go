package disputes

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/risk"
)

// ResolveCoverageReview is the risk review resolver of a dispute's
// coverage (subject escrow.SubjectCoverage, the dispute's id), the part of
// a refund the guarantee pays that the gate held for review: approval
// posts its pending entries (escrow.Service.FinishCoverage; refused while
// a party is frozen, the review staying pending; the recovery takes what
// the seller's payable still has, the rest stays receivable) and the
// coverage is completed; rejection or expiry releases them, and the resolution then
// covered nothing: the buyer may claim it again. Either way an event on
// the escrow says so (dispute.coverage_completed, dispute.coverage_rejected:
// coverageEvent). It returns the coverage's status.
func (s *Service) ResolveCoverageReview(ctx context.Context, tx pgx.Tx, rv risk.Review, approved bool, now time.Time) (string, error) {
	d, err := loadDispute(ctx, tx, rv.TenantID, rv.SubjectID, true)
	if err != nil {
		return "", err
	}
	r := d.Resolution
	if r == nil || r.CoverageStatus != escrow.StatusPendingReview {
		status := ""
		if r != nil {
			status = r.CoverageStatus
		}
		// Only this resolver moves a coverage out of pending_review, and
		// the review is decided once.
		return "", fmt.Errorf("dispute %s: coverage is %q, not waiting for review %s", d.ID, status, rv.ID)
	}
	held := r.Covered
	posted, recovered, err := s.Escrows.FinishCoverage(ctx, tx, d.TenantID, d.EscrowID, r.CoverageEntryIDs, approved, now)
	if err != nil {
		return "", fmt.Errorf("dispute %s: %w", d.ID, err)
	}
	if approved {
		// The recovery takes what the seller's payable still has; the
		// rest stays owed (FinishCoverage).
		r.CoverageStatus, r.CoverageEntryIDs = escrow.StatusCompleted, posted
		r.Recovered, r.Receivable = recovered, r.Covered.Sub(recovered)
	} else {
		r.CoverageStatus, r.CoverageEntryIDs = escrow.StatusRejected, nil
		r.Covered, r.Recovered, r.Receivable = decimal.Zero, decimal.Zero, decimal.Zero
	}
	if err := saveDispute(ctx, tx, &d, d.Status, now); err != nil {
		return "", err
	}
	if err := s.coverageEvent(ctx, tx, d, "dispute.coverage_"+r.CoverageStatus, held, map[string]any{"review_id": rv.ID, "decided_by": rv.DecidedBy}, now); err != nil {
		return "", err
	}
	return r.CoverageStatus, nil
}

// coverageEvent writes an event typ about d's coverage after the
// resolution, on the escrow's timeline as every dispute event: one that
// waited for review and is now decided (dispute.coverage_completed,
// dispute.coverage_rejected, dispute.coverage_voided) or one paid again
// after a chargeback (dispute.coverage_resumed), with the amount decided
// on (coverage_amount) and what the coverage now is (coverage_status,
// covered_amount, recovered_amount, receivable_amount), plus extra.
func (s *Service) coverageEvent(ctx context.Context, tx pgx.Tx, d Dispute, typ string, amount decimal.Decimal, extra map[string]any, now time.Time) error {
	r := d.Resolution
	p := map[string]any{"outcome": r.Outcome, "coverage_status": r.CoverageStatus, "coverage_amount": fmtAmount(amount, d.Currency),
		"covered_amount": fmtAmount(r.Covered, d.Currency), "recovered_amount": fmtAmount(r.Recovered, d.Currency),
		"receivable_amount": fmtAmount(r.Receivable, d.Currency)}
	for k, v := range extra {
		p[k] = v
	}
	return s.emit(ctx, tx, d, typ, p, now)
}

// maxHeldCoverages bounds the coverages of one escrow voidHeldCoverage
// reads. A new claim is refused while an earlier one's coverage waits
// (refuseWhileCoverageWaits), so an escrow has at most one; reaching the
// bound is an error, never a shorter list.
const maxHeldCoverages = 100

// voidHeldCoverage voids the coverage of every resolved claim on the
// escrow that waits for review, before the chargeback cb is booked: the
// card network paid the buyer, so approving the coverage would pay the
// buyer twice. Its entries are released and its review closed as
// superseded (escrow.Service.VoidCoverage); the coverage is voided
// (CoverageVoided) and covers nothing, and the recovery's hold is back on
// the seller's payable, for the chargeback to claw back. Event
// dispute.coverage_voided. It returns the disputes whose coverage it
// voided, with what each had covered, oldest first.
func (s *Service) voidHeldCoverage(ctx context.Context, tx pgx.Tx, cb Chargeback, now time.Time) ([]Dispute, []decimal.Decimal, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM disputes WHERE escrow_id = $1 AND status = $2 AND coverage_status = $3 ORDER BY resolved_at, id LIMIT $4`,
		cb.EscrowID, string(Resolved), escrow.StatusPendingReview, maxHeldCoverages+1)
	if err != nil {
		return nil, nil, fmt.Errorf("escrow %s: held coverage: %w", cb.EscrowID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, nil, fmt.Errorf("escrow %s: held coverage: %w", cb.EscrowID, err)
	}
	if len(ids) > maxHeldCoverages {
		return nil, nil, fmt.Errorf("escrow %s: more than %d coverages wait for review", cb.EscrowID, maxHeldCoverages)
	}
	var voided []Dispute
	var amounts []decimal.Decimal
	reason := "superseded by chargeback " + cb.PSPRef
	for _, id := range ids {
		d, err := loadDispute(ctx, tx, cb.TenantID, id, true)
		if err != nil {
			return nil, nil, err
		}
		r := d.Resolution
		if r == nil || r.CoverageStatus != escrow.StatusPendingReview { // assertion: the row was read so in this transaction
			return nil, nil, fmt.Errorf("dispute %s: coverage is not waiting for review", d.ID)
		}
		if err := s.Escrows.VoidCoverage(ctx, tx, d.TenantID, d.EscrowID, d.ID, r.CoverageEntryIDs, r.CoverageReviewID, reason, now); err != nil {
			return nil, nil, fmt.Errorf("dispute %s: %w", d.ID, err)
		}
		held := r.Covered
		r.CoverageStatus, r.CoverageEntryIDs = CoverageVoided, nil
		r.Covered, r.Recovered, r.Receivable = decimal.Zero, decimal.Zero, decimal.Zero
		if err := saveDispute(ctx, tx, &d, d.Status, now); err != nil {
			return nil, nil, err
		}
		extra := map[string]any{"chargeback_id": cb.ID, "psp_ref": cb.PSPRef}
		if r.CoverageReviewID != nil {
			extra["review_id"] = r.CoverageReviewID
		}
		if err := s.coverageEvent(ctx, tx, d, "dispute.coverage_voided", held, extra, now); err != nil {
			return nil, nil, err
		}
		voided, amounts = append(voided, d), append(amounts, held)
	}
	return voided, amounts, nil
}

// refuseWhileCoverageWaits refuses a new claim on the escrow with
// escrow.ErrPayoutsPending while an earlier claim's coverage waits for
// review, as escrow refuses one while a payout of an earlier claim's
// outcome waits (refuseWhileOutcomeWaits): a chargeback booked during
// the new claim would void that coverage, and the new claim, withdrawn,
// would leave the award undone. So is one while a chargeback not decided
// yet has voided such a coverage: it is paid again at the decision
// (coverage_resume.go), and what the buyer could claim meanwhile is
// that money. The buyer may claim again once the review, or the
// chargeback, is decided. One read for both.
func refuseWhileCoverageWaits(ctx context.Context, q db.Querier, escrowID uuid.UUID) error {
	var held, chargeback *uuid.UUID
	err := q.QueryRow(ctx, `
		SELECT (SELECT id FROM disputes WHERE escrow_id = $1 AND status = $2 AND coverage_status = $3 ORDER BY resolved_at, id LIMIT 1),
		       (SELECT id FROM chargebacks WHERE escrow_id = $1 AND status IN ($4, $5) AND voided_coverage <> '[]'::JSONB ORDER BY created_at, id LIMIT 1)`,
		escrowID, string(Resolved), escrow.StatusPendingReview, string(NeedsResponse), string(ChargebackUnderReview)).Scan(&held, &chargeback)
	if err != nil {
		return fmt.Errorf("escrow %s: held coverage: %w", escrowID, err)
	}
	switch {
	case held != nil:
		return fmt.Errorf("escrow %s: cannot open a claim while the coverage of dispute %s waits for review: %w", escrowID, *held, escrow.ErrPayoutsPending)
	case chargeback != nil:
		return fmt.Errorf("escrow %s: cannot open a claim while chargeback %s, which voided a claim's coverage, is not decided: %w", escrowID, *chargeback, escrow.ErrPayoutsPending)
	}
	return nil
}
