package disputes

import (
	"errors"
	"fmt"
)

// Sentinel errors; api/errors.go maps each to a status and problem code.
var (
	ErrNotFound               = errors.New("dispute not found")
	ErrOfferNotFound          = errors.New("offer not found")
	ErrChargebackNotFound     = errors.New("chargeback not found")
	ErrInvalidStatus          = errors.New("action not allowed in the current status")
	ErrDisputeOpen            = errors.New("the escrow already has an open dispute")
	ErrClaimWindowClosed      = errors.New("the claim window is closed")
	ErrEvidenceDeadlinePassed = errors.New("the evidence deadline has passed")
	ErrNegotiationOpen        = errors.New("the negotiation period is not over: the seller has neither responded nor missed the response deadline")
	ErrOfferNotOpen           = errors.New("the offer is no longer open")
	ErrDuplicatePSPRef        = errors.New("a chargeback with this psp_ref exists")
	ErrConcurrentChange       = errors.New("changed concurrently; retry")
)

// InvalidStatusError names the status that refused the action.
type InvalidStatusError struct {
	Status     string
	Action     string
	Chargeback bool
}

func (e *InvalidStatusError) Error() string {
	what := "dispute"
	if e.Chargeback {
		what = "chargeback"
	}
	return fmt.Sprintf("cannot %s a %s that is %s", e.Action, what, e.Status)
}

// Is makes InvalidStatusError match ErrInvalidStatus.
func (e *InvalidStatusError) Is(target error) bool { return target == ErrInvalidStatus }

// ProblemExtra adds the status to the problem answer.
func (e *InvalidStatusError) ProblemExtra() map[string]any {
	return map[string]any{"status": e.Status, "action": e.Action}
}

// ClaimWindowError says why a claim is out of its window.
type ClaimWindowError struct{ Detail string }

func (e *ClaimWindowError) Error() string { return "the claim window is closed: " + e.Detail }

// Is makes ClaimWindowError match ErrClaimWindowClosed.
func (e *ClaimWindowError) Is(target error) bool { return target == ErrClaimWindowClosed }
