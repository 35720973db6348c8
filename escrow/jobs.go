package escrow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
)

// HandleExpire is the job that expires an escrow not fully funded by its
// deadline: any partial funding is refunded through the gate, and it is
// expired whatever the gate says (what the gate holds back stays in the
// expired escrow until a review approves it or a refund moves it). It is
// idempotent: an escrow that was fully funded (the job is not cancelled
// then), cancelled or expired meanwhile is left alone.
func (s *Service) HandleExpire(ctx context.Context, j jobs.Job) error {
	tenant, id, err := jobTarget(j)
	if err != nil {
		return err
	}
	_, err = act(ctx, s, tenant, id, 0, ActExpire, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		if now.Before(e.FundingDeadlineAt) || e.FundedAt != nil {
			return errNotDue
		}
		const reason = "funding deadline passed"
		expire := func() {
			e.State, e.ClosedAt = Expired, &now
			e.announce("escrow.expired", map[string]any{"reason": reason})
		}
		if e.Pending.IsPositive() {
			// A refund already waits for the gate (a cancellation's, a
			// dispute outcome's): it stands, and the escrow expires
			// around it; anything else it holds goes back to the buyer.
			expire()
			return s.refundClosed(ctx, tx, e, reason, now)
		}
		if _, err := s.returnAll(ctx, tx, e, "expire", reason, now); err != nil {
			return err
		}
		if e.State != Expired {
			// The gate held the refund back (review or block). The
			// deadline has passed all the same: the escrow expires now,
			// so it cannot be funded any more, and what the gate kept
			// is moved by the review's approval or by a refund.
			expire()
		}
		return nil
	}, same)
	return ignoreSettled(err)
}

// HandleAutoRelease is the job that releases what is held when the
// inspection window ends with no dispute and no acceptance, through the same
// gate as any release. Idempotent like HandleExpire.
func (s *Service) HandleAutoRelease(ctx context.Context, j jobs.Job) error {
	tenant, id, err := jobTarget(j)
	if err != nil {
		return err
	}
	ctx = s.WithRiskFeatures(ctx, tenant, id)
	_, err = act(ctx, s, tenant, id, 0, ActAutoRelease, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		if e.InspectionEndsAt == nil || now.Before(*e.InspectionEndsAt) {
			return errNotDue
		}
		_, err := s.releaseAllOpen(ctx, tx, e, TriggerAuto, now)
		return err
	}, same)
	return ignoreSettled(err)
}

// HandleConfirmationTimeout voids a release that still awaits the buyer's
// step-up confirmation: the hold is released and the money is held in the
// escrow again (event release.rejected). Idempotent: a release confirmed,
// reviewed or voided meanwhile is left alone.
func (s *Service) HandleConfirmationTimeout(ctx context.Context, j jobs.Job) error {
	var p struct {
		Tenant string `json:"tenant_id"`
		Payout string `json:"payout_id"`
	}
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("job %s: %w", j.ID, errors.Join(jobs.ErrPermanent, err))
	}
	tenant, err1 := uuid.Parse(p.Tenant)
	id, err2 := uuid.Parse(p.Payout)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("job %s: bad payload: %w", j.ID, jobs.ErrPermanent)
	}
	_, err := db.Write(ctx, s.DB, func(tx pgx.Tx) (Payout, error) {
		po, err := loadPayout(ctx, tx, tenant, id)
		if err != nil || po.Status != StatusAwaitingConfirmation {
			return po, err
		}
		po, _, err = s.resolve(ctx, tx, tenant, id, false, nil, s.Clock.Now())
		return po, err
	})
	if errors.Is(err, ErrReleaseNotFound) {
		return nil
	}
	return err
}

func payoutJobPayload(tenant, payout uuid.UUID) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"tenant_id": tenant.String(), "payout_id": payout.String()})
	return b
}

var errNotDue = errors.New("not due yet")

// ignoreSettled makes a job a no-op when the escrow moved on (another
// state, not due): the job is done, not failed.
func ignoreSettled(err error) error {
	if errors.Is(err, ErrInvalidState) || errors.Is(err, errNotDue) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func jobTarget(j jobs.Job) (tenant, id uuid.UUID, err error) {
	var p struct {
		Tenant string `json:"tenant_id"`
		Escrow string `json:"escrow_id"`
	}
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("job %s: %w", j.ID, errors.Join(jobs.ErrPermanent, err))
	}
	tenant, err1 := uuid.Parse(p.Tenant)
	id, err2 := uuid.Parse(p.Escrow)
	if err1 != nil || err2 != nil {
		return uuid.Nil, uuid.Nil, fmt.Errorf("job %s: bad payload: %w", j.ID, jobs.ErrPermanent)
	}
	return tenant, id, nil
}
