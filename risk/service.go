package risk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/outbox"
)

// Event types risk writes.
const (
	// EventAlert is written with every review, step_up and block, with
	// the reasons, so the marketplace can warn the user at once.
	EventAlert = "risk.alert"
	// EventReviewDecided is written when a review is approved, rejected
	// or expires.
	EventReviewDecided = "risk.review_decided"
	EventPartyFrozen   = "party.frozen"
	EventPartyUnfrozen = "party.unfrozen"
)

// Service is risk's side of the API: decisions, rules, sanctions lists,
// the review queue and freezes. The gate it holds runs inside other
// domains' transactions.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
	Gate  *Gate

	mu        sync.RWMutex
	resolvers map[string]Resolver
}

// NewService returns the service over gate g.
func NewService(d *db.DB, c clock.Clock, g *Gate) *Service {
	return &Service{DB: d, Clock: c, Gate: g, resolvers: make(map[string]Resolver)}
}

// Rules returns the tenant's current rule set (the defaults when it has
// none).
func (s *Service) Rules(ctx context.Context, tenant uuid.UUID) (RuleSetView, error) {
	return s.Gate.rules.view(ctx, s.DB.Pool, tenant)
}

// PutRules validates and stores a new rule set as the tenant's next
// version. An invalid set is valid.Errors with code invalid_rule naming
// the bad field (e.g. "rules[3].when").
func (s *Service) PutRules(ctx context.Context, tenant uuid.UUID, in RuleSetInput, by string) (RuleSetView, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (RuleSetView, error) {
		return s.Gate.rules.put(ctx, tx, tenant, in, by, s.Clock.Now())
	})
}

// LoadSanctions parses an OFAC SDN file and stores it, in one
// transaction, as the tenant's current sanctions list. A bad file is an
// error wrapping *SDNParseError (which names the line) or
// ErrEmptySanctionsList.
func (s *Service) LoadSanctions(ctx context.Context, tenant uuid.UUID, r io.Reader, source string) (SanctionsList, error) {
	p, err := ParseSanctionsList(r)
	if err != nil {
		return SanctionsList{}, err
	}
	l, err := db.Write(ctx, s.DB, func(tx pgx.Tx) (SanctionsList, error) {
		return s.Gate.sanctions.load(ctx, tx, tenant, p, source, s.Clock.Now())
	})
	if err != nil {
		return SanctionsList{}, err
	}
	if err := s.Gate.sanctions.remember(tenant, l.ID, p.Entries); err != nil {
		return SanctionsList{}, err
	}
	return l, nil
}

// CurrentSanctionsList returns the tenant's current list, ErrNotFound when
// none was loaded.
func (s *Service) CurrentSanctionsList(ctx context.Context, tenant uuid.UUID) (SanctionsList, error) {
	var l SanctionsList
	var n int64
	err := s.DB.Pool.QueryRow(ctx, `
		SELECT id, source, sha256, entries, loaded_at FROM sanctions_lists WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, tenant).
		Scan(&l.ID, &l.Source, &l.SHA256, &n, &l.LoadedAt)
	if db.IsNoRows(err) {
		return SanctionsList{}, fmt.Errorf("sanctions list: %w", ErrNotFound)
	}
	if err != nil {
		return SanctionsList{}, fmt.Errorf("risk: sanctions list: %w", err)
	}
	l.Entries = int(n)
	return l, nil
}

// DecisionRecord is a stored decision as the API shows it.
type DecisionRecord struct {
	ID           uuid.UUID  `json:"id"`
	Operation    string     `json:"operation"`
	SubjectType  string     `json:"subject_type"`
	SubjectID    uuid.UUID  `json:"subject_id"`
	EscrowID     *uuid.UUID `json:"escrow_id,omitempty"`
	BuyerID      string     `json:"buyer_id,omitempty"`
	SellerID     string     `json:"seller_id,omitempty"`
	Amount       string     `json:"amount"`
	Currency     string     `json:"currency"`
	Outcome      string     `json:"outcome"`
	Score        int        `json:"score"`
	Reasons      []Reason   `json:"reasons"`
	RulesVersion int        `json:"rules_version"`
	// StepUpAsked: a step_up rule held (or could not be evaluated),
	// whatever outcome won (Decision.StepUpAsked).
	StepUpAsked bool       `json:"step_up_asked"`
	Features    Features   `json:"features"`
	ReviewID    *uuid.UUID `json:"review_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Decision returns one stored decision of the tenant.
func (s *Service) Decision(ctx context.Context, tenant, id uuid.UUID) (DecisionRecord, error) {
	var (
		d                 DecisionRecord
		amount            decimal.Decimal
		score, version    int64
		reasons, features []byte
		stepUp            *bool
	)
	err := s.DB.Pool.QueryRow(ctx, `
		SELECT id, operation, subject_type, subject_id, escrow_id, buyer_id, seller_id, amount, currency, outcome, score, reasons,
			rules_version, features, review_id, created_at, step_up_asked
		FROM risk_decisions WHERE tenant_id = $1 AND id = $2`, tenant, id).
		Scan(&d.ID, &d.Operation, &d.SubjectType, &d.SubjectID, &d.EscrowID, &d.BuyerID, &d.SellerID, &amount, &d.Currency, &d.Outcome,
			&score, &reasons, &version, &features, &d.ReviewID, &d.CreatedAt, &stepUp)
	if db.IsNoRows(err) {
		return DecisionRecord{}, fmt.Errorf("decision %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return DecisionRecord{}, fmt.Errorf("risk: decision %s: %w", id, err)
	}
	d.Score, d.RulesVersion = int(score), int(version)
	d.Amount = amount.String()
	if c, err := money.Lookup(d.Currency); err == nil {
		d.Amount = money.Format(amount, c)
	}
	if err := json.Unmarshal(reasons, &d.Reasons); err != nil {
		return DecisionRecord{}, fmt.Errorf("risk: decision %s reasons: %w", id, err)
	}
	if err := json.Unmarshal(features, &d.Features); err != nil {
		return DecisionRecord{}, fmt.Errorf("risk: decision %s features: %w", id, err)
	}
	d.Reasons = nonNilReasons(d.Reasons)
	if d.StepUpAsked, err = s.Gate.rules.stepUpAsked(ctx, s.DB.Pool, tenant, stepUp, d.Reasons, d.RulesVersion); err != nil {
		return DecisionRecord{}, fmt.Errorf("risk: decision %s: %w", id, err)
	}
	return d, nil
}

// Alert is the payload of a risk.alert event.
type Alert struct {
	DecisionID  *uuid.UUID `json:"decision_id,omitempty"`
	Outcome     string     `json:"outcome"`
	Score       int        `json:"score"`
	Reasons     []Reason   `json:"reasons"`
	Operation   string     `json:"operation,omitempty"`
	SubjectType string     `json:"subject_type"`
	SubjectID   uuid.UUID  `json:"subject_id"`
	EscrowID    *uuid.UUID `json:"escrow_id,omitempty"`
	ReviewID    *uuid.UUID `json:"review_id,omitempty"`
	BuyerID     string     `json:"buyer_id,omitempty"`
	SellerID    string     `json:"seller_id,omitempty"`
	// Match is the best sanctions match; Matches are every match behind
	// the alert, Match among them: those its review holds
	// (Review.Matches).
	Match   *ScreeningMatch  `json:"match,omitempty"`
	Matches []ScreeningMatch `json:"matches,omitempty"`
}

func emitAlert(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, a Alert, now time.Time) error {
	a.Reasons = nonNilReasons(a.Reasons)
	if _, err := outbox.Emit(ctx, tx, tenant, EventAlert, a.SubjectID.String(), a, now); err != nil {
		return err
	}
	return nil
}
