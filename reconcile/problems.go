package reconcile

import (
	"errors"
	"fmt"
)

// Sentinel errors of the reconciliation service; api/errors.go maps them.
var (
	// ErrInvalidStatement: the statement file cannot be read (see
	// InvalidStatementError for the line or element).
	ErrInvalidStatement = errors.New("reconcile: invalid statement")
	// ErrUnknownAccount: the account code names no ledger account of the tenant.
	ErrUnknownAccount = errors.New("reconcile: unknown account")
	// ErrStatementConflict: a statement with this id was imported before
	// with other balances, other entry references or other lines under the
	// same entry references.
	ErrStatementConflict = errors.New("reconcile: statement conflicts with the one imported before")
	// ErrNotFound: no such match (or line, posting) for the tenant.
	ErrNotFound = errors.New("reconcile: not found")
	// ErrAlreadyMatched: a line or posting is in another match already.
	ErrAlreadyMatched = errors.New("reconcile: already matched")
	// ErrMatchDeleted: the match was deleted before.
	ErrMatchDeleted = errors.New("reconcile: match already deleted")
	// ErrReportTooLarge: the report would exceed MaxReportRows; narrow it.
	ErrReportTooLarge = errors.New("reconcile: report too large")
)

// InvalidStatementError is a statement file rejected by its parser. It is
// ErrInvalidStatement for errors.Is and names the line and element.
type InvalidStatementError struct {
	Err error // *ParseError
}

// Error is the parser's message, which names the line and/or element.
func (e *InvalidStatementError) Error() string { return e.Err.Error() }

// Unwrap returns the parser's error.
func (e *InvalidStatementError) Unwrap() error { return e.Err }

// Is makes the error ErrInvalidStatement.
func (e *InvalidStatementError) Is(target error) bool { return target == ErrInvalidStatement }

// ProblemExtra adds the line and element to the API's problem.
func (e *InvalidStatementError) ProblemExtra() map[string]any {
	var pe *ParseError
	if !errors.As(e.Err, &pe) {
		return nil
	}
	m := map[string]any{"reason": pe.Reason}
	if pe.Line > 0 {
		m["line"] = pe.Line
	}
	if pe.Element != "" {
		m["element"] = pe.Element
	}
	return m
}

// AlreadyMatchedError names the lines and postings that are matched already.
type AlreadyMatchedError struct {
	Lines    []string
	Postings []string
}

// Error lists what is matched already.
func (e *AlreadyMatchedError) Error() string {
	return fmt.Sprintf("reconcile: already matched: lines %v, postings %v", e.Lines, e.Postings)
}

// Is makes the error ErrAlreadyMatched.
func (e *AlreadyMatchedError) Is(target error) bool { return target == ErrAlreadyMatched }

// ProblemExtra adds the ids to the API's problem.
func (e *AlreadyMatchedError) ProblemExtra() map[string]any {
	return map[string]any{"line_ids": nonNilStrings(e.Lines), "posting_ids": nonNilStrings(e.Postings)}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
