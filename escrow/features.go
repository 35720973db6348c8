package escrow

import (
	"context"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/risk"
)

type featuresKey struct{}

// WithRiskFeatures reads the risk features of escrow id's parties through the
// pool (a READ COMMITTED snapshot) before an action's write transaction and
// puts them in the context for the gate (risk.Gate.ReadFeatures). Reading
// the seller's recent history inside the SERIALIZABLE transaction, then
// inserting a decision for that seller, made concurrent payouts of one busy
// seller abort each other. Any failure here only means the gate reads the
// features inside the transaction, as before.
func (s *Service) WithRiskFeatures(ctx context.Context, tenant, id uuid.UUID) context.Context {
	e, err := load(ctx, s.DB.Pool, tenant, id, false)
	if err != nil {
		return ctx
	}
	snap, err := s.Gate.ReadFeatures(ctx, s.DB.Pool, risk.GateInput{TenantID: tenant, Operation: risk.OperationRelease,
		SubjectType: KindRelease, SubjectID: e.ID, EscrowID: e.ID, Amount: e.Amount, Currency: e.Currency,
		Buyer: riskParty(e.Buyer), Seller: riskParty(e.Seller), Payee: e.Seller.ID, RiskContext: e.RiskContext}, s.Clock.Now())
	if err != nil {
		if s.Log != nil {
			s.Log.WarnContext(ctx, "risk features before the transaction", "escrow", id, "err", err)
		}
		return ctx
	}
	return context.WithValue(ctx, featuresKey{}, snap)
}

// features returns the snapshot WithRiskFeatures stored, or nil.
func features(ctx context.Context) *risk.FeatureSnapshot {
	snap, _ := ctx.Value(featuresKey{}).(*risk.FeatureSnapshot)
	return snap
}
