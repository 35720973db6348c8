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
	// ErrQuoteNotConsumed reports a Convert of a quote that Consume did not
	// mark used in the same transaction: a programming error.
	ErrQuoteNotConsumed = errors.New("fx: quote not consumed")
	// ErrRateConflict reports a re-import of a stored rate (same base,
	// quote, as-of and source) with another value: published rates do not
	// change; a correction needs its own as-of or source.
	ErrRateConflict = errors.New("fx: rate conflicts with the stored one")
	// ErrInvalidRatesFile is matched (errors.Is) by every *ParseError: a
	// rate feed or file that cannot be read.
	ErrInvalidRatesFile = errors.New("fx: invalid rates file")
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

// Is makes every *ParseError match ErrInvalidRatesFile.
func (e *ParseError) Is(target error) bool { return target == ErrInvalidRatesFile }

// ProblemExtra names the line and element for the API's problem body.
func (e *ParseError) ProblemExtra() map[string]any { return lineElement(e.Line, e.Element) }

// RateError reports a rate of an import refused against another rate of
// the same import (see MaxInverseDeviationBps): the 1-based Line of a
// rates CSV (0 for other input) and the Element, e.g. "rate". It matches
// ErrInvalidRate, and the API adds the line and element to the problem.
type RateError struct {
	// Line is the 1-based line number of a rates CSV, 0 if unknown.
	Line int
	// Element names the offending field, "" if unknown.
	Element string
	// Reason says what is wrong, for humans.
	Reason string
}

// Error implements error.
func (e *RateError) Error() string {
	s := ErrInvalidRate.Error() + ":"
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Element != "" {
		s += " " + e.Element
	}
	if e.Line > 0 || e.Element != "" {
		s += ":"
	}
	return s + " " + e.Reason
}

// Unwrap returns ErrInvalidRate.
func (e *RateError) Unwrap() error { return ErrInvalidRate }

// ProblemExtra names the line and element for the API's problem body.
func (e *RateError) ProblemExtra() map[string]any { return lineElement(e.Line, e.Element) }

// lineElement is a problem body's line and element members, each left out
// when unknown.
func lineElement(line int, element string) map[string]any {
	m := map[string]any{}
	if line > 0 {
		m["line"] = line
	}
	if element != "" {
		m["element"] = element
	}
	return m
}

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
