package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
)

// Service runs the ledger's own operations (finance's API, the CLI, jobs),
// each write in one db.Write transaction. Other domains call the package
// functions inside their own transactions instead.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
}

// ListAccounts lists the tenant's accounts in code order.
func (s *Service) ListAccounts(ctx context.Context, tenant uuid.UUID, f AccountFilter) ([]Account, error) {
	return ListAccounts(ctx, s.DB.Pool, tenant, f)
}

// GetAccount returns one of the tenant's accounts.
func (s *Service) GetAccount(ctx context.Context, tenant, id uuid.UUID) (Account, error) {
	return GetAccount(ctx, s.DB.Pool, tenant, id)
}

// GetBalance returns the account's current balance, or, with asOf, its
// posted balance as of that time (pending amounts are not kept by time, so
// a past balance has Posted only, and Available equal to it).
func (s *Service) GetBalance(ctx context.Context, tenant, id uuid.UUID, asOf *time.Time) (Balance, error) {
	if asOf == nil {
		return GetBalance(ctx, s.DB.Pool, tenant, id)
	}
	a, err := GetAccount(ctx, s.DB.Pool, tenant, id)
	if err != nil {
		return Balance{}, err
	}
	posted, err := BalanceAt(ctx, s.DB.Pool, tenant, id, *asOf)
	if err != nil {
		return Balance{}, err
	}
	return Balance{AccountID: id, Currency: a.Currency, Posted: posted, Available: posted}, nil
}

// Statement returns a page of the account's postings with running
// balances, read now (a hot account's up to its horizon; see Statement).
func (s *Service) Statement(ctx context.Context, tenant, id uuid.UUID, q StatementQuery) (StatementPage, error) {
	return Statement(ctx, s.DB.Pool, tenant, id, q, s.Clock.Now())
}

// GetEntry returns one of the tenant's entries.
func (s *Service) GetEntry(ctx context.Context, tenant, id uuid.UUID) (Entry, error) {
	return GetEntry(ctx, s.DB.Pool, tenant, id)
}

// TrialBalance returns the tenant's trial balance, now or as of a time.
func (s *Service) TrialBalance(ctx context.Context, tenant uuid.UUID, asOf *time.Time, currency string) (TrialBalance, error) {
	return GetTrialBalance(ctx, s.DB.Pool, tenant, asOf, currency)
}

// CreateAccount creates an account (or returns the existing one with the
// same code, currency and kind; see EnsureAccount).
func (s *Service) CreateAccount(ctx context.Context, spec AccountSpec) (Account, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Account, error) {
		return EnsureAccount(ctx, tx, spec, s.Clock.Now())
	})
}

// Adjustment is a manual entry by finance.
type Adjustment struct {
	TenantID    uuid.UUID
	Reference   string
	Description string
	// Reason is required; it is kept in the entry's metadata.
	Reason      string
	EffectiveAt *time.Time
	Postings    []Posting
	Metadata    map[string]string
}

// PostAdjustment posts a finance adjustment: an entry of kind
// "adjustment" whose metadata carries the reason. A posting on an account
// a domain owns (escrow:<escrow id>) is refused with ErrDomainOwned (manual.go).
func (s *Service) PostAdjustment(ctx context.Context, adj Adjustment) (Entry, error) {
	if adj.Reason == "" || len(adj.Reason) > MaxMetadataLength {
		return Entry{}, invalidf("reason: 1 to %d characters required", MaxMetadataLength)
	}
	meta := map[string]string{}
	for k, v := range adj.Metadata {
		meta[k] = v
	}
	meta["reason"] = adj.Reason
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Entry, error) {
		e := Entry{TenantID: adj.TenantID, Kind: KindAdjustment, Description: adj.Description, Reference: adj.Reference,
			CreatedAt: s.Clock.Now(), Metadata: meta, Postings: adj.Postings}
		if adj.EffectiveAt != nil {
			e.EffectiveAt = *adj.EffectiveAt
		}
		return writeEntry(ctx, tx, e, writeMode{manual: true})
	})
}

// ReverseEntry reverses one of the tenant's posted entries for finance:
// an entry on an account a domain owns, one its domain reverses itself (a
// chargeback's) or a reversal of such an entry is refused with
// ErrDomainOwned (manual.go); the domain corrects those.
func (s *Service) ReverseEntry(ctx context.Context, tenant, id uuid.UUID, reference, description string) (Entry, error) {
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Entry, error) {
		return reverse(ctx, tx, tenant, id, reference, description, s.Clock.Now(), true)
	})
}

// ExpireJob is the handler of JobExpirePending. It is idempotent: an entry
// already resolved (committed, voided or expired) is left alone.
func (s *Service) ExpireJob(ctx context.Context, j jobs.Job) error {
	var p expirePayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return fmt.Errorf("%w: payload: %w", jobs.ErrPermanent, err)
	}
	_, err := db.Write(ctx, s.DB, func(tx pgx.Tx) (Entry, error) {
		return Expire(ctx, tx, p.TenantID, p.EntryID, s.Clock.Now())
	})
	switch {
	case errors.Is(err, ErrNotPending):
		return nil
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", jobs.ErrPermanent, err)
	}
	return err
}

// SealJob is the handler of the periodic sealing job.
func (s *Service) SealJob(ctx context.Context, _ jobs.Job) error {
	_, err := s.Seal(ctx)
	return err
}
