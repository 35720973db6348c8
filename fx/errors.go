// Package fx holds escrowd's foreign exchange: reference rates (ECB feed,
// CSV import), rate resolution and freshness, and quote pricing.
package fx

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrRateStale reports a rate older than the allowed age.
	ErrRateStale = errors.New("fx: rate is stale")
	// ErrRateInFuture reports a rate dated after now (beyond MaxClockSkew).
	ErrRateInFuture = errors.New("fx: rate is dated in the future")
	// ErrNoRate reports that no rate can be derived for a currency pair.
	ErrNoRate = errors.New("fx: no rate")
	// ErrInvalidRate reports a rate that is not a positive number or whose
	// currencies do not match what it is used for.
	ErrInvalidRate = errors.New("fx: invalid rate")
	// ErrInvalidSpread reports a spread outside 0..MaxSpreadBps.
	ErrInvalidSpread = errors.New("fx: invalid spread")
	// ErrQuoteExpired reports a quote used after its expiry.
	ErrQuoteExpired = errors.New("fx: quote expired")
	// ErrQuoteUsed reports a quote that was already booked.
	ErrQuoteUsed = errors.New("fx: quote already used")
	// ErrQuoteMismatch reports a quote used with terms other than its own.
	ErrQuoteMismatch = errors.New("fx: quote does not match")
	// ErrQuoteNotFound reports an unknown quote.
	ErrQuoteNotFound = errors.New("fx: quote not found")
)

// ParseError reports bad input in a rate feed or file: the 1-based Line (0
// if unknown), or the Element (e.g. "Cube[currency=USD]"), and why.
type ParseError struct {
	// Line is the 1-based line number, 0 if unknown.
	Line int
	// Element names the offending element or field, "" if unknown.
	Element string
	// Reason says what is wrong, for humans.
	Reason string
	// Err is the underlying error, if any (e.g. money.ErrUnknownCurrency).
	Err error
}

// Error implements error.
func (e *ParseError) Error() string {
	s := "fx: parse"
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Element != "" {
		s += " " + e.Element
	}
	return s + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// FieldError reports a request field that fails a shape check. Field is the
// JSON name of the field, e.g. "sell_amount".
type FieldError struct {
	// Field is the JSON field name.
	Field string
	// Message says what is wrong, safe to show to clients.
	Message string
}

// Error implements error.
func (e *FieldError) Error() string {
	return fmt.Sprintf("fx: %s: %s", e.Field, e.Message)
}
