// Package disputes holds buyer claims on escrows and card-network
// chargebacks: a claim is negotiated between buyer and seller with evidence
// and offers, escalated to a dispute agent, and resolved by an accepted
// offer or the agent's decision; the outcome's money moves through the
// escrow package (risk gate, guarantee coverage, seller receivables) in the
// same transaction as the status change. Deadlines run as jobs.
package disputes

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Status is where a dispute is.
type Status string

// Dispute statuses.
const (
	Negotiating Status = "negotiating"
	UnderReview Status = "under_review"
	Resolved    Status = "resolved"
	Withdrawn   Status = "withdrawn"
)

// Statuses lists every dispute status.
var Statuses = []Status{Negotiating, UnderReview, Resolved, Withdrawn}

// Claim reasons; before delivery only not_received and late_shipment.
const (
	ReasonNotReceived    = "not_received"
	ReasonNotAsDescribed = "not_as_described"
	ReasonDamaged        = "damaged"
	ReasonLateShipment   = "late_shipment"
	ReasonQuality        = "quality"
	ReasonOther          = "other"
)

// Reasons lists every claim reason.
var Reasons = []string{ReasonNotReceived, ReasonNotAsDescribed, ReasonDamaged, ReasonLateShipment, ReasonQuality, ReasonOther}

// Outcomes of a resolved dispute.
const (
	OutcomeRefundFull    = "refund_full"
	OutcomeRefundPartial = "refund_partial"
	OutcomeReleaseFull   = "release_full"
)

// CoverageVoided is the status of a dispute's coverage that waited for
// review when a chargeback of the escrow was booked: the card network
// paid the buyer, so the coverage's entries were voided and its review
// closed (voidHeldCoverage); nothing moved and nothing is covered.
const CoverageVoided = "voided"

// Parties.
const (
	PartyBuyer  = "buyer"
	PartySeller = "seller"
	// BySystem escalates at a deadline.
	BySystem = "system"
)

// Evidence kinds.
var EvidenceKinds = []string{"photo", "tracking", "document", "message", "inspection_report"}

// Offer statuses.
const (
	OfferOpen       = "open"
	OfferAccepted   = "accepted"
	OfferRejected   = "rejected"
	OfferSuperseded = "superseded"
)

// Deadlines named in dispute.deadline_missed events.
const (
	DeadlineSellerResponse = "seller_response"
	DeadlineEscalation     = "escalation"
)

// Dispute is a buyer's claim on an escrow. Amounts are in Currency, the
// escrow's.
type Dispute struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	EscrowID      uuid.UUID
	Status        Status
	Reason        string
	ClaimedAmount decimal.Decimal
	Currency      string
	Description   string
	Assignee      string
	// EvidenceHours is the escrow policy's evidence window: evidence is
	// accepted until EvidenceDueAt, EvidenceHours after opening and again
	// after escalation.
	EvidenceHours       int
	SellerResponseDueAt time.Time
	EscalationDueAt     time.Time
	EvidenceDueAt       time.Time
	// NextDeadlineAt is the next deadline of an open dispute (nil once
	// closed): the seller's response, then the automatic escalation; under
	// review, the end of the evidence window, after which the agent is due
	// to decide.
	NextDeadlineAt    *time.Time
	SellerRespondedAt *time.Time
	EscalatedAt       *time.Time
	EscalatedBy       string
	Resolution        *Resolution
	WithdrawnAt       *time.Time
	Version           int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Resolution is how a dispute was resolved.
type Resolution struct {
	Outcome      string
	RefundAmount decimal.Decimal
	// Covered is the part of the refund the guarantee paid because the
	// money was already released; Capped when the coverage limit cut it.
	// While the coverage waits for review they are what its approval books
	// (the entries are pending); blocked or rejected, they are zero.
	Covered, Recovered, Receivable decimal.Decimal
	Capped                         bool
	// CoverageStatus is what the risk gate made of the coverage
	// (escrow.Coverage.Status; rejected when its review was, voided,
	// CoverageVoided, when a chargeback was booked while it waited): ""
	// when none was needed. CoverageDecisionID is the gate's decision,
	// CoverageReviewID the review it opened when it held the coverage,
	// CoverageEntryIDs the coverage's ledger entries (pending while it
	// waits for review).
	CoverageStatus     string
	CoverageDecisionID *uuid.UUID
	CoverageReviewID   *uuid.UUID
	CoverageEntryIDs   []uuid.UUID
	Rationale          string
	ResolvedBy         string
	AcceptedOfferID    *uuid.UUID
	RefundPayoutID     *uuid.UUID
	ReleasePayoutID    *uuid.UUID
	ResolvedAt         time.Time
}

// IsOpen reports whether the dispute is negotiating or under review.
func (d Dispute) IsOpen() bool { return d.Status == Negotiating || d.Status == UnderReview }

// Overdue reports whether an open dispute's next deadline has passed.
func (d Dispute) Overdue(now time.Time) bool {
	return d.IsOpen() && d.NextDeadlineAt != nil && d.NextDeadlineAt.Before(now)
}

// ResourceID names the dispute for the audit log.
func (d Dispute) ResourceID() string { return d.ID.String() }

// Offer is a settlement proposal: RefundAmount to the buyer, the rest of
// the order money to the seller.
type Offer struct {
	ID           uuid.UUID
	DisputeID    uuid.UUID
	By           string
	RefundAmount decimal.Decimal
	Note         string
	Status       string
	CreatedAt    time.Time
	DecidedAt    *time.Time
}

// Evidence is metadata of a document a party submitted (the file stays
// with the marketplace). It is never changed once stored.
type Evidence struct {
	ID           uuid.UUID
	DisputeID    *uuid.UUID
	ChargebackID *uuid.UUID
	Party        string
	Kind         string
	Description  string
	URI          string
	SHA256       string
	CreatedAt    time.Time
}

// ResourceID names the evidence for the audit log.
func (e Evidence) ResourceID() string { return e.ID.String() }
