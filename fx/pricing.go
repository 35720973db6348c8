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
	// SpreadAmount is the spread the platform earns, in the buy currency:
	// round_half_even(SellAmount × MidRate × SpreadBps/10000), never
	// negative; a conversion credits it to fx:revenue:<buy> (Booking.Spread).
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
// The amount not given is computed exactly and rounded once, half-even, to
// its currency's minor units:
//
//	BuyAmount  = round_half_even(SellAmount × Rate)   when SellAmount is given
//	SellAmount = round_half_even(BuyAmount / Rate)    when BuyAmount is given
//
// where, for an inverse or cross rate from CrossRate or LatestRate, mid is
// the exact quotient the rate was derived as, not mid.Rate, its rounded
// value (at least MinRateSignificantDigits significant digits), which
// MidRate and Rate show: 3.045 KWD at 1/3 buy exactly 1.015 EUR, 1.02.
//
// so either side may favour the customer or the platform by up to half a
// minor unit; with a small spread and a small amount the customer can pay
// less than BuyAmount is worth at mid. Nothing is lost: the conversion books
// what the roundings leave over on fx:rounding:<buy> (see Booking), and
// SpreadAmount = round_half_even(SellAmount × MidRate × spreadBps/10000) is
// the spread alone, never negative. Amounts that price to zero are rejected as
// a *FieldError on the given amount. Errors: *FieldError from req.Validate,
// ErrInvalidSpread, ErrInvalidRate when mid is not a positive
// SellCurrency/BuyCurrency rate.
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
	customer := decimal.New(bpsPerUnit-spreadBps, -4) // 1 − spreadBps/10000
	p := Priced{
		MidRate:   mid.Rate,
		Rate:      mid.Rate.Mul(customer),
		SpreadBps: spreadBps,
	}
	num, den := mid.exactly() // the customer's exact rate is num × customer / den
	if req.SellAmount != nil {
		p.SellAmount = *req.SellAmount
		p.BuyAmount = quoHalfEven(p.SellAmount.Mul(num).Mul(customer), den, buy.MinorUnits)
		if !p.BuyAmount.IsPositive() {
			return Priced{}, &FieldError{Field: "sell_amount", Message: fmt.Sprintf("too small: buys less than one minor unit of %s", buy.Code)}
		}
	} else {
		p.BuyAmount = *req.BuyAmount
		if !p.Rate.IsPositive() { // unreachable: spread < 100%
			return Priced{}, fmt.Errorf("%w: customer rate %s is not positive", ErrInvalidSpread, p.Rate)
		}
		p.SellAmount = quoHalfEven(p.BuyAmount.Mul(den), num.Mul(customer), sell.MinorUnits)
		if !p.SellAmount.IsPositive() {
			return Priced{}, &FieldError{Field: "buy_amount", Message: fmt.Sprintf("too small: costs less than half a minor unit of %s", sell.Code)}
		}
	}
	p.SpreadAmount = spreadAt(p.SellAmount.Mul(p.MidRate), spreadBps, buy)
	return p, nil
}

// spreadAt is the spread of spreadBps on atMid (an amount at the mid rate),
// rounded half-even to c's minor units.
func spreadAt(atMid decimal.Decimal, spreadBps int64, c money.Currency) decimal.Decimal {
	return money.Round(atMid.Mul(decimal.New(spreadBps, -4)), c)
}

// quoHalfEven returns a/b rounded half-even to places decimal places,
// exactly (no rounding before), for a ≥ 0 and b > 0.
func quoHalfEven(a, b decimal.Decimal, places int32) decimal.Decimal {
	if b.Equal(one) {
		return a.RoundBank(places)
	}
	q, r := a.QuoRem(b, places) // a = b×q + r, 0 ≤ r < b×10^-places
	switch r.Add(r).Cmp(b.Shift(-places)) {
	case -1: // below half a unit
		return q
	case 1: // above
		return q.Add(decimal.New(1, -places))
	default: // exactly half: to the even neighbour
		return q.Add(decimal.New(5, -places-1)).RoundBank(places)
	}
}
