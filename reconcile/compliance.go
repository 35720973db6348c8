package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
)

// DefaultThresholdUSD is the compliance report's default reporting
// threshold, in USD.
var DefaultThresholdUSD = decimal.NewFromInt(10_000)

// ComplianceQuery selects a compliance report.
type ComplianceQuery struct {
	Period
	// ThresholdUSD: transactions whose USD equivalent is at or above it
	// are listed (DefaultThresholdUSD when zero).
	ThresholdUSD decimal.Decimal
	Unmasked     bool
}

// ParseThresholdUSD reads threshold_usd ("" is the default).
func ParseThresholdUSD(s string) (decimal.Decimal, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultThresholdUSD, nil
	}
	usd, _ := money.Lookup(fx.USD)
	d, err := money.ParseAmount(strings.TrimSpace(s), usd)
	if err != nil || !d.IsPositive() {
		return decimal.Decimal{}, valid.FieldCode("invalid_amount", "threshold_usd", "must be a positive USD amount")
	}
	return d, nil
}

// PartyView is a buyer or seller in a report, masked unless asked unmasked.
type PartyView struct {
	ID, Name, Email, Phone, Country string
}

// ComplianceTxn is a funding, payout or payout reversal at or above the
// threshold.
type ComplianceTxn struct {
	// Kind is funding, release or refund, or refund_reversal (release_reversal)
	// when a won chargeback reversed a payout: the payout stays listed in
	// its own period, and the reversal is a transaction of the period it
	// was booked in. ID is the funding's or payout's id; a reversal's is
	// its ledger entry's, and ReversesPayoutID names the payout it reversed.
	Kind     string
	ID       uuid.UUID
	EscrowID uuid.UUID
	OrderRef string
	At       time.Time
	Amount   decimal.Decimal
	Currency string
	// AmountUSD at the tenant's latest rate at the end of the day of the
	// transaction; nil with RateMissing when no rate exists (then the
	// transaction is listed, to be safe).
	AmountUSD   *decimal.Decimal
	RateMissing bool
	Buyer       PartyView
	Seller      PartyView
	// ReversesPayoutID is set on a reversal: the payout it reversed.
	ReversesPayoutID *uuid.UUID
}

// CrossBorderFlow is the fundings of the period from buyers in one country
// to sellers in another, in one currency.
type CrossBorderFlow struct {
	BuyerCountry, SellerCountry, Currency string
	Fundings                              int
	Amount                                decimal.Decimal
	AmountUSD                             decimal.Decimal // of the fundings with a rate
}

// RiskOutcomes counts the risk gate's decisions of the period.
type RiskOutcomes struct {
	Decisions, Approved, Reviewed, SteppedUp, Blocked int
	// InterceptionRate = (Reviewed + SteppedUp + Blocked) / Decisions.
	InterceptionRate decimal.Decimal
}

// DisputeStats describes the disputes of the period.
type DisputeStats struct {
	// Escrows created and Disputes opened in the period; Rate =
	// Disputes / Escrows.
	Escrows, Disputes int
	Rate              decimal.Decimal
	// Outcomes of the disputes closed in the period: refund_full,
	// refund_partial, release_full, withdrawn.
	Outcomes map[string]int
	// MedianHoursToResolve over the disputes resolved in the period
	// (opening to resolution); nil when none was.
	MedianHoursToResolve *decimal.Decimal
	// Chargebacks opened in the period, and those decided lost in it.
	Chargebacks, ChargebacksLost int
}

// ComplianceReport is the compliance report of a period.
type ComplianceReport struct {
	Period
	ThresholdUSD decimal.Decimal
	// Transactions lists at most MaxReportRows; TransactionCount counts all.
	Transactions     []ComplianceTxn
	TransactionCount int
	Truncated        bool
	CrossBorder      []CrossBorderFlow
	DomesticFundings int
	Risk             RiskOutcomes
	Disputes         DisputeStats
}

type partyJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
}

func (p partyJSON) view(m Masker) PartyView {
	return PartyView{ID: p.ID, Name: m.Name(p.Name), Email: m.Email(p.Email), Phone: m.Phone(p.Phone), Country: p.Country}
}

// Compliance builds the compliance report: fundings, payouts and payout
// reversals at or above the USD threshold, cross-border funding flows, the risk
// gate's outcomes and the disputes.
func (s *Service) Compliance(ctx context.Context, tenant uuid.UUID, q ComplianceQuery) (ComplianceReport, error) {
	if !q.ThresholdUSD.IsPositive() {
		q.ThresholdUSD = DefaultThresholdUSD
	}
	rep := ComplianceReport{Period: q.Period, ThresholdUSD: q.ThresholdUSD}
	mask := Masker{Off: q.Unmasked}
	now := s.Clock.Now()
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		rep.Transactions, rep.TransactionCount, rep.Truncated, rep.CrossBorder, rep.DomesticFundings = nil, 0, false, nil, 0
		usd, err := loadUSDRates(ctx, tx, tenant, q.Period, now)
		if err != nil {
			return err
		}
		if err := complianceTxns(ctx, tx, tenant, q, usd, mask, &rep); err != nil {
			return err
		}
		if rep.Risk, err = riskOutcomes(ctx, tx, tenant, q.Period); err != nil {
			return err
		}
		rep.Disputes, err = disputeStats(ctx, tx, tenant, q.Period)
		return err
	})
	if err != nil {
		return ComplianceReport{}, err
	}
	return rep, nil
}

// complianceTxnsSQL selects the transactions of a tenant ($1) in [$2, $3):
// fundings, payouts (a payout reversed later included: it happened) and
// payout reversals, each with kind, id, escrow_id, order_ref, at, amount,
// currency, buyer, seller and reverses (the payout a reversal reversed).
// complianceTxns lists them and loadUSDRates prices their days, so both
// see the same transactions.
const complianceTxnsSQL = `
		SELECT 'funding' AS kind, f.id, f.escrow_id, es.order_ref, f.created_at AS at, f.amount, f.currency, es.buyer, es.seller,
			NULL::UUID AS reverses
		FROM escrow_fundings f JOIN escrows es ON es.id = f.escrow_id
		WHERE f.tenant_id = $1 AND f.created_at >= $2 AND f.created_at < $3
		UNION ALL
		SELECT po.kind, po.id, po.escrow_id, es.order_ref, e.created_at, po.gross, es.currency, es.buyer, es.seller, NULL::UUID
		FROM escrow_payouts po JOIN escrows es ON es.id = po.escrow_id JOIN ledger_entries e ON e.id = po.entry_id
		WHERE po.tenant_id = $1 AND po.status IN ('completed', 'reversed') AND e.created_at >= $2 AND e.created_at < $3
		UNION ALL
		SELECT po.kind || '_reversal', rv.id, po.escrow_id, es.order_ref, rv.created_at, po.gross, es.currency, es.buyer, es.seller, po.id
		FROM escrow_payouts po JOIN escrows es ON es.id = po.escrow_id JOIN ledger_entries rv ON rv.reverses_id = po.entry_id
		WHERE po.tenant_id = $1 AND po.status = 'reversed' AND rv.created_at >= $2 AND rv.created_at < $3`

// complianceTxns streams the period's transactions (complianceTxnsSQL).
func complianceTxns(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, q ComplianceQuery, usd *usdConverter, mask Masker, rep *ComplianceReport) error {
	rows, err := tx.Query(ctx, complianceTxnsSQL+` ORDER BY 5, 2`, tenant, q.From, q.End())
	if err != nil {
		return fmt.Errorf("reconcile: compliance transactions: %w", err)
	}
	type flowKey struct{ buyer, seller, currency string }
	flows := map[flowKey]*CrossBorderFlow{}
	var t ComplianceTxn
	var buyerRaw, sellerRaw []byte
	var reverses uuid.UUID // the nil UUID for a NULL (db's UUID codec)
	_, err = pgx.ForEachRow(rows, []any{&t.Kind, &t.ID, &t.EscrowID, &t.OrderRef, &t.At, &t.Amount, &t.Currency, &buyerRaw, &sellerRaw, &reverses}, func() error {
		t.ReversesPayoutID = nil
		if reverses != uuid.Nil {
			id := reverses
			t.ReversesPayoutID = &id
		}
		var buyer, seller partyJSON
		if err := json.Unmarshal(buyerRaw, &buyer); err != nil {
			return fmt.Errorf("escrow %s buyer: %w", t.EscrowID, err)
		}
		if err := json.Unmarshal(sellerRaw, &seller); err != nil {
			return fmt.Errorf("escrow %s seller: %w", t.EscrowID, err)
		}
		amountUSD := usd.convert(t.Amount, t.Currency, t.At)
		if t.Kind == "funding" {
			if buyer.Country != seller.Country {
				k := flowKey{buyer.Country, seller.Country, t.Currency}
				f := flows[k]
				if f == nil {
					f = &CrossBorderFlow{BuyerCountry: k.buyer, SellerCountry: k.seller, Currency: k.currency, Amount: decimal.Zero, AmountUSD: decimal.Zero}
					flows[k] = f
				}
				f.Fundings++
				f.Amount = f.Amount.Add(t.Amount)
				if amountUSD != nil {
					f.AmountUSD = f.AmountUSD.Add(*amountUSD)
				}
			} else {
				rep.DomesticFundings++
			}
		}
		if amountUSD != nil && amountUSD.LessThan(q.ThresholdUSD) {
			return nil
		}
		rep.TransactionCount++
		if len(rep.Transactions) >= MaxReportRows {
			rep.Truncated = true
			return nil
		}
		x := t
		x.At = x.At.UTC()
		x.AmountUSD, x.RateMissing = amountUSD, amountUSD == nil
		x.Buyer, x.Seller = buyer.view(mask), seller.view(mask)
		rep.Transactions = append(rep.Transactions, x)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: compliance transactions: %w", err)
	}
	for _, f := range flows {
		rep.CrossBorder = append(rep.CrossBorder, *f)
	}
	slices.SortFunc(rep.CrossBorder, func(a, b CrossBorderFlow) int {
		return strings.Compare(a.BuyerCountry+a.SellerCountry+a.Currency, b.BuyerCountry+b.SellerCountry+b.Currency)
	})
	return nil
}

// riskOutcomes counts the risk gate's decisions of the period by outcome.
func riskOutcomes(ctx context.Context, q db.Querier, tenant uuid.UUID, p Period) (RiskOutcomes, error) {
	rows, err := q.Query(ctx, `SELECT outcome, count(*) FROM risk_decisions WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY outcome`,
		tenant, p.From, p.End())
	if err != nil {
		return RiskOutcomes{}, fmt.Errorf("reconcile: risk outcomes: %w", err)
	}
	var r RiskOutcomes
	var outcome string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&outcome, &n}, func() error {
		r.Decisions += int(n)
		switch outcome {
		case "approve":
			r.Approved += int(n)
		case "review":
			r.Reviewed += int(n)
		case "step_up":
			r.SteppedUp += int(n)
		case "block":
			r.Blocked += int(n)
		}
		return nil
	}); err != nil {
		return RiskOutcomes{}, fmt.Errorf("reconcile: risk outcomes: %w", err)
	}
	r.InterceptionRate = ratio(r.Reviewed+r.SteppedUp+r.Blocked, r.Decisions)
	return r, nil
}

// disputeStats counts the period's escrows, disputes and chargebacks and
// the outcomes and resolution times of the disputes closed in it.
func disputeStats(ctx context.Context, q db.Querier, tenant uuid.UUID, p Period) (DisputeStats, error) {
	st := DisputeStats{Outcomes: map[string]int{"refund_full": 0, "refund_partial": 0, "release_full": 0, "withdrawn": 0}}
	err := q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM escrows WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3),
			(SELECT count(*) FROM disputes WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3),
			(SELECT count(*) FROM chargebacks WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3),
			(SELECT count(*) FROM chargebacks WHERE tenant_id = $1 AND status = 'lost' AND decided_at >= $2 AND decided_at < $3)`,
		tenant, p.From, p.End()).Scan(&st.Escrows, &st.Disputes, &st.Chargebacks, &st.ChargebacksLost)
	if err != nil {
		return DisputeStats{}, fmt.Errorf("reconcile: dispute counts: %w", err)
	}
	st.Rate = ratio(st.Disputes, st.Escrows)
	// Outcomes are counted in SQL and the median is read from the middle
	// of the ordered durations, so a period with more disputes than
	// MaxReportRows is neither truncated nor loaded whole.
	const closedIn = `tenant_id = $1 AND ((resolved_at >= $2 AND resolved_at < $3) OR (withdrawn_at >= $2 AND withdrawn_at < $3))`
	rows, err := q.Query(ctx, `
		SELECT COALESCE(outcome, status), count(*) FROM disputes WHERE `+closedIn+`
		GROUP BY 1`, tenant, p.From, p.End())
	if err != nil {
		return DisputeStats{}, fmt.Errorf("reconcile: dispute outcomes: %w", err)
	}
	var outcome string
	var count, timed int64
	if _, err := pgx.ForEachRow(rows, []any{&outcome, &count}, func() error {
		st.Outcomes[outcome] += int(count)
		if outcome != "withdrawn" {
			timed += count
		}
		return nil
	}); err != nil {
		return DisputeStats{}, fmt.Errorf("reconcile: dispute outcomes: %w", err)
	}
	if timed == 0 {
		return st, nil
	}
	// The middle one (odd) or two (even) durations of the closed claims
	// that were decided, not withdrawn.
	offset, take := (timed-1)/2, 2-timed%2
	rows, err = q.Query(ctx, `
		SELECT created_at, COALESCE(resolved_at, withdrawn_at) FROM disputes
		WHERE `+closedIn+` AND COALESCE(outcome, status) <> 'withdrawn'
		ORDER BY COALESCE(resolved_at, withdrawn_at) - created_at, id
		OFFSET $4 LIMIT $5`, tenant, p.From, p.End(), offset, take)
	if err != nil {
		return DisputeStats{}, fmt.Errorf("reconcile: dispute resolution times: %w", err)
	}
	var opened, closed time.Time
	var hours []decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&opened, &closed}, func() error {
		hours = append(hours, decimal.NewFromInt(closed.Sub(opened).Milliseconds()).Div(decimal.NewFromInt(3_600_000)))
		return nil
	}); err != nil {
		return DisputeStats{}, fmt.Errorf("reconcile: dispute resolution times: %w", err)
	}
	if int64(len(hours)) != take { // one snapshot (ReadTx): cannot happen
		return DisputeStats{}, fmt.Errorf("reconcile: dispute resolution times: %d of %d middle rows", len(hours), take)
	}
	med := hours[0]
	if len(hours) == 2 {
		med = hours[0].Add(hours[1]).Div(decimal.NewFromInt(2))
	}
	med = med.Round(2)
	st.MedianHoursToResolve = &med
	return st, nil
}

// ratio is n/d rounded half-even to 4 decimals (0 when d is 0).
func ratio(n, d int) decimal.Decimal {
	if d == 0 {
		return decimal.Zero
	}
	return decimal.NewFromInt(int64(n)).DivRound(decimal.NewFromInt(int64(d)), 8).RoundBank(4)
}

// usdConverter prices amounts in USD with the tenant's latest rate at the
// end of the transaction's day (not after now): rates are loaded per
// currency and day before the transactions are streamed.
type usdConverter struct {
	rates map[string]*decimal.Decimal // currency + day → rate (nil: none)
}

func rateKey(currency string, at time.Time) string {
	return currency + dayTime(dayNumber(at)).Format(time.DateOnly)
}

// loadUSDRates looks up the rate of every currency and day the period's
// transactions are in.
func loadUSDRates(ctx context.Context, q db.Querier, tenant uuid.UUID, p Period, now time.Time) (*usdConverter, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT x.currency, (x.at AT TIME ZONE 'UTC')::DATE FROM (`+complianceTxnsSQL+`) x`, tenant, p.From, p.End())
	if err != nil {
		return nil, fmt.Errorf("reconcile: transaction days: %w", err)
	}
	type pair struct {
		currency string
		day      time.Time
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var x pair
		err := r.Scan(&x.currency, &x.day)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: transaction days: %w", err)
	}
	u := &usdConverter{rates: map[string]*decimal.Decimal{}}
	for _, x := range pairs {
		if x.currency == fx.USD {
			continue
		}
		asOf := x.day.UTC().Add(24*time.Hour - time.Microsecond)
		if asOf.After(now) {
			asOf = now
		}
		r, err := fx.LatestRate(ctx, q, tenant, x.currency, fx.USD, asOf)
		switch {
		case errors.Is(err, fx.ErrNoRate):
			u.rates[rateKey(x.currency, x.day)] = nil
		case err != nil:
			return nil, err
		default:
			u.rates[rateKey(x.currency, x.day)] = &r.Rate
		}
	}
	return u, nil
}

// convert returns amount in USD rounded half-even to cents, or nil when no
// rate exists.
func (u *usdConverter) convert(amount decimal.Decimal, currency string, at time.Time) *decimal.Decimal {
	if currency == fx.USD {
		return &amount
	}
	rate := u.rates[rateKey(currency, at)]
	if rate == nil {
		return nil
	}
	usd, _ := money.Lookup(fx.USD)
	v := money.Round(amount.Mul(*rate), usd)
	return &v
}
