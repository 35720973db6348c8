package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/audit"
	"github.com/escrowd/escrowd/reconcile"
)

// Reports answer JSON, or CSV (one row per line of the report) when the
// request's Accept names text/csv. Personal data is masked unless
// ?unmasked=true, which is audited.

func rcWantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}

// rcCsvBody renders a header and rows as a CSV answer. Every cell goes
// through rcCsvCell: reports carry marketplace-supplied text (seller and
// buyer ids and names, order references, emails) that a spreadsheet would
// otherwise run as a formula when finance opens the export.
func rcCsvBody(header []string, rows [][]string) (rawBody, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(header); err != nil {
		return rawBody{}, fmt.Errorf("csv header: %w", err)
	}
	for i, row := range rows {
		safe := make([]string, len(row))
		for j, cell := range row {
			safe[j] = rcCsvCell(cell)
		}
		if err := w.Write(safe); err != nil {
			return rawBody{}, fmt.Errorf("csv row %d: %w", i+1, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return rawBody{}, fmt.Errorf("csv flush: %w", err)
	}
	return rawBody{contentType: "text/csv; charset=utf-8", body: b.Bytes()}, nil
}

// rcPlainNumber is a decimal amount as the reports write them ("-5.00").
var rcPlainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// rcCsvCell neutralises a cell a spreadsheet would read as a formula (OWASP
// "CSV injection"): one that starts with =, +, -, @, a tab or a carriage
// return gets a leading single quote, which spreadsheets show as text. A
// plain decimal number (a negative amount such as -5.00) stays as it is, so
// amounts remain numeric.
func rcCsvCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || rcPlainNumber.MatchString(s) {
		return s
	}
	return "'" + s
}

func rcPeriod(r *http.Request) (reconcile.Period, error) {
	q := r.URL.Query()
	return reconcile.ParsePeriod(q.Get("from"), q.Get("to"))
}

// unmasked reads ?unmasked= (default false).
func rcUnmasked(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("unmasked")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "unmasked", "must be true or false")
	}
	return b, nil
}

// auditUnmasked records that the caller read personal data rcUnmasked, in a
// transaction of its own, before the report is answered: no record, no
// data.
func (s *Server) auditUnmasked(r *http.Request) error {
	p := principal(r)
	rec := audit.Record{TenantID: p.TenantID, KeyID: p.KeyID, Role: string(p.Role), Method: r.Method, Route: routeTemplate(r),
		ResourceID: "unmasked", Status: http.StatusOK, Outcome: audit.OutcomeOf(http.StatusOK), RequestID: requestID(r.Context()), At: s.clock.Now()}
	return s.db.Tx(r.Context(), func(tx pgx.Tx) error { return audit.Write(r.Context(), tx, rec) })
}

type rcFlowsJSON struct {
	OpeningHeld string `json:"opening_held"`
	Funded      string `json:"funded"`
	FX          string `json:"fx"`
	Released    string `json:"released"`
	Refunded    string `json:"refunded"`
	Fees        string `json:"fees"`
	Other       string `json:"other"`
	ClosingHeld string `json:"closing_held"`
}

func rcFlowsView(f reconcile.Flows, cur string) rcFlowsJSON {
	a := func(d decimal.Decimal) string { return rcFmtAmount(d, cur) }
	return rcFlowsJSON{a(f.OpeningHeld), a(f.Funded), a(f.FX), a(f.Released), a(f.Refunded), a(f.Fees), a(f.Other), a(f.ClosingHeld)}
}

func (f rcFlowsJSON) cells() []string {
	return []string{f.OpeningHeld, f.Funded, f.FX, f.Released, f.Refunded, f.Fees, f.Other, f.ClosingHeld}
}

type rcSettlementRowJSON struct {
	Day        string `json:"day"`
	Currency   string `json:"currency"`
	SellerID   string `json:"seller_id"`
	SellerName string `json:"seller_name"`
	rcFlowsJSON
}

type rcSettlementTotalJSON struct {
	Currency string `json:"currency"`
	rcFlowsJSON
	LedgerOpening string `json:"ledger_opening_held"`
	LedgerClosing string `json:"ledger_closing_held"`
	Ties          bool   `json:"ties_to_ledger"`
}

type rcSettlementJSON struct {
	From     string                  `json:"from"`
	To       string                  `json:"to"`
	Currency string                  `json:"currency,omitempty"`
	Unmasked bool                    `json:"unmasked"`
	Rows     []rcSettlementRowJSON   `json:"rows"`
	Totals   []rcSettlementTotalJSON `json:"totals"`
}

// settlementReport answers GET /v1/reports/settlement?from=&to=&currency=.
func (s *Server) settlementReport(r *http.Request) (any, error) {
	p, err := rcPeriod(r)
	if err != nil {
		return nil, err
	}
	um, err := rcUnmasked(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.reconcile.Settlement(r.Context(), principal(r).TenantID, reconcile.SettlementQuery{Period: p, Currency: r.URL.Query().Get("currency"), Unmasked: um})
	if err != nil {
		return nil, err
	}
	out := rcSettlementJSON{From: p.From.Format(time.DateOnly), To: p.To.Format(time.DateOnly), Currency: rep.Currency, Unmasked: um,
		Rows: []rcSettlementRowJSON{}, Totals: []rcSettlementTotalJSON{}}
	for _, row := range rep.Rows {
		out.Rows = append(out.Rows, rcSettlementRowJSON{Day: row.Day.Format(time.DateOnly), Currency: row.Currency, SellerID: row.SellerID,
			SellerName: row.SellerName, rcFlowsJSON: rcFlowsView(row.Flows, row.Currency)})
	}
	for _, t := range rep.Totals {
		out.Totals = append(out.Totals, rcSettlementTotalJSON{Currency: t.Currency, rcFlowsJSON: rcFlowsView(t.Flows, t.Currency),
			LedgerOpening: rcFmtAmount(t.LedgerOpening, t.Currency), LedgerClosing: rcFmtAmount(t.LedgerClosing, t.Currency), Ties: t.Ties})
	}
	if um {
		if err := s.auditUnmasked(r); err != nil {
			return nil, err
		}
	}
	if !rcWantsCSV(r) {
		return out, nil
	}
	header := []string{"day", "currency", "seller_id", "seller_name", "opening_held", "funded", "fx", "released", "refunded", "fees", "other", "closing_held"}
	var rows [][]string
	for _, row := range out.Rows {
		rows = append(rows, append([]string{row.Day, row.Currency, row.SellerID, row.SellerName}, row.cells()...))
	}
	for _, t := range out.Totals {
		rows = append(rows, append([]string{"total", t.Currency, "", ""}, t.cells()...))
	}
	return rcCsvBody(header, rows)
}

type rcLiabilityCurrencyJSON struct {
	Currency      string `json:"currency"`
	LedgerBalance string `json:"ledger_balance"`
	EscrowFunded  string `json:"escrow_funded"`
	EscrowPaidOut string `json:"escrow_paid_out"`
	EscrowHeld    string `json:"escrow_held"`
	Difference    string `json:"difference"`
	Ties          bool   `json:"ties"`
	Escrows       int    `json:"escrows_holding"`
}

type rcLiabilityMismatchJSON struct {
	EscrowID      uuid.UUID `json:"escrow_id"`
	OrderRef      string    `json:"order_ref"`
	Currency      string    `json:"currency"`
	LedgerBalance string    `json:"ledger_balance"`
	EscrowHeld    string    `json:"escrow_held"`
}

type rcLiabilityJSON struct {
	AsOf          time.Time                 `json:"as_of"`
	Currencies    []rcLiabilityCurrencyJSON `json:"currencies"`
	MismatchCount int                       `json:"mismatch_count"`
	Mismatches    []rcLiabilityMismatchJSON `json:"mismatches"`
}

// liabilityReport answers GET /v1/reports/escrow-liability?as_of=.
func (s *Server) liabilityReport(r *http.Request) (any, error) {
	asOf, err := reconcile.ParseAsOf(r.URL.Query().Get("as_of"), s.clock.Now())
	if err != nil {
		return nil, err
	}
	rep, err := s.reconcile.EscrowLiability(r.Context(), principal(r).TenantID, asOf)
	if err != nil {
		return nil, err
	}
	out := rcLiabilityJSON{AsOf: rep.AsOf, Currencies: []rcLiabilityCurrencyJSON{}, MismatchCount: rep.MismatchCount, Mismatches: []rcLiabilityMismatchJSON{}}
	for _, c := range rep.Currencies {
		a := func(d decimal.Decimal) string { return rcFmtAmount(d, c.Currency) }
		out.Currencies = append(out.Currencies, rcLiabilityCurrencyJSON{Currency: c.Currency, LedgerBalance: a(c.LedgerBalance), EscrowFunded: a(c.EscrowFunded),
			EscrowPaidOut: a(c.EscrowPaidOut), EscrowHeld: a(c.EscrowHeld), Difference: a(c.Difference), Ties: c.Ties, Escrows: c.Escrows})
	}
	for _, m := range rep.Mismatches {
		out.Mismatches = append(out.Mismatches, rcLiabilityMismatchJSON{EscrowID: m.EscrowID, OrderRef: m.OrderRef, Currency: m.Currency,
			LedgerBalance: rcFmtAmount(m.LedgerBalance, m.Currency), EscrowHeld: rcFmtAmount(m.EscrowHeld, m.Currency)})
	}
	if !rcWantsCSV(r) {
		return out, nil
	}
	var rows [][]string
	for _, c := range out.Currencies {
		rows = append(rows, []string{c.Currency, c.LedgerBalance, c.EscrowFunded, c.EscrowPaidOut, c.EscrowHeld, c.Difference,
			strconv.FormatBool(c.Ties), strconv.Itoa(c.Escrows)})
	}
	return rcCsvBody([]string{"currency", "ledger_balance", "escrow_funded", "escrow_paid_out", "escrow_held", "difference", "ties", "escrows_holding"}, rows)
}

type rcFxPairJSON struct {
	SellCurrency   string `json:"sell_currency"`
	BuyCurrency    string `json:"buy_currency"`
	Conversions    int    `json:"conversions"`
	SellAmount     string `json:"sell_amount"`
	BuyAmount      string `json:"buy_amount"`
	ClearingAmount string `json:"clearing_amount"`
	SpreadRevenue  string `json:"spread_revenue"`
	Rounding       string `json:"rounding_residual"`
	RoundingGains  string `json:"rounding_gains"`
	RoundingLosses string `json:"rounding_losses"`
	// The conversions chargebacks in the sell currency unwound, net of
	// won chargebacks, and what stayed converted.
	Reversals          int    `json:"reversals"`
	ReversalsUndone    int    `json:"reversals_undone"`
	ReversedSellAmount string `json:"reversed_sell_amount"`
	ReversedBuyAmount  string `json:"reversed_buy_amount"`
	NetSellAmount      string `json:"net_sell_amount"`
	NetBuyAmount       string `json:"net_buy_amount"`
	NetClearingAmount  string `json:"net_clearing_amount"`
}

type rcFxCheckJSON struct {
	Currency       string `json:"currency"`
	SpreadRevenue  string `json:"spread_revenue"`
	LedgerRevenue  string `json:"ledger_revenue"`
	Rounding       string `json:"rounding_residual"`
	LedgerRounding string `json:"ledger_rounding"`
	Clearing       string `json:"clearing"`
	LedgerClearing string `json:"ledger_clearing"`
	Ties           bool   `json:"ties"`
}

type rcFxReportJSON struct {
	From   string          `json:"from"`
	To     string          `json:"to"`
	Pairs  []rcFxPairJSON  `json:"pairs"`
	Ledger []rcFxCheckJSON `json:"ledger"`
}

// fxReport answers GET /v1/reports/fx?from=&to=.
func (s *Server) fxReport(r *http.Request) (any, error) {
	p, err := rcPeriod(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.reconcile.FX(r.Context(), principal(r).TenantID, p)
	if err != nil {
		return nil, err
	}
	out := rcFxReportJSON{From: p.From.Format(time.DateOnly), To: p.To.Format(time.DateOnly), Pairs: []rcFxPairJSON{}, Ledger: []rcFxCheckJSON{}}
	for _, x := range rep.Pairs {
		b := func(d decimal.Decimal) string { return rcFmtAmount(d, x.BuyCurrency) }
		sl := func(d decimal.Decimal) string { return rcFmtAmount(d, x.SellCurrency) }
		out.Pairs = append(out.Pairs, rcFxPairJSON{SellCurrency: x.SellCurrency, BuyCurrency: x.BuyCurrency, Conversions: x.Conversions,
			SellAmount: sl(x.SellAmount), BuyAmount: b(x.BuyAmount), ClearingAmount: b(x.ClearingAmount),
			SpreadRevenue: b(x.SpreadRevenue), Rounding: b(x.Rounding), RoundingGains: b(x.RoundingGains), RoundingLosses: b(x.RoundingLosses),
			Reversals: x.Reversals, ReversalsUndone: x.ReversalsUndone, ReversedSellAmount: sl(x.ReversedSellAmount), ReversedBuyAmount: b(x.ReversedBuyAmount),
			NetSellAmount: sl(x.NetSellAmount), NetBuyAmount: b(x.NetBuyAmount), NetClearingAmount: b(x.NetClearingAmount)})
	}
	for _, c := range rep.Ledger {
		a := func(d decimal.Decimal) string { return rcFmtAmount(d, c.Currency) }
		out.Ledger = append(out.Ledger, rcFxCheckJSON{Currency: c.Currency, SpreadRevenue: a(c.SpreadRevenue), LedgerRevenue: a(c.LedgerRevenue),
			Rounding: a(c.Rounding), LedgerRounding: a(c.LedgerRounding), Clearing: a(c.Clearing), LedgerClearing: a(c.LedgerClearing), Ties: c.Ties})
	}
	if !rcWantsCSV(r) {
		return out, nil
	}
	var rows [][]string
	for _, x := range out.Pairs {
		rows = append(rows, []string{x.SellCurrency, x.BuyCurrency, strconv.Itoa(x.Conversions), x.SellAmount, x.BuyAmount, x.ClearingAmount,
			x.SpreadRevenue, x.Rounding, x.RoundingGains, x.RoundingLosses, strconv.Itoa(x.Reversals), strconv.Itoa(x.ReversalsUndone),
			x.ReversedSellAmount, x.ReversedBuyAmount, x.NetSellAmount, x.NetBuyAmount, x.NetClearingAmount})
	}
	return rcCsvBody([]string{"sell_currency", "buy_currency", "conversions", "sell_amount", "buy_amount", "clearing_amount", "spread_revenue",
		"rounding_residual", "rounding_gains", "rounding_losses", "reversals", "reversals_undone", "reversed_sell_amount", "reversed_buy_amount",
		"net_sell_amount", "net_buy_amount", "net_clearing_amount"}, rows)
}

type rcPartyViewJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Country string `json:"country"`
}

type rcComplianceTxnJSON struct {
	Kind        string    `json:"kind"`
	ID          uuid.UUID `json:"id"`
	EscrowID    uuid.UUID `json:"escrow_id"`
	OrderRef    string    `json:"order_ref"`
	At          time.Time `json:"at"`
	Amount      string    `json:"amount"`
	Currency    string    `json:"currency"`
	AmountUSD   *string   `json:"amount_usd"`
	RateMissing bool      `json:"rate_missing,omitempty"`
	// ReversesPayoutID: on a <kind>_reversal, the payout it reversed.
	ReversesPayoutID *uuid.UUID      `json:"reverses_payout_id,omitempty"`
	Buyer            rcPartyViewJSON `json:"buyer"`
	Seller           rcPartyViewJSON `json:"seller"`
}

type rcCrossBorderJSON struct {
	BuyerCountry  string `json:"buyer_country"`
	SellerCountry string `json:"seller_country"`
	Currency      string `json:"currency"`
	Fundings      int    `json:"fundings"`
	Amount        string `json:"amount"`
	AmountUSD     string `json:"amount_usd"`
}

type rcRiskJSON struct {
	Decisions        int    `json:"decisions"`
	Approved         int    `json:"approved"`
	Reviewed         int    `json:"reviewed"`
	SteppedUp        int    `json:"stepped_up"`
	Blocked          int    `json:"blocked"`
	InterceptionRate string `json:"interception_rate"`
}

type rcDisputesJSON struct {
	Escrows              int            `json:"escrows"`
	Disputes             int            `json:"disputes"`
	Rate                 string         `json:"rate"`
	Outcomes             map[string]int `json:"outcomes"`
	MedianHoursToResolve *string        `json:"median_hours_to_resolve"`
	Chargebacks          int            `json:"chargebacks"`
	ChargebacksLost      int            `json:"chargebacks_lost"`
}

type rcComplianceJSON struct {
	From             string                `json:"from"`
	To               string                `json:"to"`
	ThresholdUSD     string                `json:"threshold_usd"`
	Unmasked         bool                  `json:"unmasked"`
	TransactionCount int                   `json:"transaction_count"`
	Truncated        bool                  `json:"truncated"`
	Transactions     []rcComplianceTxnJSON `json:"transactions"`
	CrossBorder      []rcCrossBorderJSON   `json:"cross_border_flows"`
	DomesticFundings int                   `json:"domestic_fundings"`
	Risk             rcRiskJSON            `json:"risk_outcomes"`
	Disputes         rcDisputesJSON        `json:"disputes"`
}

func rcPartyView(p reconcile.PartyView) rcPartyViewJSON {
	return rcPartyViewJSON{ID: p.ID, Name: p.Name, Email: p.Email, Phone: p.Phone, Country: p.Country}
}

// complianceReport answers GET /v1/reports/compliance?from=&to=&threshold_usd=.
func (s *Server) complianceReport(r *http.Request) (any, error) {
	p, err := rcPeriod(r)
	if err != nil {
		return nil, err
	}
	threshold, err := reconcile.ParseThresholdUSD(r.URL.Query().Get("threshold_usd"))
	if err != nil {
		return nil, err
	}
	um, err := rcUnmasked(r)
	if err != nil {
		return nil, err
	}
	rep, err := s.reconcile.Compliance(r.Context(), principal(r).TenantID, reconcile.ComplianceQuery{Period: p, ThresholdUSD: threshold, Unmasked: um})
	if err != nil {
		return nil, err
	}
	out := rcComplianceJSON{From: p.From.Format(time.DateOnly), To: p.To.Format(time.DateOnly), ThresholdUSD: rcFmtAmount(rep.ThresholdUSD, "USD"),
		Unmasked: um, TransactionCount: rep.TransactionCount, Truncated: rep.Truncated, Transactions: []rcComplianceTxnJSON{},
		CrossBorder: []rcCrossBorderJSON{}, DomesticFundings: rep.DomesticFundings,
		Risk: rcRiskJSON{Decisions: rep.Risk.Decisions, Approved: rep.Risk.Approved, Reviewed: rep.Risk.Reviewed, SteppedUp: rep.Risk.SteppedUp,
			Blocked: rep.Risk.Blocked, InterceptionRate: rep.Risk.InterceptionRate.StringFixed(4)},
		Disputes: rcDisputesJSON{Escrows: rep.Disputes.Escrows, Disputes: rep.Disputes.Disputes, Rate: rep.Disputes.Rate.StringFixed(4),
			Outcomes: rep.Disputes.Outcomes, Chargebacks: rep.Disputes.Chargebacks, ChargebacksLost: rep.Disputes.ChargebacksLost}}
	if m := rep.Disputes.MedianHoursToResolve; m != nil {
		v := m.StringFixed(2)
		out.Disputes.MedianHoursToResolve = &v
	}
	for _, t := range rep.Transactions {
		out.Transactions = append(out.Transactions, rcComplianceTxnJSON{Kind: t.Kind, ID: t.ID, EscrowID: t.EscrowID, OrderRef: t.OrderRef, At: t.At,
			Amount: rcFmtAmount(t.Amount, t.Currency), Currency: t.Currency, AmountUSD: rcOptAmount(t.AmountUSD, "USD"), RateMissing: t.RateMissing,
			Buyer: rcPartyView(t.Buyer), Seller: rcPartyView(t.Seller), ReversesPayoutID: t.ReversesPayoutID})
	}
	for _, f := range rep.CrossBorder {
		out.CrossBorder = append(out.CrossBorder, rcCrossBorderJSON{BuyerCountry: f.BuyerCountry, SellerCountry: f.SellerCountry, Currency: f.Currency,
			Fundings: f.Fundings, Amount: rcFmtAmount(f.Amount, f.Currency), AmountUSD: rcFmtAmount(f.AmountUSD, "USD")})
	}
	if um {
		if err := s.auditUnmasked(r); err != nil {
			return nil, err
		}
	}
	if !rcWantsCSV(r) {
		return out, nil
	}
	// The CSV carries the listed transactions; the summaries are JSON only.
	var rows [][]string
	for _, t := range out.Transactions {
		usd := ""
		if t.AmountUSD != nil {
			usd = *t.AmountUSD
		}
		reverses := ""
		if t.ReversesPayoutID != nil {
			reverses = t.ReversesPayoutID.String()
		}
		rows = append(rows, []string{t.Kind, t.ID.String(), t.EscrowID.String(), t.OrderRef, t.At.Format(time.RFC3339), t.Amount, t.Currency, usd,
			t.Buyer.ID, t.Buyer.Name, t.Buyer.Email, t.Buyer.Country, t.Seller.ID, t.Seller.Name, t.Seller.Email, t.Seller.Country, reverses})
	}
	return rcCsvBody([]string{"kind", "id", "escrow_id", "order_ref", "at", "amount", "currency", "amount_usd",
		"buyer_id", "buyer_name", "buyer_email", "buyer_country", "seller_id", "seller_name", "seller_email", "seller_country", "reverses_payout_id"}, rows)
}
