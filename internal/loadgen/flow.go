package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/escrowd/escrowd/internal/money"
)

// Escrow outcomes: how a lifecycle ended.
const (
	OutcomeCompleted = "completed"         // every step done, every payout paid
	OutcomeBlocked   = "blocked_by_gate"   // a payout was blocked by the risk gate; the rest stays held
	OutcomeStepUp    = "step_up_left_open" // a payout awaits a step-up code (not expected: amounts stay below the threshold)
	OutcomeFailed    = "failed"            // an API call failed; the escrow is left where it was
)

type escrowJSON struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	Currency      string `json:"currency"`
	FundingAmount string `json:"funding_amount"`
}

type payoutJSON struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	ReviewID *string `json:"review_id"`
	Risk     *struct {
		Decision string `json:"decision"`
	} `json:"risk"`
}

// errStop ends a lifecycle without counting it failed (blocked, step-up).
type errStop struct{ outcome string }

func (e *errStop) Error() string { return e.outcome }

// worker drives one escrow at a time through the API.
type worker struct {
	c   *Client
	rec *Recorder
	run string // run id, for order and payment references
}

// lifecycle runs plan p as escrow number seq and returns its outcome.
func (w *worker) lifecycle(ctx context.Context, seq int, p Plan) (string, error) {
	err := w.steps(ctx, seq, p)
	var stop *errStop
	switch {
	case err == nil:
		return OutcomeCompleted, nil
	case errors.As(err, &stop):
		return stop.outcome, nil
	default:
		return OutcomeFailed, err
	}
}

func (w *worker) post(ctx context.Context, op, role, path string, body, out any) error {
	return w.c.Do(ctx, op, role, http.MethodPost, path, body, out)
}

func (w *worker) steps(ctx context.Context, seq int, p Plan) error {
	f := func(d interface{ StringFixed(int32) string }) string { return d.StringFixed(p.Currency.MinorUnits) }
	create := map[string]any{
		"order_ref": fmt.Sprintf("bench-%s-%d", w.run, seq), "amount": money.Format(p.Amount, p.Currency), "currency": p.Currency.Code,
		"buyer":  map[string]any{"id": BuyerID(p.Buyer), "name": fmt.Sprintf("Bench Buyer %d", p.Buyer), "country": buyerCountry(p.Buyer)},
		"seller": map[string]any{"id": SellerID(p.Seller), "name": fmt.Sprintf("Bench Seller %d", p.Seller), "country": sellerCountry(p.Seller)},
		"fees":   map[string]any{"platform_fee_bps": 250, "paid_by": p.FeePaidBy},
	}
	if len(p.Milestones) > 0 {
		create["milestones"] = []map[string]any{{"name": "samples", "amount": f(p.Milestones[0])}, {"name": "bulk", "amount": f(p.Milestones[1])}}
	}
	var e escrowJSON
	if err := w.post(ctx, OpCreate, RoleMarketplace, "/v1/escrows", create, &e); err != nil {
		return err
	}
	base := "/v1/escrows/" + e.ID
	ref := fmt.Sprintf("psp-%s-%d", w.run, seq)
	if p.FundCurrency != "" {
		var q struct {
			ID         string `json:"id"`
			SellAmount string `json:"sell_amount"`
		}
		if err := w.post(ctx, OpQuote, RoleMarketplace, "/v1/fx/quotes",
			map[string]any{"sell_currency": p.FundCurrency, "buy_currency": e.Currency, "buy_amount": e.FundingAmount}, &q); err != nil {
			return err
		}
		if err := w.post(ctx, OpFundFX, RoleMarketplace, base+"/fund",
			map[string]any{"amount": q.SellAmount, "currency": p.FundCurrency, "payment_ref": ref, "fx_quote_id": q.ID}, nil); err != nil {
			return err
		}
	} else if err := w.post(ctx, OpFund, RoleMarketplace, base+"/fund",
		map[string]any{"amount": e.FundingAmount, "currency": e.Currency, "payment_ref": ref}, nil); err != nil {
		return err
	}
	if err := w.post(ctx, OpShip, RoleMarketplace, base+"/ship", map[string]any{"carrier": "DHL", "tracking_number": fmt.Sprintf("JD%012d", seq)}, nil); err != nil {
		return err
	}
	if err := w.post(ctx, OpDeliver, RoleMarketplace, base+"/deliver", map[string]any{}, nil); err != nil {
		return err
	}
	switch p.Path {
	case PathMilestones:
		if err := w.release(ctx, OpMilestone, base, map[string]any{"milestone": 0}); err != nil {
			return err
		}
		return w.accept(ctx, base)
	case PathRefund:
		var out struct {
			Refund payoutJSON `json:"refund"`
		}
		if err := w.payoutCall(ctx, OpRefund, base+"/refund", map[string]any{"amount": f(p.Refund), "reason": "order reduced"}, &out); err != nil {
			return err
		}
		if err := w.settle(ctx, out.Refund); err != nil {
			return err
		}
		return w.release(ctx, OpRelease, base, map[string]any{})
	case PathDispute:
		return w.dispute(ctx, base, p)
	default:
		return w.accept(ctx, base)
	}
}

// payoutCall posts a payout request; a 422 blocked answer carries the
// payout too and ends the lifecycle as blocked.
func (w *worker) payoutCall(ctx context.Context, op, path string, body, out any) error {
	err := w.post(ctx, op, RoleMarketplace, path, body, out)
	var ae *APIError
	if errors.As(err, &ae) && isGateBlock(ae.Status, ae.Code) {
		w.rec.Gate("block")
		return &errStop{OutcomeBlocked}
	}
	return err
}

func (w *worker) release(ctx context.Context, op, base string, body any) error {
	var out struct {
		Release payoutJSON `json:"release"`
	}
	if err := w.payoutCall(ctx, op, base+"/release", body, &out); err != nil {
		return err
	}
	return w.settle(ctx, out.Release)
}

func (w *worker) accept(ctx context.Context, base string) error {
	var out struct {
		Releases []payoutJSON `json:"releases"`
	}
	if err := w.post(ctx, OpAccept, RoleMarketplace, base+"/accept", map[string]any{}, &out); err != nil {
		return err
	}
	for _, r := range out.Releases {
		if err := w.settle(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// dispute: the buyer claims part of the order, the seller escalates at
// once, an agent awards half the claim (refund_partial); the rest of the
// order is released to the seller in the same resolution.
func (w *worker) dispute(ctx context.Context, base string, p Plan) error {
	var d struct {
		ID string `json:"id"`
	}
	f := func(x interface{ StringFixed(int32) string }) string { return x.StringFixed(p.Currency.MinorUnits) }
	if err := w.post(ctx, OpDispute, RoleMarketplace, base+"/disputes",
		map[string]any{"reason": "not_as_described", "claimed_amount": f(p.Claim), "description": "colour differs from the listing"}, &d); err != nil {
		return err
	}
	if err := w.post(ctx, OpEscalate, RoleMarketplace, "/v1/disputes/"+d.ID+"/escalate", map[string]any{"by": "seller"}, nil); err != nil {
		return err
	}
	var out struct {
		Refund  *payoutJSON `json:"refund"`
		Release *payoutJSON `json:"release"`
	}
	if err := w.post(ctx, OpResolve, RoleDisputeAgent, "/v1/disputes/"+d.ID+"/resolve",
		map[string]any{"outcome": "refund_partial", "refund_amount": f(p.Award), "rationale": "photos show a different colour; half the claim"}, &out); err != nil {
		return err
	}
	for _, po := range []*payoutJSON{out.Refund, out.Release} {
		if po != nil {
			if err := w.settle(ctx, *po); err != nil {
				return err
			}
		}
	}
	return nil
}

// settle follows a payout through the gate's outcome: paid, approved by a
// risk reviewer when it went to review, or the lifecycle ends (blocked,
// waiting for a step-up code).
func (w *worker) settle(ctx context.Context, p payoutJSON) error {
	if p.Risk != nil {
		w.rec.Gate(p.Risk.Decision)
	}
	switch p.Status {
	case "pending_review":
		if p.ReviewID == nil {
			return fmt.Errorf("payout %s is pending review without a review id", p.ID)
		}
		return w.post(ctx, OpApprove, RoleRiskReviewer, "/v1/risk/reviews/"+*p.ReviewID+"/approve", map[string]any{"note": "bench: approved"}, nil)
	case "awaiting_confirmation":
		return &errStop{OutcomeStepUp}
	case "blocked", "rejected":
		return &errStop{OutcomeBlocked}
	default:
		return nil
	}
}
