package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/money"
)

type riskJSON struct {
	DecisionID uuid.UUID           `json:"decision_id"`
	Decision   string              `json:"decision"`
	Score      int                 `json:"score"`
	Reasons    []escrow.RiskReason `json:"reasons"`
}

type payoutJSON struct {
	ID          uuid.UUID  `json:"id"`
	EscrowID    uuid.UUID  `json:"escrow_id"`
	Status      string     `json:"status"`
	Trigger     string     `json:"trigger"`
	Milestone   *int       `json:"milestone,omitempty"`
	Amount      string     `json:"amount"`
	FeeAmount   string     `json:"fee_amount"`
	NetAmount   string     `json:"net_amount"`
	GrossAmount string     `json:"gross_amount"`
	Currency    string     `json:"currency"`
	Reason      string     `json:"reason,omitempty"`
	ReviewID    *uuid.UUID `json:"review_id,omitempty"`
	EntryID     *uuid.UUID `json:"ledger_entry_id,omitempty"`
	Risk        *riskJSON  `json:"risk,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func payoutView(p escrow.Payout, currency string) payoutJSON {
	cur, _ := money.Lookup(currency)
	out := payoutJSON{ID: p.ID, EscrowID: p.EscrowID, Status: p.Status, Trigger: p.Trigger, Milestone: p.MilestoneIdx,
		Amount: money.Format(p.OrderAmount, cur), FeeAmount: money.Format(p.Fee, cur), NetAmount: money.Format(p.Net, cur),
		GrossAmount: money.Format(p.Gross, cur), Currency: currency, Reason: p.Reason, ReviewID: p.ReviewID, EntryID: p.EntryID,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	out.Risk = riskView(p.Risk)
	return out
}

// riskView renders the gate's decision on a payout or a coverage (nil when
// there is none).
func riskView(r *escrow.RiskSummary) *riskJSON {
	if r == nil {
		return nil
	}
	out := &riskJSON{DecisionID: r.DecisionID, Decision: r.Decision, Score: r.Score, Reasons: r.Reasons}
	if out.Reasons == nil {
		out.Reasons = []escrow.RiskReason{}
	}
	return out
}

// blockedProblem is the 422 answer of a payout the gate blocked: nothing
// moved; the decision is stored and its reasons are given.
func blockedProblem(code string, p escrow.Payout, e escrow.Escrow) Problem {
	prob := newProblem(http.StatusUnprocessableEntity, code, "the risk gate blocked this payout; nothing moved")
	pv := payoutView(p, e.Currency)
	prob.Extra = map[string]any{"reasons": pv.Risk.Reasons, "risk": pv.Risk, "release": pv, "escrow": escrowView(e)}
	return prob
}

func renderRelease(v any) (int, any) {
	res := v.(escrow.ReleaseResult)
	if res.Release.Status == escrow.StatusBlocked {
		return http.StatusUnprocessableEntity, blockedProblem("release_blocked", res.Release, res.Escrow)
	}
	return renderReleaseOK(v)
}

func renderReleaseOK(v any) (int, any) {
	res := v.(escrow.ReleaseResult)
	return http.StatusOK, map[string]any{"release": payoutView(res.Release, res.Escrow.Currency), "escrow": escrowView(res.Escrow)}
}

func renderAccept(v any) (int, any) {
	res := v.(escrow.AcceptResult)
	rel := []payoutJSON{}
	for _, p := range res.Releases {
		rel = append(rel, payoutView(p, res.Escrow.Currency))
	}
	return http.StatusOK, map[string]any{"releases": rel, "escrow": escrowView(res.Escrow)}
}

func renderRefund(v any) (int, any) {
	res := v.(escrow.RefundResult)
	if res.Refund.Status == escrow.StatusBlocked {
		return http.StatusUnprocessableEntity, blockedProblem("refund_blocked", res.Refund, res.Escrow)
	}
	return http.StatusOK, map[string]any{"refund": payoutView(res.Refund, res.Escrow.Currency), "escrow": escrowView(res.Escrow)}
}

func renderCancel(v any) (int, any) {
	res := v.(escrow.RefundResult)
	if res.Refund.Status == escrow.StatusBlocked {
		return http.StatusUnprocessableEntity, blockedProblem("refund_blocked", res.Refund, res.Escrow)
	}
	out := map[string]any{"escrow": escrowView(res.Escrow)}
	if res.Refund.ID != uuid.Nil {
		out["refund"] = payoutView(res.Refund, res.Escrow.Currency)
	}
	return http.StatusOK, out
}

// renderConfirm: a wrong code is 422 invalid_code (the attempt counts);
// the fifth wrong one also sends the release to review.
func renderConfirm(v any) (int, any) {
	res := v.(escrow.ReleaseResult)
	if res.CodeRejected {
		prob := newProblem(http.StatusUnprocessableEntity, "invalid_code", "the confirmation code is wrong")
		prob.Errors = nil
		prob.Extra = map[string]any{"attempts_left": res.AttemptsLeft, "release": payoutView(res.Release, res.Escrow.Currency)}
		if res.Release.Status == escrow.StatusPendingReview {
			prob.Detail = "too many wrong codes: the release was blocked and sent to review"
		}
		return http.StatusUnprocessableEntity, prob
	}
	return renderReleaseOK(v)
}

type confirmRequest struct {
	Code string `json:"code"`
}

func (s *Server) confirmRelease(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in confirmRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if len(in.Code) != 6 {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "code", "must be the 6-digit code")
	}
	return s.escrows.ConfirmRelease(r.Context(), principal(r).TenantID, id, in.Code)
}

// resendCode answers POST /v1/releases/{id}/resend-code. It takes no
// fields: the body, if any, is an empty JSON object.
func (s *Server) resendCode(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	if err := decodeNoFields(body); err != nil {
		return nil, err
	}
	return s.escrows.ResendCode(r.Context(), principal(r).TenantID, id)
}

func (s *Server) getRelease(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	p, err := s.escrows.GetRelease(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	e, err := s.escrows.Get(r.Context(), principal(r).TenantID, p.EscrowID)
	if err != nil {
		return nil, err
	}
	return payoutView(p, e.Currency), nil
}
