package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/tenants"
)

// demoEscrow is the part of an escrow the demo prints.
type demoEscrow struct {
	ID             string `json:"id"`
	State          string `json:"state"`
	Amount         string `json:"amount"`
	Currency       string `json:"currency"`
	FundingAmount  string `json:"funding_amount"`
	FundedAmount   string `json:"funded_amount"`
	HeldAmount     string `json:"held_amount"`
	ReleasedAmount string `json:"released_amount"`
	RefundedAmount string `json:"refunded_amount"`
	FeeAmount      string `json:"fee_amount"`
	LedgerAccount  string `json:"ledger_account"`
	Milestones     []struct {
		Name   string `json:"name"`
		Amount string `json:"amount"`
		State  string `json:"state"`
	} `json:"milestones"`
}

type demoPayout struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Amount    string `json:"amount"`
	FeeAmount string `json:"fee_amount"`
	NetAmount string `json:"net_amount"`
	Risk      struct {
		Decision string `json:"decision"`
		Score    int    `json:"score"`
		Reasons  []struct {
			Code   string `json:"code"`
			Points int    `json:"points"`
		} `json:"reasons"`
	} `json:"risk"`
}

func (p demoPayout) riskLine() string {
	var rs []string
	for _, r := range p.Risk.Reasons {
		rs = append(rs, fmt.Sprintf("%s(+%d)", r.Code, r.Points))
	}
	return fmt.Sprintf("risk %s, score %d [%s]", p.Risk.Decision, p.Risk.Score, strings.Join(rs, " "))
}

func (d *demo) escrowLine(e demoEscrow) {
	d.logf("   escrow %s: state=%s amount=%s %s funded=%s held=%s released=%s refunded=%s",
		e.ID[:8], e.State, e.Amount, e.Currency, e.FundedAmount, e.HeldAmount, e.ReleasedAmount, e.RefundedAmount)
}

func (d *demo) action(ctx context.Context, escrowID, action string, body any) (demoEscrow, error) {
	var e demoEscrow
	err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows/"+escrowID+"/"+action, body, &e)
	return e, err
}

// storyRates loads today's reference rates, as finance would each morning.
func storyRates(ctx context.Context, d *demo) error {
	rates := map[string]string{"USD": "1.0850", "GBP": "0.8570", "JPY": "162.40", "CNY": "7.8120", "KWD": "0.3341"}
	body := map[string]any{"base": "EUR", "as_of": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339), "rates": rates}
	if err := d.call(ctx, tenants.RoleFinance, http.MethodPost, "/v1/fx/rates", body, nil); err != nil {
		return err
	}
	d.logf("finance imported EUR reference rates: %v", rates)
	return nil
}

// storyCrossBorder: a EUR 1,200 order paid in USD through a quote, shipped,
// delivered, accepted and released to the seller minus a 2.5%% fee.
func storyCrossBorder(ctx context.Context, d *demo) error {
	var e demoEscrow
	err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows", map[string]any{
		"order_ref": "PO-" + uuid.NewString()[:8], "amount": "1200.00", "currency": "EUR",
		"buyer":  map[string]any{"id": "buyer-acme-us", "name": "Acme Imports LLC", "country": "US", "email": "ops@acme.example"},
		"seller": map[string]any{"id": "seller-shenzhen-led", "name": "Shenzhen LED Works", "country": "CN"},
		"fees":   map[string]any{"platform_fee_bps": 250, "paid_by": "seller"},
	}, &e)
	if err != nil {
		return err
	}
	d.logf("1. marketplace opened escrow for a EUR 1,200.00 order (2.5%% fee paid by the seller: %s EUR); ledger account %s", e.FeeAmount, e.LedgerAccount)
	var q struct {
		ID         string `json:"id"`
		SellAmount string `json:"sell_amount"`
		BuyAmount  string `json:"buy_amount"`
		Rate       string `json:"rate"`
		ExpiresAt  string `json:"expires_at"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/fx/quotes",
		map[string]any{"sell_currency": "USD", "buy_currency": "EUR", "buy_amount": "1200.00"}, &q); err != nil {
		return err
	}
	d.logf("2. the US buyer pays in dollars: quote %s sells %s USD for %s EUR at %s (expires %s)", q.ID[:8], q.SellAmount, q.BuyAmount, q.Rate, q.ExpiresAt)
	if e, err = d.action(ctx, e.ID, "fund", map[string]any{"amount": q.SellAmount, "currency": "USD", "payment_ref": "psp-" + uuid.NewString()[:12], "fx_quote_id": q.ID}); err != nil {
		return err
	}
	d.logf("3. PSP captured %s USD; converted through the FX clearing accounts:", q.SellAmount)
	d.escrowLine(e)
	if e, err = d.action(ctx, e.ID, "ship", map[string]any{"carrier": "DHL", "tracking_number": "JD014600006281234567"}); err != nil {
		return err
	}
	d.logf("4. seller shipped with DHL -> %s", e.State)
	if e, err = d.action(ctx, e.ID, "deliver", map[string]any{}); err != nil {
		return err
	}
	d.logf("5. delivered -> %s (inspection window open)", e.State)
	var acc struct {
		Releases []demoPayout `json:"releases"`
		Escrow   demoEscrow   `json:"escrow"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows/"+e.ID+"/accept", map[string]any{}, &acc); err != nil {
		return err
	}
	for _, r := range acc.Releases {
		d.logf("6. buyer accepted: release %s %s: %s EUR, fee %s EUR, seller gets %s EUR; %s", r.ID[:8], r.Status, r.Amount, r.FeeAmount, r.NetAmount, r.riskLine())
	}
	d.escrowLine(acc.Escrow)
	return nil
}

// storyMilestones: a two-milestone order; the first milestone is released,
// then part of the rest is refunded.
func storyMilestones(ctx context.Context, d *demo) error {
	var e demoEscrow
	err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows", map[string]any{
		"order_ref": "PO-" + uuid.NewString()[:8], "amount": "5000.00", "currency": "USD",
		"buyer":      map[string]any{"id": "buyer-brightmart-gb", "name": "Brightmart Ltd", "country": "GB"},
		"seller":     map[string]any{"id": "seller-istanbul-textile", "name": "Istanbul Textile A.S.", "country": "TR"},
		"milestones": []map[string]any{{"name": "samples approved", "amount": "1500.00"}, {"name": "bulk shipment", "amount": "3500.00"}},
		"fees":       map[string]any{"platform_fee_bps": 150, "fixed_fee": "5.00", "paid_by": "split"},
	}, &e)
	if err != nil {
		return err
	}
	d.logf("1. escrow for USD 5,000.00 in two milestones (1,500.00 samples, 3,500.00 bulk); fee %s USD split between buyer and seller", e.FeeAmount)
	due := e.FundingAmount
	if e, err = d.action(ctx, e.ID, "fund", map[string]any{"amount": due, "currency": "USD", "payment_ref": "psp-" + uuid.NewString()[:12]}); err != nil {
		return err
	}
	d.logf("2. buyer funded %s USD (the order plus the buyer's half of the fee)", due)
	d.escrowLine(e)
	var rel struct {
		Release demoPayout `json:"release"`
		Escrow  demoEscrow `json:"escrow"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows/"+e.ID+"/release", map[string]any{"milestone": 0}, &rel); err != nil {
		return err
	}
	d.logf("3. samples approved: milestone 0 released %s: %s USD, fee %s, seller gets %s; %s", rel.Release.Status, rel.Release.Amount, rel.Release.FeeAmount, rel.Release.NetAmount, rel.Release.riskLine())
	var ref struct {
		Refund demoPayout `json:"refund"`
		Escrow demoEscrow `json:"escrow"`
	}
	if err := d.call(ctx, tenants.RoleMarketplace, http.MethodPost, "/v1/escrows/"+e.ID+"/refund", map[string]any{"amount": "500.00", "reason": "bulk order reduced by 10 bolts"}, &ref); err != nil {
		return err
	}
	d.logf("4. order reduced: partial refund %s of %s USD (with the buyer's fee part: %s back to the buyer)", ref.Refund.Status, ref.Refund.Amount, ref.Refund.NetAmount)
	d.escrowLine(ref.Escrow)
	for _, m := range ref.Escrow.Milestones {
		d.logf("   milestone %-16q %10s USD  %s", m.Name, m.Amount, m.State)
	}
	return nil
}

// storyBalances prints every account's balance and the trial balance: per
// currency, debits equal credits.
func storyBalances(ctx context.Context, d *demo) error {
	var tb struct {
		Data []struct {
			Currency string `json:"currency"`
			Accounts []struct {
				Code    string `json:"code"`
				Kind    string `json:"kind"`
				Balance string `json:"balance"`
				Side    string `json:"normal_side"`
			} `json:"accounts"`
			TotalDebit  string `json:"debit_total"`
			TotalCredit string `json:"credit_total"`
			Balanced    bool   `json:"balanced"`
		} `json:"data"`
	}
	if err := d.call(ctx, tenants.RoleFinance, http.MethodGet, "/v1/ledger/trial-balance", nil, &tb); err != nil {
		return err
	}
	if len(tb.Data) == 0 {
		return fmt.Errorf("the trial balance lists no currency")
	}
	sort.Slice(tb.Data, func(i, j int) bool { return tb.Data[i].Currency < tb.Data[j].Currency })
	for _, c := range tb.Data {
		d.logf("%s", c.Currency)
		for _, a := range c.Accounts {
			d.logf("   %-58s %-9s %-6s %14s", a.Code, a.Kind, a.Side, a.Balance)
		}
		d.logf("   %-58s %16s debit = %s credit  balanced=%v", "trial balance", c.TotalDebit, c.TotalCredit, c.Balanced)
		if !c.Balanced {
			return fmt.Errorf("trial balance for %s does not balance", c.Currency)
		}
	}
	return nil
}
