package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/reconcile"
)

// Dispute routes (rows in disputeRoutes, appended under routes:disputes):
// the marketplace files claims and acts for buyer and seller (evidence,
// offers, escalation, withdrawal); dispute agents work the queue, assign
// and resolve; chargebacks are in chargebacks.go.

// disputeReaders may read a dispute: the marketplace and the agents.
var disputeReaders = []tenants.Role{tenants.RoleMarketplace, tenants.RoleDisputeAgent, tenants.RoleAdmin}

type resolutionJSON struct {
	Outcome          string     `json:"outcome"`
	RefundAmount     string     `json:"refund_amount"`
	CoveredAmount    string     `json:"covered_amount"`
	RecoveredAmount  string     `json:"recovered_amount"`
	ReceivableAmount string     `json:"receivable_amount"`
	Capped           bool       `json:"capped"`
	Rationale        string     `json:"rationale"`
	ResolvedBy       string     `json:"resolved_by"`
	AcceptedOfferID  *uuid.UUID `json:"accepted_offer_id,omitempty"`
	RefundID         *uuid.UUID `json:"refund_id,omitempty"`
	ReleaseID        *uuid.UUID `json:"release_id,omitempty"`
	// CoverageStatus is what became of the coverage: completed,
	// pending_review, blocked, rejected or voided (by a chargeback); empty
	// when none was needed.
	CoverageStatus     string     `json:"coverage_status,omitempty"`
	CoverageDecisionID *uuid.UUID `json:"coverage_decision_id,omitempty"`
	ResolvedAt         time.Time  `json:"resolved_at"`
}

type disputeJSON struct {
	ID                  uuid.UUID       `json:"id"`
	EscrowID            uuid.UUID       `json:"escrow_id"`
	Status              disputes.Status `json:"status"`
	Reason              string          `json:"reason"`
	ClaimedAmount       string          `json:"claimed_amount"`
	Currency            string          `json:"currency"`
	Description         string          `json:"description"`
	Assignee            string          `json:"assignee,omitempty"`
	SellerResponseDueAt time.Time       `json:"seller_response_due_at"`
	EscalationDueAt     time.Time       `json:"escalation_due_at"`
	EvidenceDueAt       time.Time       `json:"evidence_due_at"`
	NextDeadlineAt      *time.Time      `json:"next_deadline_at,omitempty"`
	Overdue             bool            `json:"overdue"`
	SellerRespondedAt   *time.Time      `json:"seller_responded_at,omitempty"`
	EscalatedAt         *time.Time      `json:"escalated_at,omitempty"`
	EscalatedBy         string          `json:"escalated_by,omitempty"`
	Resolution          *resolutionJSON `json:"resolution,omitempty"`
	WithdrawnAt         *time.Time      `json:"withdrawn_at,omitempty"`
	Version             int64           `json:"version"`
	CreatedAt           time.Time       `json:"created_at"`
	UpdatedAt           time.Time       `json:"updated_at"`
}

func fmtMoney(currency string) func(interface{ StringFixed(int32) string }) string {
	cur, _ := money.Lookup(currency)
	return func(d interface{ StringFixed(int32) string }) string { return d.StringFixed(cur.MinorUnits) }
}

func disputeView(d disputes.Dispute, now time.Time) disputeJSON {
	f := fmtMoney(d.Currency)
	out := disputeJSON{ID: d.ID, EscrowID: d.EscrowID, Status: d.Status, Reason: d.Reason, ClaimedAmount: f(d.ClaimedAmount), Currency: d.Currency,
		Description: d.Description, Assignee: d.Assignee, SellerResponseDueAt: d.SellerResponseDueAt, EscalationDueAt: d.EscalationDueAt,
		EvidenceDueAt: d.EvidenceDueAt, NextDeadlineAt: d.NextDeadlineAt, Overdue: d.Overdue(now), SellerRespondedAt: d.SellerRespondedAt,
		EscalatedAt: d.EscalatedAt, EscalatedBy: d.EscalatedBy, WithdrawnAt: d.WithdrawnAt, Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if r := d.Resolution; r != nil {
		out.Resolution = &resolutionJSON{Outcome: r.Outcome, RefundAmount: f(r.RefundAmount), CoveredAmount: f(r.Covered), RecoveredAmount: f(r.Recovered),
			ReceivableAmount: f(r.Receivable), Capped: r.Capped, Rationale: r.Rationale, ResolvedBy: r.ResolvedBy, AcceptedOfferID: r.AcceptedOfferID,
			RefundID: r.RefundPayoutID, ReleaseID: r.ReleasePayoutID, CoverageStatus: r.CoverageStatus, CoverageDecisionID: r.CoverageDecisionID,
			ResolvedAt: r.ResolvedAt}
	}
	return out
}

type offerJSON struct {
	ID           uuid.UUID  `json:"id"`
	DisputeID    uuid.UUID  `json:"dispute_id"`
	By           string     `json:"by"`
	RefundAmount string     `json:"refund_amount"`
	Note         string     `json:"note,omitempty"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
}

func offerView(o disputes.Offer, currency string) offerJSON {
	return offerJSON{ID: o.ID, DisputeID: o.DisputeID, By: o.By, RefundAmount: fmtMoney(currency)(o.RefundAmount), Note: o.Note, Status: o.Status,
		CreatedAt: o.CreatedAt, DecidedAt: o.DecidedAt}
}

type evidenceJSON struct {
	ID           uuid.UUID  `json:"id"`
	DisputeID    *uuid.UUID `json:"dispute_id,omitempty"`
	ChargebackID *uuid.UUID `json:"chargeback_id,omitempty"`
	Party        string     `json:"party"`
	Kind         string     `json:"kind"`
	Description  string     `json:"description"`
	URI          string     `json:"uri"`
	SHA256       string     `json:"sha256"`
	CreatedAt    time.Time  `json:"created_at"`
}

func evidenceView(e disputes.Evidence) evidenceJSON {
	return evidenceJSON{ID: e.ID, DisputeID: e.DisputeID, ChargebackID: e.ChargebackID, Party: e.Party, Kind: e.Kind, Description: e.Description,
		URI: e.URI, SHA256: e.SHA256, CreatedAt: e.CreatedAt}
}

func evidenceList(es []disputes.Evidence) []evidenceJSON {
	out := []evidenceJSON{}
	for _, e := range es {
		out = append(out, evidenceView(e))
	}
	return out
}

// outcomeView is the answer to a resolution: the dispute, the escrow after
// it (its parties masked by m), its payouts (each with the gate's
// decision) and its coverage; capped says the coverage limit cut the
// refund.
func outcomeView(o disputes.Outcome, m reconcile.Masker, now time.Time) map[string]any {
	st := o.Settlement
	f := fmtMoney(st.Escrow.Currency)
	cov := map[string]any{"needed_amount": f(st.Coverage.Needed), "covered_amount": f(st.Coverage.Covered), "recovered_amount": f(st.Coverage.Recovered),
		"receivable_amount": f(st.Coverage.Receivable), "capped": st.Coverage.Capped, "ledger_entry_ids": nonNilIDs(st.Coverage.EntryIDs)}
	out := map[string]any{"dispute": disputeView(o.Dispute, now), "escrow": escrowView(st.Escrow).masked(m),
		"refund_amount": f(st.Requested), "covered_amount": f(st.Coverage.Covered), "capped": st.Coverage.Capped, "coverage": cov}
	if st.Coverage.Status != "" {
		cov["status"] = st.Coverage.Status
	}
	if rv := riskView(st.Coverage.Risk); rv != nil {
		cov["risk"] = rv
	}
	if st.Coverage.ReviewID != nil {
		cov["review_id"] = st.Coverage.ReviewID
	}
	if st.Refund != nil {
		out["refund"] = payoutView(*st.Refund, st.Escrow.Currency)
	}
	if st.Release != nil {
		out["release"] = payoutView(*st.Release, st.Escrow.Currency)
	}
	voided := []payoutJSON{}
	for _, p := range st.Voided {
		voided = append(voided, payoutView(p, st.Escrow.Currency))
	}
	out["voided_payouts"] = voided
	return out
}

func nonNilIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

func (s *Server) renderDispute(status int) func(v any) (int, any) {
	return func(v any) (int, any) { return status, disputeView(v.(disputes.Dispute), s.clock.Now()) }
}

// renderOutcome answers a resolution; a dispute agent gets the escrow's
// parties masked (writeMasker).
func (s *Server) renderOutcome(r *http.Request, v any) (int, any) {
	return http.StatusOK, outcomeView(v.(disputes.Outcome), writeMasker(r), s.clock.Now())
}

func (s *Server) renderOffer(status int) func(v any) (int, any) {
	return func(v any) (int, any) {
		res := v.(disputes.OfferResult)
		if res.Outcome != nil {
			// Offers are the marketplace's (and admins'): personal data as it is.
			out := outcomeView(*res.Outcome, reconcile.Masker{Off: true}, s.clock.Now())
			out["offer"] = offerView(res.Offer, res.Dispute.Currency)
			return status, out
		}
		return status, map[string]any{"offer": offerView(res.Offer, res.Dispute.Currency), "dispute": disputeView(res.Dispute, s.clock.Now())}
	}
}

func renderEvidence(v any) (int, any) {
	return http.StatusCreated, evidenceView(v.(disputes.EvidenceResult).Evidence)
}

// disputeAction decodes a body (optional when T is empty) and calls the
// service with the path id.
func disputeAction[T any, R any](call func(r *http.Request, id uuid.UUID, in T) (R, error)) func(r *http.Request, body []byte) (any, error) {
	return func(r *http.Request, body []byte) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		var in T
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := decodeJSON(body, &in); err != nil {
				return nil, err
			}
		}
		return call(r, id, in)
	}
}

func offerAction(call func(r *http.Request, id, offerID uuid.UUID) (disputes.OfferResult, error)) func(r *http.Request, body []byte) (any, error) {
	return disputeAction(func(r *http.Request, id uuid.UUID, _ struct{}) (disputes.OfferResult, error) {
		offerID, err := pathID(r, "offer_id")
		if err != nil {
			return disputes.OfferResult{}, err
		}
		return call(r, id, offerID)
	})
}

func (s *Server) getDispute(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	d, err := s.disputes.Get(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	offers := []offerJSON{}
	for _, o := range d.Offers {
		offers = append(offers, offerView(o, d.Dispute.Currency))
	}
	timeline := d.Timeline
	if timeline == nil {
		timeline = []disputes.TimelineItem{}
	}
	return struct {
		disputeJSON
		Offers   []offerJSON             `json:"offers"`
		Evidence []evidenceJSON          `json:"evidence"`
		Timeline []disputes.TimelineItem `json:"timeline"`
	}{disputeView(d.Dispute, s.clock.Now()), offers, evidenceList(d.Evidence), timeline}, nil
}

// listDisputes is the agents' queue: ?status=&assignee=&overdue=true|false,
// next deadline first.
func (s *Server) listDisputes(r *http.Request) (any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	f := disputes.Filter{Status: disputes.Status(q.Get("status")), Assignee: q.Get("assignee"), Limit: limit}
	if f.Status != "" && !disputes.ValidStatus(string(f.Status)) {
		return nil, valid.Field("status", "must be negotiating, under_review, resolved or withdrawn")
	}
	switch q.Get("overdue") {
	case "":
	case "true", "false":
		o := q.Get("overdue") == "true"
		f.Overdue = &o
	default:
		return nil, valid.Field("overdue", "must be true or false")
	}
	var c disputes.Cursor
	if err := decodeCursor(r, &c); err != nil {
		return nil, err
	}
	if c.ID != uuid.Nil {
		f.After = &c
	}
	ds, err := s.disputes.List(r.Context(), principal(r).TenantID, f)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	page := Page[disputeJSON]{Data: []disputeJSON{}}
	for _, d := range ds {
		page.Data = append(page.Data, disputeView(d, now))
	}
	if len(ds) == limit {
		page.NextCursor = encodeCursor(disputes.CursorOf(ds[len(ds)-1]))
	}
	return page, nil
}

type policyJSON struct {
	SellerResponseHours int        `json:"seller_response_hours"`
	EscalationHours     int        `json:"escalation_hours"`
	EvidenceHours       int        `json:"evidence_hours"`
	Default             bool       `json:"default"`
	UpdatedAt           *time.Time `json:"updated_at,omitempty"`
}

func policyView(p escrow.TenantPolicy) policyJSON {
	return policyJSON{SellerResponseHours: p.SellerResponseHours, EscalationHours: p.EscalationHours, EvidenceHours: p.EvidenceHours,
		Default: p.Default, UpdatedAt: p.UpdatedAt}
}

func (s *Server) getDisputePolicy(r *http.Request) (any, error) {
	p, err := s.disputes.Policy(r.Context(), principal(r).TenantID)
	if err != nil {
		return nil, err
	}
	return policyView(p), nil
}

type policyRequest struct {
	SellerResponseHours *int `json:"seller_response_hours"`
	EscalationHours     *int `json:"escalation_hours"`
	EvidenceHours       *int `json:"evidence_hours"`
}

func (s *Server) putDisputePolicy(r *http.Request, body []byte) (any, error) {
	var in policyRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	var errs valid.Errors
	var p escrow.Policy
	for _, f := range []struct {
		name string
		v    *int
		dst  *int
	}{{"seller_response_hours", in.SellerResponseHours, &p.SellerResponseHours}, {"escalation_hours", in.EscalationHours, &p.EscalationHours},
		{"evidence_hours", in.EvidenceHours, &p.EvidenceHours}} {
		if f.v == nil {
			errs.Add(f.name, "is required")
			continue
		}
		*f.dst = *f.v
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s.disputes.SetPolicy(r.Context(), principal(r).TenantID, p)
}

func renderPolicy(v any) (int, any) { return http.StatusOK, policyView(v.(escrow.TenantPolicy)) }

func (s *Server) disputeRoutes() []route {
	t := principalTenant
	open := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.OpenRequest) (disputes.Dispute, error) {
		return s.disputes.Open(r.Context(), t(r), id, in)
	})
	evidence := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.EvidenceRequest) (disputes.EvidenceResult, error) {
		return s.disputes.AddEvidence(r.Context(), t(r), id, in)
	})
	offer := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.OfferRequest) (disputes.OfferResult, error) {
		return s.disputes.MakeOffer(r.Context(), t(r), id, in)
	})
	accept := offerAction(func(r *http.Request, id, offerID uuid.UUID) (disputes.OfferResult, error) {
		return s.disputes.AcceptOffer(r.Context(), t(r), id, offerID)
	})
	reject := offerAction(func(r *http.Request, id, offerID uuid.UUID) (disputes.OfferResult, error) {
		return s.disputes.RejectOffer(r.Context(), t(r), id, offerID)
	})
	escalate := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.EscalateRequest) (disputes.Dispute, error) {
		return s.disputes.Escalate(r.Context(), t(r), id, in)
	})
	withdraw := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.WithdrawRequest) (disputes.Dispute, error) {
		return s.disputes.Withdraw(r.Context(), t(r), id, in)
	})
	assign := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.AssignRequest) (disputes.Dispute, error) {
		return s.disputes.Assign(r.Context(), t(r), id, in)
	})
	resolve := disputeAction(func(r *http.Request, id uuid.UUID, in disputes.ResolveRequest) (disputes.Outcome, error) {
		return s.disputes.Resolve(r.Context(), t(r), id, in, decidedBy(r))
	})
	post := func(path string, roles []tenants.Role, write func(*http.Request, []byte) (any, error), render func(any) (int, any)) route {
		return route{method: http.MethodPost, path: path, roles: roles, write: write, render: render, idempotent: true}
	}
	ok := s.renderDispute(http.StatusOK)
	return []route{
		// The policy before /v1/disputes/{id}, so "policy" is not taken for an id.
		{method: http.MethodGet, path: "/v1/disputes/policy", roles: disputeReaders, read: s.getDisputePolicy},
		{method: http.MethodPut, path: "/v1/disputes/policy", roles: adminOnly, write: s.putDisputePolicy, render: renderPolicy},
		post("/v1/escrows/{id}/disputes", marketplace, open, s.renderDispute(http.StatusCreated)),
		{method: http.MethodGet, path: "/v1/disputes", roles: agents, read: s.listDisputes},
		{method: http.MethodGet, path: "/v1/disputes/{id}", roles: disputeReaders, read: s.getDispute},
		post("/v1/disputes/{id}/evidence", marketplace, evidence, renderEvidence),
		post("/v1/disputes/{id}/offers", marketplace, offer, s.renderOffer(http.StatusCreated)),
		post("/v1/disputes/{id}/offers/{offer_id}/accept", marketplace, accept, s.renderOffer(http.StatusOK)),
		post("/v1/disputes/{id}/offers/{offer_id}/reject", marketplace, reject, s.renderOffer(http.StatusOK)),
		post("/v1/disputes/{id}/escalate", marketplace, escalate, ok),
		post("/v1/disputes/{id}/withdraw", marketplace, withdraw, ok),
		post("/v1/disputes/{id}/assign", agents, assign, ok),
		{method: http.MethodPost, path: "/v1/disputes/{id}/resolve", roles: agents, write: resolve, renderFor: s.renderOutcome, idempotent: true},
	}
}
