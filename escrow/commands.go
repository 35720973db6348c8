package escrow

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
)

// Input limits.
const (
	MaxOrderRefLength  = 200
	MaxNameLength      = 200
	MaxMilestones      = 50
	MaxMetadataKeys    = 50
	MaxMetadataValue   = 500
	MaxFeeBps          = 5000
	MaxInspectionHours = 24 * 90
	MaxClaimWindowDays = 365
	MaxFundingHours    = 24 * 90
	MaxTextLength      = 1000
)

// Problem codes of field errors.
const (
	codeInvalidAmount   = "invalid_amount"
	codeUnknownCurrency = "unknown_currency"
	codeAmountMismatch  = "amount_mismatch"
)

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// PartyInput is a party as sent by the marketplace.
type PartyInput struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// MilestoneInput is a milestone as sent.
type MilestoneInput struct {
	Name   string `json:"name"`
	Amount string `json:"amount"`
}

// TermsInput are terms as sent; nil fields take their defaults.
type TermsInput struct {
	InspectionHours      *int    `json:"inspection_hours"`
	ClaimWindowDays      *int    `json:"claim_window_days"`
	FundingDeadlineHours *int    `json:"funding_deadline_hours"`
	AutoRelease          *bool   `json:"auto_release"`
	CoverageLimit        *string `json:"coverage_limit"`
}

// FeesInput are fee terms as sent.
type FeesInput struct {
	PlatformFeeBps int64  `json:"platform_fee_bps"`
	FixedFee       string `json:"fixed_fee"`
	PaidBy         string `json:"paid_by"`
}

// RiskContextInput is what the marketplace knows of the buyer's session:
// Country is the country of its IP address, DeviceCountry the one its
// device reports (the risk gate's device_country_mismatch compares them).
type RiskContextInput struct {
	IP            string `json:"ip,omitempty"`
	DeviceID      string `json:"device_id,omitempty"`
	Country       string `json:"country,omitempty"`
	DeviceCountry string `json:"device_country,omitempty"`
}

// CreateRequest is the body of POST /v1/escrows.
type CreateRequest struct {
	OrderRef    string            `json:"order_ref"`
	Buyer       PartyInput        `json:"buyer"`
	Seller      PartyInput        `json:"seller"`
	Amount      string            `json:"amount"`
	Currency    string            `json:"currency"`
	Milestones  []MilestoneInput  `json:"milestones"`
	Terms       *TermsInput       `json:"terms"`
	Fees        *FeesInput        `json:"fees"`
	RiskContext *RiskContextInput `json:"risk_context"`
	Metadata    map[string]string `json:"metadata"`
}

// createCommand is a validated CreateRequest.
type createCommand struct {
	orderRef    string
	buyer       Party
	seller      Party
	currency    money.Currency
	amount      decimal.Decimal
	milestones  []Milestone
	terms       Terms
	fees        Fees
	feeTotal    decimal.Decimal
	buyerFee    decimal.Decimal
	riskContext map[string]string
	metadata    map[string]string
}

// Validate checks the request's shape and returns the command, or field
// errors named by their JSON path.
func (r CreateRequest) Validate() (createCommand, error) {
	var errs valid.Errors
	c := createCommand{orderRef: strings.TrimSpace(r.OrderRef)}
	if c.orderRef == "" || len(c.orderRef) > MaxOrderRefLength {
		errs.Add("order_ref", fmt.Sprintf("is required, at most %d characters", MaxOrderRefLength))
	}
	c.buyer = validParty(&errs, "buyer", r.Buyer)
	c.seller = validParty(&errs, "seller", r.Seller)
	if c.buyer.ID != "" && c.buyer.ID == c.seller.ID {
		errs.Add("seller.id", "must differ from buyer.id")
	}
	cur, curOK := currencyField(&errs, "currency", r.Currency)
	c.currency = cur
	if curOK {
		c.amount = amountField(&errs, "amount", r.Amount, cur, true)
	}
	if len(r.Milestones) > MaxMilestones {
		errs.Add("milestones", fmt.Sprintf("at most %d milestones", MaxMilestones))
	}
	if curOK && len(r.Milestones) > 0 && len(r.Milestones) <= MaxMilestones {
		sum := decimal.Zero
		for i, m := range r.Milestones {
			field := fmt.Sprintf("milestones[%d]", i)
			name := strings.TrimSpace(m.Name)
			if name == "" || len(name) > MaxNameLength {
				errs.Add(field+".name", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
			}
			a := amountField(&errs, field+".amount", m.Amount, cur, true)
			sum = sum.Add(a)
			c.milestones = append(c.milestones, Milestone{Index: i, Name: name, Amount: a})
		}
		if len(errs) == 0 && !sum.Equal(c.amount) {
			errs.Add("milestones", fmt.Sprintf("amounts sum to %s, not the escrow amount %s", money.Format(sum, cur), money.Format(c.amount, cur)))
		}
	} else if curOK {
		c.milestones = []Milestone{{Index: 0, Name: "order", Amount: c.amount}}
	}
	c.terms = Terms{InspectionHours: 72, ClaimWindowDays: 30, FundingDeadlineHours: 72, AutoRelease: true}
	if t := r.Terms; t != nil {
		intField(&errs, "terms.inspection_hours", t.InspectionHours, 0, MaxInspectionHours, &c.terms.InspectionHours)
		intField(&errs, "terms.claim_window_days", t.ClaimWindowDays, 0, MaxClaimWindowDays, &c.terms.ClaimWindowDays)
		intField(&errs, "terms.funding_deadline_hours", t.FundingDeadlineHours, 1, MaxFundingHours, &c.terms.FundingDeadlineHours)
		if t.AutoRelease != nil {
			c.terms.AutoRelease = *t.AutoRelease
		}
		if t.CoverageLimit != nil && curOK {
			cl := amountField(&errs, "terms.coverage_limit", *t.CoverageLimit, cur, false)
			c.terms.CoverageLimit = &cl
		}
	}
	c.fees = Fees{PaidBy: PaidBySeller, FixedFee: decimal.Zero}
	if f := r.Fees; f != nil {
		if f.PlatformFeeBps < 0 || f.PlatformFeeBps > MaxFeeBps {
			errs.Add("fees.platform_fee_bps", fmt.Sprintf("must be 0..%d", MaxFeeBps))
		}
		c.fees.PlatformFeeBps = f.PlatformFeeBps
		if f.FixedFee != "" && curOK {
			c.fees.FixedFee = amountField(&errs, "fees.fixed_fee", f.FixedFee, cur, false)
		}
		switch f.PaidBy {
		case "":
		case PaidBySeller, PaidByBuyer, PaidBySplit:
			c.fees.PaidBy = f.PaidBy
		default:
			errs.Add("fees.paid_by", "must be seller, buyer or split")
		}
	}
	if len(errs) == 0 {
		c.feeTotal, c.buyerFee = feeSplit(c.amount, c.fees, cur)
		if c.fees.PaidBy != PaidByBuyer && c.feeTotal.Sub(c.buyerFee).GreaterThan(c.amount) {
			errs.Add("fees", "the seller's fee exceeds the amount")
		}
	}
	if rc := r.RiskContext; rc != nil {
		c.riskContext = map[string]string{}
		// Trimmed as the risk gate trims them when it reads them, so that
		// "dev-1 " counts as the device "dev-1".
		if ip := strings.TrimSpace(rc.IP); ip != "" {
			c.riskContext["ip"] = truncate(ip, 64)
		}
		if device := strings.TrimSpace(rc.DeviceID); device != "" {
			c.riskContext["device_id"] = truncate(device, 200)
		}
		for _, cc := range []struct{ key, value string }{{"country", rc.Country}, {"device_country", rc.DeviceCountry}} {
			if cc.value == "" {
				continue
			}
			if !countryCode.MatchString(cc.value) {
				errs.Add("risk_context."+cc.key, "must be an ISO 3166-1 alpha-2 code")
			}
			c.riskContext[cc.key] = cc.value
		}
	}
	c.metadata = r.Metadata
	if len(r.Metadata) > MaxMetadataKeys {
		errs.Add("metadata", fmt.Sprintf("at most %d keys", MaxMetadataKeys))
	}
	for k, v := range r.Metadata {
		if len(k) > 100 || len(v) > MaxMetadataValue {
			errs.Add("metadata."+truncate(k, 100), fmt.Sprintf("keys at most 100 and values at most %d characters", MaxMetadataValue))
		}
	}
	if len(errs) > 0 {
		return createCommand{}, errs
	}
	return c, nil
}

// feeSplit returns the whole order's fee and the buyer's part of it.
func feeSplit(amount decimal.Decimal, f Fees, cur money.Currency) (total, buyer decimal.Decimal) {
	total = money.Round(amount.Mul(decimal.NewFromInt(f.PlatformFeeBps)).Div(decimal.NewFromInt(10000)), cur).Add(f.FixedFee)
	switch f.PaidBy {
	case PaidByBuyer:
		buyer = total
	case PaidBySplit:
		buyer = money.Round(total.Div(decimal.NewFromInt(2)), cur)
	default:
		buyer = decimal.Zero
	}
	return total, buyer
}

func validParty(errs *valid.Errors, field string, p PartyInput) Party {
	out := Party{ID: strings.TrimSpace(p.ID), Name: strings.TrimSpace(p.Name), Country: p.Country, Email: p.Email, Phone: p.Phone}
	if out.ID == "" || len(out.ID) > MaxNameLength {
		errs.Add(field+".id", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	if out.Name == "" || len(out.Name) > MaxNameLength {
		errs.Add(field+".name", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	if !countryCode.MatchString(out.Country) {
		errs.Add(field+".country", "must be an ISO 3166-1 alpha-2 code such as DE")
	}
	if len(out.Email) > MaxNameLength || (out.Email != "" && !strings.Contains(out.Email, "@")) {
		errs.Add(field+".email", "must be an email address")
	}
	if len(out.Phone) > 40 {
		errs.Add(field+".phone", "at most 40 characters")
	}
	return out
}

func currencyField(errs *valid.Errors, field, code string) (money.Currency, bool) {
	c, err := money.Lookup(code)
	if err != nil {
		errs.AddCode(codeUnknownCurrency, field, fmt.Sprintf("%q is not an active ISO 4217 currency", code))
		return money.Currency{}, false
	}
	return c, true
}

// amountField parses an amount of cur; positive requires > 0.
func amountField(errs *valid.Errors, field, s string, cur money.Currency, positive bool) decimal.Decimal {
	d, err := money.ParseAmount(s, cur)
	if err != nil {
		errs.AddCode(codeInvalidAmount, field, err.Error())
		return decimal.Zero
	}
	if positive && !d.IsPositive() {
		errs.AddCode(codeInvalidAmount, field, "must be greater than zero")
	}
	return d
}

func intField(errs *valid.Errors, field string, v *int, lo, hi int, dst *int) {
	if v == nil {
		return
	}
	if *v < lo || *v > hi {
		errs.Add(field, fmt.Sprintf("must be %d..%d", lo, hi))
		return
	}
	*dst = *v
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // never split a character: the database refuses the half
	}
	return s[:n]
}

// FundRequest is the body of POST /v1/escrows/{id}/fund.
type FundRequest struct {
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	PaymentRef string `json:"payment_ref"`
	FxQuoteID  string `json:"fx_quote_id,omitempty"`
}

type fundCommand struct {
	amount     decimal.Decimal
	currency   money.Currency
	paymentRef string
	quoteID    uuid.UUID
}

// Validate checks a funding's shape.
func (r FundRequest) Validate() (fundCommand, error) {
	var errs valid.Errors
	var c fundCommand
	cur, ok := currencyField(&errs, "currency", r.Currency)
	c.currency = cur
	if ok {
		c.amount = amountField(&errs, "amount", r.Amount, cur, true)
	}
	c.paymentRef = strings.TrimSpace(r.PaymentRef)
	if c.paymentRef == "" || len(c.paymentRef) > MaxOrderRefLength {
		errs.Add("payment_ref", fmt.Sprintf("is required, at most %d characters", MaxOrderRefLength))
	}
	if r.FxQuoteID != "" {
		id, err := uuid.Parse(r.FxQuoteID)
		if err != nil {
			errs.Add("fx_quote_id", "must be a quote id")
		}
		c.quoteID = id
	}
	return c, errs.Err()
}

// ShipRequest is the body of POST /v1/escrows/{id}/ship.
type ShipRequest struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// Validate checks a shipment's shape.
func (r ShipRequest) Validate() (Shipment, error) {
	var errs valid.Errors
	s := Shipment{Carrier: strings.TrimSpace(r.Carrier), TrackingNumber: strings.TrimSpace(r.TrackingNumber)}
	if s.Carrier == "" || len(s.Carrier) > MaxNameLength {
		errs.Add("carrier", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	if s.TrackingNumber == "" || len(s.TrackingNumber) > MaxNameLength {
		errs.Add("tracking_number", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	return s, errs.Err()
}

// DeliverRequest is the body of POST /v1/escrows/{id}/deliver.
type DeliverRequest struct {
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// ReleaseRequest is the body of POST /v1/escrows/{id}/release: one
// milestone, or an amount of order money (nothing: everything open).
type ReleaseRequest struct {
	Milestone *int    `json:"milestone,omitempty"`
	Amount    *string `json:"amount,omitempty"`
}

// RefundRequest is the body of POST /v1/escrows/{id}/refund.
type RefundRequest struct {
	Amount string `json:"amount"`
	Reason string `json:"reason"`
}

// CancelRequest is the body of POST /v1/escrows/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason"`
}

func reasonField(errs *valid.Errors, s string, required bool) string {
	s = strings.TrimSpace(s)
	if (required && s == "") || len(s) > MaxTextLength {
		errs.Add("reason", fmt.Sprintf("is required, at most %d characters", MaxTextLength))
	}
	return s
}
