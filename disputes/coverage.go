package disputes

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/risk"
)

// ResolveCoverageReview is the risk review resolver of a dispute's
// coverage (subject escrow.SubjectCoverage, the dispute's id), the part of
// a refund the guarantee pays that the gate held for review: approval
// posts its pending entries (escrow.Service.FinishCoverage; refused while
// a party is frozen, the review staying pending) and the coverage is
// completed; rejection or expiry releases them, and the resolution then
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
	posted, err := s.Escrows.FinishCoverage(ctx, tx, d.TenantID, d.EscrowID, r.CoverageEntryIDs, approved, now)
	if err != nil {
		return "", fmt.Errorf("dispute %s: %w", d.ID, err)
	}
	if approved {
		r.CoverageStatus, r.CoverageEntryIDs = escrow.StatusCompleted, posted
	} else {
		r.CoverageStatus, r.CoverageEntryIDs = escrow.StatusRejected, nil
		r.Covered, r.Recovered, r.Receivable = decimal.Zero, decimal.Zero, decimal.Zero
	}
	if err := saveDispute(ctx, tx, &d, d.Status, now); err != nil {
		return "", err
	}
	if err := s.coverageEvent(ctx, tx, d, held, map[string]any{"review_id": rv.ID, "decided_by": rv.DecidedBy}, now); err != nil {
		return "", err
	}
	return r.CoverageStatus, nil
}

// coverageEvent writes the event of a coverage that waited for review and
// is now decided, on the escrow's timeline as every dispute event:
// dispute.coverage_<status> (completed, rejected), with the amount that
// waited (coverage_amount) and what the coverage now is (coverage_status,
// covered_amount, recovered_amount, receivable_amount, all zero unless
// completed), plus extra.
func (s *Service) coverageEvent(ctx context.Context, tx pgx.Tx, d Dispute, held decimal.Decimal, extra map[string]any, now time.Time) error {
	r := d.Resolution
	p := map[string]any{"outcome": r.Outcome, "coverage_status": r.CoverageStatus, "coverage_amount": fmtAmount(held, d.Currency),
		"covered_amount": fmtAmount(r.Covered, d.Currency), "recovered_amount": fmtAmount(r.Recovered, d.Currency),
		"receivable_amount": fmtAmount(r.Receivable, d.Currency)}
	for k, v := range extra {
		p[k] = v
	}
	return s.emit(ctx, tx, d, "dispute.coverage_"+r.CoverageStatus, p, now)
}
