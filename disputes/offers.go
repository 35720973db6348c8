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
	"github.com/escrowd/escrowd/internal/valid"
)

// OfferResult is the answer to an offer, or to a decision on one; Outcome
// is set when an accepted offer resolved the dispute.
type OfferResult struct {
	Offer   Offer
	Dispute Dispute
	Outcome *Outcome
}

// ResourceID names the offer for the audit log.
func (r OfferResult) ResourceID() string { return r.Offer.ID.String() }

// MakeOffer records a settlement offer by buyer or seller: refund_amount
// to the buyer (at most what the buyer can claim), the rest released to
// the seller. It supersedes the open offers of the dispute. A seller's
// offer is the seller's response.
func (s *Service) MakeOffer(ctx context.Context, tenant, id uuid.UUID, req OfferRequest) (OfferResult, error) {
	if err := req.Validate(); err != nil {
		return OfferResult{}, err
	}
	var o Offer
	return change(ctx, s, tenant, id, ActOffer, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		amount, err := parseAmount("refund_amount", req.RefundAmount, d.Currency, false)
		if err != nil {
			return err
		}
		most, err := s.claimable(ctx, tx, *d)
		if err != nil {
			return err
		}
		if amount.GreaterThan(most) {
			return valid.FieldCode("amount_mismatch", "refund_amount", fmt.Sprintf("%s exceeds the %s the buyer can claim", fmtAmount(amount, d.Currency), fmtAmount(most, d.Currency)))
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM dispute_offers WHERE dispute_id = $1`, d.ID).Scan(&n); err != nil {
			return fmt.Errorf("dispute %s: offers: %w", d.ID, err)
		}
		if n >= MaxOffers {
			return errTooMany("offers", MaxOffers, "dispute")
		}
		if _, err := tx.Exec(ctx, `UPDATE dispute_offers SET status = 'superseded', decided_at = $2 WHERE dispute_id = $1 AND status = 'open'`, d.ID, now); err != nil {
			return fmt.Errorf("dispute %s: supersede offers: %w", d.ID, err)
		}
		o = Offer{ID: uuid.New(), DisputeID: d.ID, By: req.By, RefundAmount: amount, Note: trim(req.Note), Status: OfferOpen, CreatedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO dispute_offers (`+offerColumns+`, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)`,
			o.ID, o.DisputeID, o.By, o.RefundAmount, o.Note, o.Status, o.CreatedAt, tenant); err != nil {
			return fmt.Errorf("offer %s: insert: %w", o.ID, err)
		}
		sellerResponded(d, req.By, now)
		return s.emit(ctx, tx, *d, "dispute.offer_made", map[string]any{"offer_id": o.ID, "by": o.By,
			"refund_amount": fmtAmount(o.RefundAmount, d.Currency), "note": o.Note}, now)
	}, func(d Dispute) OfferResult { return OfferResult{Offer: o, Dispute: d} })
}

// claimable is what the buyer of d's escrow can still claim back.
func (s *Service) claimable(ctx context.Context, q db.Querier, d Dispute) (decimal.Decimal, error) {
	e, err := escrow.Read(ctx, q, d.TenantID, d.EscrowID)
	if err != nil {
		return decimal.Zero, err
	}
	covered, chargedBack, err := recoveredBefore(ctx, q, d.EscrowID)
	if err != nil {
		return decimal.Zero, err
	}
	return e.Claimable(covered, chargedBack), nil
}

// AcceptOffer is the other party's acceptance of an open offer: the
// dispute resolves with the offer's refund to the buyer and the rest of
// the order money released to the seller through the risk gate, in the
// same transaction (refund_full when the offer refunds everything the buyer
// can claim, release_full when it refunds nothing).
func (s *Service) AcceptOffer(ctx context.Context, tenant, id, offerID uuid.UUID) (OfferResult, error) {
	var o Offer
	var st escrow.Settlement
	ctx = s.withRiskFeatures(ctx, tenant, id)
	return change(ctx, s, tenant, id, ActAcceptOffer, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		var err error
		if o, err = loadOffer(ctx, tx, tenant, d.ID, offerID); err != nil {
			return err
		}
		if err := decideOffer(ctx, tx, &o, OfferAccepted, now); err != nil {
			return err
		}
		acceptor := other(o.By)
		sellerResponded(d, acceptor, now)
		most, err := s.claimable(ctx, tx, *d)
		if err != nil {
			return err
		}
		outcome := OutcomeRefundPartial
		switch {
		case o.RefundAmount.IsZero():
			outcome = OutcomeReleaseFull
		case o.RefundAmount.Equal(most):
			outcome = OutcomeRefundFull
		}
		if err := s.emit(ctx, tx, *d, "dispute.offer_accepted", map[string]any{"offer_id": o.ID, "by": o.By, "accepted_by": acceptor,
			"refund_amount": fmtAmount(o.RefundAmount, d.Currency)}, now); err != nil {
			return err
		}
		refund := o.RefundAmount
		st, err = s.settle(ctx, tx, d, outcome, &refund, fmt.Sprintf("offer by the %s accepted by the %s", o.By, acceptor), acceptor, &o, now)
		return err
	}, func(d Dispute) OfferResult {
		return OfferResult{Offer: o, Dispute: d, Outcome: &Outcome{Dispute: d, Offer: &o, Settlement: st}}
	})
}

// RejectOffer is the other party's refusal of an open offer.
func (s *Service) RejectOffer(ctx context.Context, tenant, id, offerID uuid.UUID) (OfferResult, error) {
	var o Offer
	return change(ctx, s, tenant, id, ActRejectOffer, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		var err error
		if o, err = loadOffer(ctx, tx, tenant, d.ID, offerID); err != nil {
			return err
		}
		if err := decideOffer(ctx, tx, &o, OfferRejected, now); err != nil {
			return err
		}
		sellerResponded(d, other(o.By), now)
		return nil
	}, func(d Dispute) OfferResult { return OfferResult{Offer: o, Dispute: d} })
}

func other(party string) string {
	if party == PartyBuyer {
		return PartySeller
	}
	return PartyBuyer
}

// EvidenceResult is the answer to added evidence.
type EvidenceResult struct {
	Evidence Evidence
	Dispute  Dispute
}

// ResourceID names the evidence for the audit log.
func (r EvidenceResult) ResourceID() string { return r.Evidence.ID.String() }

// AddEvidence stores evidence metadata for an open dispute until its
// evidence deadline (ErrEvidenceDeadlinePassed after it). The seller's
// evidence is the seller's response.
func (s *Service) AddEvidence(ctx context.Context, tenant, id uuid.UUID, req EvidenceRequest) (EvidenceResult, error) {
	if err := req.Validate(); err != nil {
		return EvidenceResult{}, err
	}
	var ev Evidence
	return change(ctx, s, tenant, id, ActEvidence, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		if now.After(d.EvidenceDueAt) {
			return fmt.Errorf("dispute %s: evidence was due by %s: %w", d.ID, d.EvidenceDueAt.Format(time.RFC3339), ErrEvidenceDeadlinePassed)
		}
		ev = req.evidence(now)
		ev.DisputeID = &d.ID
		sellerResponded(d, req.Party, now)
		return insertEvidence(ctx, tx, tenant, ev)
	}, func(d Dispute) EvidenceResult { return EvidenceResult{Evidence: ev, Dispute: d} })
}
