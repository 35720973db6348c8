package disputes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
)

// Chargeback is a card-network dispute the marketplace's PSP reported for
// an escrow's payment. Amount, in Currency (the escrow's currency or one
// the escrow was funded in through FX), was taken back at once; in the
// escrow's currency it is EscrowAmount (Amount itself when the currencies
// are the same), which is FromHeld from the escrow account, ClawedBack
// from the seller's payable balance, and the rest a Loss of which the
// seller owes Receivable, all in EscrowCurrency.
type Chargeback struct {
	ID                                     uuid.UUID
	TenantID                               uuid.UUID
	EscrowID                               uuid.UUID
	Status                                 ChargebackStatus
	Amount                                 decimal.Decimal
	Currency                               string
	EscrowAmount                           decimal.Decimal
	EscrowCurrency                         string
	PSPRef                                 string
	Reason                                 string
	RespondBy                              time.Time
	FromHeld, ClawedBack, Loss, Receivable decimal.Decimal
	PayoutID                               *uuid.UUID
	EntryIDs                               []uuid.UUID
	// VoidedPayoutIDs are the payouts of a dispute outcome the chargeback
	// voided: paid out again, what it took of them, when it is won
	// (escrow.ChargebackBooking.Suspended).
	VoidedPayoutIDs []uuid.UUID
	// ClaimsResolved is how many of the escrow's claims were resolved when
	// the chargeback was booked (nil on rows stored before migration
	// 0507): one resolved since supersedes the outcome of VoidedPayoutIDs
	// (resolvedSince).
	ClaimsResolved *int64
	// ResumeOwed: the chargeback was won while a claim was open, so the
	// outcome of VoidedPayoutIDs is paid out again if that claim is
	// withdrawn (Withdraw); resolved, the claim's outcome supersedes it.
	ResumeOwed bool
	// VoidedCoverage is the coverage of claims the chargeback voided
	// because it waited for review (voidHeldCoverage): paid again when
	// the chargeback is decided (resumeCoverage).
	VoidedCoverage       []VoidedCoverage
	Evidence             []Evidence
	Version              int64
	CreatedAt, UpdatedAt time.Time
	DecidedAt            *time.Time
}

// ResourceID names the chargeback for the audit log.
func (c Chargeback) ResourceID() string { return c.ID.String() }

// OpenChargeback records a chargeback and books its money movements (see
// escrow.Service.ApplyChargeback), after voiding the coverage of the
// escrow's claims that waits for review (voidHeldCoverage): the card
// network paid the buyer. Status needs_response until respond_by,
// when it is lost unless submitted. A psp_ref already recorded is
// ErrDuplicatePSPRef.
func (s *Service) OpenChargeback(ctx context.Context, tenant, escrowID uuid.UUID, req ChargebackRequest) (Chargeback, error) {
	c, err := req.Validate()
	if err != nil {
		return Chargeback{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Chargeback, error) {
		now := s.Clock.Now()
		if !c.respondBy.After(now) || c.respondBy.After(now.Add(maxRespondDays*24*hour)) {
			return Chargeback{}, valid.Field("respond_by", fmt.Sprintf("must lie in the next %d days", maxRespondDays))
		}
		// Earlier chargebacks not won: in the escrow's currency, and in
		// this one's currency (what was captured in it and is charged
		// back already).
		var charged, clawed, chargedIn, takenIn, byCoverage decimal.Decimal
		if err := tx.QueryRow(ctx, `
			SELECT COALESCE(sum(COALESCE(escrow_amount, amount)), 0), COALESCE(sum(clawed_back + receivable_amount), 0),
				COALESCE(sum(CASE WHEN currency = $2 THEN amount ELSE 0 END), 0),
				COALESCE(sum(CASE WHEN currency = $2 THEN COALESCE(escrow_amount, amount) ELSE 0 END), 0)
			FROM chargebacks WHERE escrow_id = $1 AND status <> 'won'`, escrowID, c.currency).Scan(&charged, &clawed, &chargedIn, &takenIn); err != nil {
			return Chargeback{}, fmt.Errorf("escrow %s: chargebacks: %w", escrowID, err)
		}
		// What completed coverage took back from the seller counts as
		// clawed back; coverage waiting for review took nothing yet.
		if byCoverage, err = coverageClawed(ctx, tx, escrowID); err != nil {
			return Chargeback{}, err
		}
		// What a claim resolved since supersedes (resolvedSince), counted
		// in this transaction rather than compared by timestamps.
		resolved, err := resolvedClaims(ctx, tx, escrowID)
		if err != nil {
			return Chargeback{}, err
		}
		es, err := escrow.Read(ctx, tx, tenant, escrowID)
		if err != nil {
			return Chargeback{}, err
		}
		cb := Chargeback{ID: uuid.New(), TenantID: tenant, EscrowID: escrowID, Status: NeedsResponse, Amount: c.amount,
			Currency: c.currency, EscrowCurrency: es.Currency, PSPRef: c.pspRef, Reason: c.reason, RespondBy: c.respondBy, ClaimsResolved: &resolved,
			Version: 1, CreatedAt: now, UpdatedAt: now}
		// The row first, so a psp_ref already recorded is refused before any
		// check on the money; the amount in the escrow's currency and the
		// split are filled in below.
		tag, err := tx.Exec(ctx, `
			INSERT INTO chargebacks (id, tenant_id, escrow_id, status, amount, currency, escrow_currency, psp_ref, reason, respond_by,
				from_held, clawed_back, loss_amount, receivable_amount, claims_resolved, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $5, 0, 0, 0, $12, 1, $11, $11) ON CONFLICT DO NOTHING`,
			cb.ID, tenant, escrowID, string(cb.Status), cb.Amount, cb.Currency, cb.EscrowCurrency, cb.PSPRef, cb.Reason, cb.RespondBy, now, resolved)
		if err != nil {
			return Chargeback{}, fmt.Errorf("chargeback: insert: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return Chargeback{}, fmt.Errorf("psp_ref %q: %w", cb.PSPRef, ErrDuplicatePSPRef)
		}
		// The card network has paid the buyer: coverage of a claim that
		// still waits for review would pay the buyer again. It is voided
		// first, so its recovery's hold on the seller's payable is back
		// for the clawback (it never counted as clawed back above).
		held, amounts, err := s.voidHeldCoverage(ctx, tx, cb, now)
		if err != nil {
			return Chargeback{}, err
		}
		b, err := s.Escrows.ApplyChargeback(ctx, tx, tenant, escrowID, escrow.ChargebackInput{ChargebackID: cb.ID, Amount: cb.Amount,
			Currency: cb.Currency, PSPRef: cb.PSPRef, ChargedBefore: charged, ClawedBefore: clawed.Add(byCoverage), ChargedBeforeIn: chargedIn, TakenBeforeIn: takenIn}, now)
		if err != nil {
			return Chargeback{}, err
		}
		cb.EscrowAmount, cb.FromHeld, cb.ClawedBack, cb.Loss, cb.Receivable = b.EscrowAmount, b.FromHeld, b.ClawedBack, b.Loss, b.Receivable
		cb.PayoutID, cb.EntryIDs, cb.VoidedPayoutIDs = b.PayoutID, b.EntryIDs, []uuid.UUID{}
		for _, p := range b.Suspended {
			cb.VoidedPayoutIDs = append(cb.VoidedPayoutIDs, p.ID)
		}
		cb.VoidedCoverage = voidedCoverage(held, amounts, b)
		entries, _ := json.Marshal(cb.EntryIDs)
		voided, _ := json.Marshal(cb.VoidedPayoutIDs)
		coverage, _ := json.Marshal(cb.VoidedCoverage)
		if _, err := tx.Exec(ctx, `
			UPDATE chargebacks SET escrow_amount = $2, from_held = $3, clawed_back = $4, loss_amount = $5, receivable_amount = $6, payout_id = $7, entry_ids = $8,
				voided_payout_ids = $9, voided_coverage = $10
			WHERE id = $1`, cb.ID, cb.EscrowAmount, cb.FromHeld, cb.ClawedBack, cb.Loss, cb.Receivable, cb.PayoutID, entries, voided, coverage); err != nil {
			return Chargeback{}, fmt.Errorf("chargeback %s: %w", cb.ID, err)
		}
		if err := jobs.Schedule(ctx, tx, jobs.Job{TenantID: tenant, Kind: JobChargebackDue, DedupeKey: cb.ID.String(), RunAt: cb.RespondBy,
			Payload: jobPayload(tenant, "chargeback_id", cb.ID)}, now); err != nil {
			return Chargeback{}, err
		}
		return cb, s.emitChargeback(ctx, tx, cb, "chargeback.opened", map[string]any{"escrow_state": b.Escrow.State}, now)
	})
}

// AddChargebackEvidence stores evidence for the response to the card
// network, until respond_by (ErrEvidenceDeadlinePassed after it).
func (s *Service) AddChargebackEvidence(ctx context.Context, tenant, id uuid.UUID, req EvidenceRequest) (EvidenceResult, error) {
	if err := req.Validate(); err != nil {
		return EvidenceResult{}, err
	}
	var ev Evidence
	return changeChargeback(ctx, s, tenant, id, CBEvidence, func(tx pgx.Tx, cb *Chargeback, now time.Time) error {
		if now.After(cb.RespondBy) {
			return fmt.Errorf("chargeback %s: evidence was due by %s: %w", cb.ID, cb.RespondBy.Format(time.RFC3339), ErrEvidenceDeadlinePassed)
		}
		ev = req.evidence(now)
		ev.ChargebackID = &cb.ID
		return insertEvidence(ctx, tx, tenant, ev)
	}, func(Chargeback) EvidenceResult { return EvidenceResult{Evidence: ev} })
}

// SubmitChargeback records that the response went to the card network
// (needs_response → under_review), before respond_by.
func (s *Service) SubmitChargeback(ctx context.Context, tenant, id uuid.UUID) (Chargeback, error) {
	return changeChargeback(ctx, s, tenant, id, CBSubmit, func(tx pgx.Tx, cb *Chargeback, now time.Time) error {
		if now.After(cb.RespondBy) {
			return fmt.Errorf("chargeback %s: the response was due by %s: %w", cb.ID, cb.RespondBy.Format(time.RFC3339), ErrEvidenceDeadlinePassed)
		}
		return jobs.Cancel(ctx, tx, JobChargebackDue, cb.ID.String(), now)
	}, sameChargeback)
}

// WinChargeback records the card network's decision for the merchant:
// every posting of the chargeback is reversed and the money is held again;
// a dispute outcome whose payouts the chargeback voided goes on, what it
// took of them paid out again as the agent decided, unless a claim
// resolved since the chargeback supersedes that outcome (resolvedSince).
// A claim withdrawn decided nothing; one still open decides the money if
// it is resolved, and if it is withdrawn the outcome is paid out again
// then (ResumeOwed, Withdraw). See escrow.Service.ReverseChargeback. A
// claim's coverage the chargeback voided is paid again in full
// (resumeCoverage).
func (s *Service) WinChargeback(ctx context.Context, tenant, id uuid.UUID) (Chargeback, error) {
	return changeChargeback(ctx, s, tenant, id, CBWin, func(tx pgx.Tx, cb *Chargeback, now time.Time) error {
		// Disputes before the escrow (loadDispute).
		ds, err := lockVoidedCoverage(ctx, tx, *cb)
		if err != nil {
			return err
		}
		suspended := cb.VoidedPayoutIDs
		later := false
		if len(suspended) > 0 || len(ds) > 0 {
			if later, err = resolvedSince(ctx, tx, *cb); err != nil {
				return err
			}
			if later {
				suspended = nil
			}
		}
		e, owed, err := s.Escrows.ReverseChargeback(ctx, tx, tenant, cb.EscrowID, cb.PayoutID, cb.EntryIDs, suspended, now)
		if err != nil {
			return err
		}
		if err := s.resumeCoverage(ctx, tx, *cb, ds, later, e, now); err != nil {
			return err
		}
		cb.DecidedAt, cb.ResumeOwed = &now, owed
		return s.emitChargeback(ctx, tx, *cb, "chargeback.won", map[string]any{"escrow_state": e.State}, now)
	}, sameChargeback)
}

// resolvedSince reports whether a claim on cb's escrow was resolved since
// cb was booked: the escrow's resolved claims outnumber ClaimsResolved.
// A chargeback suspends an outcome only when no claim is open, so every
// claim counted at booking was closed for good, and withdrawn claims,
// which decide nothing, are not counted. Rows stored before migration
// 0507 have no count and compare resolved_at with the chargeback's
// created_at instead.
func resolvedSince(ctx context.Context, tx pgx.Tx, cb Chargeback) (bool, error) {
	if cb.ClaimsResolved != nil {
		n, err := resolvedClaims(ctx, tx, cb.EscrowID)
		return n > *cb.ClaimsResolved, err
	}
	var later bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM disputes WHERE escrow_id = $1 AND status = $2 AND resolved_at > $3)`,
		cb.EscrowID, string(Resolved), cb.CreatedAt).Scan(&later); err != nil {
		return false, fmt.Errorf("escrow %s: disputes resolved since chargeback %s: %w", cb.EscrowID, cb.ID, err)
	}
	return later, nil
}

// resolvedClaims counts the escrow's resolved claims (withdrawn ones,
// which decide nothing, are not counted).
func resolvedClaims(ctx context.Context, tx pgx.Tx, escrowID uuid.UUID) (int64, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM disputes WHERE escrow_id = $1 AND status = $2`, escrowID, string(Resolved)).Scan(&n); err != nil {
		return 0, fmt.Errorf("escrow %s: resolved disputes: %w", escrowID, err)
	}
	return n, nil
}

// takeOwedOutcomes takes the dispute outcomes that chargebacks of the escrow
// won while a claim was open still owe (ResumeOwed): they are no longer
// owed once that claim ends, paid out again by EndDispute when it is
// withdrawn, superseded by its outcome when it is resolved.
func takeOwedOutcomes(ctx context.Context, tx pgx.Tx, escrowID uuid.UUID, now time.Time) ([]escrow.OwedOutcome, error) {
	rows, err := tx.Query(ctx, `UPDATE chargebacks SET resume_owed = false, updated_at = $2 WHERE escrow_id = $1 AND resume_owed
		RETURNING payout_id, voided_payout_ids`, escrowID, now)
	if err != nil {
		return nil, fmt.Errorf("escrow %s: owed outcomes: %w", escrowID, err)
	}
	var out []escrow.OwedOutcome
	var payout *uuid.UUID
	var voided []byte
	if _, err := pgx.ForEachRow(rows, []any{&payout, &voided}, func() error {
		o := escrow.OwedOutcome{}
		if err := json.Unmarshal(voided, &o.Suspended); err != nil {
			return err
		}
		if payout != nil { // a chargeback that took nothing held owes nothing
			o.Reversed = *payout
			out = append(out, o)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("escrow %s: owed outcomes: %w", escrowID, err)
	}
	return out, nil
}

// LoseChargeback records the card network's decision for the buyer (or
// the marketplace accepting the chargeback): the postings stay and the
// escrow settles when nothing is left open; a claim's coverage the
// chargeback voided is paid again for what the chargeback did not pay the
// buyer (resumeCoverage).
func (s *Service) LoseChargeback(ctx context.Context, tenant, id uuid.UUID) (Chargeback, error) {
	return changeChargeback(ctx, s, tenant, id, CBLose, func(tx pgx.Tx, cb *Chargeback, now time.Time) error {
		return s.lose(ctx, tx, cb, "", now)
	}, sameChargeback)
}

func (s *Service) lose(ctx context.Context, tx pgx.Tx, cb *Chargeback, reason string, now time.Time) error {
	// Disputes before the escrow (loadDispute).
	ds, err := lockVoidedCoverage(ctx, tx, *cb)
	if err != nil {
		return err
	}
	later := false
	if len(ds) > 0 {
		if later, err = resolvedSince(ctx, tx, *cb); err != nil {
			return err
		}
	}
	e, err := s.Escrows.SettleChargeback(ctx, tx, cb.TenantID, cb.EscrowID, now)
	if err != nil {
		return err
	}
	if err := s.resumeCoverage(ctx, tx, *cb, ds, later, e, now); err != nil {
		return err
	}
	if err := jobs.Cancel(ctx, tx, JobChargebackDue, cb.ID.String(), now); err != nil {
		return err
	}
	cb.DecidedAt = &now
	extra := map[string]any{"escrow_state": e.State}
	if reason != "" {
		extra["reason"] = reason
	}
	return s.emitChargeback(ctx, tx, *cb, "chargeback.lost", extra, now)
}

// HandleChargebackDue is the job run at a chargeback's respond_by: one
// still needing a response is lost. Idempotent.
func (s *Service) HandleChargebackDue(ctx context.Context, j jobs.Job) error {
	tenant, id, err := jobTarget(j, "chargeback_id")
	if err != nil {
		return err
	}
	_, err = changeChargeback(ctx, s, tenant, id, CBExpire, func(tx pgx.Tx, cb *Chargeback, now time.Time) error {
		if now.Before(cb.RespondBy) {
			return errNotDue
		}
		return s.lose(ctx, tx, cb, "not answered by respond_by", now)
	}, sameChargeback)
	if errors.Is(err, errNotDue) || errors.Is(err, ErrInvalidStatus) || errors.Is(err, ErrChargebackNotFound) {
		return nil
	}
	return err
}

// GetChargeback returns a chargeback of tenant with its evidence.
func (s *Service) GetChargeback(ctx context.Context, tenant, id uuid.UUID) (Chargeback, error) {
	cb, err := loadChargeback(ctx, s.DB.Pool, tenant, id, false)
	if err != nil {
		return Chargeback{}, err
	}
	cb.Evidence, err = evidenceOf(ctx, s.DB.Pool, "chargeback_id", id)
	return cb, err
}

// changeChargeback runs one action on a chargeback in one transaction, as
// change does for disputes; the transaction's result is result of the
// saved chargeback.
func changeChargeback[T any](ctx context.Context, s *Service, tenant, id uuid.UUID, a ChargebackAction, do func(tx pgx.Tx, cb *Chargeback, now time.Time) error, result func(Chargeback) T) (T, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (T, error) {
		var zero T
		now := s.Clock.Now()
		cb, err := loadChargeback(ctx, tx, tenant, id, true)
		if err != nil {
			return zero, err
		}
		to, err := nextChargeback(cb.Status, a)
		if err != nil {
			return zero, fmt.Errorf("chargeback %s: %w", cb.ID, err)
		}
		from := cb.Status
		cb.Status = to
		if err := do(tx, &cb, now); err != nil {
			return zero, err
		}
		tag, err := tx.Exec(ctx, `UPDATE chargebacks SET status = $4, decided_at = $5, resume_owed = $7, version = version + 1, updated_at = $6
			WHERE id = $1 AND status = $2 AND version = $3`, cb.ID, string(from), cb.Version, string(cb.Status), cb.DecidedAt, now, cb.ResumeOwed)
		if err != nil {
			return zero, fmt.Errorf("chargeback %s: save: %w", cb.ID, err)
		}
		if tag.RowsAffected() != 1 {
			return zero, fmt.Errorf("chargeback %s: %w", cb.ID, ErrConcurrentChange)
		}
		cb.Version++
		cb.UpdatedAt = now
		return result(cb), nil
	})
}

func sameChargeback(cb Chargeback) Chargeback { return cb }

// chargebackColumns reads escrow_amount and escrow_currency of rows stored
// before migration 0502 as amount and currency (they were the escrow's).
const chargebackColumns = `id, tenant_id, escrow_id, status, amount, currency, COALESCE(escrow_amount, amount), COALESCE(escrow_currency, currency),
	psp_ref, reason, respond_by, from_held, clawed_back, loss_amount, receivable_amount, payout_id, entry_ids, voided_payout_ids, claims_resolved, resume_owed,
	version, created_at, updated_at, decided_at, voided_coverage`

func loadChargeback(ctx context.Context, q db.Querier, tenant, id uuid.UUID, lock bool) (Chargeback, error) {
	// By primary key alone, the tenant compared below (see "Point reads" in docs/architecture.md).
	sql := `SELECT ` + chargebackColumns + ` FROM chargebacks WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var cb Chargeback
	var status string
	var entries, voided, coverage []byte
	err := q.QueryRow(ctx, sql, id).Scan(&cb.ID, &cb.TenantID, &cb.EscrowID, &status, &cb.Amount, &cb.Currency, &cb.EscrowAmount, &cb.EscrowCurrency, &cb.PSPRef, &cb.Reason,
		&cb.RespondBy, &cb.FromHeld, &cb.ClawedBack, &cb.Loss, &cb.Receivable, &cb.PayoutID, &entries, &voided, &cb.ClaimsResolved, &cb.ResumeOwed, &cb.Version, &cb.CreatedAt, &cb.UpdatedAt, &cb.DecidedAt,
		&coverage)
	if db.IsNoRows(err) || (err == nil && cb.TenantID != tenant) {
		return Chargeback{}, fmt.Errorf("chargeback %s: %w", id, ErrChargebackNotFound)
	}
	if err != nil {
		return Chargeback{}, fmt.Errorf("chargeback %s: %w", id, err)
	}
	cb.Status = ChargebackStatus(status)
	if err := json.Unmarshal(entries, &cb.EntryIDs); err != nil {
		return Chargeback{}, fmt.Errorf("chargeback %s: entries: %w", id, err)
	}
	if err := json.Unmarshal(voided, &cb.VoidedPayoutIDs); err != nil {
		return Chargeback{}, fmt.Errorf("chargeback %s: voided payouts: %w", id, err)
	}
	if err := json.Unmarshal(coverage, &cb.VoidedCoverage); err != nil {
		return Chargeback{}, fmt.Errorf("chargeback %s: voided coverage: %w", id, err)
	}
	return cb, nil
}

// emitChargeback writes a chargeback event about the escrow: amount in
// currency, and escrow_amount and its parts in escrow_currency.
func (s *Service) emitChargeback(ctx context.Context, tx pgx.Tx, cb Chargeback, typ string, extra map[string]any, now time.Time) error {
	f := func(d decimal.Decimal) string { return fmtAmount(d, cb.EscrowCurrency) }
	p := map[string]any{"chargeback_id": cb.ID, "escrow_id": cb.EscrowID, "status": cb.Status, "psp_ref": cb.PSPRef, "reason": cb.Reason,
		"amount": fmtAmount(cb.Amount, cb.Currency), "currency": cb.Currency, "escrow_amount": f(cb.EscrowAmount), "escrow_currency": cb.EscrowCurrency,
		"respond_by": cb.RespondBy, "from_held": f(cb.FromHeld), "clawed_back": f(cb.ClawedBack), "loss_amount": f(cb.Loss), "receivable_amount": f(cb.Receivable)}
	for k, v := range extra {
		p[k] = v
	}
	_, err := outbox.Emit(ctx, tx, cb.TenantID, typ, cb.EscrowID.String(), p, now)
	return err
}
