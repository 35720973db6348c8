package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/idem"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
	"github.com/escrowd/escrowd/risk"
)

// errorTable maps domain errors to HTTP status and stable problem code. It
// is the one place that does so; domains add their sentinels here.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{tenants.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{tenants.ErrNotFound, http.StatusNotFound, "not_found"},
	{outbox.ErrNotFound, http.StatusNotFound, "not_found"},
	{outbox.ErrInvalidEndpoint, http.StatusUnprocessableEntity, "validation_failed"},
	{outbox.ErrTooManyEndpoints, http.StatusUnprocessableEntity, "too_many_endpoints"},
	{idem.ErrReused, http.StatusUnprocessableEntity, "idempotency_key_reused"},
	{idem.ErrInUse, http.StatusConflict, "idempotency_key_in_use"},
	{idem.ErrLost, http.StatusConflict, "idempotency_key_in_use"},
	{fx.ErrInvalidRatesFile, http.StatusBadRequest, "invalid_rates_file"},
	{fx.ErrRateStale, http.StatusUnprocessableEntity, "rate_stale"},
	{fx.ErrRateInFuture, http.StatusUnprocessableEntity, "rate_in_future"},
	{fx.ErrNoRate, http.StatusUnprocessableEntity, "rate_unavailable"},
	{fx.ErrRateConflict, http.StatusConflict, "rate_conflict"},
	{fx.ErrInvalidRate, http.StatusUnprocessableEntity, "invalid_rate"},
	{fx.ErrInvalidSpread, http.StatusUnprocessableEntity, "validation_failed"},
	{fx.ErrQuoteNotFound, http.StatusNotFound, "not_found"},
	{fx.ErrQuoteExpired, http.StatusUnprocessableEntity, "quote_expired"},
	{fx.ErrQuoteUsed, http.StatusUnprocessableEntity, "quote_used"},
	{fx.ErrQuoteMismatch, http.StatusUnprocessableEntity, "quote_mismatch"},
	{escrow.ErrNotFound, http.StatusNotFound, "not_found"},
	{escrow.ErrReleaseNotFound, http.StatusNotFound, "not_found"},
	{escrow.ErrInvalidState, http.StatusConflict, "invalid_state"},
	{escrow.ErrDuplicateOrderRef, http.StatusConflict, "duplicate_order_ref"},
	{escrow.ErrDuplicatePayment, http.StatusConflict, "duplicate_payment_ref"},
	{escrow.ErrVersionMismatch, http.StatusPreconditionFailed, "precondition_failed"},
	{escrow.ErrNothingToRelease, http.StatusUnprocessableEntity, "nothing_to_release"},
	{escrow.ErrPayoutNotAwaiting, http.StatusConflict, "release_not_pending"},
	{escrow.ErrCurrencyNeedsQuote, http.StatusUnprocessableEntity, "fx_quote_required"},
	{escrow.ErrPayoutsPending, http.StatusConflict, "payouts_pending"},
	{risk.ErrNotFound, http.StatusNotFound, "not_found"},
	{risk.ErrReviewDecided, http.StatusConflict, "review_decided"},
	{risk.ErrPartyFrozen, http.StatusConflict, "party_frozen"},
	{risk.ErrStepUpExpired, http.StatusUnprocessableEntity, "code_expired"},
	{risk.ErrStepUpNotFound, http.StatusConflict, "confirmation_not_pending"},
	{risk.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{risk.ErrInvalidRule, http.StatusUnprocessableEntity, "invalid_rule"},
	{risk.ErrRulesChanged, http.StatusConflict, "rules_conflict"},
	{risk.ErrSDNFormat, http.StatusBadRequest, "invalid_sanctions_list"},
	{risk.ErrSDNTooLarge, http.StatusBadRequest, "invalid_sanctions_list"},
	{risk.ErrEmptySanctionsList, http.StatusBadRequest, "invalid_sanctions_list"},
	{disputes.ErrNotFound, http.StatusNotFound, "not_found"},
	{disputes.ErrOfferNotFound, http.StatusNotFound, "not_found"},
	{disputes.ErrChargebackNotFound, http.StatusNotFound, "not_found"},
	{disputes.ErrInvalidStatus, http.StatusConflict, "invalid_state"},
	{disputes.ErrDisputeOpen, http.StatusConflict, "dispute_open"},
	{escrow.ErrAlreadyDisputed, http.StatusConflict, "dispute_open"},
	{disputes.ErrClaimWindowClosed, http.StatusUnprocessableEntity, "claim_window_closed"},
	{disputes.ErrEvidenceDeadlinePassed, http.StatusUnprocessableEntity, "evidence_deadline_passed"},
	{disputes.ErrNegotiationOpen, http.StatusConflict, "negotiation_open"},
	{disputes.ErrOfferNotOpen, http.StatusConflict, "offer_not_open"},
	{disputes.ErrDuplicatePSPRef, http.StatusConflict, "duplicate_psp_ref"},
	{disputes.ErrConcurrentChange, http.StatusConflict, "conflict"},
	{reconcile.ErrInvalidStatement, http.StatusBadRequest, "invalid_statement"},
	{reconcile.ErrTooLarge, http.StatusRequestEntityTooLarge, "body_too_large"},
	{reconcile.ErrUnknownAccount, http.StatusUnprocessableEntity, "unknown_account"},
	{reconcile.ErrStatementConflict, http.StatusConflict, "statement_conflict"},
	{reconcile.ErrNotFound, http.StatusNotFound, "not_found"},
	{reconcile.ErrAlreadyMatched, http.StatusConflict, "already_matched"},
	{reconcile.ErrMatchDeleted, http.StatusConflict, "match_deleted"},
	{reconcile.ErrReportTooLarge, http.StatusUnprocessableEntity, "report_too_large"},
	{reconcile.ErrRunTooLarge, http.StatusUnprocessableEntity, "run_too_large"},
	{context.Canceled, statusClientClosed, "client_closed_request"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "timeout"},
	// ledger: after the other domains, whose errors may wrap these.
	{ledger.ErrNotFound, http.StatusNotFound, "not_found"},
	{ledger.ErrUnbalanced, http.StatusUnprocessableEntity, "unbalanced_entry"},
	{ledger.ErrInsufficientFunds, http.StatusUnprocessableEntity, "insufficient_funds"},
	{ledger.ErrCurrencyMismatch, http.StatusUnprocessableEntity, "currency_mismatch"},
	{ledger.ErrUnknownAccount, http.StatusUnprocessableEntity, "unknown_account"},
	{ledger.ErrAccountClosed, http.StatusUnprocessableEntity, "account_closed"},
	{ledger.ErrDuplicateReference, http.StatusConflict, "duplicate_reference"},
	{ledger.ErrAccountMismatch, http.StatusConflict, "account_mismatch"},
	{ledger.ErrAlreadyReversed, http.StatusConflict, "already_reversed"},
	{ledger.ErrNotPending, http.StatusConflict, "entry_not_pending"},
	{ledger.ErrInvalidEntry, http.StatusUnprocessableEntity, "invalid_entry"},
}

// fixedDetail words the answers whose error text is internal.
var fixedDetail = map[error]string{
	context.Canceled:         "the client closed the request",
	context.DeadlineExceeded: "the request took too long",
}

// extraProblem lets a domain error add members to its problem (e.g. the
// existing id of a duplicate, the reasons of a block).
type extraProblem interface {
	ProblemExtra() map[string]any
}

// problemFor maps err to a problem. Unknown errors are logged with their
// context and answered with a generic 500 that reveals nothing.
func problemFor(log *slog.Logger, r *http.Request, err error) Problem {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe.p
	}
	if fe, ok := valid.As(err); ok {
		p := newProblem(http.StatusUnprocessableEntity, fe.Code(), fe.Error())
		p.Errors = fe
		return p
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			detail, fixed := fixedDetail[e.err]
			if !fixed {
				detail = publicDetail(e.status, err)
			}
			p := newProblem(e.status, e.code, detail)
			var x extraProblem
			if errors.As(err, &x) {
				p.Extra = x.ProblemExtra()
			}
			return p
		}
	}
	log.ErrorContext(r.Context(), "internal error", "err", err, "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()))
	return newProblem(http.StatusInternalServerError, "internal_error", "an internal error occurred; it has been logged with the request id")
}

// publicDetail is the error text for 4xx answers (domain errors are written
// for clients); 5xx answers never carry internal text.
func publicDetail(status int, err error) string {
	if status >= 500 {
		return ""
	}
	return err.Error()
}
