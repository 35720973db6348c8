package risk

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSanctionsMatchCleared: a rejected sanctions review leaves the party
// blocked; an approved one clears the match for that party under that
// name, so its payouts pass and its next escrows open no review, while
// another listed name for the party, or the same name for another party,
// still matches.
func TestSanctionsMatchCleared(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	e.establish("b", "s")
	const listed = "mohammed shawki islambuli" // SDN entry 2682
	release := func(buyer, name string) GateDecision {
		t.Helper()
		r := e.newRelease(buyer, "s")
		r.escrowID = e.observe(buyer, "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
		r.buyerName = name
		return e.decide(r)
	}
	blocked := func(d GateDecision) bool {
		return d.Outcome == OutcomeBlock && hasReason(d.Decision, ReasonSanctionsMatch) && d.ReviewID != nil
	}

	d := release("b", listed)
	if !blocked(d) {
		t.Fatalf("%s %v, want a sanctions block with a review", d.Outcome, reasonCodes(d.Decision))
	}
	if _, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, false, "confirmed match", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if d = release("b", listed); !blocked(d) {
		t.Fatalf("after a rejected review: %s %v, want still blocked", d.Outcome, reasonCodes(d.Decision))
	}
	if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1`, e.tenant); n != 0 {
		t.Fatalf("%d clearances after a rejection", n)
	}

	// Approved: a false positive. The same party under the same name (in
	// any word order) passes, and the screening records the cleared match.
	rv, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, true, "different person: date of birth differs", "reviewer-1")
	if err != nil {
		t.Fatal(err)
	}
	if rv.Match == nil || rv.Match.Name != listed || rv.Match.PartyID != "b" || rv.Match.EntNum != 2682 {
		t.Fatalf("review match %+v", rv.Match)
	}
	d = release("b", "Islambuli, Mohammed Shawki")
	if d.Outcome == OutcomeBlock || hasReason(d.Decision, ReasonSanctionsMatch) || d.Features.SanctionsMatch {
		t.Fatalf("after clearance: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
	if n := e.count(`SELECT count(*) FROM risk_screenings WHERE decision_id = $1 AND party = 'buyer' AND NOT matched
		AND matches @> '[{"ent_num": 2682, "cleared": true}]'`, d.ID); n != 1 {
		t.Errorf("cleared screening not recorded (%d)", n)
	}
	s, _ := e.screen(e.gate, Party{ID: "b", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	if s.Match || s.ReviewID != nil {
		t.Errorf("escrow screening after clearance: %+v", s)
	}

	// What the clearance does not cover.
	for _, c := range []struct{ buyer, name string }{
		{"b", "Kim Jong Un"}, // another listed name for the cleared party
		{"b2", listed},       // the cleared name for another party
	} {
		if d := release(c.buyer, c.name); !blocked(d) {
			t.Errorf("%s as %q: %s %v, want blocked", c.buyer, c.name, d.Outcome, reasonCodes(d.Decision))
		}
	}
	// Another tenant's clearance clears nothing here.
	other := uuid.New()
	if _, err := e.db.Pool.Exec(ctx, `INSERT INTO risk_clearances (tenant_id, party_id, ent_num, name_key, name, review_id, cleared_by, cleared_at)
		VALUES ($1, 'b3', 2682, $2, $3, $4, 'x', now())`, other, nameKey(listed), listed, uuid.New()); err != nil {
		t.Fatal(err)
	}
	if d := release("b3", listed); !blocked(d) {
		t.Errorf("cleared in another tenant: %s, want blocked", d.Outcome)
	}
}
