package risk

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSanctionsMatchCleared: a rejected sanctions review leaves the party
// blocked; an approved one clears the match for that party, as buyer,
// under that name, so its payouts pass and its next escrows open no
// review, while another listed name for the party, the name for the party
// as seller, or the name for another party still match. A later rejection
// of a review of the same match takes the clearance back.
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
	asSeller := e.newRelease("s2", "b") // b, cleared as buyer, now sells
	asSeller.escrowID = e.observe("s2", "b", "", asSeller.amount, "USD", e.clock.Now().Add(-time.Hour))
	asSeller.sellerName = listed
	if d := e.decide(asSeller); !blocked(d) {
		t.Errorf("the cleared buyer as seller: %s %v, want blocked", d.Outcome, reasonCodes(d.Decision))
	}

	// Three escrows of b3 opened before any decision hold three reviews of
	// the same match. Approving one clears it; deciding another party's
	// review changes nothing for b3; rejecting the other one of b3 (the
	// match is confirmed after all) takes the clearance back.
	first, _ := e.screen(e.gate, Party{ID: "b3", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	second, _ := e.screen(e.gate, Party{ID: "b3", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	third, _ := e.screen(e.gate, Party{ID: "b4", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	fourth, _ := e.screen(e.gate, Party{ID: "b3", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	if first.ReviewID == nil || second.ReviewID == nil || third.ReviewID == nil || fourth.ReviewID == nil {
		t.Fatal("screenings opened no reviews")
	}
	decide := func(id *uuid.UUID, approve bool) {
		t.Helper()
		if _, err := e.svc.DecideReview(ctx, e.tenant, *id, approve, "", "reviewer-2"); err != nil {
			t.Fatal(err)
		}
	}
	decide(first.ReviewID, true)
	decide(third.ReviewID, false)
	if d := release("b3", listed); blocked(d) {
		t.Fatalf("b3 after its approval and another party's rejection: %s, want cleared", d.Outcome)
	}
	// A review of the same match that nobody decided expires to rejected,
	// but nobody confirmed the match: the clearance stays.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE risk_reviews SET expires_at = $2 WHERE id = $1`, *fourth.ReviewID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if rv, ok, err := e.svc.ExpireReview(ctx, e.tenant, *fourth.ReviewID); err != nil || !ok || rv.Status != ReviewRejected {
		t.Fatalf("expiry of the fourth review: %+v %v %v", rv, ok, err)
	}
	if d := release("b3", listed); blocked(d) {
		t.Fatalf("b3 after an expiry of the same match: %s, want cleared", d.Outcome)
	}
	decide(second.ReviewID, false)
	if d := release("b3", listed); !blocked(d) {
		t.Fatalf("b3 after a rejection of the same match: %s, want blocked", d.Outcome)
	}
	if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id = 'b3'`, e.tenant); n != 0 {
		t.Fatalf("%d clearances of b3 after the rejection", n)
	}

	// Another tenant's clearance clears nothing here.
	otherTenant := uuid.New()
	if _, err := e.db.Pool.Exec(ctx, `INSERT INTO risk_clearances (tenant_id, party, party_id, ent_num, name_key, name, review_id, cleared_by, cleared_at)
		VALUES ($1, 'buyer', 'b5', 2682, $2, $3, $4, 'x', now())`, otherTenant, nameKey(listed), listed, uuid.New()); err != nil {
		t.Fatal(err)
	}
	if d := release("b5", listed); !blocked(d) {
		t.Errorf("cleared in another tenant: %s, want blocked", d.Outcome)
	}
}

// TestClearanceEndsWhenTheEntryChanges: a clearance is bound to what the
// list entry said. Reloading the same entry keeps it; a list that changes
// the entry (OFAC adds a date of birth) brings the match back for review.
func TestClearanceEndsWhenTheEntryChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.establish("b", "s")
	release := func() GateDecision {
		t.Helper()
		r := e.newRelease("b", "s")
		r.escrowID = e.observe("b", "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
		r.buyerName = "Mohammad Shawqi Islambouli"
		return e.decide(r)
	}
	e.loadEntry2682("POB Egypt.")
	d := release()
	if d.Outcome != OutcomeBlock || d.ReviewID == nil {
		t.Fatalf("%s %v, want a sanctions block with a review", d.Outcome, reasonCodes(d.Decision))
	}
	rv, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, true, "namesake", "reviewer-1")
	if err != nil || rv.Match == nil || rv.Match.EntryFingerprint == "" {
		t.Fatalf("approved review %+v: %v", rv.Match, err)
	}
	if d := release(); d.Outcome == OutcomeBlock {
		t.Fatalf("after clearance: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
	e.loadEntry2682("POB Egypt.") // the same entry again
	if d := release(); d.Outcome == OutcomeBlock {
		t.Fatalf("after reloading the same entry: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
	e.loadEntry2682("DOB 15 Jan 1955; POB Egypt.") // the entry changed
	if d := release(); d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonSanctionsMatch) || d.ReviewID == nil {
		t.Fatalf("after the entry changed: %s %v, want blocked for review again", d.Outcome, reasonCodes(d.Decision))
	}
}

// TestReviewOfAChangedEntry: a payout blocked while a review of the match
// waits, and blocked again after the list changed the entry, gets a review
// of its own (approving the old one would clear the old version); approving
// it clears the match as the list says it now. Approving the old review
// afterwards binds the clearance to the old version again (the last
// decision wins), so the payout is blocked: fail closed.
func TestReviewOfAChangedEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.establish("b", "s")
	r := e.newRelease("b", "s")
	r.escrowID = e.observe("b", "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
	r.buyerName = "Mohammad Shawqi Islambouli"
	e.loadEntry2682("POB Egypt.")
	first := e.decide(r)
	e.loadEntry2682("DOB 15 Jan 1955; POB Egypt.")
	second := e.decide(r)
	if first.ReviewID == nil || second.ReviewID == nil || *first.ReviewID == *second.ReviewID {
		t.Fatalf("reviews %v and %v: want one per version of the entry", first.ReviewID, second.ReviewID)
	}
	if _, err := e.svc.DecideReview(ctx, e.tenant, *second.ReviewID, true, "namesake", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if d := e.decide(r); d.Outcome == OutcomeBlock {
		t.Fatalf("after approving the review of the entry as it is: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
	if _, err := e.svc.DecideReview(ctx, e.tenant, *first.ReviewID, true, "namesake", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if d := e.decide(r); d.Outcome != OutcomeBlock {
		t.Fatalf("after approving the review of the older entry: %s, want blocked (that approval cleared the old version)", d.Outcome)
	}
}

// TestOldReviewDoesNotWidenAClearance: approving a review recorded before
// matches carried the entry's fingerprint does not turn a clearance bound
// to a version of the entry into one for every version.
func TestOldReviewDoesNotWidenAClearance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	const listed = "mohammed shawki islambuli" // SDN entry 2682
	first, _ := e.screen(e.gate, Party{ID: "b", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	old, _ := e.screen(e.gate, Party{ID: "b", Name: listed}, Party{ID: "s", Name: "Pieter Jansen"})
	if first.ReviewID == nil || old.ReviewID == nil {
		t.Fatal("screenings opened no reviews")
	}
	// As stored then: one match, without its fingerprint, and no
	// matched_entries (migration 0408).
	if _, err := e.db.Pool.Exec(ctx, `UPDATE risk_reviews SET matched_entry = matched_entry - 'entry_fingerprint', matched_entries = NULL
		WHERE id = $1`, *old.ReviewID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []*uuid.UUID{first.ReviewID, old.ReviewID} {
		if _, err := e.svc.DecideReview(ctx, e.tenant, *id, true, "namesake", "reviewer-1"); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := e.svc.ListClearances(ctx, e.tenant, "b", uuid.Nil, 10)
	if err != nil || len(cs) != 1 || cs[0].EntryFingerprint == "" || cs[0].ReviewID != *old.ReviewID {
		t.Fatalf("clearances %+v, %v: want one, by the later approval, still bound to the entry's version", cs, err)
	}
}

// loadEntry2682 loads a sanctions list of one entry, OFAC's 2682, with
// remarks (what changes between versions of the entry).
func (e *env) loadEntry2682(remarks string) {
	e.t.Helper()
	csv := `2682,"ISLAMBOULI, Mohammad Shawqi","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"` + remarks + `"` + "\n"
	if _, err := e.svc.LoadSanctions(context.Background(), e.tenant, strings.NewReader(csv), "test"); err != nil {
		e.t.Fatal(err)
	}
}

// TestReviewStoredBeforeMatchesColumn: a review stored before migration
// 0408 has matched_entry only (matched_entries NULL). It reads back
// holding that match (matches = [match]), and approving it clears the
// match as before, a possible one as possible only.
func TestReviewStoredBeforeMatchesColumn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	for _, c := range []struct {
		party, name string
		entNum      int
		partial     bool
	}{
		{"b-full", "mohammed shawki islambuli", 2682, false},
		{"b-possible", "Vladimir Putin", 35096, true},
	} {
		t.Run(c.party, func(t *testing.T) {
			e.t = t
			s, _ := e.screen(e.gate, Party{ID: c.party, Name: c.name}, Party{ID: "s", Name: "Pieter Jansen"})
			if s.ReviewID == nil {
				t.Fatalf("screening %+v opened no review", s)
			}
			if _, err := e.db.Pool.Exec(ctx, `UPDATE risk_reviews SET matched_entries = NULL WHERE id = $1`, *s.ReviewID); err != nil {
				t.Fatal(err)
			}
			rv, err := e.svc.Review(ctx, e.tenant, *s.ReviewID)
			if err != nil || rv.Match == nil || rv.Match.EntNum != c.entNum || rv.Match.Partial != c.partial ||
				len(rv.Matches) != 1 || !reflect.DeepEqual(rv.Matches[0], *rv.Match) {
				t.Fatalf("old review %+v matches %+v: %v, want matches = [match]", rv.Match, rv.Matches, err)
			}
			if rv, err = e.svc.DecideReview(ctx, e.tenant, *s.ReviewID, true, "namesake", "reviewer-1"); err != nil || len(rv.Matches) != 1 {
				t.Fatalf("approval %+v: %v", rv.Matches, err)
			}
			if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id = $2 AND ent_num = $3 AND partial = $4
				AND review_id = $5`, e.tenant, c.party, c.entNum, c.partial, *s.ReviewID); n != 1 {
				t.Fatalf("%d clearances of %d after approving the old review", n, c.entNum)
			}
			if s, _ := e.screen(e.gate, Party{ID: c.party, Name: c.name}, Party{ID: "s", Name: "Pieter Jansen"}); s.Match || s.PossibleMatch {
				t.Errorf("after the approval: %+v, want cleared", s)
			}
		})
	}
	e.t = t
}
