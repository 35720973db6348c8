package disputes

// What a chargeback does to a claim's coverage that waits for review. The
// card network paid the buyer, so OpenChargeback voids the coverage first
// (voidHeldCoverage: its entries released, its review closed, status
// voided), and the chargeback claws back from the seller as for any
// released money. The agent's decision behind the coverage still stands,
// so the coverage is paid again, through the gate, once the card network
// has decided, for what the buyer is then still owed:
//
//	chargeback   coverage paid again (ResumeCoverage)
//	won          what it covered: the reversal gave the money back to
//	             the platform and the seller's payable
//	lost         what it covered less what the chargeback took of it
//	             (taken: the order part of what it took beyond the money
//	             the escrow held), nothing when it took all of it
//
// either at most what the buyer can still claim (escrow.Claimable), so
// that the buyer never gets back more than it paid whatever other
// chargebacks did meanwhile. It is paid in one piece, when the amount is
// known, so that a dispute has one coverage (one status, one review): a
// buyer partly paid by the card network waits for the decision for the
// rest. Meanwhile a new claim is refused (refuseWhileCoverageWaits): what
// it could claim is what the coverage owes. Nothing is paid again when a
// claim was resolved since the chargeback (resolvedSince: its outcome
// decided the money, as for suspended payouts), while a claim is open
// (its outcome will; neither can happen to chargebacks booked since
// claims are refused), or when the coverage is no longer voided. The
// coverage paid again is the dispute's coverage from then on (completed,
// pending_review with a new review, or blocked); event
// dispute.coverage_resumed.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
)

// VoidedCoverage is a claim's coverage a chargeback voided because it
// waited for review: Amount it covered, of which the chargeback paid the
// buyer Taken (stored in chargebacks.voided_coverage).
type VoidedCoverage struct {
	DisputeID uuid.UUID       `json:"dispute_id"`
	Amount    decimal.Decimal `json:"amount"`
	Taken     decimal.Decimal `json:"taken"`
}

// voidedCoverage is what booking b voided of ds (whose coverage covered
// amounts, oldest first): the order part of what b took beyond the money
// the escrow held is taken from them in order, each at most its amount.
func voidedCoverage(ds []Dispute, amounts []decimal.Decimal, b escrow.ChargebackBooking) []VoidedCoverage {
	out := []VoidedCoverage{}
	left := b.Escrow.OrderShare(decimal.Max(b.EscrowAmount.Sub(b.FromHeld), decimal.Zero))
	for i, d := range ds {
		t := decimal.Min(amounts[i], left)
		out = append(out, VoidedCoverage{DisputeID: d.ID, Amount: amounts[i], Taken: t})
		left = left.Sub(t)
	}
	return out
}

// lockVoidedCoverage locks the disputes whose coverage cb voided, in the
// order stored, before anything locks the escrow (loadDispute).
func lockVoidedCoverage(ctx context.Context, tx pgx.Tx, cb Chargeback) ([]Dispute, error) {
	var ds []Dispute
	for _, v := range cb.VoidedCoverage {
		d, err := loadDispute(ctx, tx, cb.TenantID, v.DisputeID, true)
		if err != nil {
			return nil, fmt.Errorf("chargeback %s: voided coverage: %w", cb.ID, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// resumeCoverage pays again the coverage cb voided (ds, locked by
// lockVoidedCoverage, in the order of cb.VoidedCoverage) now that cb is
// decided (cb.Status won or lost, not saved yet), e being the escrow
// after the decision; later is resolvedSince. See the top of this file.
func (s *Service) resumeCoverage(ctx context.Context, tx pgx.Tx, cb Chargeback, ds []Dispute, later bool, e escrow.Escrow, now time.Time) error {
	if len(ds) == 0 || later || e.State == escrow.Disputed {
		return nil
	}
	won := cb.Status == Won
	covered, chargedBack, err := recoveredBefore(ctx, tx, cb.EscrowID)
	if err != nil {
		return err
	}
	if won { // cb's row says won only once this action saves it
		chargedBack = chargedBack.Sub(decimal.Max(cb.EscrowAmount.Sub(cb.FromHeld), decimal.Zero))
	}
	for i, d := range ds {
		v, r := cb.VoidedCoverage[i], d.Resolution
		if r == nil || r.CoverageStatus != CoverageVoided {
			continue
		}
		owed := v.Amount
		if !won {
			owed = owed.Sub(v.Taken)
		}
		owed = decimal.Min(owed, e.Claimable(covered, chargedBack))
		if !owed.IsPositive() {
			continue
		}
		recent, err := coveragePayouts(ctx, tx, d.EscrowID, now)
		if err != nil {
			return err
		}
		c, err := s.Escrows.ResumeCoverage(ctx, tx, d.TenantID, d.EscrowID, cb.ID, escrow.SettleInput{DisputeID: d.ID, CoveredBefore: covered,
			ChargedBack: chargedBack, CoveragePayouts: recent, Reason: "dispute " + d.ID.String() + ": " + r.Outcome + " after chargeback " + cb.PSPRef}, owed, now)
		if err != nil {
			return fmt.Errorf("dispute %s: %w", d.ID, err)
		}
		r.Covered, r.Recovered, r.Receivable, r.Capped = c.Covered, c.Recovered, c.Receivable, r.Capped || c.Capped
		r.CoverageStatus, r.CoverageEntryIDs, r.CoverageReviewID = c.Status, c.EntryIDs, nil
		if c.Risk != nil {
			r.CoverageDecisionID = &c.Risk.DecisionID
		}
		if c.Status == escrow.StatusPendingReview {
			r.CoverageReviewID = c.ReviewID
		}
		if err := saveDispute(ctx, tx, &d, d.Status, now); err != nil {
			return err
		}
		extra := map[string]any{"chargeback_id": cb.ID, "psp_ref": cb.PSPRef, "chargeback_status": cb.Status}
		if r.CoverageReviewID != nil {
			extra["review_id"] = r.CoverageReviewID
		}
		if err := s.coverageEvent(ctx, tx, d, "dispute.coverage_resumed", owed, extra, now); err != nil {
			return err
		}
		covered = covered.Add(c.Covered)
	}
	return nil
}
