package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/money"
)

type milestoneJSON struct {
	Index          int    `json:"index"`
	Name           string `json:"name"`
	Amount         string `json:"amount"`
	ReleasedAmount string `json:"released_amount"`
	RefundedAmount string `json:"refunded_amount"`
	PendingAmount  string `json:"pending_amount"`
	State          string `json:"state"`
}

type termsJSON struct {
	InspectionHours      int     `json:"inspection_hours"`
	ClaimWindowDays      int     `json:"claim_window_days"`
	FundingDeadlineHours int     `json:"funding_deadline_hours"`
	AutoRelease          bool    `json:"auto_release"`
	CoverageLimit        *string `json:"coverage_limit,omitempty"`
}

type feesJSON struct {
	PlatformFeeBps int64  `json:"platform_fee_bps"`
	FixedFee       string `json:"fixed_fee"`
	PaidBy         string `json:"paid_by"`
}

type escrowJSON struct {
	ID                uuid.UUID         `json:"id"`
	OrderRef          string            `json:"order_ref"`
	State             escrow.State      `json:"state"`
	Amount            string            `json:"amount"`
	Currency          string            `json:"currency"`
	FundingAmount     string            `json:"funding_amount"`
	FundedAmount      string            `json:"funded_amount"`
	HeldAmount        string            `json:"held_amount"`
	ReleasedAmount    string            `json:"released_amount"`
	RefundedAmount    string            `json:"refunded_amount"`
	PendingAmount     string            `json:"pending_amount"`
	FeeAmount         string            `json:"fee_amount"`
	FeesCollected     string            `json:"fees_collected"`
	Milestones        []milestoneJSON   `json:"milestones"`
	Terms             termsJSON         `json:"terms"`
	Fees              feesJSON          `json:"fees"`
	Buyer             escrow.Party      `json:"buyer"`
	Seller            escrow.Party      `json:"seller"`
	RiskContext       map[string]string `json:"risk_context,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Shipment          *escrow.Shipment  `json:"shipment,omitempty"`
	LedgerAccount     string            `json:"ledger_account"`
	LedgerAccountID   uuid.UUID         `json:"ledger_account_id"`
	Version           int64             `json:"version"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	FundingDeadlineAt time.Time         `json:"funding_deadline_at"`
	FundedAt          *time.Time        `json:"funded_at,omitempty"`
	ShippedAt         *time.Time        `json:"shipped_at,omitempty"`
	DeliveredAt       *time.Time        `json:"delivered_at,omitempty"`
	InspectionEndsAt  *time.Time        `json:"inspection_ends_at,omitempty"`
	ClosedAt          *time.Time        `json:"closed_at,omitempty"`
}

func escrowView(e escrow.Escrow) escrowJSON {
	cur, _ := money.Lookup(e.Currency)
	f := func(d interface{ StringFixed(int32) string }) string { return d.StringFixed(cur.MinorUnits) }
	out := escrowJSON{
		ID: e.ID, OrderRef: e.OrderRef, State: e.State, Amount: f(e.Amount), Currency: e.Currency,
		FundingAmount: f(e.FundingTarget()), FundedAmount: f(e.Funded), HeldAmount: f(e.Held()), ReleasedAmount: f(e.Released),
		RefundedAmount: f(e.Refunded), PendingAmount: f(e.Pending), FeeAmount: f(e.FeeTotal), FeesCollected: f(e.FeeCollect),
		Terms: termsJSON{InspectionHours: e.Terms.InspectionHours, ClaimWindowDays: e.Terms.ClaimWindowDays,
			FundingDeadlineHours: e.Terms.FundingDeadlineHours, AutoRelease: e.Terms.AutoRelease},
		Fees:  feesJSON{PlatformFeeBps: e.Fees.PlatformFeeBps, FixedFee: f(e.Fees.FixedFee), PaidBy: e.Fees.PaidBy},
		Buyer: e.Buyer, Seller: e.Seller, RiskContext: e.RiskContext, Metadata: e.Metadata, Shipment: e.Shipment,
		LedgerAccount: e.LedgerCode(), LedgerAccountID: e.AccountID, Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		FundingDeadlineAt: e.FundingDeadlineAt, FundedAt: e.FundedAt, ShippedAt: e.ShippedAt, DeliveredAt: e.DeliveredAt,
		InspectionEndsAt: e.InspectionEndsAt, ClosedAt: e.ClosedAt,
	}
	if e.Terms.CoverageLimit != nil {
		s := f(*e.Terms.CoverageLimit)
		out.Terms.CoverageLimit = &s
	}
	for _, m := range e.Milestones {
		out.Milestones = append(out.Milestones, milestoneJSON{Index: m.Index, Name: m.Name, Amount: f(m.Amount),
			ReleasedAmount: f(m.Released), RefundedAmount: f(m.Refunded), PendingAmount: f(m.Pending), State: m.State()})
	}
	return out
}

func renderEscrowCreated(v any) (int, any) { return http.StatusCreated, escrowView(v.(escrow.Escrow)) }
func renderEscrow(v any) (int, any)        { return http.StatusOK, escrowView(v.(escrow.Escrow)) }

// ifMatchValue is the If-Match header as ifMatch reads it: the first
// value, without quotes or a weak marker.
func ifMatchValue(r *http.Request) string { return strings.Trim(r.Header.Get("If-Match"), `"W/ `) }

// ifMatch reads the optional If-Match: <version> header (0 when absent).
func ifMatch(r *http.Request) (int64, error) {
	h := ifMatchValue(r)
	if h == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 1 {
		return 0, fieldProblem(http.StatusBadRequest, "invalid_if_match", "If-Match", "must be the escrow's version number")
	}
	return v, nil
}

func (s *Server) createEscrow(r *http.Request, body []byte) (any, error) {
	var in escrow.CreateRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.escrows.Create(r.Context(), principal(r).TenantID, in)
}

// getEscrow answers GET /v1/escrows/{id}[?unmasked=]; personal data as
// personalMasker says.
func (s *Server) getEscrow(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	m, audited, err := personalMasker(r)
	if err != nil {
		return nil, err
	}
	e, err := s.escrows.Get(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	if audited {
		if err := s.auditUnmasked(r); err != nil {
			return nil, err
		}
	}
	return escrowView(e).masked(m), nil
}

// listEscrows answers GET /v1/escrows[?unmasked=]; personal data as
// personalMasker says.
func (s *Server) listEscrows(r *http.Request) (any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return nil, err
	}
	m, audited, err := personalMasker(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	f := escrow.Filter{OrderRef: q.Get("order_ref"), State: escrow.State(q.Get("state")), SellerID: q.Get("seller_id"), BuyerID: q.Get("buyer_id"), Limit: limit}
	if f.State != "" && !validState(f.State) {
		return nil, fieldProblem(http.StatusUnprocessableEntity, "validation_failed", "state", "is not an escrow state")
	}
	if err := decodeCursor(r, &f.After); err != nil {
		return nil, err
	}
	es, err := s.escrows.List(r.Context(), principal(r).TenantID, f)
	if err != nil {
		return nil, err
	}
	page := Page[escrowJSON]{Data: []escrowJSON{}}
	for _, e := range es {
		page.Data = append(page.Data, escrowView(e).masked(m))
	}
	if len(es) == limit {
		page.NextCursor = encodeCursor(es[len(es)-1].ID)
	}
	if audited {
		if err := s.auditUnmasked(r); err != nil {
			return nil, err
		}
	}
	return page, nil
}

func validState(s escrow.State) bool {
	for _, x := range escrow.States {
		if x == s {
			return true
		}
	}
	return false
}

// escrowTimeline answers GET /v1/escrows/{id}/timeline[?unmasked=]; the
// personal data in event payloads (a sanctions alert's names) as
// personalMasker says.
func (s *Server) escrowTimeline(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	m, audited, err := personalMasker(r)
	if err != nil {
		return nil, err
	}
	items, err := s.escrows.Timeline(r.Context(), principal(r).TenantID, id)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []escrow.TimelineItem{}
	}
	for _, it := range items {
		maskPayload(m, it.Data)
	}
	if audited {
		if err := s.auditUnmasked(r); err != nil {
			return nil, err
		}
	}
	return map[string]any{"escrow_id": id, "data": items}, nil
}

// escrowAction decodes an action's body (optional when T is empty) and
// calls the service with the path id and If-Match version.
func escrowAction[T any, R any](s *Server, call func(r *http.Request, id uuid.UUID, version int64, in T) (R, error)) func(r *http.Request, body []byte) (any, error) {
	return func(r *http.Request, body []byte) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		version, err := ifMatch(r)
		if err != nil {
			return nil, err
		}
		var in T
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := decodeJSON(body, &in); err != nil {
				return nil, err
			}
		}
		return call(r, id, version, in)
	}
}

func (s *Server) escrowRoutes() []route {
	t := principalTenant
	fund := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.FundRequest) (escrow.Escrow, error) {
		return s.escrows.Fund(r.Context(), t(r), id, v, in)
	})
	ship := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.ShipRequest) (escrow.Escrow, error) {
		return s.escrows.Ship(r.Context(), t(r), id, v, in)
	})
	deliver := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.DeliverRequest) (escrow.Escrow, error) {
		return s.escrows.Deliver(r.Context(), t(r), id, v, in)
	})
	accept := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, _ struct{}) (escrow.AcceptResult, error) {
		return s.escrows.Accept(r.Context(), t(r), id, v)
	})
	release := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.ReleaseRequest) (escrow.ReleaseResult, error) {
		return s.escrows.Release(r.Context(), t(r), id, v, in)
	})
	refund := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.RefundRequest) (escrow.RefundResult, error) {
		return s.escrows.Refund(r.Context(), t(r), id, v, in)
	})
	cancel := escrowAction(s, func(r *http.Request, id uuid.UUID, v int64, in escrow.CancelRequest) (escrow.RefundResult, error) {
		return s.escrows.Cancel(r.Context(), t(r), id, v, in)
	})
	post := func(path string, write func(*http.Request, []byte) (any, error), render func(any) (int, any)) route {
		return route{method: http.MethodPost, path: path, roles: marketplace, write: write, render: render, idempotent: true}
	}
	return []route{
		post("/v1/escrows", s.createEscrow, renderEscrowCreated),
		{method: http.MethodGet, path: "/v1/escrows", roles: escrowReaders, read: s.listEscrows},
		{method: http.MethodGet, path: "/v1/escrows/{id}", roles: escrowReaders, read: s.getEscrow},
		{method: http.MethodGet, path: "/v1/escrows/{id}/timeline", roles: escrowReaders, read: s.escrowTimeline},
		post("/v1/escrows/{id}/fund", fund, renderEscrow),
		post("/v1/escrows/{id}/ship", ship, renderEscrow),
		post("/v1/escrows/{id}/deliver", deliver, renderEscrow),
		post("/v1/escrows/{id}/accept", accept, renderAccept),
		post("/v1/escrows/{id}/release", release, renderRelease),
		post("/v1/escrows/{id}/refund", refund, renderRefund),
		post("/v1/escrows/{id}/cancel", cancel, renderCancel),
		{method: http.MethodGet, path: "/v1/releases/{id}", roles: escrowReaders, read: s.getRelease},
		post("/v1/releases/{id}/confirm", s.confirmRelease, renderConfirm),
		post("/v1/releases/{id}/resend-code", s.resendCode, renderReleaseOK),
	}
}

func principalTenant(r *http.Request) uuid.UUID { return principal(r).TenantID }
