package disputes

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
)

// Input limits.
const (
	MaxTextLength  = 2000
	MaxURILength   = 2000
	MaxNameLength  = 200
	MaxListLimit   = 500
	MaxTimeline    = 2000
	MaxOffers      = 200 // offers per dispute
	MaxEvidence    = 200 // evidence items per dispute or chargeback
	maxRespondDays = 120 // how far ahead a chargeback's respond_by may lie
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// OpenRequest is the body of POST /v1/escrows/{id}/disputes.
type OpenRequest struct {
	Reason        string `json:"reason"`
	ClaimedAmount string `json:"claimed_amount"`
	Description   string `json:"description"`
}

// Validate checks the claim's shape; the amount is parsed in the escrow's
// currency inside the transaction.
func (r OpenRequest) Validate() error {
	var errs valid.Errors
	if !slices.Contains(Reasons, r.Reason) {
		errs.Add("reason", "must be one of "+strings.Join(Reasons, ", "))
	}
	if strings.TrimSpace(r.ClaimedAmount) == "" {
		errs.AddCode("invalid_amount", "claimed_amount", "is required")
	}
	textField(&errs, "description", r.Description, true)
	return errs.Err()
}

// EvidenceRequest is the body of POST /v1/disputes/{id}/evidence and
// POST /v1/chargebacks/{id}/evidence.
type EvidenceRequest struct {
	Party       string `json:"party"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	URI         string `json:"uri"`
	SHA256      string `json:"sha256"`
}

// Validate checks the evidence's shape.
func (r EvidenceRequest) Validate() error {
	var errs valid.Errors
	partyField(&errs, "party", r.Party)
	if !slices.Contains(EvidenceKinds, r.Kind) {
		errs.Add("kind", "must be one of "+strings.Join(EvidenceKinds, ", "))
	}
	textField(&errs, "description", r.Description, true)
	if u, err := url.Parse(r.URI); err != nil || u.Scheme == "" || len(r.URI) > MaxURILength {
		errs.Add("uri", fmt.Sprintf("must be an absolute URI of at most %d characters", MaxURILength))
	}
	if !sha256Hex.MatchString(r.SHA256) {
		errs.Add("sha256", "must be the file's SHA-256 as 64 lower-case hex digits")
	}
	return errs.Err()
}

// evidence is the evidence r describes, received at now, of no dispute or
// chargeback yet.
func (r EvidenceRequest) evidence(now time.Time) Evidence {
	return Evidence{ID: uuid.New(), Party: r.Party, Kind: r.Kind, Description: trim(r.Description), URI: r.URI, SHA256: r.SHA256, CreatedAt: now}
}

// OfferRequest is the body of POST /v1/disputes/{id}/offers.
type OfferRequest struct {
	By           string `json:"by"`
	RefundAmount string `json:"refund_amount"`
	Note         string `json:"note"`
}

// Validate checks the offer's shape.
func (r OfferRequest) Validate() error {
	var errs valid.Errors
	partyField(&errs, "by", r.By)
	if strings.TrimSpace(r.RefundAmount) == "" {
		errs.AddCode("invalid_amount", "refund_amount", "is required")
	}
	textField(&errs, "note", r.Note, false)
	return errs.Err()
}

// EscalateRequest is the body of POST /v1/disputes/{id}/escalate.
type EscalateRequest struct {
	By string `json:"by"`
}

// Validate checks who escalates.
func (r EscalateRequest) Validate() error {
	var errs valid.Errors
	partyField(&errs, "by", r.By)
	return errs.Err()
}

// WithdrawRequest is the body of POST /v1/disputes/{id}/withdraw.
type WithdrawRequest struct {
	Reason string `json:"reason"`
}

// Validate checks the reason's length.
func (r WithdrawRequest) Validate() error {
	var errs valid.Errors
	textField(&errs, "reason", r.Reason, false)
	return errs.Err()
}

// AssignRequest is the body of POST /v1/disputes/{id}/assign.
type AssignRequest struct {
	Agent string `json:"agent"`
}

// Validate checks the agent's name.
func (r AssignRequest) Validate() error {
	if a := strings.TrimSpace(r.Agent); a == "" || len(a) > MaxNameLength {
		return valid.Field("agent", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	return nil
}

// ResolveRequest is the body of POST /v1/disputes/{id}/resolve.
type ResolveRequest struct {
	Outcome      string  `json:"outcome"`
	RefundAmount *string `json:"refund_amount,omitempty"`
	Rationale    string  `json:"rationale"`
}

// Validate checks the decision's shape: refund_amount goes with
// refund_partial only.
func (r ResolveRequest) Validate() error {
	var errs valid.Errors
	switch r.Outcome {
	case OutcomeRefundPartial:
		if r.RefundAmount == nil {
			errs.AddCode("invalid_amount", "refund_amount", "is required for refund_partial")
		}
	case OutcomeRefundFull, OutcomeReleaseFull:
		if r.RefundAmount != nil {
			errs.Add("refund_amount", "is only given for refund_partial")
		}
	default:
		errs.Add("outcome", "must be refund_full, refund_partial or release_full")
	}
	textField(&errs, "rationale", r.Rationale, true)
	return errs.Err()
}

// ChargebackRequest is the body of POST /v1/escrows/{id}/chargebacks.
type ChargebackRequest struct {
	Amount    string     `json:"amount"`
	Currency  string     `json:"currency"`
	PSPRef    string     `json:"psp_ref"`
	Reason    string     `json:"reason"`
	RespondBy *time.Time `json:"respond_by"`
}

type chargebackCommand struct {
	amount    decimal.Decimal
	currency  string
	pspRef    string
	reason    string
	respondBy time.Time
}

// Validate checks the chargeback's shape.
func (r ChargebackRequest) Validate() (chargebackCommand, error) {
	var errs valid.Errors
	c := chargebackCommand{pspRef: strings.TrimSpace(r.PSPRef), reason: strings.TrimSpace(r.Reason)}
	cur, err := money.Lookup(r.Currency)
	if err != nil {
		errs.AddCode("unknown_currency", "currency", fmt.Sprintf("%q is not an active ISO 4217 currency", r.Currency))
	} else {
		c.currency = cur.Code
		c.amount = amountField(&errs, "amount", r.Amount, cur, true)
	}
	if c.pspRef == "" || len(c.pspRef) > MaxNameLength {
		errs.Add("psp_ref", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	if c.reason == "" || len(c.reason) > MaxNameLength {
		errs.Add("reason", fmt.Sprintf("is required, at most %d characters", MaxNameLength))
	}
	if r.RespondBy == nil {
		errs.Add("respond_by", "is required (RFC 3339)")
	} else {
		c.respondBy = r.RespondBy.UTC()
	}
	return c, errs.Err()
}

func partyField(errs *valid.Errors, field, v string) {
	if v != PartyBuyer && v != PartySeller {
		errs.Add(field, "must be buyer or seller")
	}
}

func textField(errs *valid.Errors, field, v string, required bool) {
	v = strings.TrimSpace(v)
	if (required && v == "") || len(v) > MaxTextLength {
		if required {
			errs.Add(field, fmt.Sprintf("is required, at most %d characters", MaxTextLength))
		} else {
			errs.Add(field, fmt.Sprintf("at most %d characters", MaxTextLength))
		}
	}
}

// amountField parses s in cur; positive requires > 0, otherwise ≥ 0.
func amountField(errs *valid.Errors, field, s string, cur money.Currency, positive bool) decimal.Decimal {
	d, err := money.ParseAmount(s, cur)
	if err != nil {
		errs.AddCode("invalid_amount", field, err.Error())
		return decimal.Zero
	}
	if positive && !d.IsPositive() {
		errs.AddCode("invalid_amount", field, "must be greater than zero")
	}
	return d
}

// parseAmount parses an amount of the escrow's currency inside a write.
func parseAmount(field, s, currency string, positive bool) (decimal.Decimal, error) {
	cur, err := money.Lookup(currency)
	if err != nil {
		return decimal.Zero, fmt.Errorf("currency %s: %w", currency, err)
	}
	var errs valid.Errors
	d := amountField(&errs, field, s, cur, positive)
	return d, errs.Err()
}

func fmtAmount(d decimal.Decimal, currency string) string {
	cur, err := money.Lookup(currency)
	if err != nil {
		return d.String()
	}
	return money.Format(d, cur)
}

// errTooMany is the error for a list of a dispute (or chargeback) that is
// full: field names the list as GET shows it (offers, evidence).
func errTooMany(field string, n int, per string) error {
	return valid.Field(field, fmt.Sprintf("at most %d per %s", n, per))
}
