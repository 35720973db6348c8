package risk

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Party is a buyer or seller as the marketplace identifies them.
type Party struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
}

// GateInput describes one payout (a release to a seller or a refund to a
// buyer) that must pass the gate before money moves.
type GateInput struct {
	TenantID    uuid.UUID
	Operation   string // OperationRelease or OperationRefund
	SubjectType string // what SubjectID names: "release" or "refund"
	SubjectID   uuid.UUID
	EscrowID    uuid.UUID
	Amount      decimal.Decimal
	Currency    string
	Buyer       Party
	Seller      Party
	// Payee is the id of the party that receives the money.
	Payee string
	// RiskContext is what the marketplace told us (ip, device_id, country).
	RiskContext map[string]string
}

// GateDecision is the stored decision on one payout.
type GateDecision struct {
	ID uuid.UUID `json:"id"`
	Decision
	// ReviewID is the review opened for a review outcome.
	ReviewID *uuid.UUID `json:"review_id,omitempty"`
	// StepUpCode is the one-time code of a step_up outcome, in clear, only
	// so the caller can put it in the release.confirmation_required event;
	// it is stored hashed and never returned by the API.
	StepUpCode      string     `json:"-"`
	StepUpExpiresAt *time.Time `json:"step_up_expires_at,omitempty"`
}

// Gate decides on payouts inside the caller's transaction.
type Gate struct {
	rules *Compiled
}

// NewGate returns a gate using the default rules.
func NewGate() (*Gate, error) {
	c, err := CompileRules(DefaultRules())
	if err != nil {
		return nil, err
	}
	return &Gate{rules: c}, nil
}

// Decide scores the payout, stores the decision and returns it. Hard rules
// come first: a frozen party blocks. Errors that come from the database are
// returned (the transaction is retried or fails); errors while scoring give
// review, never approve (fail closed).
func (g *Gate) Decide(ctx context.Context, tx pgx.Tx, in GateInput, now time.Time) (GateDecision, error) {
	frozen, err := anyFrozen(ctx, tx, in.TenantID, in.Buyer.ID, in.Seller.ID)
	if err != nil {
		return GateDecision{}, err
	}
	f := Features{Operation: in.Operation, PartyFrozen: frozen, BuyerCountry: in.Buyer.Country, SellerCountry: in.Seller.Country, Context: in.RiskContext}
	if in.Currency == "USD" {
		f.AmountUSD = in.Amount
	}
	d := GateDecision{ID: uuid.Must(uuid.NewV7()), Decision: g.rules.Evaluate(f)}
	if err := storeDecision(ctx, tx, in, d, now); err != nil {
		return GateDecision{}, err
	}
	return d, nil
}

func anyFrozen(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, parties ...string) (bool, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM party_freezes WHERE tenant_id = $1 AND party_id = ANY ($2)`, tenant, parties).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("risk: frozen parties: %w", err)
	}
	return n > 0, nil
}

func storeDecision(ctx context.Context, tx pgx.Tx, in GateInput, d GateDecision, now time.Time) error {
	reasons, err := json.Marshal(d.Reasons)
	if err != nil {
		return err
	}
	features, err := json.Marshal(d.Features)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO risk_decisions (id, tenant_id, operation, subject_type, subject_id, escrow_id, amount, currency,
			outcome, score, reasons, rules_version, features, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		d.ID, in.TenantID, in.Operation, in.SubjectType, in.SubjectID, in.EscrowID, in.Amount, in.Currency,
		d.Outcome, d.Score, reasons, d.RulesVersion, features, now)
	if err != nil {
		return fmt.Errorf("risk: store decision: %w", err)
	}
	return nil
}
