package risk

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Limits on observed identifiers.
const (
	// MaxPartyIDLen is the longest party id, in bytes.
	MaxPartyIDLen = 200
	// MaxDeviceIDLen is the longest device id or IP address kept, in
	// bytes; longer values are cut.
	MaxDeviceIDLen = 200
)

// Observation is what escrow tells risk about a new escrow, in the
// transaction that creates it. The gate's history and velocity features
// come from observations only.
type Observation struct {
	TenantID uuid.UUID
	EscrowID uuid.UUID
	BuyerID  string
	SellerID string
	// DeviceID and IP come from the marketplace's risk_context ("" if
	// not given).
	DeviceID string
	IP       string
	Amount   decimal.Decimal
	Currency string
	// AmountUSD is Amount in US dollars, nil when unknown. Observe fills
	// it for USD amounts; Gate.Observe converts other currencies.
	AmountUSD *decimal.Decimal
	At        time.Time
}

// Observe records an escrow's creation for the risk features, in tx. It is
// idempotent: observing the same escrow again changes nothing.
func Observe(ctx context.Context, tx pgx.Tx, o Observation) error {
	if o.TenantID == uuid.Nil || o.EscrowID == uuid.Nil || o.BuyerID == "" || o.SellerID == "" || o.Currency == "" || o.At.IsZero() {
		return fmt.Errorf("risk: observe escrow %s: %w: tenant, escrow, buyer, seller, currency and time are required", o.EscrowID, ErrInvalidGateInput)
	}
	if o.AmountUSD == nil && strings.EqualFold(o.Currency, "USD") {
		a := o.Amount
		o.AmountUSD = &a
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO risk_observations (tenant_id, escrow_id, buyer_id, seller_id, device_id, ip, amount, currency, amount_usd, observed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id, escrow_id) DO NOTHING`,
		o.TenantID, o.EscrowID, o.BuyerID, o.SellerID, cut(o.DeviceID, MaxDeviceIDLen), cut(o.IP, MaxDeviceIDLen),
		o.Amount, strings.ToUpper(o.Currency), o.AmountUSD, o.At)
	if err != nil {
		return fmt.Errorf("risk: observe escrow %s: %w", o.EscrowID, err)
	}
	return nil
}

// Observe is Observe with the USD amount converted by the gate's
// USDConverter when the caller left it nil. A conversion that fails for
// want of a rate leaves the amount unknown (the escrow still counts in the
// history); a database error is returned.
func (g *Gate) Observe(ctx context.Context, tx pgx.Tx, o Observation) error {
	if o.AmountUSD == nil && !strings.EqualFold(o.Currency, "USD") && g.fx != nil {
		rate, err := g.usdRate(ctx, tx, o.TenantID, o.Currency)
		if err == nil {
			usd := toUSD(o.Amount, rate)
			o.AmountUSD = &usd
		} else if err := dbError(ctx, tx, err); err != nil {
			return fmt.Errorf("risk: observe escrow %s: usd amount: %w", o.EscrowID, err)
		}
	}
	return Observe(ctx, tx, o)
}

// ObserveDispute records that an escrow was disputed, for its seller's
// dispute rate. It is idempotent (the first dispute time stays) and does
// nothing for an escrow risk never observed. It names the row by its
// primary key only: with the seller in the condition too, PostgreSQL may
// scan the seller's range of risk_observations_seller, and the predicate
// lock on those pages conflicts with every new escrow of that seller.
func ObserveDispute(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, escrowID uuid.UUID, at time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE risk_observations SET disputed_at = $3
		WHERE tenant_id = $1 AND escrow_id = $2 AND disputed_at IS NULL`,
		tenant, escrowID, at)
	if err != nil {
		return fmt.Errorf("risk: observe dispute of escrow %s: %w", escrowID, err)
	}
	return nil
}

// cut shortens s to at most n bytes without splitting a rune.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
