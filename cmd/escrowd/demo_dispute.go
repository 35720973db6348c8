package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/tenants"
)

// demoDispute is the part of a dispute the demo prints.
type demoDispute struct {
	ID                  string `json:"id"`
	Status              string `json:"status"`
	Reason              string `json:"reason"`
	ClaimedAmount       string `json:"claimed_amount"`
	Assignee            string `json:"assignee"`
	SellerResponseDueAt string `json:"seller_response_due_at"`
	EscalationDueAt     string `json:"escalation_due_at"`
	EvidenceDueAt       string `json:"evidence_due_at"`
	EscalatedBy         string `json:"escalated_by"`
	Timeline            []struct {
		Kind string `json:"kind"`
		Type string `json:"type"`
	} `json:"timeline"`
}

// storyDispute: a not-as-described claim; the seller offers 30%, the buyer
// refuses and escalates; an agent takes the case and refunds part of it.
func storyDispute(ctx context.Context, d *demo) error {
	mp, agent := tenants.RoleMarketplace, tenants.RoleDisputeAgent
	var e demoEscrow
	err := d.call(ctx, mp, http.MethodPost, "/v1/escrows", map[string]any{
		"order_ref": "PO-" + uuid.NewString()[:8], "amount": "800.00", "currency": "EUR",
		"buyer":  map[string]any{"id": "buyer-lyon-decor", "name": "Lyon Decor SARL", "country": "FR"},
		"seller": map[string]any{"id": "seller-guangzhou-ceramics", "name": "Guangzhou Ceramics Co", "country": "CN"},
		"fees":   map[string]any{"platform_fee_bps": 250, "paid_by": "seller"},
	}, &e)
	if err != nil {
		return err
	}
	for _, step := range []struct {
		action string
		body   map[string]any
	}{
		{"fund", map[string]any{"amount": "800.00", "currency": "EUR", "payment_ref": "psp-" + uuid.NewString()[:12]}},
		{"ship", map[string]any{"carrier": "COSCO", "tracking_number": "COSU6281234567"}},
		{"deliver", map[string]any{}},
	} {
		if e, err = d.action(ctx, e.ID, step.action, step.body); err != nil {
			return err
		}
	}
	d.logf("1. EUR 800.00 of glazed vases funded, shipped and delivered (2.5%% fee paid by the seller):")
	d.escrowLine(e)

	var dp demoDispute
	if err := d.call(ctx, mp, http.MethodPost, "/v1/escrows/"+e.ID+"/disputes", map[string]any{
		"reason": "not_as_described", "claimed_amount": "800.00", "description": "matte finish delivered; glossy glaze ordered",
	}, &dp); err != nil {
		return err
	}
	d.logf("2. buyer claims %s for %s EUR -> dispute %s %s; the seller must respond by %s, automatic escalation at %s",
		dp.Reason, dp.ClaimedAmount, dp.ID[:8], dp.Status, dp.SellerResponseDueAt, dp.EscalationDueAt)
	if err := d.call(ctx, mp, http.MethodGet, "/v1/escrows/"+e.ID, nil, &e); err != nil {
		return err
	}
	d.logf("   the escrow is %s: no release, auto-release or pending review moves money until the dispute ends", e.State)
	path := "/v1/disputes/" + dp.ID
	if err := d.call(ctx, mp, http.MethodPost, path+"/evidence", map[string]any{"party": "buyer", "kind": "photo",
		"description": "close-up of the matte surface", "uri": "https://files.example/claims/vase-1.jpg",
		"sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}, nil); err != nil {
		return err
	}
	d.logf("3. buyer adds a photo as evidence (metadata and SHA-256 only; accepted until %s)", dp.EvidenceDueAt)
	var offer struct {
		Offer struct {
			ID           string `json:"id"`
			RefundAmount string `json:"refund_amount"`
		} `json:"offer"`
	}
	if err := d.call(ctx, mp, http.MethodPost, path+"/offers", map[string]any{"by": "seller", "refund_amount": "240.00", "note": "30% off, keep the goods"}, &offer); err != nil {
		return err
	}
	d.logf("4. seller responds with an offer: refund %s EUR (30%%), the rest released to the seller", offer.Offer.RefundAmount)
	if err := d.call(ctx, mp, http.MethodPost, path+"/offers/"+offer.Offer.ID+"/reject", map[string]any{}, nil); err != nil {
		return err
	}
	if err := d.call(ctx, mp, http.MethodPost, path+"/escalate", map[string]any{"by": "buyer"}, &dp); err != nil {
		return err
	}
	d.logf("5. buyer rejects the offer and escalates -> %s (escalated by the %s)", dp.Status, dp.EscalatedBy)
	var queue struct {
		Data []demoDispute `json:"data"`
	}
	if err := d.call(ctx, agent, http.MethodGet, "/v1/disputes?status=under_review", nil, &queue); err != nil {
		return err
	}
	d.logf("6. the agents' queue (next deadline first) holds %d dispute(s) under review", len(queue.Data))
	if err := d.call(ctx, agent, http.MethodPost, path+"/assign", map[string]any{"agent": "agent.mei"}, &dp); err != nil {
		return err
	}
	d.logf("   assigned to %s", dp.Assignee)
	var res struct {
		Refund  demoPayout `json:"refund"`
		Release demoPayout `json:"release"`
		Escrow  demoEscrow `json:"escrow"`
		Capped  bool       `json:"capped"`
	}
	if err := d.call(ctx, agent, http.MethodPost, path+"/resolve", map[string]any{"outcome": "refund_partial", "refund_amount": "200.00",
		"rationale": "finish differs from the listing; goods usable"}, &res); err != nil {
		return err
	}
	d.logf("7. agent resolves refund_partial: refund %s %s EUR to the buyer; %s", res.Refund.ID[:8], res.Refund.Amount, res.Refund.riskLine())
	d.logf("   release %s %s EUR, fee %s EUR, seller gets %s EUR; %s", res.Release.ID[:8], res.Release.Amount, res.Release.FeeAmount,
		res.Release.NetAmount, res.Release.riskLine())
	d.logf("   both payouts went through the risk gate and committed with the resolution (capped: %v):", res.Capped)
	d.escrowLine(res.Escrow)
	if err := d.call(ctx, agent, http.MethodGet, path, nil, &dp); err != nil {
		return err
	}
	var types []string
	for _, it := range dp.Timeline {
		types = append(types, it.Type)
	}
	d.logf("8. dispute %s is %s; its timeline: %s", dp.ID[:8], dp.Status, strings.Join(types, " → "))
	if len(types) == 0 {
		return fmt.Errorf("dispute %s has an empty timeline", dp.ID)
	}
	return nil
}
