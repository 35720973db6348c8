package risk

import (
	"context"
	"testing"
	"time"
)

// TestDecideSanctionsPossibleMatch: a name matched only by the
// partial-name rule ("Vladimir Putin" for "PUTIN, Vladimir
// Vladimirovich", 35096) is a possible match. The payout goes to review
// with sanctions_possible_match, never block, and the review holds the
// match as a full match's review does; approving it clears the party
// under that name, rejecting it confirms nothing (the next payout is a
// review again, not a block). A full match still blocks, also next to a
// possible match of the other party. At escrow creation a possible
// match opens a review like a full match.
func TestDecideSanctionsPossibleMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	e.establish("b", "s")
	const possible, listed = "Vladimir Putin", "mohammed shawki islambuli" // 35096 less the patronymic; 2682
	release := func(buyer, buyerName, sellerName string) GateDecision {
		t.Helper()
		r := e.newRelease(buyer, "s")
		r.escrowID = e.observe(buyer, "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
		r.buyerName, r.sellerName = buyerName, sellerName
		return e.decide(r)
	}
	inReview := func(d GateDecision) bool {
		return d.Outcome == OutcomeReview && hasReason(d.Decision, ReasonSanctionsPossibleMatch) && !hasReason(d.Decision, ReasonSanctionsMatch) &&
			d.ReviewID != nil && d.Features.SanctionsPossibleMatch && !d.Features.SanctionsMatch
	}

	d := release("b", possible, "Pieter Jansen")
	if !inReview(d) {
		t.Fatalf("%s %v review %v, want review on sanctions_possible_match", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
	}
	rv, err := e.svc.Review(ctx, e.tenant, *d.ReviewID)
	if err != nil || rv.Match == nil || rv.Match.EntNum != 35096 || !rv.Match.Partial || rv.Match.Party != PartyBuyer || rv.Match.PartyID != "b" ||
		rv.Match.Name != possible || rv.Match.EntryFingerprint == "" || rv.SubjectType != SubjectRelease || rv.DecisionID == nil || *rv.DecisionID != d.ID {
		t.Fatalf("review %+v match %+v %v", rv, rv.Match, err)
	}
	if n := e.count(`SELECT count(*) FROM risk_screenings WHERE decision_id = $1 AND party = 'buyer' AND NOT matched
		AND matches @> '[{"ent_num": 35096, "partial": true}]'`, d.ID); n != 1 {
		t.Errorf("possible match not stored as one (%d)", n)
	}
	if e.alerts(rv.SubjectID) != 1 {
		t.Error("no risk.alert")
	}

	// Rejected: the payout is voided, nothing is confirmed.
	if _, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, false, "not sure", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if d = release("b", possible, "Pieter Jansen"); !inReview(d) {
		t.Fatalf("after a rejection: %s %v, want review again", d.Outcome, reasonCodes(d.Decision))
	}
	// Approved: the party under that name (any order) passes.
	if _, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, true, "different person", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id = 'b' AND ent_num = 35096`, e.tenant); n != 1 {
		t.Fatalf("%d clearances after the approval", n)
	}
	if d = release("b", "PUTIN Vladimir", "Pieter Jansen"); d.Outcome != OutcomeApprove || d.Features.SanctionsPossibleMatch {
		t.Fatalf("after the approval: %s %v, want approve", d.Outcome, reasonCodes(d.Decision))
	}
	// Another party with the name is still reviewed.
	if d = release("b2", possible, "Pieter Jansen"); !inReview(d) {
		t.Errorf("another party: %s %v, want review", d.Outcome, reasonCodes(d.Decision))
	}

	// A full match blocks, and its review holds the full match even when
	// the other party's name is a possible match.
	d = release("b3", listed, possible)
	if d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonSanctionsMatch) || d.ReviewID == nil || !d.Features.SanctionsMatch {
		t.Fatalf("full match: %s %v review %v, want block", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
	}
	if rv, err := e.svc.Review(ctx, e.tenant, *d.ReviewID); err != nil || rv.Match == nil || rv.Match.EntNum != 2682 || rv.Match.Partial || rv.SubjectType != SubjectEscrow {
		t.Fatalf("full match review %+v %v", rv, err)
	}

	// Escrow creation: a review holding the possible match, no block.
	s, escrow := e.screen(e.gate, Party{ID: "b4", Name: possible}, Party{ID: "s", Name: "Pieter Jansen"})
	if s.Match || !s.PossibleMatch || s.ReviewID == nil || len(s.Matches) != 1 || !s.Matches[0].Partial {
		t.Fatalf("escrow screening %+v", s)
	}
	rv, err = e.svc.Review(ctx, e.tenant, *s.ReviewID)
	if err != nil || rv.SubjectType != SubjectEscrow || rv.SubjectID != escrow || rv.Match == nil || !rv.Match.Partial || rv.Match.EntNum != 35096 ||
		rv.Reasons[0].Code != ReasonSanctionsPossibleMatch {
		t.Fatalf("escrow review %+v %v", rv, err)
	}
	if e.alerts(escrow) != 1 {
		t.Error("no risk.alert at escrow creation")
	}
	if n := e.count(`SELECT count(*) FROM risk_screenings WHERE subject_id = $1 AND matched`, escrow); n != 0 {
		t.Errorf("%d screenings of the escrow stored as matched", n)
	}
	// Its approval clears b4's payouts too.
	if _, err := e.svc.DecideReview(ctx, e.tenant, *s.ReviewID, true, "", "reviewer-2"); err != nil {
		t.Fatal(err)
	}
	e.establish("b4", "s")
	if d = release("b4", possible, "Pieter Jansen"); d.Outcome != OutcomeApprove {
		t.Errorf("b4 after the escrow review's approval: %s %v, want approve", d.Outcome, reasonCodes(d.Decision))
	}
}

// TestPossibleMatchClearanceClearsNoFullMatch: approving a possible match
// clears that possible match only. The same party, name and entry can
// become a full match (a list whose other entries make a word less rare,
// a lower threshold), and that must block and be judged as one; it used
// to pass as cleared. A clearance from a full match clears both.
func TestPossibleMatchClearanceClearsNoFullMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	entry := SanctionsEntry{EntNum: 35096, Name: "PUTIN, Vladimir Vladimirovich", Type: SDNTypeIndividual}
	rec := func(partial bool) []screeningRecord {
		return []screeningRecord{{party: PartyBuyer, partyID: "b", name: "Vladimir Putin",
			matches: []Match{{EntNum: entry.EntNum, MatchedName: entry.Name, Score: PartialNameScore, Entry: entry, Partial: partial}}}}
	}
	clear := func(partial bool) {
		t.Helper()
		if _, err := e.db.Pool.Exec(ctx, `DELETE FROM risk_clearances WHERE tenant_id = $1`, e.tenant); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Pool.Exec(ctx, `INSERT INTO risk_clearances (id, tenant_id, party, party_id, ent_num, name_key, name, review_id, cleared_by, cleared_at, partial)
			VALUES (gen_random_uuid(), $1, 'buyer', 'b', 35096, $2, 'Vladimir Putin', gen_random_uuid(), 'reviewer-1', now(), $3)`,
			e.tenant, nameKey("Vladimir Putin"), partial); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		clearedPartial, matchPartial, cleared bool
	}{
		{true, true, true},
		{true, false, false},
		{false, true, true},
		{false, false, true},
	} {
		clear(c.clearedPartial)
		s, err := dropCleared(ctx, e.db.Pool, e.tenant, rec(c.matchPartial))
		if err != nil {
			t.Fatal(err)
		}
		if got := !s.Match && !s.PossibleMatch; got != c.cleared {
			t.Errorf("clearance partial %v, match partial %v: cleared %v (%+v), want %v", c.clearedPartial, c.matchPartial, got, s, c.cleared)
		}
	}
}
