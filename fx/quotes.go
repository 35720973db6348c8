package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// MaxUsedByLength bounds ConsumeRequest.UsedBy.
const MaxUsedByLength = 200

// Fixed sides of a quote: which amount the customer gave.
const (
	FixedSell = "sell"
	FixedBuy  = "buy"
)

// Quote is a stored, priced offer: the customer pays SellAmount of
// SellCurrency and receives BuyAmount of BuyCurrency, until ExpiresAt, once.
type Quote struct {
	ID           uuid.UUID
	TenantID     uuid.UUID
	SellCurrency string
	BuyCurrency  string
	SellAmount   decimal.Decimal
	BuyAmount    decimal.Decimal
	// FixedSide is FixedSell or FixedBuy: the amount the request gave.
	FixedSide string
	// MidRate is the reference rate, Rate the customer's (see Priced).
	MidRate      decimal.Decimal
	Rate         decimal.Decimal
	SpreadBps    int64
	SpreadAmount decimal.Decimal
	// RateSource and RateAsOf describe the mid rate.
	RateSource string
	RateAsOf   time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// UsedAt and UsedBy are set once Consume took the quote.
	UsedAt *time.Time
	UsedBy string
}

// ResourceID names the quote for the audit log.
func (q Quote) ResourceID() string { return q.ID.String() }

// Quote states, as the API reports them.
const (
	QuoteOpen    = "open"
	QuoteUsed    = "used"
	QuoteExpired = "expired"
)

// Status is the quote's state at now: used, expired or open.
func (q Quote) Status(now time.Time) string {
	switch {
	case q.UsedAt != nil:
		return QuoteUsed
	case !now.Before(q.ExpiresAt):
		return QuoteExpired
	default:
		return QuoteOpen
	}
}

// ConsumeRequest is what the consuming operation expects of a quote.
type ConsumeRequest struct {
	SellCurrency string
	BuyCurrency  string
	// SellAmount and BuyAmount, when not nil, must equal the quote's.
	SellAmount *decimal.Decimal
	BuyAmount  *decimal.Decimal
	// UsedBy names the consumer, e.g. "escrow:<id>" (1..MaxUsedByLength).
	UsedBy string
}

const quoteColumns = `id, tenant_id, sell_currency, buy_currency, sell_amount, buy_amount, fixed_side,
	mid_rate, rate, spread_bps, spread_amount, rate_source, rate_as_of, created_at, expires_at, used_at, used_by`

func scanQuote(row pgx.Row) (Quote, error) {
	var q Quote
	var usedBy *string
	err := row.Scan(&q.ID, &q.TenantID, &q.SellCurrency, &q.BuyCurrency, &q.SellAmount, &q.BuyAmount, &q.FixedSide,
		&q.MidRate, &q.Rate, &q.SpreadBps, &q.SpreadAmount, &q.RateSource, &q.RateAsOf, &q.CreatedAt, &q.ExpiresAt, &q.UsedAt, &usedBy)
	if err != nil {
		return Quote{}, err
	}
	q.RateAsOf, q.CreatedAt, q.ExpiresAt = q.RateAsOf.UTC(), q.CreatedAt.UTC(), q.ExpiresAt.UTC()
	if q.UsedAt != nil {
		u := q.UsedAt.UTC()
		q.UsedAt = &u
	}
	if usedBy != nil {
		q.UsedBy = *usedBy
	}
	return q, nil
}

func insertQuote(ctx context.Context, tx pgx.Tx, q Quote) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO fx_quotes (id, tenant_id, sell_currency, buy_currency, sell_amount, buy_amount, fixed_side,
			mid_rate, rate, spread_bps, spread_amount, rate_source, rate_as_of, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		q.ID, q.TenantID, q.SellCurrency, q.BuyCurrency, q.SellAmount, q.BuyAmount, q.FixedSide,
		q.MidRate, q.Rate, q.SpreadBps, q.SpreadAmount, q.RateSource, q.RateAsOf, q.CreatedAt, q.ExpiresAt)
	if err != nil {
		return fmt.Errorf("fx: store quote: %w", err)
	}
	return nil
}

// GetQuote returns tenant's quote id; another tenant's quote is
// ErrQuoteNotFound.
func GetQuote(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Quote, error) {
	quote, err := scanQuote(q.QueryRow(ctx, `SELECT `+quoteColumns+` FROM fx_quotes WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if db.IsNoRows(err) {
		return Quote{}, fmt.Errorf("quote %s: %w", id, ErrQuoteNotFound)
	}
	if err != nil {
		return Quote{}, fmt.Errorf("fx: read quote %s: %w", id, err)
	}
	return quote, nil
}

// Consume takes tenant's quote for the operation want describes, inside the
// caller's transaction: the row is locked, checked, and marked used with an
// UPDATE guarded on used_at IS NULL, so of several transactions consuming
// one quote exactly one commits (the others are retried by db.Tx and then
// see it used). Errors: ErrQuoteNotFound, ErrQuoteUsed, ErrQuoteExpired (at
// or after ExpiresAt), ErrQuoteMismatch (a currency differs, or an amount
// given in want differs from the quote's), in that order of precedence.
// On error nothing is changed.
func Consume(ctx context.Context, tx pgx.Tx, tenant, quoteID uuid.UUID, want ConsumeRequest, now time.Time) (Quote, error) {
	if want.UsedBy == "" || len(want.UsedBy) > MaxUsedByLength {
		return Quote{}, fmt.Errorf("fx: consume quote %s: used-by must have 1 to %d characters", quoteID, MaxUsedByLength)
	}
	q, err := scanQuote(tx.QueryRow(ctx, `SELECT `+quoteColumns+` FROM fx_quotes WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, quoteID))
	if db.IsNoRows(err) {
		return Quote{}, fmt.Errorf("quote %s: %w", quoteID, ErrQuoteNotFound)
	}
	if err != nil {
		return Quote{}, fmt.Errorf("fx: lock quote %s: %w", quoteID, err)
	}
	if q.UsedAt != nil {
		return Quote{}, fmt.Errorf("quote %s used at %s: %w", quoteID, q.UsedAt.Format(time.RFC3339), ErrQuoteUsed)
	}
	if !now.Before(q.ExpiresAt) {
		return Quote{}, fmt.Errorf("quote %s expired at %s: %w", quoteID, q.ExpiresAt.Format(time.RFC3339), ErrQuoteExpired)
	}
	if err := q.matches(want); err != nil {
		return Quote{}, err
	}
	tag, err := tx.Exec(ctx, `
		UPDATE fx_quotes SET used_at = $3, used_by = $4
		WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL AND expires_at > $3`,
		tenant, quoteID, now, want.UsedBy)
	if err != nil {
		return Quote{}, fmt.Errorf("fx: consume quote %s: %w", quoteID, err)
	}
	if tag.RowsAffected() != 1 { // unreachable under the row lock; kept as the guard
		return Quote{}, fmt.Errorf("quote %s: %w", quoteID, ErrQuoteUsed)
	}
	q.UsedAt, q.UsedBy = &now, want.UsedBy
	return q, nil
}

// matches checks want against q.
func (q Quote) matches(want ConsumeRequest) error {
	switch {
	case want.SellCurrency != q.SellCurrency || want.BuyCurrency != q.BuyCurrency:
		return fmt.Errorf("%w: quote %s is %s→%s, not %s→%s", ErrQuoteMismatch, q.ID, q.SellCurrency, q.BuyCurrency, want.SellCurrency, want.BuyCurrency)
	case want.SellAmount != nil && !want.SellAmount.Equal(q.SellAmount):
		return fmt.Errorf("%w: quote %s sells %s %s, not %s", ErrQuoteMismatch, q.ID, q.SellAmount, q.SellCurrency, want.SellAmount)
	case want.BuyAmount != nil && !want.BuyAmount.Equal(q.BuyAmount):
		return fmt.Errorf("%w: quote %s buys %s %s, not %s", ErrQuoteMismatch, q.ID, q.BuyAmount, q.BuyCurrency, want.BuyAmount)
	}
	return nil
}
