package escrow

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Sentinel errors; the API maps each to a status and problem code.
var (
	ErrNotFound           = errors.New("escrow not found")
	ErrInvalidState       = errors.New("action not allowed in the escrow's state")
	ErrDuplicateOrderRef  = errors.New("an escrow with this order_ref exists")
	ErrVersionMismatch    = errors.New("escrow version does not match If-Match")
	ErrReleaseNotFound    = errors.New("release not found")
	ErrDuplicatePayment   = errors.New("payment_ref already used")
	ErrNothingToRelease   = errors.New("nothing to release")
	ErrPayoutNotAwaiting  = errors.New("release is not awaiting confirmation")
	ErrCurrencyNeedsQuote = errors.New("funding in another currency needs an fx_quote_id")
	// ErrPayoutsPending: the escrow has payouts waiting for a review or a
	// confirmation; it cannot be cancelled or funded until they are
	// decided, and while the refund of a cancellation or an expiry waits
	// it cannot be shipped, delivered, released, accepted or disputed
	// either (heldByClosing); nor disputed while a payout of an earlier
	// dispute's outcome waits (refuseWhileOutcomeWaits).
	ErrPayoutsPending = errors.New("payouts of the escrow are waiting for a decision")
)

// InvalidStateError names the state that refused the action.
type InvalidStateError struct {
	State  State
	Action Action
}

func (e *InvalidStateError) Error() string {
	return fmt.Sprintf("cannot %s an escrow in state %s", e.Action, e.State)
}

// Is makes InvalidStateError match ErrInvalidState.
func (e *InvalidStateError) Is(target error) bool { return target == ErrInvalidState }

// ProblemExtra adds the state to the problem answer.
func (e *InvalidStateError) ProblemExtra() map[string]any {
	return map[string]any{"state": string(e.State), "action": string(e.Action)}
}

// DuplicateOrderRefError carries the id of the escrow that has the order_ref.
type DuplicateOrderRefError struct {
	OrderRef   string
	ExistingID uuid.UUID
}

func (e *DuplicateOrderRefError) Error() string {
	return fmt.Sprintf("order_ref %q is escrow %s", e.OrderRef, e.ExistingID)
}

// Is makes DuplicateOrderRefError match ErrDuplicateOrderRef.
func (e *DuplicateOrderRefError) Is(target error) bool { return target == ErrDuplicateOrderRef }

// ProblemExtra adds the existing id to the problem answer.
func (e *DuplicateOrderRefError) ProblemExtra() map[string]any {
	return map[string]any{"existing_id": e.ExistingID.String()}
}
