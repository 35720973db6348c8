package risk

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors of package risk. api/errors.go maps them to HTTP answers; rule
// errors (ErrInvalidRule, *RuleError) are in rules.go and sanctions file
// errors (ErrSDNFormat, ErrSDNTooLarge, *SDNParseError) in sdn.go.
var (
	// ErrNotFound: no such decision, review or rule set for the tenant.
	ErrNotFound = errors.New("not found")
	// ErrReviewDecided: the review is no longer pending.
	ErrReviewDecided = errors.New("the review has already been decided")
	// ErrStepUpExpired: the open step-up code has expired; ask for a new
	// one (ResendStepUp).
	ErrStepUpExpired = errors.New("the confirmation code has expired")
	// ErrStepUpNotFound: the subject has no open step-up challenge.
	ErrStepUpNotFound = errors.New("no confirmation is pending")
	// ErrRateLimited is matched by every *RateLimitedError.
	ErrRateLimited = errors.New("rate limited")
	// ErrRulesChanged: another rule change committed at the same time.
	ErrRulesChanged = errors.New("the rules were changed concurrently; read them and try again")
	// ErrEmptySanctionsList: a sanctions file without a single entry.
	ErrEmptySanctionsList = errors.New("the sanctions list has no entries")
	// ErrPartyFrozen: a payout held by the gate cannot be approved or
	// confirmed while its buyer or seller is frozen (LOCK).
	ErrPartyFrozen = errors.New("a party of the payout is frozen")
	// ErrInvalidGateInput: the caller gave the gate an incomplete input
	// (a programming error, not a client one).
	ErrInvalidGateInput = errors.New("invalid gate input")
)

// RateLimitedError says when the request may be repeated. It matches
// ErrRateLimited with errors.Is.
type RateLimitedError struct {
	// RetryAfter is how long to wait, rounded up to whole seconds.
	RetryAfter time.Duration
	// Limit names the limit that was hit, for the client.
	Limit string
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s: retry after %d s", e.Limit, e.retrySeconds())
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// ProblemExtra adds retry_after_seconds to the API's problem answer (the
// API also sets the Retry-After header from it).
func (e *RateLimitedError) ProblemExtra() map[string]any {
	return map[string]any{"retry_after_seconds": e.retrySeconds()}
}

func (e *RateLimitedError) retrySeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// ProblemExtra names the line (and column) of a bad sanctions file in the
// API's problem answer.
func (e *SDNParseError) ProblemExtra() map[string]any {
	m := map[string]any{"line": e.Line}
	if e.Column != "" {
		m["column"] = e.Column
	}
	return m
}
