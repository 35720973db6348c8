// Package escrow holds escrow agreements: a buyer's money held per order in
// its own ledger account until the order completes (released to the seller)
// or a claim is upheld (refunded to the buyer). Every transition, its ledger
// entries, its risk decision and its events commit in one transaction.
package escrow

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// State is where an escrow is in its life.
type State string

// The states.
const (
	AwaitingFunding State = "awaiting_funding"
	Funded          State = "funded"
	Shipped         State = "shipped"
	Delivered       State = "delivered"
	Completed       State = "completed"
	Cancelled       State = "cancelled"
	Expired         State = "expired"
	Refunded        State = "refunded"
	Disputed        State = "disputed"
)

// States lists every state.
var States = []State{AwaitingFunding, Funded, Shipped, Delivered, Completed, Cancelled, Expired, Refunded, Disputed}

// Party is a buyer or seller as the marketplace knows them.
type Party struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// Terms are the escrow's contract terms.
type Terms struct {
	InspectionHours      int              `json:"inspection_hours"`
	ClaimWindowDays      int              `json:"claim_window_days"`
	FundingDeadlineHours int              `json:"funding_deadline_hours"`
	AutoRelease          bool             `json:"auto_release"`
	CoverageLimit        *decimal.Decimal `json:"coverage_limit,omitempty"`
}

// Who pays the platform fee.
const (
	PaidBySeller = "seller"
	PaidByBuyer  = "buyer"
	PaidBySplit  = "split"
)

// Fees are the platform fee terms: platform_fee_bps of each release plus a
// fixed fee, paid by the seller (deducted from releases), the buyer (added
// to the funding) or split in halves.
type Fees struct {
	PlatformFeeBps int64           `json:"platform_fee_bps"`
	FixedFee       decimal.Decimal `json:"fixed_fee"`
	PaidBy         string          `json:"paid_by"`
}

// Milestone is a part of the order amount released on its own.
type Milestone struct {
	Index    int             `json:"index"`
	Name     string          `json:"name"`
	Amount   decimal.Decimal `json:"amount"`
	Released decimal.Decimal `json:"released_amount"`
	Refunded decimal.Decimal `json:"refunded_amount"`
	Pending  decimal.Decimal `json:"pending_amount"`
}

// sameAmounts reports whether n is m with the same amounts moved.
func (m Milestone) sameAmounts(n Milestone) bool {
	return m.Index == n.Index && m.Released.Equal(n.Released) && m.Refunded.Equal(n.Refunded) && m.Pending.Equal(n.Pending)
}

// Open is the milestone's order money not yet released, refunded or held
// by a pending payout.
func (m Milestone) Open() decimal.Decimal {
	return m.Amount.Sub(m.Released).Sub(m.Refunded).Sub(m.Pending)
}

// State names the milestone's progress: open, pending_release, released,
// refunded or partially_refunded.
func (m Milestone) State() string {
	switch {
	case m.Pending.IsPositive():
		return "pending_release"
	case m.Refunded.Equal(m.Amount):
		return "refunded"
	case m.Open().IsZero() && m.Released.IsPositive():
		return "released"
	case m.Refunded.IsPositive():
		return "partially_refunded"
	}
	return "open"
}

// Shipment is what the seller sent.
type Shipment struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// Escrow is one order's escrow agreement. Amounts are in Currency.
// Funded, Released, Refunded and Pending count money in and out of the
// escrow's ledger account (fees included); Held is what it still holds free.
type Escrow struct {
	ID         uuid.UUID
	TenantID   uuid.UUID
	OrderRef   string
	State      State
	Buyer      Party
	Seller     Party
	Currency   string
	Amount     decimal.Decimal // the order amount
	FeeTotal   decimal.Decimal // the platform fee for the whole order
	BuyerFee   decimal.Decimal // the part of FeeTotal the buyer pays on top
	Funded     decimal.Decimal
	Released   decimal.Decimal
	Refunded   decimal.Decimal
	Pending    decimal.Decimal
	FeeCollect decimal.Decimal // fees taken into revenue so far
	// The buyer's and the seller's fee parts of the payouts that count
	// (completed, pending review, awaiting confirmation).
	BuyerFeeParts, SellerFeeParts decimal.Decimal
	Milestones                    []Milestone
	Terms                         Terms
	Fees                          Fees
	Policy                        Policy
	RiskContext                   map[string]string
	Metadata                      map[string]string
	Shipment                      *Shipment
	AccountID                     uuid.UUID
	Version                       int64
	CreatedAt                     time.Time
	UpdatedAt                     time.Time

	FundingDeadlineAt  time.Time
	FundedAt           *time.Time
	ShippedAt          *time.Time
	DeliveredAt        *time.Time
	InspectionEndsAt   *time.Time
	ClosedAt           *time.Time
	StateBeforeDispute State

	// stored is the milestones as loaded, so that save writes only the
	// ones that changed.
	stored []Milestone
	// news is what the action in progress announced (announce); save
	// writes it as events.
	news []announcement
}

// Policy is the tenant's dispute policy copied onto the escrow when it is
// created, so later policy changes do not move running deadlines.
type Policy struct {
	SellerResponseHours int `json:"seller_response_hours"`
	EscalationHours     int `json:"escalation_hours"`
	EvidenceHours       int `json:"evidence_hours"`
}

// DefaultPolicy is the dispute policy when a tenant has set none.
var DefaultPolicy = Policy{SellerResponseHours: 72, EscalationHours: 168, EvidenceHours: 168}

// FundingTarget is what must be funded: the order amount plus the buyer's
// part of the fee.
func (e Escrow) FundingTarget() decimal.Decimal { return e.Amount.Add(e.BuyerFee) }

// Held is the money the escrow account holds that no payout has claimed.
func (e Escrow) Held() decimal.Decimal {
	return e.Funded.Sub(e.Released).Sub(e.Refunded).Sub(e.Pending)
}

// OrderOpen is the order money not yet released, refunded or pending.
func (e Escrow) OrderOpen() decimal.Decimal {
	open := decimal.Zero
	for _, m := range e.Milestones {
		open = open.Add(m.Open())
	}
	return open
}

// orderHeld is the order money the escrow holds: what was funded and not
// paid out or pending, at most what is still open (the rest of what is
// held is the buyer's fee part).
func (e Escrow) orderHeld() decimal.Decimal {
	return decimal.Min(e.Funded.Sub(e.Released).Sub(e.Refunded).Sub(e.Pending), e.OrderOpen())
}

// LedgerCode is the code of the escrow's own ledger account.
func (e Escrow) LedgerCode() string { return AccountCode(e.ID) }

// AccountCode is the ledger account code of escrow id.
func AccountCode(id uuid.UUID) string { return "escrow:" + id.String() }

// ResourceID names the escrow for the audit log.
func (e Escrow) ResourceID() string { return e.ID.String() }

// Payout kinds and statuses.
const (
	KindRelease = "release"
	KindRefund  = "refund"

	StatusCompleted            = "completed"
	StatusPendingReview        = "pending_review"
	StatusAwaitingConfirmation = "awaiting_confirmation"
	StatusRejected             = "rejected"
	StatusBlocked              = "blocked"
)

// Allocation is the part of a payout's order money taken from a milestone.
type Allocation struct {
	Index  int             `json:"idx"`
	Amount decimal.Decimal `json:"amount"`
}

// Payout is a release to the seller or a refund to the buyer. Gross leaves
// the escrow account: Net to the payee and Fee to revenue.
type Payout struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	EscrowID      uuid.UUID
	Kind          string
	Trigger       string // manual, accept, auto, milestone, dispute, cancel, expire
	MilestoneIdx  *int
	OrderAmount   decimal.Decimal
	Gross         decimal.Decimal
	Fee           decimal.Decimal
	BuyerFeePart  decimal.Decimal
	SellerFeePart decimal.Decimal
	Net           decimal.Decimal
	Allocation    []Allocation
	Status        string
	Reason        string
	DecisionID    *uuid.UUID
	ReviewID      *uuid.UUID
	EntryID       *uuid.UUID
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Risk summarises the gate's decision (stored with the payout).
	Risk *RiskSummary
}

// RiskSummary is the part of a risk decision shown with a payout.
type RiskSummary struct {
	DecisionID uuid.UUID    `json:"decision_id"`
	Decision   string       `json:"decision"`
	Score      int          `json:"score"`
	Reasons    []RiskReason `json:"reasons"`
}

// RiskReason is one explained reason of a decision.
type RiskReason struct {
	Code   string `json:"code"`
	Points int    `json:"points"`
}

// ResourceID names the payout for the audit log.
func (p Payout) ResourceID() string { return p.ID.String() }
