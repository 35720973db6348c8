package api

import (
	"bytes"
	"net/http"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/risk"
)

// Risk routes: decisions, rules, sanctions lists, the review queue and
// party freezes. Rows are in routes.go under routes:risk.

// decidedBy names the key acting, for reviews and rule sets.
func decidedBy(r *http.Request) string { return "key:" + principal(r).KeyID.String() }

func (s *Server) getRiskDecision(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.risk.Decision(r.Context(), principal(r).TenantID, id)
}

func (s *Server) getRiskRules(r *http.Request) (any, error) {
	return s.risk.Rules(r.Context(), principal(r).TenantID)
}

type putRiskRulesRequest struct {
	Rules           []risk.Rule `json:"rules"`
	ReviewThreshold int         `json:"review_threshold"`
	BlockThreshold  int         `json:"block_threshold"`
}

// putRiskRules answers PUT /v1/risk/rules: the tenant's next rule set
// version; 422 invalid_rule naming the bad field (rules[i].when).
func (s *Server) putRiskRules(r *http.Request, body []byte) (any, error) {
	var in putRiskRulesRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.risk.PutRules(r.Context(), principal(r).TenantID,
		risk.RuleSetInput{Rules: in.Rules, ReviewThreshold: in.ReviewThreshold, BlockThreshold: in.BlockThreshold}, decidedBy(r))
}

// loadSanctionsList answers POST /v1/risk/sanctions-lists: an OFAC SDN
// file (text/csv) becomes the tenant's current list; ?source= labels it.
func (s *Server) loadSanctionsList(r *http.Request, body []byte) (any, error) {
	source := r.URL.Query().Get("source")
	if source == "" {
		source = "upload"
	}
	return s.risk.LoadSanctions(r.Context(), principal(r).TenantID, bytes.NewReader(body), source)
}

func (s *Server) listRiskReviews(r *http.Request) (any, error) {
	return idPage(r, func(after uuid.UUID, limit int) ([]risk.Review, error) {
		return s.risk.ListReviews(r.Context(), principal(r).TenantID, r.URL.Query().Get("status"), after, limit)
	}, func(rv risk.Review) uuid.UUID { return rv.ID })
}

func (s *Server) getRiskReview(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.risk.Review(r.Context(), principal(r).TenantID, id)
}

type reviewDecisionRequest struct {
	Note string `json:"note"`
}

// decideRiskReview answers POST /v1/risk/reviews/{id}/approve and /reject
// with an optional {note}.
func (s *Server) decideRiskReview(approve bool) func(r *http.Request, body []byte) (any, error) {
	return func(r *http.Request, body []byte) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		var in reviewDecisionRequest
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decodeJSON(body, &in); err != nil {
				return nil, err
			}
		}
		return s.risk.DecideReview(r.Context(), principal(r).TenantID, id, approve, in.Note, decidedBy(r))
	}
}

// listRiskClearances answers GET /v1/risk/clearances[?party_id=].
func (s *Server) listRiskClearances(r *http.Request) (any, error) {
	return idPage(r, func(after uuid.UUID, limit int) ([]risk.Clearance, error) {
		return s.risk.ListClearances(r.Context(), principal(r).TenantID, r.URL.Query().Get("party_id"), after, limit)
	}, func(c risk.Clearance) uuid.UUID { return c.ID })
}

type revokeClearanceRequest struct {
	Reason string `json:"reason"`
}

// revokeRiskClearance answers POST /v1/risk/clearances/{id}/revoke with
// {reason}.
func (s *Server) revokeRiskClearance(r *http.Request, body []byte) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in revokeClearanceRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.risk.RevokeClearance(r.Context(), principal(r).TenantID, id, in.Reason, decidedBy(r))
}

type freezeRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) freezeParty(r *http.Request, body []byte) (any, error) {
	var in freezeRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	return s.risk.Freeze(r.Context(), principal(r).TenantID, pathVar(r, "id"), in.Reason)
}

// unfreezeParty answers POST /v1/parties/{id}/unfreeze; the body, if any,
// is an empty object.
func (s *Server) unfreezeParty(r *http.Request, body []byte) (any, error) {
	if err := decodeNoFields(body); err != nil {
		return nil, err
	}
	return s.risk.Unfreeze(r.Context(), principal(r).TenantID, pathVar(r, "id"))
}
