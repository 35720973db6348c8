package money

import "errors"

// ErrUnknownCurrency reports a currency code that is not an active ISO 4217
// code with minor units (or, for LookupHistoric, not a known withdrawn one).
var ErrUnknownCurrency = errors.New("unknown currency")

// ErrInvalidAmount reports an amount string or value that is not acceptable
// for its currency: malformed, signed where it must not be, too long, or with
// more decimal places than the currency's minor units.
var ErrInvalidAmount = errors.New("invalid amount")
