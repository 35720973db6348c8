package risk

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
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
)

// Review statuses.
const (
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
	// ReviewExpired is not a status a review is stored with: an undecided
	// review expires to rejected, decided by DecidedByExpiry (issue 6).
	// As a list filter it selects those reviews (and the rows stored as
	// "expired" by versions before migration 0406 that an older binary may
	// still write during an upgrade).
	ReviewExpired = "expired"
)

// Review limits and names.
const (
	// DefaultReviewTTL is how long a review waits for a decision before
	// it expires (rejected).
	DefaultReviewTTL = 72 * time.Hour
	// MaxReviewNoteLen is the longest reviewer's note, in bytes.
	MaxReviewNoteLen = 2000
	// MaxReviewPage is the most reviews one list call returns.
	MaxReviewPage = 500
	// JobReviewExpire is the job kind that expires a review; its dedupe
	// key is the review id.
	JobReviewExpire = "risk.review_expire"
	// DecidedByExpiry is DecidedBy of an expired review.
	DecidedByExpiry = "system:expiry"
	// DecidedBySuperseded is DecidedBy of a review closed because its
	// payout was voided by something else (WithdrawReview).
	DecidedBySuperseded = "system:superseded"
)

// Review is a payout (or an escrow) held for a person to decide.
type Review struct {
	ID          uuid.UUID  `json:"id"`
	TenantID    uuid.UUID  `json:"-"`
	SubjectType string     `json:"subject_type"`
	SubjectID   uuid.UUID  `json:"subject_id"`
	EscrowID    *uuid.UUID `json:"escrow_id,omitempty"`
	Status      string     `json:"status"`
	Reasons     []Reason   `json:"reasons"`
	DecisionID  *uuid.UUID `json:"decision_id,omitempty"`
	// Match is the best sanctions match the review holds (a match before
	// a possible match, then the highest score); nil for none.
	Match *ScreeningMatch `json:"match,omitempty"`
	// Matches are every sanctions match the review holds, Match among
	// them: deciding the review decides each (decideMatch). A review
	// stored before migration 0408 holds Match alone.
	Matches   []ScreeningMatch `json:"matches,omitempty"`
	Note      string           `json:"note,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	ExpiresAt time.Time        `json:"expires_at"`
	DecidedAt *time.Time       `json:"decided_at,omitempty"`
	DecidedBy string           `json:"decided_by,omitempty"`
	// SubjectStatus is the subject's status after the decision, as its
	// resolver reports it; only in the answer to a decision and in its
	// risk.review_decided event (not stored). For a payout: completed or
	// rejected, or awaiting_confirmation when an approved release still
	// waits for the buyer's step-up code (Gate.StepUpAfterReview).
	SubjectStatus string `json:"subject_status,omitempty"`
}

// ResourceID names the review for the audit log.
func (r Review) ResourceID() string { return r.ID.String() }

// Resolver carries out a review's decision on its subject inside the
// review's transaction: for a "release", approve commits the pending
// ledger entry (or, when the buyer's step-up is still owed, opens it) and
// reject voids it. approved is false for rejected and expired reviews. It
// returns the subject's status after the decision ("" for none to report:
// Review.SubjectStatus). It may run several times (transaction retries).
type Resolver func(ctx context.Context, tx pgx.Tx, rv Review, approved bool, now time.Time) (string, error)

// newReview is what opening a review needs.
type newReview struct {
	tenant      uuid.UUID
	subjectType string
	subjectID   uuid.UUID
	escrowID    *uuid.UUID
	decisionID  *uuid.UUID
	reasons     []Reason
	// matches are every sanctions match the review holds
	// (Screening.reviewMatches), at most MaxScreenMatches per party; the
	// best of them (Screening.best) is kept as the review's Match.
	matches []ScreeningMatch
}

// openReview inserts a pending review expiring after the gate's ReviewTTL
// and schedules the job that expires it.
func (g *Gate) openReview(ctx context.Context, tx pgx.Tx, n newReview, now time.Time) (uuid.UUID, error) {
	var b db.Batch
	id, err := g.queueReview(ctx, tx, &b, n, now)
	if err != nil {
		return uuid.Nil, err
	}
	if err := db.Send(ctx, tx, &b); err != nil {
		return uuid.Nil, fmt.Errorf("risk: open review: %w", err)
	}
	return id, nil
}

// queueReview schedules the expiry job of a new review in tx and queues
// the review's insert on b (sent by the caller with its other writes).
func (g *Gate) queueReview(ctx context.Context, tx pgx.Tx, b *db.Batch, n newReview, now time.Time) (uuid.UUID, error) {
	id := uuid.Must(uuid.NewV7())
	reasons, err := json.Marshal(nonNilReasons(n.reasons))
	if err != nil {
		return uuid.Nil, err
	}
	var match, matches []byte
	if best := (Screening{Matches: n.matches}).best(); best != nil {
		if match, err = json.Marshal(best); err != nil {
			return uuid.Nil, err
		}
		if matches, err = json.Marshal(n.matches); err != nil {
			return uuid.Nil, err
		}
	}
	expires := now.Add(g.reviewTTL)
	payload, _ := json.Marshal(expireJob{TenantID: n.tenant, ReviewID: id})
	if err := jobs.Schedule(ctx, tx, jobs.Job{TenantID: n.tenant, Kind: JobReviewExpire, DedupeKey: id.String(), RunAt: expires, Payload: payload}, now); err != nil {
		return uuid.Nil, fmt.Errorf("risk: open review: %w", err)
	}
	b.Queue(`
		INSERT INTO risk_reviews (id, tenant_id, subject_type, subject_id, escrow_id, status, reasons, decision_id, matched_entry, matched_entries,
			created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11)`,
		id, n.tenant, n.subjectType, n.subjectID, n.escrowID, reasons, n.decisionID, match, matches, now, expires)
	return id, nil
}

type expireJob struct {
	TenantID uuid.UUID `json:"tenant_id"`
	ReviewID uuid.UUID `json:"review_id"`
}

const reviewColumns = `id, tenant_id, subject_type, subject_id, escrow_id, status, reasons, decision_id, matched_entry, matched_entries, note,
	created_at, expires_at, decided_at, decided_by`

func scanReview(row pgx.Row) (Review, error) {
	var rv Review
	var reasons, match, matches []byte
	if err := row.Scan(&rv.ID, &rv.TenantID, &rv.SubjectType, &rv.SubjectID, &rv.EscrowID, &rv.Status, &reasons, &rv.DecisionID,
		&match, &matches, &rv.Note, &rv.CreatedAt, &rv.ExpiresAt, &rv.DecidedAt, &rv.DecidedBy); err != nil {
		return Review{}, err
	}
	if err := json.Unmarshal(reasons, &rv.Reasons); err != nil {
		return Review{}, fmt.Errorf("review %s reasons: %w", rv.ID, err)
	}
	if len(match) > 0 {
		rv.Match = new(ScreeningMatch)
		if err := json.Unmarshal(match, rv.Match); err != nil {
			return Review{}, fmt.Errorf("review %s match: %w", rv.ID, err)
		}
	}
	if len(matches) > 0 {
		if err := json.Unmarshal(matches, &rv.Matches); err != nil {
			return Review{}, fmt.Errorf("review %s matches: %w", rv.ID, err)
		}
	}
	if len(rv.Matches) == 0 && rv.Match != nil {
		rv.Matches = []ScreeningMatch{*rv.Match} // stored before migration 0408
	}
	rv.Reasons = nonNilReasons(rv.Reasons)
	return rv, nil
}

// getReview reads a review of tenant by its primary key alone, comparing the
// tenant here (see "Point reads" in docs/architecture.md).
func getReview(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Review, error) {
	rv, err := scanReview(q.QueryRow(ctx, `SELECT `+reviewColumns+` FROM risk_reviews WHERE id = $1`, id))
	if db.IsNoRows(err) || (err == nil && rv.TenantID != tenant) {
		return Review{}, fmt.Errorf("review %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Review{}, fmt.Errorf("risk: review %s: %w", id, err)
	}
	return rv, nil
}

// Review returns one review of the tenant.
func (s *Service) Review(ctx context.Context, tenant, id uuid.UUID) (Review, error) {
	return getReview(ctx, s.DB.Pool, tenant, id)
}

// ValidReviewStatus reports whether status is a review status ("" is not).
func ValidReviewStatus(status string) bool {
	switch status {
	case ReviewPending, ReviewApproved, ReviewRejected, ReviewExpired:
		return true
	}
	return false
}

// ListReviews returns the tenant's reviews with the given status (all for
// ""; "expired" for the ones rejected by expiry), oldest first, after the
// review id after (uuid.Nil from the start), at most limit
// (1..MaxReviewPage).
func (s *Service) ListReviews(ctx context.Context, tenant uuid.UUID, status string, after uuid.UUID, limit int) ([]Review, error) {
	if status != "" && !ValidReviewStatus(status) {
		return nil, valid.Field("status", "must be one of pending, approved, rejected, expired")
	}
	if limit < 1 || limit > MaxReviewPage {
		limit = MaxReviewPage
	}
	// One statement per filter, each planned on (tenant_id, status, id) or
	// (tenant_id, id) whatever the parameters: the pending queue is read
	// often and grows with the tenant.
	var where string
	switch status {
	case "":
		where = `tenant_id = $1 AND $2 = ''`
	case ReviewExpired:
		where = `tenant_id = $1 AND status IN ('rejected', $2) AND decided_by = '` + DecidedByExpiry + `'`
	case ReviewRejected:
		where = `tenant_id = $1 AND status IN ($2, '` + ReviewExpired + `')`
	default:
		where = `tenant_id = $1 AND status = $2`
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+reviewColumns+` FROM risk_reviews
		WHERE `+where+` AND id > $3 ORDER BY id LIMIT $4`, tenant, status, after, limit)
	if err != nil {
		return nil, fmt.Errorf("risk: list reviews: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Review, error) { return scanReview(row) })
	if err != nil {
		return nil, fmt.Errorf("risk: list reviews: %w", err)
	}
	return out, nil
}

// RegisterResolver sets the resolver called when a review of subjectType
// is decided. Register before serving.
func (s *Service) RegisterResolver(subjectType string, r Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolvers[subjectType] = r
}

func (s *Service) resolver(subjectType string) Resolver {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.resolvers[subjectType]
}

// DecideReview approves or rejects a pending review and, in the same
// transaction, runs the resolver registered for its subject type (none:
// the decision is only recorded). A review no longer pending is
// ErrReviewDecided.
func (s *Service) DecideReview(ctx context.Context, tenant, reviewID uuid.UUID, approve bool, note, decidedBy string) (Review, error) {
	if len(note) > MaxReviewNoteLen {
		return Review{}, valid.Field("note", fmt.Sprintf("at most %d bytes", MaxReviewNoteLen))
	}
	status := ReviewRejected
	if approve {
		status = ReviewApproved
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Review, error) {
		now := s.Clock.Now()
		rv, ok, err := s.decideReview(ctx, tx, tenant, reviewID, status, note, decidedBy, now)
		if err != nil {
			return Review{}, err
		}
		if !ok {
			if _, err := getReview(ctx, tx, tenant, reviewID); err != nil {
				return Review{}, err
			}
			return Review{}, fmt.Errorf("review %s: %w", reviewID, ErrReviewDecided)
		}
		return rv, nil
	})
}

// ExpireReview expires a pending review past its expiry time: it is
// rejected (status rejected, decided by DecidedByExpiry), through the same
// resolver. A review already decided, not yet due or absent is left alone
// (ok false).
func (s *Service) ExpireReview(ctx context.Context, tenant, reviewID uuid.UUID) (rv Review, ok bool, err error) {
	err = s.DB.Tx(ctx, func(tx pgx.Tx) error {
		rv, ok, err = s.decideReview(ctx, tx, tenant, reviewID, ReviewRejected, "", DecidedByExpiry, s.Clock.Now())
		return err
	})
	return rv, ok, err
}

// HandleReviewExpire is the jobs.Handler of JobReviewExpire.
func (s *Service) HandleReviewExpire(ctx context.Context, j jobs.Job) error {
	var p expireJob
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.ReviewID == uuid.Nil {
		return fmt.Errorf("%w: review expiry job %s: bad payload", jobs.ErrPermanent, j.ID)
	}
	_, _, err := s.ExpireReview(ctx, p.TenantID, p.ReviewID)
	return err
}

// decideReview moves a pending review to status and runs its resolver.
// by DecidedByExpiry is the expiry: it matches only a review that is due.
// ok is false when no pending review (due, for expiry) matched.
func (s *Service) decideReview(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, status, note, by string, now time.Time) (Review, bool, error) {
	// The tenant is checked by a read through the primary key, and the
	// update goes by the primary key alone (see "Point reads" in
	// docs/architecture.md).
	if _, err := getReview(ctx, tx, tenant, id); errors.Is(err, ErrNotFound) {
		return Review{}, false, nil
	} else if err != nil {
		return Review{}, false, err
	}
	rv, err := scanReview(tx.QueryRow(ctx, `
		UPDATE risk_reviews SET status = $2, note = $3, decided_by = $4, decided_at = $5
		WHERE id = $1 AND status = 'pending' AND ($4 <> $6 OR expires_at <= $5)
		RETURNING `+reviewColumns, id, status, note, by, now, DecidedByExpiry))
	if db.IsNoRows(err) {
		return Review{}, false, nil
	}
	if err != nil {
		return Review{}, false, fmt.Errorf("risk: decide review %s: %w", id, err)
	}
	if by != DecidedByExpiry {
		if err := jobs.Cancel(ctx, tx, JobReviewExpire, id.String(), now); err != nil {
			return Review{}, false, err
		}
	}
	if err := decideMatch(ctx, tx, rv, status, by, now); err != nil {
		return Review{}, false, err
	}
	if r := s.resolver(rv.SubjectType); r != nil {
		if rv.SubjectStatus, err = r(ctx, tx, rv, status == ReviewApproved, now); err != nil {
			return Review{}, false, fmt.Errorf("risk: resolve review %s (%s %s): %w", id, rv.SubjectType, rv.SubjectID, err)
		}
	}
	if err := emitDecided(ctx, tx, rv, now); err != nil {
		return Review{}, false, err
	}
	return rv, true, nil
}

// emitDecided writes EventReviewDecided for rv.
func emitDecided(ctx context.Context, tx pgx.Tx, rv Review, now time.Time) error {
	data := map[string]any{
		"review_id": rv.ID, "subject_type": rv.SubjectType, "subject_id": rv.SubjectID, "escrow_id": rv.EscrowID, "status": rv.Status,
		"decided_by": rv.DecidedBy,
	}
	if rv.SubjectStatus != "" {
		data["subject_status"] = rv.SubjectStatus
	}
	_, err := outbox.Emit(ctx, tx, rv.TenantID, EventReviewDecided, rv.SubjectID.String(), data, now)
	return err
}

// WithdrawReview closes the pending review reviewID of subjectID in tx
// because the subject was voided by something other than the review (a
// dispute outcome, a chargeback): status rejected, DecidedBySuperseded,
// reason as the note, its expiry job cancelled and EventReviewDecided
// written. The subject's resolver does not run (the caller voided the
// subject) and no sanctions clearance changes (nobody judged the match).
// A review of another tenant or subject, or no longer pending, is left
// alone.
func (g *Gate) WithdrawReview(ctx context.Context, tx pgx.Tx, tenant, reviewID, subjectID uuid.UUID, reason string, now time.Time) error {
	rv, err := getReview(ctx, tx, tenant, reviewID)
	if errors.Is(err, ErrNotFound) || err == nil && (rv.Status != ReviewPending || rv.SubjectID != subjectID) {
		return nil
	}
	if err != nil {
		return err
	}
	rv, err = scanReview(tx.QueryRow(ctx, `
		UPDATE risk_reviews SET status = 'rejected', note = $2, decided_by = $3, decided_at = $4
		WHERE id = $1 AND status = 'pending'
		RETURNING `+reviewColumns, reviewID, cut(reason, MaxReviewNoteLen), DecidedBySuperseded, now))
	if db.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("risk: withdraw review %s: %w", reviewID, err)
	}
	if err := jobs.Cancel(ctx, tx, JobReviewExpire, reviewID.String(), now); err != nil {
		return err
	}
	return emitDecided(ctx, tx, rv, now)
}

func nonNilReasons(r []Reason) []Reason {
	if r == nil {
		return []Reason{}
	}
	return r
}
