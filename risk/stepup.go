package risk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Step-up limits.
const (
	// StepUpCodeDigits is the length of a one-time code.
	StepUpCodeDigits = 6
	// StepUpTTL is how long a code is valid.
	StepUpTTL = 5 * time.Minute
	// MaxStepUpAttempts is how many wrong codes a subject may send, over
	// all its codes; the last one blocks it and opens a review.
	MaxStepUpAttempts = 5
	// MaxStepUpCodesPerDay is how many codes (the first one included) one
	// subject gets in any 24 hours.
	MaxStepUpCodesPerDay = 3
	// StepUpResendInterval is the least time between two codes.
	StepUpResendInterval = 60 * time.Second
	stepUpSaltBytes      = 16
	stepUpDay            = 24 * time.Hour
)

// ReasonStepUpFailed is the reason of a block after too many wrong codes.
const ReasonStepUpFailed = "step_up_failed"

// StepUpResult is the outcome of one code sent for a challenge.
type StepUpResult struct {
	// Confirmed is true when the code was right: the payout may go on.
	Confirmed bool `json:"confirmed"`
	// Blocked is true when this was the last wrong code allowed: the
	// payout is blocked and ReviewID holds for a person.
	Blocked  bool       `json:"blocked"`
	ReviewID *uuid.UUID `json:"review_id,omitempty"`
	// AttemptsLeft is how many wrong codes may still be sent.
	AttemptsLeft int `json:"attempts_left"`
}

// newStepUpCode returns a uniformly random code of StepUpCodeDigits digits.
func newStepUpCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("risk: step-up code: %w", err)
	}
	return fmt.Sprintf("%0*d", StepUpCodeDigits, n.Int64()), nil
}

// hashStepUpCode is HMAC-SHA256(key, salt || code), or SHA-256(salt ||
// code) without a key. A code has only 10^6 values: without a server key,
// anyone who reads risk_step_ups finds an open code in a second.
func hashStepUpCode(key, salt []byte, code string) []byte {
	h := sha256.New()
	if key != nil {
		h = hmac.New(sha256.New, key)
	}
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// codeMatches compares a code with a challenge's stored hash in constant
// time. With a key it also accepts the unkeyed hash for a challenge
// created before the gate started keying (StepUpKeySince): codes issued
// before the key was configured live StepUpTTL. A keyed hash never equals
// an unkeyed one, and an unkeyed code issued later (by a process running
// without the key) does not verify here.
func (g *Gate) codeMatches(c stepUpChallenge, code string) bool {
	ok := subtle.ConstantTimeCompare(hashStepUpCode(g.stepUpKey, c.salt, code), c.hash) == 1
	if g.stepUpKey != nil && c.createdAt.Before(g.stepUpKeySince) {
		ok = subtle.ConstantTimeCompare(hashStepUpCode(nil, c.salt, code), c.hash) == 1 || ok
	}
	return ok
}

// stepUpChallenge is the open challenge of a subject.
type stepUpChallenge struct {
	id         uuid.UUID
	escrowID   *uuid.UUID
	decisionID *uuid.UUID
	salt, hash []byte
	failed     int
	createdAt  time.Time
	expiresAt  time.Time
}

// openChallenge returns the subject's open challenge, locked, or
// ErrStepUpNotFound.
func openChallenge(ctx context.Context, tx pgx.Tx, tenant, subjectID uuid.UUID) (stepUpChallenge, error) {
	var c stepUpChallenge
	var failed int64
	err := tx.QueryRow(ctx, `
		SELECT id, escrow_id, decision_id, salt, code_hash, failed_attempts, created_at, expires_at FROM risk_step_ups
		WHERE tenant_id = $1 AND subject_id = $2 AND status = 'open' ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE`,
		tenant, subjectID).Scan(&c.id, &c.escrowID, &c.decisionID, &c.salt, &c.hash, &failed, &c.createdAt, &c.expiresAt)
	if db.IsNoRows(err) {
		return c, fmt.Errorf("step-up of %s: %w", subjectID, ErrStepUpNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("risk: step-up of %s: %w", subjectID, err)
	}
	c.failed = int(failed)
	return c, nil
}

// createChallenge closes any open challenge of the subject (its failed
// attempts carry over to the new one) and opens a new one; it returns the
// code in clear.
func (g *Gate) createChallenge(ctx context.Context, tx pgx.Tx, tenant, subjectID uuid.UUID, escrowID, decisionID *uuid.UUID, now time.Time) (string, time.Time, error) {
	rows, err := tx.Query(ctx, `
		UPDATE risk_step_ups SET status = 'superseded', closed_at = $3 WHERE tenant_id = $1 AND subject_id = $2 AND status = 'open'
		RETURNING failed_attempts`, tenant, subjectID, now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up of %s: %w", subjectID, err)
	}
	prev, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up of %s: %w", subjectID, err)
	}
	var carried int64
	for _, n := range prev {
		carried = max(carried, n)
	}
	code, err := newStepUpCode()
	if err != nil {
		return "", time.Time{}, err
	}
	salt := make([]byte, stepUpSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up salt: %w", err)
	}
	expires := now.Add(StepUpTTL)
	_, err = tx.Exec(ctx, `
		INSERT INTO risk_step_ups (id, tenant_id, subject_id, escrow_id, decision_id, salt, code_hash, failed_attempts, status, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10)`,
		uuid.Must(uuid.NewV7()), tenant, subjectID, escrowID, decisionID, salt, hashStepUpCode(g.stepUpKey, salt, code), carried, now, expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up of %s: %w", subjectID, err)
	}
	return code, expires, nil
}

// VerifyStepUp checks a code for the subject's open challenge in the
// caller's transaction. A right code confirms (and closes) the challenge.
// A wrong code is counted and reported with a nil error, so that the
// caller commits the count; the MaxStepUpAttempts-th wrong code closes the
// challenge as blocked, opens a review of subjectID (subject type of the
// decision that asked for the step-up: "release" or "refund") and writes a
// risk.alert event. An expired code is ErrStepUpExpired (nothing
// is counted); no open challenge is ErrStepUpNotFound. Codes are compared
// as salted hashes (keyed when the gate has a StepUpKey) in constant time.
func (g *Gate) VerifyStepUp(ctx context.Context, tx pgx.Tx, tenant, subjectID uuid.UUID, code string, now time.Time) (StepUpResult, error) {
	c, err := openChallenge(ctx, tx, tenant, subjectID)
	if err != nil {
		return StepUpResult{}, err
	}
	if !now.Before(c.expiresAt) {
		return StepUpResult{}, fmt.Errorf("step-up of %s: %w", subjectID, ErrStepUpExpired)
	}
	if g.codeMatches(c, code) {
		if _, err := tx.Exec(ctx, `UPDATE risk_step_ups SET status = 'confirmed', closed_at = $2 WHERE id = $1`, c.id, now); err != nil {
			return StepUpResult{}, fmt.Errorf("risk: confirm step-up of %s: %w", subjectID, err)
		}
		return StepUpResult{Confirmed: true, AttemptsLeft: MaxStepUpAttempts - c.failed}, nil
	}
	failed := c.failed + 1
	res := StepUpResult{AttemptsLeft: max(0, MaxStepUpAttempts-failed)}
	if failed < MaxStepUpAttempts {
		if _, err := tx.Exec(ctx, `UPDATE risk_step_ups SET failed_attempts = $2 WHERE id = $1`, c.id, failed); err != nil {
			return StepUpResult{}, fmt.Errorf("risk: count step-up attempt of %s: %w", subjectID, err)
		}
		return res, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE risk_step_ups SET failed_attempts = $2, status = 'blocked', closed_at = $3 WHERE id = $1`, c.id, failed, now); err != nil {
		return StepUpResult{}, fmt.Errorf("risk: block step-up of %s: %w", subjectID, err)
	}
	subjectType := SubjectRelease
	if c.decisionID != nil {
		// By primary key alone (see "Point reads" in docs/architecture.md); the decision is the step-up's own.
		if err := tx.QueryRow(ctx, `SELECT subject_type FROM risk_decisions WHERE id = $1`, *c.decisionID).Scan(&subjectType); err != nil && !db.IsNoRows(err) {
			return StepUpResult{}, fmt.Errorf("risk: step-up of %s: decision: %w", subjectID, err)
		}
	}
	reasons := []Reason{{Code: ReasonStepUpFailed, Rule: hardRuleStepUp}}
	rv, err := g.openReview(ctx, tx, newReview{tenant: tenant, subjectType: subjectType, subjectID: subjectID, escrowID: c.escrowID,
		decisionID: c.decisionID, reasons: reasons}, now)
	if err != nil {
		return StepUpResult{}, err
	}
	err = emitAlert(ctx, tx, tenant, Alert{DecisionID: c.decisionID, Outcome: OutcomeBlock, Reasons: reasons, SubjectType: subjectType,
		SubjectID: subjectID, EscrowID: c.escrowID, ReviewID: &rv}, now)
	if err != nil {
		return StepUpResult{}, err
	}
	res.Blocked, res.ReviewID = true, &rv
	return res, nil
}

// ResendStepUp replaces the subject's open challenge (expired or not) by a
// new code, which it returns in clear for the marketplace's SMS channel.
// The subject gets at most MaxStepUpCodesPerDay codes in any 24 hours and
// one per StepUpResendInterval; beyond that it is a *RateLimitedError
// (errors.Is ErrRateLimited) saying when to retry. Wrong attempts carry
// over to the new code.
func (g *Gate) ResendStepUp(ctx context.Context, tx pgx.Tx, tenant, subjectID uuid.UUID, now time.Time) (string, time.Time, error) {
	c, err := openChallenge(ctx, tx, tenant, subjectID)
	if err != nil {
		return "", time.Time{}, err
	}
	if wait := c.createdAt.Add(StepUpResendInterval).Sub(now); wait > 0 {
		return "", time.Time{}, &RateLimitedError{RetryAfter: wait, Limit: fmt.Sprintf("one code per %d s", int(StepUpResendInterval.Seconds()))}
	}
	rows, err := tx.Query(ctx, `
		SELECT created_at FROM risk_step_ups WHERE tenant_id = $1 AND subject_id = $2 AND created_at > $3
		ORDER BY created_at LIMIT $4`, tenant, subjectID, now.Add(-stepUpDay), MaxStepUpCodesPerDay)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up codes of %s: %w", subjectID, err)
	}
	recent, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return "", time.Time{}, fmt.Errorf("risk: step-up codes of %s: %w", subjectID, err)
	}
	if len(recent) >= MaxStepUpCodesPerDay {
		return "", time.Time{}, &RateLimitedError{RetryAfter: recent[0].Add(stepUpDay).Sub(now), Limit: fmt.Sprintf("%d codes per day", MaxStepUpCodesPerDay)}
	}
	return g.createChallenge(ctx, tx, tenant, subjectID, c.escrowID, c.decisionID, now)
}

// StepUpAfterReview opens the step-up challenge of a payout whose review
// was just approved (rv, in the caller's transaction), when the gate's
// decision on it also asked for step-up (StepUpAsked: a release over USD
// 10,000 that the score or a scoring error sent to review). A reviewer's
// approval says the payout is sound, not that the payer confirmed it
// (issue 6: large transfers confirmed by the payer), so the step-up the
// review outranked is still owed. It returns the code in clear, for the
// caller's release.confirmation_required event, and ok true; the
// challenge is the one a step_up outcome opens (StepUpTTL, resends,
// MaxStepUpAttempts). ok is false, and nothing is written, when no step-up
// is owed.
//
// Only the review the gate opened with its decision owes it. The review
// opened after MaxStepUpAttempts wrong codes (VerifyStepUp) is about the
// same decision, but its approval is the reviewer's answer to the failed
// codes: asking the same buyer again would loop. Whether the subject can
// be confirmed at all (a release the buyer is there for, not a refund or
// an unattended release) is the caller's to tell: it calls this only then.
func (g *Gate) StepUpAfterReview(ctx context.Context, tx pgx.Tx, rv Review, now time.Time) (code string, expires time.Time, ok bool, err error) {
	if rv.Status != ReviewApproved || rv.DecisionID == nil {
		return "", time.Time{}, false, nil
	}
	var (
		tenant   uuid.UUID
		outcome  string
		reviewID *uuid.UUID
		recorded *bool
		reasons  []byte
		version  int64
	)
	// By primary key alone (see "Point reads" in docs/architecture.md), the tenant compared here.
	err = tx.QueryRow(ctx, `SELECT tenant_id, outcome, review_id, step_up_asked, reasons, rules_version FROM risk_decisions WHERE id = $1`,
		*rv.DecisionID).Scan(&tenant, &outcome, &reviewID, &recorded, &reasons, &version)
	if db.IsNoRows(err) || err == nil && tenant != rv.TenantID {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("risk: step-up after review %s: decision: %w", rv.ID, err)
	}
	if outcome != OutcomeReview || reviewID == nil || *reviewID != rv.ID {
		return "", time.Time{}, false, nil
	}
	var rs []Reason
	if err := json.Unmarshal(reasons, &rs); err != nil {
		return "", time.Time{}, false, fmt.Errorf("risk: step-up after review %s: decision reasons: %w", rv.ID, err)
	}
	asked, err := g.rules.stepUpAsked(ctx, tx, tenant, recorded, rs, int(version))
	if err != nil || !asked {
		return "", time.Time{}, false, err
	}
	code, expires, err = g.createChallenge(ctx, tx, tenant, rv.SubjectID, rv.EscrowID, rv.DecisionID, now)
	if err != nil {
		return "", time.Time{}, false, err
	}
	return code, expires, true, nil
}
