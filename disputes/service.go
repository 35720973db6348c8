package disputes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/risk"
)

// Job kinds; the dedupe key is the dispute's (or chargeback's) id.
const (
	JobDeadline       = "disputes.deadline"
	JobChargebackDue  = "disputes.chargeback_due"
	hour              = time.Hour
	beforeDeliveryMsg = "before delivery only not_received and late_shipment may be claimed"
)

// Service runs disputes and chargebacks. Each exported method that changes
// state is one db.Write: the status change, the escrow's money movements
// (through the escrow hooks), events and jobs commit together.
type Service struct {
	DB      *db.DB
	Clock   clock.Clock
	Escrows *escrow.Service
}

// Outcome is the answer to a resolution: the dispute, the escrow after it,
// and what moved.
type Outcome struct {
	Dispute    Dispute
	Offer      *Offer
	Settlement escrow.Settlement
}

// ResourceID names the dispute for the audit log.
func (o Outcome) ResourceID() string { return o.Dispute.ID.String() }

// Open records a buyer's claim (the marketplace acts for the buyer) and
// puts the escrow in disputed. Within terms.claim_window_days after
// delivery any reason may be claimed, before delivery only not_received and
// late_shipment; otherwise ErrClaimWindowClosed. An escrow with an open
// dispute is ErrDisputeOpen; one whose cancellation's refund, or a payout
// of an earlier claim's outcome, waits for a review or a confirmation is
// escrow.ErrPayoutsPending until it is decided (escrow.Service.OpenDispute),
// and so is one where an earlier claim's coverage waits for review
// (refuseWhileCoverageWaits).
func (s *Service) Open(ctx context.Context, tenant, escrowID uuid.UUID, req OpenRequest) (Dispute, error) {
	if err := req.Validate(); err != nil {
		return Dispute{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Dispute, error) {
		now := s.Clock.Now()
		covered, chargedBack, err := recoveredBefore(ctx, tx, escrowID)
		if err != nil {
			return Dispute{}, err
		}
		var claimed decimal.Decimal
		check := func(e escrow.Escrow) error {
			if err := refuseWhileCoverageWaits(ctx, tx, e.ID); err != nil {
				return err
			}
			if claimed, err = parseAmount("claimed_amount", req.ClaimedAmount, e.Currency, true); err != nil {
				return err
			}
			if most := e.Claimable(covered, chargedBack); claimed.GreaterThan(most) {
				return valid.FieldCode("amount_mismatch", "claimed_amount", fmt.Sprintf("%s exceeds the %s the buyer paid for the order and has not got back",
					fmtAmount(claimed, e.Currency), fmtAmount(most, e.Currency)))
			}
			return claimWindow(e, req.Reason, now)
		}
		e, err := s.Escrows.OpenDispute(ctx, tx, tenant, escrowID, check, now)
		if errors.Is(err, escrow.ErrAlreadyDisputed) {
			return Dispute{}, fmt.Errorf("escrow %s: %w", escrowID, ErrDisputeOpen)
		}
		if err != nil {
			return Dispute{}, err
		}
		p := e.DisputePolicy()
		d := Dispute{ID: uuid.New(), TenantID: tenant, EscrowID: e.ID, Status: Negotiating, Reason: req.Reason,
			ClaimedAmount: claimed, Currency: e.Currency, Description: trim(req.Description), EvidenceHours: p.EvidenceHours,
			SellerResponseDueAt: now.Add(time.Duration(p.SellerResponseHours) * hour),
			EscalationDueAt:     now.Add(time.Duration(p.EscalationHours) * hour),
			EvidenceDueAt:       now.Add(time.Duration(p.EvidenceHours) * hour),
			Version:             1, CreatedAt: now, UpdatedAt: now}
		d.NextDeadlineAt = nextDeadline(d)
		if err := insertDispute(ctx, tx, d); err != nil {
			return Dispute{}, err
		}
		if err := s.scheduleDeadline(ctx, tx, d, now); err != nil {
			return Dispute{}, err
		}
		if err := risk.ObserveDispute(ctx, tx, tenant, e.ID, now); err != nil {
			return Dispute{}, err
		}
		return d, s.emit(ctx, tx, d, "dispute.opened", map[string]any{"description": d.Description, "escrow_state_before": e.StateBeforeDispute,
			"seller_id": e.Seller.ID, "buyer_id": e.Buyer.ID, "order_ref": e.OrderRef}, now)
	})
}

// claimWindow checks that a claim of reason may be made on e now: claims
// close terms.claim_window_days after delivery, or after the escrow closed
// when it closed undelivered; before delivery only not_received and
// late_shipment may be claimed.
func claimWindow(e escrow.Escrow, reason string, now time.Time) error {
	from, after := e.DeliveredAt, "delivery"
	if from == nil {
		if reason != ReasonNotReceived && reason != ReasonLateShipment {
			return &ClaimWindowError{Detail: beforeDeliveryMsg}
		}
		if e.ClosedAt == nil {
			return nil
		}
		// Closed without a delivery (released in full before it).
		from, after = e.ClosedAt, "the escrow closed undelivered"
	}
	closes := from.Add(time.Duration(e.Terms.ClaimWindowDays) * 24 * hour)
	if now.After(closes) {
		return &ClaimWindowError{Detail: fmt.Sprintf("claims close %d days after %s (%s)", e.Terms.ClaimWindowDays, after, closes.Format(time.RFC3339))}
	}
	return nil
}

// nextDeadline is the next deadline of d in its status (nil once closed).
func nextDeadline(d Dispute) *time.Time {
	var t time.Time
	switch {
	case d.Status == Negotiating && d.SellerRespondedAt == nil:
		t = d.SellerResponseDueAt
	case d.Status == Negotiating:
		t = d.EscalationDueAt
	case d.Status == UnderReview:
		t = d.EvidenceDueAt
	default:
		return nil
	}
	return &t
}

// scheduleDeadline keeps the deadline job of a negotiating dispute at its
// next deadline, and cancels it otherwise.
func (s *Service) scheduleDeadline(ctx context.Context, tx pgx.Tx, d Dispute, now time.Time) error {
	if d.Status != Negotiating {
		return jobs.Cancel(ctx, tx, JobDeadline, d.ID.String(), now)
	}
	return jobs.Schedule(ctx, tx, jobs.Job{TenantID: d.TenantID, Kind: JobDeadline, DedupeKey: d.ID.String(), RunAt: *nextDeadline(d),
		Payload: jobPayload(d.TenantID, "dispute_id", d.ID)}, now)
}

// change runs one action on a dispute in one transaction: lock it, check
// the transition table, run do (which may move money through the escrow
// hooks and set d.Status to a status the table allows), keep the deadline
// job in step and save, guarded on status and version. The transaction's
// result (what the API renders and stores under the idempotency key) is
// result of the saved dispute.
func change[T any](ctx context.Context, s *Service, tenant, id uuid.UUID, a Action, do func(tx pgx.Tx, d *Dispute, now time.Time) error, result func(Dispute) T) (T, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (T, error) {
		d, err := s.changeTx(ctx, tx, tenant, id, a, do)
		if err != nil {
			var zero T
			return zero, err
		}
		return result(d), nil
	})
}

func itself(d Dispute) Dispute { return d }

// withRiskFeatures reads the risk features of the dispute's escrow before
// an outcome's transaction (see escrow.Service.WithRiskFeatures).
func (s *Service) withRiskFeatures(ctx context.Context, tenant, id uuid.UUID) context.Context {
	d, err := loadDispute(ctx, s.DB.Pool, tenant, id, false)
	if err != nil {
		return ctx
	}
	return s.Escrows.WithRiskFeatures(ctx, tenant, d.EscrowID)
}

func (s *Service) changeTx(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, a Action, do func(tx pgx.Tx, d *Dispute, now time.Time) error) (Dispute, error) {
	now := s.Clock.Now()
	d, err := loadDispute(ctx, tx, tenant, id, true)
	if err != nil {
		return Dispute{}, err
	}
	to, err := next(d.Status, a)
	if err != nil {
		return Dispute{}, fmt.Errorf("dispute %s: %w", d.ID, err)
	}
	from := d.Status
	d.Status = to
	if err := do(tx, &d, now); err != nil {
		return Dispute{}, err
	}
	d.NextDeadlineAt = nextDeadline(d)
	if err := s.scheduleDeadline(ctx, tx, d, now); err != nil {
		return Dispute{}, err
	}
	if err := saveDispute(ctx, tx, &d, from, now); err != nil {
		return Dispute{}, err
	}
	return d, nil
}

// sellerResponded records the seller's first response (an offer, evidence,
// a decision on the buyer's offer, an escalation): the negotiation period
// is then over and the next deadline is the automatic escalation.
func sellerResponded(d *Dispute, by string, now time.Time) {
	if by == PartySeller && d.SellerRespondedAt == nil {
		d.SellerRespondedAt = &now
	}
}

// Escalate sends a negotiating dispute to an agent. The seller may
// escalate at any time (it is a response); the buyer once the negotiation
// period is over: the seller responded or missed its response deadline
// (ErrNegotiationOpen otherwise).
func (s *Service) Escalate(ctx context.Context, tenant, id uuid.UUID, req EscalateRequest) (Dispute, error) {
	if err := req.Validate(); err != nil {
		return Dispute{}, err
	}
	return change(ctx, s, tenant, id, ActEscalate, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		if req.By == PartyBuyer && d.SellerRespondedAt == nil && now.Before(d.SellerResponseDueAt) {
			return fmt.Errorf("dispute %s: seller response due %s: %w", d.ID, d.SellerResponseDueAt.Format(time.RFC3339), ErrNegotiationOpen)
		}
		sellerResponded(d, req.By, now)
		return s.escalate(ctx, tx, d, req.By, "", now)
	}, itself)
}

// escalate moves d to under_review and reopens the evidence window for
// the agent's review.
func (s *Service) escalate(ctx context.Context, tx pgx.Tx, d *Dispute, by, deadline string, now time.Time) error {
	d.Status, d.EscalatedAt, d.EscalatedBy = UnderReview, &now, by
	if due := now.Add(time.Duration(d.EvidenceHours) * hour); due.After(d.EvidenceDueAt) {
		d.EvidenceDueAt = due
	}
	extra := map[string]any{"by": by, "evidence_due_at": d.EvidenceDueAt}
	if deadline != "" {
		extra["deadline"] = deadline
	}
	return s.emit(ctx, tx, *d, "dispute.escalated", extra, now)
}

// HandleDeadline is the job run at a negotiating dispute's next deadline:
// a seller who has not responded by seller_response_due_at, or a
// negotiation still open at escalation_due_at, escalates the dispute to an
// agent (events dispute.deadline_missed, then dispute.escalated). It is
// idempotent: a dispute that moved on is left alone, one not due yet is
// rescheduled.
func (s *Service) HandleDeadline(ctx context.Context, j jobs.Job) error {
	tenant, id, err := jobTarget(j, "dispute_id")
	if err != nil {
		return err
	}
	_, err = change(ctx, s, tenant, id, ActDeadline, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		var missed string
		var due time.Time
		switch {
		case d.SellerRespondedAt == nil && !now.Before(d.SellerResponseDueAt):
			missed, due = DeadlineSellerResponse, d.SellerResponseDueAt
		case !now.Before(d.EscalationDueAt):
			missed, due = DeadlineEscalation, d.EscalationDueAt
		default:
			return errNotDue
		}
		if err := s.emit(ctx, tx, *d, "dispute.deadline_missed", map[string]any{"deadline": missed, "due_at": due}, now); err != nil {
			return err
		}
		return s.escalate(ctx, tx, d, BySystem, missed, now)
	}, itself)
	if errors.Is(err, errNotDue) {
		return s.reschedule(ctx, tenant, id)
	}
	if errors.Is(err, ErrInvalidStatus) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

var errNotDue = errors.New("not due yet")

// reschedule moves the deadline job of a dispute to its next deadline (a
// job that ran early, e.g. after a clock change).
func (s *Service) reschedule(ctx context.Context, tenant, id uuid.UUID) error {
	return s.DB.Tx(ctx, func(tx pgx.Tx) error {
		d, err := loadDispute(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		return s.scheduleDeadline(ctx, tx, d, s.Clock.Now())
	})
}

// Withdraw ends an open dispute at the buyer's request: the escrow returns
// to the state it was in, with its timers (an overdue auto-release runs at
// once). The claim decided nothing, so a dispute outcome that a chargeback
// won during it suspended is paid out again (takeOwedOutcomes,
// escrow.Service.EndDispute).
func (s *Service) Withdraw(ctx context.Context, tenant, id uuid.UUID, req WithdrawRequest) (Dispute, error) {
	if err := req.Validate(); err != nil {
		return Dispute{}, err
	}
	return change(ctx, s, tenant, id, ActWithdraw, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		owed, err := takeOwedOutcomes(ctx, tx, d.EscrowID, now)
		if err != nil {
			return err
		}
		e, err := s.Escrows.EndDispute(ctx, tx, tenant, d.EscrowID, owed, now)
		if err != nil {
			return err
		}
		d.WithdrawnAt = &now
		return s.emit(ctx, tx, *d, "dispute.withdrawn", map[string]any{"reason": trim(req.Reason), "escrow_state": e.State}, now)
	}, itself)
}

// Assign gives an open dispute to an agent.
func (s *Service) Assign(ctx context.Context, tenant, id uuid.UUID, req AssignRequest) (Dispute, error) {
	if err := req.Validate(); err != nil {
		return Dispute{}, err
	}
	return change(ctx, s, tenant, id, ActAssign, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		prev := d.Assignee
		d.Assignee = trim(req.Agent)
		return s.emit(ctx, tx, *d, "dispute.assigned", map[string]any{"agent": d.Assignee, "previous_agent": prev}, now)
	}, itself)
}

// Resolve is an agent's decision on a dispute under review: refund_full
// (everything the buyer can claim), refund_partial (refund_amount) or
// release_full. The outcome's payouts, coverage and the status change
// commit together.
func (s *Service) Resolve(ctx context.Context, tenant, id uuid.UUID, req ResolveRequest, by string) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	var st escrow.Settlement
	ctx = s.withRiskFeatures(ctx, tenant, id)
	return change(ctx, s, tenant, id, ActResolve, func(tx pgx.Tx, d *Dispute, now time.Time) error {
		var refund *decimal.Decimal
		switch req.Outcome {
		case OutcomeReleaseFull:
			z := decimal.Zero
			refund = &z
		case OutcomeRefundPartial:
			r, err := parseAmount("refund_amount", *req.RefundAmount, d.Currency, true)
			if err != nil {
				return err
			}
			refund = &r
		}
		var err error
		st, err = s.settle(ctx, tx, d, req.Outcome, refund, trim(req.Rationale), by, nil, now)
		return err
	}, func(d Dispute) Outcome { return Outcome{Dispute: d, Settlement: st} })
}

// settle carries out an outcome on the escrow and records it on d.
func (s *Service) settle(ctx context.Context, tx pgx.Tx, d *Dispute, outcome string, refund *decimal.Decimal, rationale, by string, offer *Offer, now time.Time) (escrow.Settlement, error) {
	covered, chargedBack, err := recoveredBefore(ctx, tx, d.EscrowID)
	if err != nil {
		return escrow.Settlement{}, err
	}
	// This outcome decides the money open, suspended outcomes that
	// chargebacks won during the claim owed included.
	if _, err := takeOwedOutcomes(ctx, tx, d.EscrowID, now); err != nil {
		return escrow.Settlement{}, err
	}
	recent, err := coveragePayouts(ctx, tx, d.EscrowID, now)
	if err != nil {
		return escrow.Settlement{}, err
	}
	st, err := s.Escrows.SettleDispute(ctx, tx, d.TenantID, d.EscrowID, escrow.SettleInput{DisputeID: d.ID, Refund: refund, CoveredBefore: covered, ChargedBack: chargedBack,
		CoveragePayouts: recent, Reason: "dispute " + d.ID.String() + ": " + outcome}, now)
	if err != nil {
		return escrow.Settlement{}, err
	}
	c := st.Coverage
	r := Resolution{Outcome: outcome, RefundAmount: st.Requested, Covered: c.Covered, Recovered: c.Recovered,
		Receivable: c.Receivable, Capped: c.Capped, CoverageStatus: c.Status, CoverageEntryIDs: c.EntryIDs,
		Rationale: rationale, ResolvedBy: by, ResolvedAt: now}
	if c.Risk != nil {
		r.CoverageDecisionID = &c.Risk.DecisionID
	}
	if c.Status == escrow.StatusPendingReview {
		r.CoverageReviewID = c.ReviewID
	}
	if st.Refund != nil {
		r.RefundPayoutID = &st.Refund.ID
	}
	if st.Release != nil {
		r.ReleasePayoutID = &st.Release.ID
	}
	if offer != nil {
		r.AcceptedOfferID = &offer.ID
	}
	d.Resolution = &r
	extra := map[string]any{"outcome": outcome, "refund_amount": fmtAmount(r.RefundAmount, d.Currency), "covered_amount": fmtAmount(r.Covered, d.Currency),
		"capped": r.Capped, "resolved_by": by, "escrow_state": st.Escrow.State}
	if r.RefundPayoutID != nil {
		extra["refund_id"], extra["refund_status"] = r.RefundPayoutID, st.Refund.Status
	}
	if r.ReleasePayoutID != nil {
		extra["release_id"], extra["release_status"] = r.ReleasePayoutID, st.Release.Status
	}
	if r.CoverageStatus != "" {
		extra["coverage_status"] = r.CoverageStatus
		if c.ReviewID != nil {
			extra["coverage_review_id"] = c.ReviewID
		}
	}
	if offer != nil {
		extra["offer_id"] = offer.ID
	}
	return st, s.emit(ctx, tx, *d, "dispute.resolved", extra, now)
}

// emit writes a dispute event. Its subject is the escrow, so the escrow's
// timeline shows it; dispute_id is in the payload.
func (s *Service) emit(ctx context.Context, tx pgx.Tx, d Dispute, typ string, extra map[string]any, now time.Time) error {
	p := map[string]any{"dispute_id": d.ID, "escrow_id": d.EscrowID, "status": d.Status, "reason": d.Reason,
		"claimed_amount": fmtAmount(d.ClaimedAmount, d.Currency), "currency": d.Currency}
	if d.Assignee != "" {
		p["assignee"] = d.Assignee
	}
	if next := nextDeadline(d); next != nil {
		p["next_deadline_at"] = *next
	}
	for k, v := range extra {
		p[k] = v
	}
	_, err := outbox.Emit(ctx, tx, d.TenantID, typ, d.EscrowID.String(), p, now)
	return err
}

// jobPayload names a job's target: key is dispute_id or chargeback_id.
func jobPayload(tenant uuid.UUID, key string, id uuid.UUID) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"tenant_id": tenant.String(), key: id.String()})
	return b
}

func trim(s string) string { return strings.TrimSpace(s) }

func jobTarget(j jobs.Job, key string) (tenant, id uuid.UUID, err error) {
	var p map[string]string
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("job %s: %w: %w", j.ID, jobs.ErrPermanent, err)
	}
	tenant, err1 := uuid.Parse(p["tenant_id"])
	id, err2 := uuid.Parse(p[key])
	if err1 != nil || err2 != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("job %s: bad payload: %w", j.ID, jobs.ErrPermanent)
	}
	return tenant, id, nil
}

// ValidStatus reports whether st is a dispute status.
func ValidStatus(st string) bool { return slices.Contains(Statuses, Status(st)) }
