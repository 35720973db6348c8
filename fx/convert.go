package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/ledger"
)

const (
	// ClearingShards is the number of balance shards of an fx:<CUR>
	// clearing account: every conversion in that currency books on it.
	ClearingShards = 64
	// EntryKind is the ledger entry kind of a conversion.
	EntryKind = "fx.convert"
)

// Account codes of the FX chart of accounts (docs/architecture.md).
func ClearingAccount(cur string) string { return "fx:" + cur }

// RevenueAccount is the code of the spread revenue account of cur.
func RevenueAccount(cur string) string { return "fx:revenue:" + cur }

// RoundingAccount is the code of the rounding residual account of cur.
func RoundingAccount(cur string) string { return "fx:rounding:" + cur }

// Booking is how a conversion's buy side splits, all in the buy currency
// and exact at its minor units:
//
//	Clearing = round_half_even(SellAmount × MidRate)            debit  fx:<buy>
//	Spread   = round_half_even(SellAmount × MidRate × bps/10000) credit fx:revenue:<buy>
//	Rounding = Clearing − BuyAmount − Spread                     fx:rounding:<buy>
//
// so Clearing = BuyAmount + Spread + Rounding exactly. Rounding is what the
// roundings (the customer's amount, given or computed, the spread and the
// clearing value) leave over: usually zero, either sign, at most a minor
// unit plus, for a quote with a fixed buy amount, half a sell minor unit at
// the rate. A positive Rounding is a gain (credit to the expense account), a
// negative one a loss (debit). Spread equals the quote's SpreadAmount.
// MidRate is the quote's stored mid rate, so a stored quote alone
// determines its booking; Price computed the customer's amount from the
// exact rate, of which MidRate is the rounded value, and where the two
// round differently (an exact tie) Rounding holds the difference.
type Booking struct {
	Clearing decimal.Decimal
	Spread   decimal.Decimal
	Rounding decimal.Decimal
}

// SplitConversion computes the Booking of q. It errors (ErrQuoteMismatch)
// when q's SpreadAmount is not the Spread: a quote not made by Price.
// Quotes priced before SpreadAmount was the spread alone hold Clearing −
// BuyAmount (spread and rounding together); they are accepted and booked
// the same way.
func SplitConversion(q Quote) (Booking, error) {
	buy, err := money.Lookup(q.BuyCurrency)
	if err != nil {
		return Booking{}, fmt.Errorf("fx: split quote %s: %w", q.ID, err)
	}
	atMid := q.SellAmount.Mul(q.MidRate)
	b := Booking{
		Clearing: money.Round(atMid, buy),
		Spread:   spreadAt(atMid, q.SpreadBps, buy),
	}
	b.Rounding = b.Clearing.Sub(q.BuyAmount).Sub(b.Spread)
	if !q.SpreadAmount.Equal(b.Spread) && !q.SpreadAmount.Equal(b.Spread.Add(b.Rounding)) {
		return Booking{}, fmt.Errorf("%w: quote %s: spread %s, want %s at mid", ErrQuoteMismatch, q.ID, q.SpreadAmount, b.Spread)
	}
	return b, nil
}

// Conversion is a booked quote.
type Conversion struct {
	ID, TenantID, QuoteID      uuid.UUID
	Reference                  string
	FromAccountID, ToAccountID uuid.UUID
	SellCurrency, BuyCurrency  string
	SellAmount, BuyAmount      decimal.Decimal
	MidRate, Rate              decimal.Decimal
	Booking                    Booking
	Entry                      ledger.Entry
	CreatedAt                  time.Time
}

// ResourceID names the conversion for the audit log.
func (c Conversion) ResourceID() string { return c.ID.String() }

// Convert books the quote q, which Consume took in the same transaction tx,
// as one ledger entry with postings in two currencies, each currency
// balanced on its own, and records it in fx_conversions (one per quote).
// from is debited SellAmount (sell currency), to is credited BuyAmount (buy
// currency); both must be accounts of q's tenant in those currencies.
//
// Booking (see Booking for the amounts), two legs through the per-currency
// FX clearing accounts:
//
//	sell leg:  debit  from            SellAmount  (e.g. cash:psp:USD)
//	           credit fx:<sell>       SellAmount
//	buy leg:   debit  fx:<buy>        Clearing
//	           credit to              BuyAmount   (e.g. escrow:<id>)
//	           credit fx:revenue:<buy> Spread     (when > 0)
//	           credit fx:rounding:<buy> Rounding  (when > 0; debit −Rounding when < 0)
//
// fx:<CUR> is an asset clearing account (hot, ClearingShards shards, no
// overdraft guard): a debit is currency the FX counterparty owes escrowd, a
// credit currency escrowd owes it, so its balance is the open position in
// that currency until the conversion is settled with the counterparty.
// fx:revenue:<CUR> is revenue, fx:rounding:<CUR> expense. Worked example,
// USD→EUR, mid 0.92 EUR per USD, 50 bps, sell 10.10 USD:
//
//	Rate 0.92 × 0.995 = 0.9154; BuyAmount round(9.24554) = 9.25;
//	Clearing round(9.292) = 9.29; Spread (the quote's SpreadAmount)
//	round(0.04646) = 0.05; Rounding 9.29 − 9.25 − 0.05 = −0.01 (a loss)
//	USD: Dr from 10.10           / Cr fx:USD 10.10
//	EUR: Dr fx:EUR 9.29, Dr fx:rounding:EUR 0.01 / Cr to 9.25, Cr fx:revenue:EUR 0.05
//
// reference is the entry's reference, unique per tenant (e.g.
// "fx:"+quoteID). Errors: ErrQuoteNotFound, ErrQuoteNotConsumed, ErrQuoteUsed
// (already converted), and the ledger's (ErrCurrencyMismatch,
// ErrUnknownAccount, ErrDuplicateReference, ErrInsufficientFunds, ...).
func Convert(ctx context.Context, tx pgx.Tx, q Quote, from, to uuid.UUID, reference string, now time.Time) (Conversion, error) {
	stored, err := GetQuote(ctx, tx, q.TenantID, q.ID)
	if err != nil {
		return Conversion{}, err
	}
	if stored.UsedAt == nil {
		return Conversion{}, fmt.Errorf("quote %s: %w", q.ID, ErrQuoteNotConsumed)
	}
	b, err := SplitConversion(stored)
	if err != nil {
		return Conversion{}, err
	}
	sellClr, err := Clearing(ctx, tx, stored.TenantID, stored.SellCurrency, now)
	if err != nil {
		return Conversion{}, err
	}
	buyClr, err := Clearing(ctx, tx, stored.TenantID, stored.BuyCurrency, now)
	if err != nil {
		return Conversion{}, err
	}
	sell, buy := stored.SellCurrency, stored.BuyCurrency
	postings := []ledger.Posting{
		{AccountID: from, Direction: ledger.SideDebit, Amount: stored.SellAmount, Currency: sell},
		{AccountID: sellClr.ID, Direction: ledger.SideCredit, Amount: stored.SellAmount, Currency: sell},
		{AccountID: buyClr.ID, Direction: ledger.SideDebit, Amount: b.Clearing, Currency: buy},
		{AccountID: to, Direction: ledger.SideCredit, Amount: stored.BuyAmount, Currency: buy},
	}
	if b.Spread.IsPositive() {
		rev, err := ensure(ctx, tx, stored.TenantID, RevenueAccount(buy), buy, ledger.KindRevenue, ClearingShards, now)
		if err != nil {
			return Conversion{}, err
		}
		postings = append(postings, ledger.Posting{AccountID: rev, Direction: ledger.SideCredit, Amount: b.Spread, Currency: buy})
	}
	if !b.Rounding.IsZero() {
		rnd, err := ensure(ctx, tx, stored.TenantID, RoundingAccount(buy), buy, ledger.KindExpense, ClearingShards, now)
		if err != nil {
			return Conversion{}, err
		}
		side := ledger.SideCredit
		if b.Rounding.IsNegative() {
			side = ledger.SideDebit
		}
		postings = append(postings, ledger.Posting{AccountID: rnd, Direction: side, Amount: b.Rounding.Abs(), Currency: buy})
	}
	entry, err := ledger.Post(ctx, tx, ledger.Entry{
		TenantID:    stored.TenantID,
		Kind:        EntryKind,
		Description: fmt.Sprintf("FX %s %s to %s %s", stored.SellAmount, sell, stored.BuyAmount, buy),
		Reference:   reference,
		EffectiveAt: now,
		CreatedAt:   now,
		Metadata: map[string]string{
			"quote_id": stored.ID.String(), "mid_rate": stored.MidRate.String(), "rate": stored.Rate.String(),
			"spread_bps": fmt.Sprint(stored.SpreadBps),
		},
		Postings: postings,
	})
	if err != nil {
		return Conversion{}, fmt.Errorf("fx: book quote %s: %w", stored.ID, err)
	}
	c := Conversion{
		ID: uuid.New(), TenantID: stored.TenantID, QuoteID: stored.ID, Reference: reference,
		FromAccountID: from, ToAccountID: to, SellCurrency: sell, BuyCurrency: buy,
		SellAmount: stored.SellAmount, BuyAmount: stored.BuyAmount, MidRate: stored.MidRate, Rate: stored.Rate,
		Booking: b, Entry: entry, CreatedAt: now,
	}
	if err := insertConversion(ctx, tx, c); err != nil {
		return Conversion{}, err
	}
	return c, nil
}

// ensure returns the id of the tenant's account code, creating it.
func ensure(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, code, cur string, kind ledger.Kind, shards int, now time.Time) (uuid.UUID, error) {
	a, err := ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: tenant, Code: code, Currency: cur, Kind: kind, Shards: shards}, now)
	if err != nil {
		return uuid.Nil, fmt.Errorf("fx: account %s: %w", code, err)
	}
	return a.ID, nil
}

func insertConversion(ctx context.Context, tx pgx.Tx, c Conversion) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO fx_conversions (id, tenant_id, quote_id, entry_id, reference, from_account_id, to_account_id,
			sell_currency, buy_currency, sell_amount, buy_amount, mid_rate, rate,
			clearing_amount, spread_amount, rounding_amount, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		c.ID, c.TenantID, c.QuoteID, c.Entry.ID, c.Reference, c.FromAccountID, c.ToAccountID,
		c.SellCurrency, c.BuyCurrency, c.SellAmount, c.BuyAmount, c.MidRate, c.Rate,
		c.Booking.Clearing, c.Booking.Spread, c.Booking.Rounding, c.CreatedAt)
	if db.IsUniqueViolation(err, "") {
		return fmt.Errorf("quote %s already converted: %w", c.QuoteID, ErrQuoteUsed)
	}
	if err != nil {
		return fmt.Errorf("fx: record conversion of quote %s: %w", c.QuoteID, err)
	}
	return nil
}
