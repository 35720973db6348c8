package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
)

// Defaults of the Service settings (cmd/escrowd's configuration uses them).
const (
	DefaultMaxRateAge = 36 * time.Hour
	DefaultQuoteTTL   = 10 * time.Minute
	DefaultSpreadBps  = 50
)

// USD is the currency ToUSD converts to.
const USD = "USD"

// Service is the FX service behind the API: rates, quotes and settings.
// Conversions are booked by other packages inside their own transactions
// with the package functions Consume and Convert.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
	// MaxRateAge is how old a rate may be for a new quote.
	MaxRateAge time.Duration
	// QuoteTTL is how long a quote can be consumed after it is made.
	QuoteTTL time.Duration
	// DefaultSpreadBps applies to tenants that have not set their own.
	DefaultSpreadBps int64
}

// ImportRates stores sets as tenant's rates, all or nothing, in one
// transaction. Re-importing the same rates is a no-op (counted Unchanged);
// a stored rate with another value is ErrRateConflict. Sets must be valid
// (ErrInvalidRate), not dated in the future (ErrRateInFuture) and hold no
// rate that contradicts an inverse rate at the same instant, in the sets or
// already stored (*RateError, matching ErrInvalidRate; see
// MaxInverseDeviationBps).
func (s *Service) ImportRates(ctx context.Context, tenant uuid.UUID, sets []RateSet) (ImportResult, error) {
	if err := validateImport(sets, s.Clock.Now()); err != nil {
		return ImportResult{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (ImportResult, error) {
		return insertRates(ctx, tx, tenant, sets, s.Clock.Now())
	})
}

// RateStatus is a rate with its freshness for new quotes.
type RateStatus struct {
	Rate
	// Stale is true when the rate is too old (or too far in the future)
	// for a new quote.
	Stale bool
}

// CurrentRate returns tenant's latest rate from → to (see LatestRate) and
// whether it is fresh enough for a quote (ErrNoRate).
func (s *Service) CurrentRate(ctx context.Context, tenant uuid.UUID, from, to string) (RateStatus, error) {
	now := s.Clock.Now()
	r, err := LatestRate(ctx, s.DB.Pool, tenant, from, to, now)
	if err != nil {
		return RateStatus{}, err
	}
	return RateStatus{Rate: r, Stale: CheckFresh(r, now, s.MaxRateAge) != nil}, nil
}

// Quote prices req for tenant at the latest rate plus the tenant's spread
// and stores the quote, valid for QuoteTTL. Errors: valid.Errors for the
// request's shape, ErrNoRate, ErrRateStale (older than MaxRateAge),
// ErrRateInFuture.
func (s *Service) Quote(ctx context.Context, tenant uuid.UUID, req QuoteRequest) (Quote, error) {
	if err := req.Validate(); err != nil {
		return Quote{}, fieldErr(err)
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Quote, error) {
		now := s.Clock.Now()
		bps, err := spreadBps(ctx, tx, tenant, s.DefaultSpreadBps)
		if err != nil {
			return Quote{}, err
		}
		mid, err := LatestRate(ctx, tx, tenant, req.SellCurrency, req.BuyCurrency, now)
		if err != nil {
			return Quote{}, err
		}
		if err := CheckFresh(mid, now, s.MaxRateAge); err != nil {
			return Quote{}, err
		}
		q, err := newQuote(tenant, mid, req, bps, now, s.QuoteTTL)
		if err != nil {
			return Quote{}, err
		}
		return q, insertQuote(ctx, tx, q)
	})
}

// newQuote prices req and builds the quote to store.
func newQuote(tenant uuid.UUID, mid Rate, req QuoteRequest, bps int64, now time.Time, ttl time.Duration) (Quote, error) {
	p, err := Price(mid, req, bps)
	if err != nil {
		return Quote{}, fieldErr(err)
	}
	side := FixedSell
	if req.SellAmount == nil {
		side = FixedBuy
	}
	return Quote{
		ID: uuid.New(), TenantID: tenant,
		SellCurrency: req.SellCurrency, BuyCurrency: req.BuyCurrency,
		SellAmount: p.SellAmount, BuyAmount: p.BuyAmount, FixedSide: side,
		MidRate: p.MidRate, Rate: p.Rate, SpreadBps: p.SpreadBps, SpreadAmount: p.SpreadAmount,
		RateSource: mid.Source, RateAsOf: mid.AsOf.UTC(),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}, nil
}

// GetQuote returns tenant's quote id (ErrQuoteNotFound).
func (s *Service) GetQuote(ctx context.Context, tenant, id uuid.UUID) (Quote, error) {
	return GetQuote(ctx, s.DB.Pool, tenant, id)
}

// Settings returns tenant's FX settings.
func (s *Service) Settings(ctx context.Context, tenant uuid.UUID) (Settings, error) {
	return readSettings(ctx, s.DB.Pool, tenant, s.DefaultSpreadBps)
}

// SetSpread sets tenant's spread for new quotes, 0..MaxSpreadBps basis
// points (ErrInvalidSpread).
func (s *Service) SetSpread(ctx context.Context, tenant uuid.UUID, bps int64) (Settings, error) {
	if err := ValidateSpread(bps); err != nil {
		return Settings{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Settings, error) {
		return upsertSettings(ctx, tx, tenant, bps, s.Clock.Now())
	})
}

// ToUSD converts amount of currency to USD with tenant's latest rate
// (USDRate). The product is rounded half-even to cents; USD returns amount
// itself.
func (s *Service) ToUSD(ctx context.Context, q db.Querier, tenant uuid.UUID, amount decimal.Decimal, currency string) (decimal.Decimal, error) {
	rate, err := s.USDRate(ctx, q, tenant, currency)
	if err != nil {
		return decimal.Decimal{}, err
	}
	usd, _ := money.Lookup(USD)
	return money.Round(amount.Mul(rate), usd), nil
}

// USDRate is the price of one unit of currency in USD, from tenant's latest
// rate (LatestRate at the service clock), whatever its age: it feeds risk
// features, not prices; 1 for USD. ErrNoRate if no rate exists, wrapped
// money.ErrUnknownCurrency for an unknown code.
func (s *Service) USDRate(ctx context.Context, q db.Querier, tenant uuid.UUID, currency string) (decimal.Decimal, error) {
	if _, err := money.Lookup(currency); err != nil {
		return decimal.Decimal{}, fmt.Errorf("fx: to USD: %w", err)
	}
	if currency == USD {
		return decimal.NewFromInt(1), nil
	}
	r, err := LatestRate(ctx, q, tenant, currency, USD, s.Clock.Now())
	if err != nil {
		return decimal.Decimal{}, err
	}
	return r.Rate, nil
}
