package escrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// ResolveReview is the risk review resolver for payouts ("release" and
// "refund" subjects): approval commits the pending ledger entry, rejection
// (or expiry) voids it and the money stays in escrow. While the escrow is
// disputed an approval is refused (but that of a refund an earlier
// dispute's outcome decided), so the review stays pending. An approved
// release the buyer is there for, whose gate decision also asked for
// step-up (over USD 10,000 while the score sent it to review), is not
// committed: it waits for the buyer's code as a step_up outcome does
// (risk.Gate.StepUpAfterReview), the money held. It returns the payout's
// status.
func (s *Service) ResolveReview(ctx context.Context, tx pgx.Tx, rv risk.Review, approved bool, now time.Time) (string, error) {
	p, _, err := s.resolve(ctx, tx, rv.TenantID, rv.SubjectID, approved, &rv, now)
	return p.Status, err
}

// resolve finishes a pending payout inside tx; rv is the review that
// decided it (nil for the buyer's code and the confirmation timeout).
func (s *Service) resolve(ctx context.Context, tx pgx.Tx, tenant, payoutID uuid.UUID, approved bool, rv *risk.Review, now time.Time) (Payout, Escrow, error) {
	p, err := loadPayout(ctx, tx, tenant, payoutID)
	if err != nil {
		return Payout{}, Escrow{}, err
	}
	e, err := load(ctx, tx, tenant, p.EscrowID, true)
	if err != nil {
		return Payout{}, Escrow{}, err
	}
	from := p.Status
	if from == StatusRejected && !approved {
		return p, e, nil // voided already (a dispute outcome superseded it): rejecting it again changes nothing
	}
	if from != StatusPendingReview && from != StatusAwaitingConfirmation || p.EntryID == nil {
		return Payout{}, Escrow{}, fmt.Errorf("payout %s is %s: %w", p.ID, p.Status, ErrPayoutNotAwaiting)
	}
	if approved {
		// While a dispute is open no release moves; a refund the outcome
		// of an earlier dispute decided still may.
		if e.State == Disputed && (p.Kind == KindRelease || p.Trigger != TriggerDispute) {
			return Payout{}, Escrow{}, fmt.Errorf("escrow %s: %w", e.ID, &InvalidStateError{State: e.State, Action: ActRelease})
		}
		// A freeze since the gate let it through stops it now.
		if err := risk.CheckNotFrozen(ctx, tx, tenant, e.Buyer.ID, e.Seller.ID); err != nil {
			return Payout{}, Escrow{}, fmt.Errorf("payout %s: %w", p.ID, err)
		}
		// A reviewer's approval does not stand in for the buyer's code.
		if rv != nil && from == StatusPendingReview && buyerConfirms(p) {
			asked, err := s.stepUpAfterReview(ctx, tx, e, &p, *rv, now)
			if err != nil {
				return Payout{}, Escrow{}, err
			}
			if asked {
				return p, e, nil
			}
		}
	}
	e.holdPayout(p, -1)
	var typ string
	if approved {
		posted, err := ledger.Commit(ctx, tx, tenant, *p.EntryID, nil, now)
		if err != nil {
			return Payout{}, Escrow{}, fmt.Errorf("payout %s: commit: %w", p.ID, err)
		}
		p.Status, p.EntryID = StatusCompleted, &posted.ID
		e.applyPayout(p, +1)
		typ = p.Kind + ".completed"
	} else {
		if _, err := ledger.Void(ctx, tx, tenant, *p.EntryID, now); err != nil && !errors.Is(err, ledger.ErrNotPending) {
			return Payout{}, Escrow{}, fmt.Errorf("payout %s: void: %w", p.ID, err)
		}
		p.Status = StatusRejected
		typ = p.Kind + ".rejected"
	}
	if err := setPayoutStatus(ctx, tx, p, from, now); err != nil {
		return Payout{}, Escrow{}, err
	}
	extra := e.payoutFields(p)
	e.announce(typ, extra)
	if approved {
		e.announce(moneyEvent(p.Kind), extra)
	}
	if err := s.settleAfter(ctx, tx, &e, p, approved, now); err != nil {
		return Payout{}, Escrow{}, err
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Payout{}, Escrow{}, err
	}
	return p, e, nil
}

// stepUpAfterReview opens the buyer's step-up challenge for p, a release
// pending review that the review rv just approved, when the gate's
// decision still owes it (risk.Gate.StepUpAfterReview): p then awaits
// confirmation like a step_up outcome (awaitConfirmation), its entry still
// pending and the escrow unchanged, and release.confirmation_required
// hands the code to the marketplace. asked is false, and nothing is
// written, when no step-up is owed.
func (s *Service) stepUpAfterReview(ctx context.Context, tx pgx.Tx, e Escrow, p *Payout, rv risk.Review, now time.Time) (asked bool, err error) {
	code, expires, ok, err := s.Gate.StepUpAfterReview(ctx, tx, rv, now)
	if err != nil || !ok {
		return false, err
	}
	from := p.Status
	if err := awaitConfirmation(ctx, tx, p, now); err != nil {
		return false, err
	}
	if err := setPayoutStatus(ctx, tx, *p, from, now); err != nil {
		return false, err
	}
	extra := e.payoutFields(*p)
	extra["review_id"], extra["code"], extra["code_expires_at"] = rv.ID, code, expires
	if err := emit(ctx, tx, e, p.Kind+".confirmation_required", extra, now); err != nil {
		return false, err
	}
	return true, nil
}

// settleAfter moves the escrow once a waiting payout resolved: an approved
// cancellation or expiry refund closes it as cancelled or expired; anything
// else settles as usual. An escrow closed already (the refund of money a
// won chargeback brought back) stays as it is.
//
// An approved closing refund closes only an escrow its action could close
// (the transition table leads from the escrow's state to the closing
// state): the escrow waits where the refund was asked for (heldByClosing),
// so anything else is an escrow that moved on meanwhile, and closing it
// would refund, say, a shipped order in full. The approval is refused as
// the action would be (409 invalid_state naming the state and the
// action): it rolls back, and the review stays pending for a reviewer to
// reject.
func (s *Service) settleAfter(ctx context.Context, tx pgx.Tx, e *Escrow, p Payout, approved bool, now time.Time) error {
	if e.State == Cancelled || e.State == Expired {
		return nil
	}
	if to, ok := closedBy[p.Trigger]; approved && ok && p.Kind == KindRefund {
		if got, err := next(e.State, Action(p.Trigger)); err != nil || got != to {
			return fmt.Errorf("escrow %s: approved %s refund %s: %w", e.ID, p.Trigger, p.ID, &InvalidStateError{State: e.State, Action: Action(p.Trigger)})
		}
		if !e.Held().IsPositive() {
			e.State, e.ClosedAt = to, &now
			e.announce("escrow."+string(to), nil)
			return nil
		}
	}
	return s.settle(ctx, tx, e, now)
}

// ConfirmRelease checks the buyer's one-time code for a release awaiting
// step-up confirmation. A right code posts the release; a wrong one is
// recorded (CodeRejected, AttemptsLeft); the fifth wrong one blocks the
// release and sends it to review.
func (s *Service) ConfirmRelease(ctx context.Context, tenant, id uuid.UUID, code string) (ReleaseResult, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (ReleaseResult, error) {
		now := s.Clock.Now()
		p, err := awaitingRelease(ctx, tx, tenant, id)
		if err != nil {
			return ReleaseResult{}, err
		}
		res, err := s.Gate.VerifyStepUp(ctx, tx, tenant, p.ID, code, now)
		if err != nil {
			return ReleaseResult{}, fmt.Errorf("release %s: %w", p.ID, err)
		}
		switch {
		case res.Confirmed:
			p, e, err := s.resolve(ctx, tx, tenant, p.ID, true, nil, now)
			return ReleaseResult{Release: p, Escrow: e}, err
		case res.Blocked:
			e, err := load(ctx, tx, tenant, p.EscrowID, true)
			if err != nil {
				return ReleaseResult{}, err
			}
			p.Status, p.ReviewID = StatusPendingReview, res.ReviewID
			if err := setPayoutStatus(ctx, tx, p, StatusAwaitingConfirmation, now); err != nil {
				return ReleaseResult{}, err
			}
			if err := emit(ctx, tx, e, p.Kind+".pending_review", map[string]any{p.Kind + "_id": p.ID, "status": p.Status, "review_id": res.ReviewID, "reason": "too_many_wrong_codes"}, now); err != nil {
				return ReleaseResult{}, err
			}
			return ReleaseResult{Release: p, Escrow: e, CodeRejected: true}, nil
		default:
			e, err := load(ctx, tx, tenant, p.EscrowID, false)
			return ReleaseResult{Release: p, Escrow: e, CodeRejected: true, AttemptsLeft: res.AttemptsLeft}, err
		}
	})
}

// awaitingRelease reads a release of tenant that awaits the buyer's
// step-up confirmation.
func awaitingRelease(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID) (Payout, error) {
	p, err := loadPayout(ctx, tx, tenant, id)
	if err != nil {
		return Payout{}, err
	}
	if p.Kind != KindRelease {
		return Payout{}, fmt.Errorf("release %s: %w", id, ErrReleaseNotFound)
	}
	if p.Status != StatusAwaitingConfirmation {
		return Payout{}, fmt.Errorf("release %s is %s: %w", p.ID, p.Status, ErrPayoutNotAwaiting)
	}
	return p, nil
}

// ResendCode issues a new one-time code for a release awaiting
// confirmation (event release.confirmation_required).
func (s *Service) ResendCode(ctx context.Context, tenant, id uuid.UUID) (ReleaseResult, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (ReleaseResult, error) {
		now := s.Clock.Now()
		p, err := awaitingRelease(ctx, tx, tenant, id)
		if err != nil {
			return ReleaseResult{}, err
		}
		code, expires, err := s.Gate.ResendStepUp(ctx, tx, tenant, p.ID, now)
		if err != nil {
			return ReleaseResult{}, fmt.Errorf("release %s: %w", p.ID, err)
		}
		e, err := load(ctx, tx, tenant, p.EscrowID, false)
		if err != nil {
			return ReleaseResult{}, err
		}
		err = emit(ctx, tx, e, p.Kind+".confirmation_required", map[string]any{p.Kind + "_id": p.ID, "status": p.Status,
			"amount": fmtAmount(p.OrderAmount, e.Currency), "code": code, "code_expires_at": expires, "resent": true}, now)
		return ReleaseResult{Release: p, Escrow: e}, err
	})
}

// GetRelease returns a release with its risk decision.
func (s *Service) GetRelease(ctx context.Context, tenant, id uuid.UUID) (Payout, error) {
	p, err := loadPayout(ctx, s.DB.Pool, tenant, id)
	if err != nil {
		return Payout{}, err
	}
	if p.Kind != KindRelease {
		return Payout{}, fmt.Errorf("release %s: %w", id, ErrReleaseNotFound)
	}
	return p, nil
}
