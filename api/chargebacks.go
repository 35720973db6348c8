package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/internal/tenants"
)

// Chargeback routes (rows in chargebackRoutes): the marketplace records
// what its PSP reports; the marketplace or finance moves the status.

// chargebackActors may read chargebacks and move their status.
var chargebackActors = []tenants.Role{tenants.RoleMarketplace, tenants.RoleFinance, tenants.RoleAdmin}

type chargebackJSON struct {
	ID             uuid.UUID                 `json:"id"`
	EscrowID       uuid.UUID                 `json:"escrow_id"`
	Status         disputes.ChargebackStatus `json:"status"`
	Amount         string                    `json:"amount"`
	Currency       string                    `json:"currency"`
	EscrowAmount   string                    `json:"escrow_amount"`
	EscrowCurrency string                    `json:"escrow_currency"`
	PSPRef         string                    `json:"psp_ref"`
	Reason         string                    `json:"reason"`
	RespondBy      time.Time                 `json:"respond_by"`
	FromHeld       string                    `json:"from_held_amount"`
	ClawedBack     string                    `json:"clawed_back_amount"`
	Loss           string                    `json:"loss_amount"`
	Receivable     string                    `json:"receivable_amount"`
	PayoutID       *uuid.UUID                `json:"payout_id,omitempty"`
	LedgerEntryIDs []uuid.UUID               `json:"ledger_entry_ids"`
	// VoidedPayoutIDs are the dispute-outcome payouts the chargeback voided
	// (see disputes.Chargeback.VoidedPayoutIDs).
	VoidedPayoutIDs []uuid.UUID `json:"voided_payout_ids"`
	// VoidedCoverage is the coverage of claims the chargeback voided while
	// it waited for review, paid again when the chargeback is decided (see
	// disputes.Chargeback.VoidedCoverage).
	VoidedCoverage []voidedCoverageJSON `json:"voided_coverage"`
	Evidence       []evidenceJSON       `json:"evidence,omitempty"`
	Version        int64                `json:"version"`
	CreatedAt      time.Time            `json:"created_at"`
	UpdatedAt      time.Time            `json:"updated_at"`
	DecidedAt      *time.Time           `json:"decided_at,omitempty"`
}

// voidedCoverageJSON is one claim's coverage a chargeback voided: amount
// what it covered, taken_amount the part the card network paid the buyer,
// both in the escrow's currency.
type voidedCoverageJSON struct {
	DisputeID   uuid.UUID `json:"dispute_id"`
	Amount      string    `json:"amount"`
	TakenAmount string    `json:"taken_amount"`
}

// chargebackView renders c: amount in currency, escrow_amount and the
// parts (from_held_amount, ...) in escrow_currency.
func chargebackView(c disputes.Chargeback) chargebackJSON {
	f := fmtMoney(c.EscrowCurrency)
	out := chargebackJSON{ID: c.ID, EscrowID: c.EscrowID, Status: c.Status, Amount: fmtMoney(c.Currency)(c.Amount), Currency: c.Currency,
		EscrowAmount: f(c.EscrowAmount), EscrowCurrency: c.EscrowCurrency, PSPRef: c.PSPRef,
		Reason: c.Reason, RespondBy: c.RespondBy, FromHeld: f(c.FromHeld), ClawedBack: f(c.ClawedBack), Loss: f(c.Loss), Receivable: f(c.Receivable),
		PayoutID: c.PayoutID, LedgerEntryIDs: nonNilIDs(c.EntryIDs), VoidedPayoutIDs: nonNilIDs(c.VoidedPayoutIDs), Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, DecidedAt: c.DecidedAt}
	out.VoidedCoverage = []voidedCoverageJSON{}
	for _, v := range c.VoidedCoverage {
		out.VoidedCoverage = append(out.VoidedCoverage, voidedCoverageJSON{DisputeID: v.DisputeID, Amount: f(v.Amount), TakenAmount: f(v.Taken)})
	}
	if c.Evidence != nil {
		out.Evidence = evidenceList(c.Evidence)
	}
	return out
}

func renderChargeback(status int) func(v any) (int, any) {
	return func(v any) (int, any) { return status, chargebackView(v.(disputes.Chargeback)) }
}

func (s *Server) getChargeback(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	c, err := s.disputes.GetChargeback(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	if c.Evidence == nil {
		c.Evidence = []disputes.Evidence{}
	}
	return chargebackView(c), nil
}

func (s *Server) chargebackRoutes() []route {
	t := principalTenant
	open := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.ChargebackRequest) (disputes.Chargeback, error) {
		return s.disputes.OpenChargeback(r.Context(), t(r), id, in)
	})
	evidence := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.EvidenceRequest) (disputes.EvidenceResult, error) {
		return s.disputes.AddChargebackEvidence(r.Context(), t(r), id, in)
	})
	move := func(call func(r *http.Request, id uuid.UUID) (disputes.Chargeback, error)) func(*http.Request, []byte) (any, error) {
		return disputeAction(func(r *http.Request, id uuid.UUID, _ struct{}) (disputes.Chargeback, error) { return call(r, id) })
	}
	submit := move(func(r *http.Request, id uuid.UUID) (disputes.Chargeback, error) {
		return s.disputes.SubmitChargeback(r.Context(), t(r), id)
	})
	won := move(func(r *http.Request, id uuid.UUID) (disputes.Chargeback, error) {
		return s.disputes.WinChargeback(r.Context(), t(r), id)
	})
	lost := move(func(r *http.Request, id uuid.UUID) (disputes.Chargeback, error) {
		return s.disputes.LoseChargeback(r.Context(), t(r), id)
	})
	post := func(path string, roles []tenants.Role, write func(*http.Request, []byte) (any, error), render func(any) (int, any)) route {
		return route{method: http.MethodPost, path: path, roles: roles, write: write, render: render, idempotent: true}
	}
	return []route{
		post("/v1/escrows/{id}/chargebacks", marketplace, open, renderChargeback(http.StatusCreated)),
		{method: http.MethodGet, path: "/v1/chargebacks/{id}", roles: chargebackActors, read: s.getChargeback},
		post("/v1/chargebacks/{id}/evidence", chargebackActors, evidence, renderEvidence),
		post("/v1/chargebacks/{id}/submit", chargebackActors, submit, renderChargeback(http.StatusOK)),
		post("/v1/chargebacks/{id}/won", chargebackActors, won, renderChargeback(http.StatusOK)),
		post("/v1/chargebacks/{id}/lost", chargebackActors, lost, renderChargeback(http.StatusOK)),
	}
}
