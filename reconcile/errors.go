package reconcile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// ErrTooLarge is wrapped by the *ParseError returned when a statement file
// exceeds MaxStatementBytes (camt.053) or MaxCSVBytes / MaxCSVLines (CSV).
// ImportStatement returns that error as it is, not as an
// *InvalidStatementError: the file is too large, not malformed.
var ErrTooLarge = errors.New("statement too large")

// ErrNoBalances is returned by Statement.CheckBalances when the opening or the
// closing balance is absent (always the case for CSV statements), so there is
// nothing to check. It is distinct from success on purpose: a statement whose
// balances were never checked must not be mistaken for one that ties.
var ErrNoBalances = errors.New("statement has no opening and closing balance to check")

// ErrMixedCurrencies is returned by Statement.CheckBalances when a booked line
// is in a currency other than the statement's, so the lines cannot be summed.
var ErrMixedCurrencies = errors.New("statement lines are in more than one currency")

// ParseError reports why a statement file was rejected. Line is the 1-based
// line of the file when known (always for CSV, for malformed XML), Element
// names the camt.053 element (e.g. "Ntry[2]/Amt") or the CSV column concerned.
type ParseError struct {
	Line    int    // 1-based line in the file; 0 if unknown
	Element string // camt element path or CSV column name; "" if none
	Reason  string // what is wrong, in words
	Err     error  // underlying cause, if any (see Unwrap)
}

// Error names the line and/or element and gives the reason.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("reconcile: statement")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Element != "" {
		fmt.Fprintf(&b, " %s", e.Element)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause, so errors.Is(err, ErrTooLarge) works.
func (e *ParseError) Unwrap() error { return e.Err }

// BalanceMismatchError is returned by Statement.CheckBalances when
// Opening + Sum (of booked lines) != Closing. Difference = Closing - (Opening + Sum).
type BalanceMismatchError struct {
	Opening, Sum, Closing, Difference decimal.Decimal
}

// Error shows the whole equation so an operator can see which side is off.
func (e *BalanceMismatchError) Error() string {
	return fmt.Sprintf("reconcile: statement balances do not tie: opening %s + booked lines %s = %s, closing %s (difference %s)",
		e.Opening.String(), e.Sum.String(), e.Opening.Add(e.Sum).String(), e.Closing.String(), e.Difference.String())
}

// MappingError reports an unusable CSVMapping; Field names the mapping field.
type MappingError struct {
	Field  string
	Reason string
}

// Error names the mapping field and the reason.
func (e *MappingError) Error() string {
	return fmt.Sprintf("reconcile: csv mapping %s: %s", e.Field, e.Reason)
}
