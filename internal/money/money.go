package money

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Money is an amount bound to its currency.
type Money struct {
	// Amount is the value in major units, e.g. 12.50.
	Amount decimal.Decimal
	// Currency is the currency of Amount.
	Currency Currency
}

// New returns Money after checking that amount is exact at the currency's
// minor units; the error wraps ErrInvalidAmount.
func New(amount decimal.Decimal, c Currency) (Money, error) {
	if err := CheckExact(amount, c); err != nil {
		return Money{}, fmt.Errorf("new money: %w", err)
	}
	return Money{Amount: amount, Currency: c}, nil
}

// String renders m as "1250.00 EUR" using Format.
func (m Money) String() string {
	return Format(m.Amount, m.Currency) + " " + m.Currency.Code
}
