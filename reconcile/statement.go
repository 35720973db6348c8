// Package reconcile matches bank and PSP statements against the ledger. This
// file holds the statement model that the parsers (ParseCamt053,
// ParseCSVStatement) produce; it does not touch the database.
package reconcile

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Entry statuses of a StatementLine.
const (
	StatusBooked  = "booked"  // booked on the account; counts towards the balances
	StatusPending = "pending" // announced, not (yet) booked; excluded from CheckBalances
)

// Limits on statement input, checked before or while parsing.
const (
	// MaxStatementBytes bounds a camt.053 file.
	MaxStatementBytes = 10 << 20
	// MaxCSVBytes bounds a CSV statement file.
	MaxCSVBytes = 64 << 20
	// MaxCSVLines bounds the number of data rows of a CSV statement.
	MaxCSVLines = 200000

	// maxAmountDigits and maxAmountFractionDigits follow ISO 20022
	// ActiveOrHistoricCurrencyAndAmount (totalDigits 18, fractionDigits 5):
	// the parsers' bound whatever the currency. An amount must also be
	// exact at its currency's minor units, which ImportStatement checks
	// against the account's currency (checkStatement).
	maxAmountDigits         = 18
	maxAmountFractionDigits = 5

	// MinStatementYear and MaxStatementYear bound the year of every date
	// of a statement (booking and value dates, creation and period
	// timestamps). time.Parse takes year 0000, which PostgreSQL cannot
	// store; no real statement is dated outside this range.
	MinStatementYear = 1900
	MaxStatementYear = 2999
)

// checkStatementYear explains why t (a parsed statement date, in the zone
// it was written in) is out of range, or answers "".
func checkStatementYear(t time.Time) string {
	if y := t.Year(); y < MinStatementYear || y > MaxStatementYear {
		return fmt.Sprintf("year %d is outside %d..%d", y, MinStatementYear, MaxStatementYear)
	}
	return ""
}

// Statement is one account statement as delivered by a bank or PSP.
type Statement struct {
	ID          string    // camt: Stmt/Id; CSV: CSVMapping.StatementID or hex SHA-256 of the file
	AccountIBAN string    // camt: Acct/Id/IBAN; "" if the account has no IBAN or for CSV
	Currency    string    // account currency, 3 upper-case letters; "" for a CSV with mixed currencies
	CreatedAt   time.Time // camt: Stmt/CreDtTm; zero if absent and for CSV
	FromDate    time.Time // camt: FrToDt/FrDtTm; zero if unknown
	ToDate      time.Time // camt: FrToDt/ToDtTm; zero if unknown

	OpeningBalance *decimal.Decimal // signed, in Currency; nil if absent (always for CSV)
	ClosingBalance *decimal.Decimal // signed, in Currency; nil if absent (always for CSV)

	Lines []StatementLine
}

// StatementLine is one entry of a statement.
type StatementLine struct {
	Index        int             // 1-based position among the statement's lines
	EntryRef     string          // camt NtryRef, else AcctSvcrRef; CSV EntryRef column; else derived from Index; unique per statement
	Amount       decimal.Decimal // signed: credit positive, debit negative
	Currency     string          // 3 upper-case letters
	BookingDate  time.Time       // zero if absent
	ValueDate    time.Time       // zero if absent
	Status       string          // StatusBooked or StatusPending
	Reversal     bool            // camt RvslInd; the sign above already follows CdtDbtInd
	EndToEndID   string          // camt TxDtls/Refs/EndToEndId ("NOTPROVIDED" dropped)
	AcctSvcrRef  string          // camt AcctSvcrRef
	Reference    string          // remittance information / payment reference
	Description  string          // free text from the bank
	Counterparty string          // name of the other party

	// CSV only, for errors found after parsing (checkStatement): the
	// row's line in the file (the header is line 1) and the column its
	// amount was read from (Amount, or Debit or Credit), as the parser's
	// own errors name them. Zero for camt.053.
	FileLine     int
	AmountColumn string
}

// CheckBalances verifies Opening + sum(booked lines) == Closing. Pending lines
// are excluded. It returns ErrNoBalances if either balance is absent,
// ErrMixedCurrencies (wrapped) if a booked line is not in the statement's
// currency, and *BalanceMismatchError if the equation does not hold.
func (s Statement) CheckBalances() error {
	if s.OpeningBalance == nil || s.ClosingBalance == nil {
		return ErrNoBalances
	}
	sum := decimal.Zero
	for _, l := range s.Lines {
		if l.Status != StatusBooked {
			continue
		}
		if l.Currency != s.Currency {
			return fmt.Errorf("%w: line %d is in %q, statement in %q", ErrMixedCurrencies, l.Index, l.Currency, s.Currency)
		}
		sum = sum.Add(l.Amount)
	}
	want := s.OpeningBalance.Add(sum)
	if !want.Equal(*s.ClosingBalance) {
		return &BalanceMismatchError{
			Opening:    *s.OpeningBalance,
			Sum:        sum,
			Closing:    *s.ClosingBalance,
			Difference: s.ClosingBalance.Sub(want),
		}
	}
	return nil
}

// Reasons parseUnsignedAmount rejects a string; callers name the element
// and quote the value as it appeared in the file.
var (
	errNotDecimal    = errors.New("is not a plain decimal")
	errTooManyDigits = fmt.Errorf("has more than %d digits or more than %d decimals", maxAmountDigits, maxAmountFractionDigits)
)

// parseUnsignedAmount parses a plain unsigned decimal: digits, optionally a
// '.' followed by more digits. No sign, exponent, spaces or separators; at
// most maxAmountDigits digits of which maxAmountFractionDigits after the point.
func parseUnsignedAmount(s string) (decimal.Decimal, error) {
	digits, frac, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return decimal.Decimal{}, errNotDecimal
		}
	}
	if digits == 0 {
		return decimal.Decimal{}, errNotDecimal
	}
	if digits > maxAmountDigits || frac > maxAmountFractionDigits {
		return decimal.Decimal{}, errTooManyDigits
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // not expected after the checks above
		return decimal.Decimal{}, fmt.Errorf("%w: %w", errNotDecimal, err)
	}
	return d, nil
}

// validCurrency reports whether c looks like an ISO 4217 code: 3 upper-case
// ASCII letters. Whether the code exists is checked elsewhere in escrowd.
func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// derivedEntryRef is the EntryRef of a line that carries no reference of its
// own: stable for a given file, since it depends only on the line's position.
func derivedEntryRef(index int) string {
	return "line-" + strconv.Itoa(index)
}
