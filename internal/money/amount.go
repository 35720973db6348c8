package money

import (
	"fmt"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// MaxAmountLength is the number of characters accepted in an amount string,
// sign included.
const MaxAmountLength = 40

// ParseAmount parses a strict non-negative decimal amount in currency c:
// ASCII digits with an optional single '.', at least one digit on each side
// of the '.', no sign, exponent, spaces, NaN or Inf, at most MaxAmountLength
// characters, and at most c.MinorUnits digits after the '.' (counted as
// written, so "10.0" is rejected for JPY), and short enough that Format's
// output also fits in MaxAmountLength. It never rounds. Errors wrap
// ErrInvalidAmount with a human reason, or ErrUnknownCurrency for a zero
// Currency.
func ParseAmount(s string, c Currency) (decimal.Decimal, error) {
	return parseAmount(s, c, false)
}

// ParseSignedAmount is ParseAmount that also accepts one leading '-'.
func ParseSignedAmount(s string, c Currency) (decimal.Decimal, error) {
	return parseAmount(s, c, true)
}

func parseAmount(s string, c Currency, signed bool) (decimal.Decimal, error) {
	if c.Code == "" {
		return decimal.Decimal{}, fmt.Errorf("%w: zero Currency", ErrUnknownCurrency)
	}
	sc, reason := scan(s, signed)
	if reason != "" {
		return decimal.Decimal{}, fmt.Errorf("%w: %s", ErrInvalidAmount, reason)
	}
	if sc.frac > int(c.MinorUnits) {
		return decimal.Decimal{}, fmt.Errorf("%w: too many decimal places for %s (max %d)", ErrInvalidAmount, c.Code, c.MinorUnits)
	}
	// Every accepted amount must survive Format and re-parse.
	formatted := sc.sign + sc.intDigits
	if c.MinorUnits > 0 {
		formatted += 1 + int(c.MinorUnits)
	}
	if formatted > MaxAmountLength {
		return decimal.Decimal{}, fmt.Errorf("%w: too many digits for %s (formatted longer than %d characters)", ErrInvalidAmount, c.Code, MaxAmountLength)
	}
	return fromScanned(s)
}

// ParsePlainDecimal parses a strict non-negative decimal with the syntax of
// ParseAmount and at most maxDecimals digits after the '.'. It is meant for
// quantities that are not amounts, such as exchange rates. Errors wrap
// ErrInvalidAmount.
func ParsePlainDecimal(s string, maxDecimals int32) (decimal.Decimal, error) {
	sc, reason := scan(s, false)
	if reason != "" {
		return decimal.Decimal{}, fmt.Errorf("%w: %s", ErrInvalidAmount, reason)
	}
	if sc.frac > int(maxDecimals) {
		return decimal.Decimal{}, fmt.Errorf("%w: too many decimal places (max %d)", ErrInvalidAmount, maxDecimals)
	}
	return fromScanned(s)
}

// fromScanned converts a string that scan accepted.
func fromScanned(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil { // unreachable: scan accepts a subset of NewFromString's syntax
		return decimal.Decimal{}, fmt.Errorf("%w: %w", ErrInvalidAmount, err)
	}
	return d, nil
}

// scanned describes an amount string that scan accepted.
type scanned struct {
	sign      int // 1 if the string has a leading '-', else 0
	intDigits int // digits before the '.', leading zeros dropped (at least 1)
	frac      int // digits after the '.'
}

// scan checks the syntax of an amount string. It returns a non-empty reason
// when s is not acceptable.
func scan(s string, signed bool) (sc scanned, reason string) {
	if s == "" {
		return sc, "empty"
	}
	if len(s) > MaxAmountLength {
		return sc, fmt.Sprintf("longer than %d characters", MaxAmountLength)
	}
	i := 0
	switch {
	case s[0] == '-' && signed:
		sc.sign, i = 1, 1
	case s[0] == '-' || s[0] == '+':
		return sc, "sign not allowed"
	}
	digits, leadingZeros, dot := 0, 0, -1
	for ; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= '0' && b <= '9' && dot >= 0:
			sc.frac++
		case b == '0' && digits == leadingZeros:
			digits++
			leadingZeros++
		case b >= '0' && b <= '9':
			digits++
		case b == '.' && dot < 0:
			dot = i
		case b == '.':
			return sc, "more than one '.'"
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return sc, fmt.Sprintf("unexpected character %q at offset %d", r, i)
		}
	}
	switch {
	case digits == 0:
		return sc, "missing digits before the '.'"
	case dot >= 0 && sc.frac == 0:
		return sc, "missing digits after the '.'"
	}
	sc.intDigits = max(digits-leadingZeros, 1)
	return sc, ""
}

// CheckExact returns an error wrapping ErrInvalidAmount if d has a non-zero
// digit beyond c.MinorUnits decimal places (trailing zeros are fine).
func CheckExact(d decimal.Decimal, c Currency) error {
	if d.Exponent() >= -c.MinorUnits || d.Equal(d.Truncate(c.MinorUnits)) {
		return nil
	}
	return fmt.Errorf("%w: %s has more than %d decimal places for %s", ErrInvalidAmount, d.String(), c.MinorUnits, c.Code)
}

// Format renders d with exactly c.MinorUnits decimals ("1250.00", "1250"
// for JPY). It never rounds silently: callers assert exactness with
// CheckExact first, and an inexact d is rendered with all its decimals
// (d.String()) so no value is lost.
func Format(d decimal.Decimal, c Currency) string {
	if CheckExact(d, c) != nil {
		return d.String()
	}
	return d.StringFixed(c.MinorUnits)
}

// Round rounds d half-even (banker's rounding) to c.MinorUnits decimals. It
// is the only rounding of amounts; call it only where the rounding mode is
// written down (FX conversion, fee split) and book the remainder.
func Round(d decimal.Decimal, c Currency) decimal.Decimal {
	return d.RoundBank(c.MinorUnits)
}
