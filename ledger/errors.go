package ledger

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Sentinel errors. Functions wrap them with %w and context; callers test
// with errors.Is.
var (
	// ErrUnbalanced: the debits of a currency differ from its credits.
	ErrUnbalanced = errors.New("ledger: entry does not balance")
	// ErrInsufficientFunds: an account with an overdraft guard would go
	// past its floor (pending outflows counted). See InsufficientFundsError.
	ErrInsufficientFunds = errors.New("ledger: insufficient funds")
	// ErrCurrencyMismatch: a posting's currency is not its account's.
	ErrCurrencyMismatch = errors.New("ledger: currency mismatch")
	// ErrAccountClosed: a posting names a closed account.
	ErrAccountClosed = errors.New("ledger: account closed")
	// ErrDuplicateReference: the tenant already has an entry with this
	// reference. Post returns that entry along with this error; see
	// DuplicateReferenceError.
	ErrDuplicateReference = errors.New("ledger: duplicate reference")
	// ErrUnknownAccount: a posting names an account the tenant does not have.
	ErrUnknownAccount = errors.New("ledger: unknown account")
	// ErrAccountMismatch: EnsureAccount found the code with another
	// currency, kind or shard count.
	ErrAccountMismatch = errors.New("ledger: account exists with another currency or kind")
	// ErrNotPending: the entry is not a pending entry that can still be
	// committed or voided (already resolved, expired, or a posted entry).
	ErrNotPending = errors.New("ledger: entry is not pending")
	// ErrNotFound: no such account or entry for the tenant.
	ErrNotFound = errors.New("ledger: not found")
	// ErrInvalidEntry: the entry (or account spec) breaks a shape rule:
	// postings count, amounts, directions, currency, reference, times.
	ErrInvalidEntry = errors.New("ledger: invalid entry")
	// ErrAlreadyReversed: the entry has been reversed already.
	ErrAlreadyReversed = errors.New("ledger: entry already reversed")
	// ErrDomainOwned: a manual adjustment or reversal names an account or
	// an entry that a domain keeps in step with its own records (see
	// manual.go); it is also a field error with code CodeDomainOwned.
	ErrDomainOwned = errors.New("ledger: owned by a domain")
)

// InsufficientFundsError names the account that would be overdrawn. It is
// ErrInsufficientFunds for errors.Is.
type InsufficientFundsError struct {
	AccountID uuid.UUID
	Code      string
	// Available is the account's available balance before the entry
	// (posted less pending outflows, overdraft limit not included).
	Available decimal.Decimal
	// Requested is the outflow the entry asked of the account.
	Requested decimal.Decimal
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("ledger: insufficient funds in account %s: available %s, requested %s", e.Code, e.Available, e.Requested)
}

// Is makes errors.Is(err, ErrInsufficientFunds) true.
func (e *InsufficientFundsError) Is(target error) bool { return target == ErrInsufficientFunds }

// ProblemExtra names the account in the API's problem body.
func (e *InsufficientFundsError) ProblemExtra() map[string]any {
	return map[string]any{"account_id": e.AccountID.String(), "account_code": e.Code}
}

// DuplicateReferenceError carries the id of the entry that already has the
// reference. It is ErrDuplicateReference for errors.Is.
type DuplicateReferenceError struct {
	Reference  string
	ExistingID uuid.UUID
}

func (e *DuplicateReferenceError) Error() string {
	return fmt.Sprintf("ledger: duplicate reference %q: entry %s has it", e.Reference, e.ExistingID)
}

// Is makes errors.Is(err, ErrDuplicateReference) true.
func (e *DuplicateReferenceError) Is(target error) bool { return target == ErrDuplicateReference }

// ProblemExtra names the existing entry in the API's problem body.
func (e *DuplicateReferenceError) ProblemExtra() map[string]any {
	return map[string]any{"existing_id": e.ExistingID.String()}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
}
