package fx

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

// MaxSpreadBps is the largest spread accepted, in basis points (10%).
const MaxSpreadBps = 1000

// bpsPerUnit is the number of basis points in 1.
const bpsPerUnit = 10000

// QuoteRequest asks for a price to sell one currency for another. Exactly
// one of SellAmount and BuyAmount is set: the customer fixes either what
// they pay or what they receive.
type QuoteRequest struct {
	// SellCurrency is what the customer pays in ("sell_currency").
	SellCurrency string
	// BuyCurrency is what the customer receives ("buy_currency").
	BuyCurrency string
	// SellAmount is the amount the customer pays ("sell_amount"), or nil.
	SellAmount *decimal.Decimal
	// BuyAmount is the amount the customer receives ("buy_amount"), or nil.
	BuyAmount *decimal.Decimal
}

// Priced is a priced quote.
type Priced struct {
	// MidRate is the reference rate: buy units per 1 sell unit.
	MidRate decimal.Decimal
	// Rate is the rate offered to the customer: buy units per 1 sell unit,
	// MidRate × (1 − SpreadBps/10000), exact.
	Rate decimal.Decimal
	// SellAmount is what the customer pays, exact at the sell currency's
	// minor units.
	SellAmount decimal.Decimal
	// BuyAmount is what the customer receives, exact at the buy currency's
	// minor units.
	BuyAmount decimal.Decimal
	// SpreadAmount is what the platform keeps, in the buy currency:
	// round_half_even(SellAmount × MidRate) − BuyAmount, never negative.
	SpreadAmount decimal.Decimal
	// SpreadBps is the spread applied, in basis points.
	SpreadBps int64
}

// Validate checks the shape of q: both currencies active and different,
// exactly one amount, > 0 and exact at its currency's minor units. It
// returns a *FieldError naming the JSON field.
func (q QuoteRequest) Validate() error {
	_, _, err := q.currencies()
	return err
}

// currencies validates q and returns its currencies.
func (q QuoteRequest) currencies() (sell, buy money.Currency, err error) {
	sell, err = lookupField("sell_currency", q.SellCurrency)
	if err != nil {
		return sell, buy, err
	}
	buy, err = lookupField("buy_currency", q.BuyCurrency)
	if err != nil {
		return sell, buy, err
	}
	if sell.Code == buy.Code {
		return sell, buy, &FieldError{Field: "buy_currency", Message: "must differ from sell_currency"}
	}
	switch {
	case q.SellAmount == nil && q.BuyAmount == nil:
		return sell, buy, &FieldError{Field: "sell_amount", Message: "one of sell_amount and buy_amount is required"}
	case q.SellAmount != nil && q.BuyAmount != nil:
		return sell, buy, &FieldError{Field: "buy_amount", Message: "only one of sell_amount and buy_amount may be set"}
	case q.SellAmount != nil:
		return sell, buy, checkAmount("sell_amount", *q.SellAmount, sell)
	default:
		return sell, buy, checkAmount("buy_amount", *q.BuyAmount, buy)
	}
}

func lookupField(field, code string) (money.Currency, error) {
	if code == "" {
		return money.Currency{}, &FieldError{Field: field, Message: "is required"}
	}
	c, err := money.Lookup(code)
	if err != nil {
		return c, &FieldError{Field: field, Message: "unknown currency " + quoteShort(code)}
	}
	return c, nil
}

func checkAmount(field string, d decimal.Decimal, c money.Currency) error {
	if !d.IsPositive() {
		return &FieldError{Field: field, Message: "must be greater than zero"}
	}
	if money.CheckExact(d, c) != nil {
		return &FieldError{Field: field, Message: fmt.Sprintf("has more than %d decimal places for %s", c.MinorUnits, c.Code)}
	}
	return nil
}

// Price prices req at the mid rate (1 SellCurrency = mid.Rate BuyCurrency)
// with a spread of spreadBps basis points kept by the platform:
//
//	Rate = mid × (1 − spreadBps/10000)   (exact, no rounding)
//
// When SellAmount is given, the buy side is rounded:
//
//	BuyAmount = round_half_even(SellAmount × Rate, buy minor units)
//
// When BuyAmount is given, the sell side is rounded, up (towards the
// platform), to the sell minor units:
//
//	SellAmount = ceil(BuyAmount / Rate)   (exact remainder check, no rounding before)
//
// so that SellAmount × Rate ≥ BuyAmount: the customer never receives more
// than the offered rate gives for what they pay. Rounding this side half-even
// instead could let the customer pay up to half a minor unit too little,
// which with a small spread makes the platform's spread negative; the
// excess (under one sell minor unit) is part of the spread.
//
// SpreadAmount = round_half_even(SellAmount × mid, buy minor units) −
// BuyAmount is never negative in either direction. Amounts that price to
// zero are rejected as a *FieldError on the given amount. Errors:
// *FieldError from req.Validate, ErrInvalidSpread, ErrInvalidRate when mid
// is not a positive SellCurrency/BuyCurrency rate.
func Price(mid Rate, req QuoteRequest, spreadBps int64) (Priced, error) {
	sell, buy, err := req.currencies()
	if err != nil {
		return Priced{}, err
	}
	if spreadBps < 0 || spreadBps > MaxSpreadBps {
		return Priced{}, fmt.Errorf("%w: %d bps, want 0..%d", ErrInvalidSpread, spreadBps, MaxSpreadBps)
	}
	if mid.Base != sell.Code || mid.Quote != buy.Code {
		return Priced{}, fmt.Errorf("%w: rate %s/%s used for %s/%s", ErrInvalidRate, mid.Base, mid.Quote, sell.Code, buy.Code)
	}
	if !mid.Rate.IsPositive() {
		return Priced{}, fmt.Errorf("%w: %s/%s rate %s is not positive", ErrInvalidRate, mid.Base, mid.Quote, mid.Rate)
	}
	p := Priced{
		MidRate:   mid.Rate,
		Rate:      mid.Rate.Mul(decimal.New(bpsPerUnit-spreadBps, -4)),
		SpreadBps: spreadBps,
	}
	if req.SellAmount != nil {
		p.SellAmount = *req.SellAmount
		p.BuyAmount = money.Round(p.SellAmount.Mul(p.Rate), buy)
		if !p.BuyAmount.IsPositive() {
			return Priced{}, &FieldError{Field: "sell_amount", Message: fmt.Sprintf("too small: buys less than one minor unit of %s", buy.Code)}
		}
	} else {
		p.BuyAmount = *req.BuyAmount
		if !p.Rate.IsPositive() { // unreachable: spread < 100%
			return Priced{}, fmt.Errorf("%w: customer rate %s is not positive", ErrInvalidSpread, p.Rate)
		}
		p.SellAmount = ceilDiv(p.BuyAmount, p.Rate, sell.MinorUnits)
	}
	p.SpreadAmount = money.Round(p.SellAmount.Mul(p.MidRate), buy).Sub(p.BuyAmount)
	if p.SpreadAmount.IsNegative() { // unreachable: see the doc comment
		return Priced{}, fmt.Errorf("fx: pricing invariant broken: negative spread %s for %s/%s", p.SpreadAmount, sell.Code, buy.Code)
	}
	return p, nil
}

// ceilDiv returns a/b rounded up to places decimal places, exactly, for
// a, b > 0.
func ceilDiv(a, b decimal.Decimal, places int32) decimal.Decimal {
	q, r := a.QuoRem(b, places)
	if !r.IsZero() {
		q = q.Add(decimal.New(1, -places))
	}
	return q
}
