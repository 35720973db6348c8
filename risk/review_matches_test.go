package risk

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Names of the real list (ofac-sdn-2024-05-03) used below.
const (
	putin     = "Vladimir Putin"            // possible match of 35096 (PUTIN, Vladimir Vladimirovich)
	maduro    = "Nicolas Maduro"            // possible match of 22790 (MADURO MOROS, Nicolas)
	bogdanov  = "Vladimir Bogdanov"         // possible match of 24317 and of 32754 (BOGDANOV, Vladimir Leonidovich / Mikhaylovich)
	islambuli = "mohammed shawki islambuli" // match of 2682
	kim       = "kim jong un"               // match of 20157
	plainName = "Pieter Jansen"             // no match
)

// matchKeys names the matches ms as "party/ent_num", sorted.
func matchKeys(ms []ScreeningMatch) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s/%d", m.Party, m.EntNum))
	}
	slices.Sort(out)
	return out
}

// alertMatches returns the matches of the one risk.alert about subject.
func (e *env) alertMatches(subject uuid.UUID) []ScreeningMatch {
	e.t.Helper()
	var raw []byte
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT COALESCE(payload->'matches', 'null') FROM events
		WHERE tenant_id = $1 AND type = 'risk.alert' AND subject_id = $2`, e.tenant, subject.String()).Scan(&raw); err != nil {
		e.t.Fatal(err)
	}
	var ms []ScreeningMatch
	if err := json.Unmarshal(raw, &ms); err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// checkReviewMatches fails unless review id holds exactly the matches
// want ("party/ent_num"), all possible matches when partial, all full
// ones otherwise, with its best one as Match; and returns it.
func (e *env) checkReviewMatches(id uuid.UUID, want []string, partial bool) Review {
	e.t.Helper()
	rv, err := e.svc.Review(context.Background(), e.tenant, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if got := matchKeys(rv.Matches); !slices.Equal(got, want) {
		e.t.Fatalf("review holds %v, want %v", got, want)
	}
	for _, m := range rv.Matches {
		if m.Partial != partial || m.EntryFingerprint == "" || m.PartyID == "" || m.Name == "" {
			e.t.Errorf("review match %+v, want partial %v with party, name and fingerprint", m, partial)
		}
	}
	if rv.Match == nil || !slices.ContainsFunc(rv.Matches, func(m ScreeningMatch) bool { return m.key() == rv.Match.key() }) {
		e.t.Errorf("review match %+v not among its matches", rv.Match)
	}
	return rv
}

// TestPayoutReviewHoldsEveryPossibleMatch: a payout whose buyer and seller
// are both possible matches, or whose buyer possibly matches two entries,
// goes to one review holding every one of them (it used to hold the best
// only, and its approval paid the payout with the others never judged).
// The alert carries them all. Rejecting the review confirms nothing;
// approving it clears each, as a possible match, so the next payout of
// the same parties under the same names is approved.
func TestPayoutReviewHoldsEveryPossibleMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	for i, c := range []struct {
		name               string
		buyerName, sellerN string
		want               []string
	}{
		{"both parties", putin, maduro, []string{"buyer/35096", "seller/22790"}},
		{"two entries of one party", bogdanov, plainName, []string{"buyer/24317", "buyer/32754"}},
		{"two entries and the other party", maduro, bogdanov, []string{"buyer/22790", "seller/24317", "seller/32754"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			buyer, seller := fmt.Sprintf("b%d", i), fmt.Sprintf("s%d", i)
			e.establish(buyer, seller)
			release := func() GateDecision {
				t.Helper()
				r := e.newRelease(buyer, seller)
				r.escrowID = e.observe(buyer, seller, "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
				r.buyerName, r.sellerName = c.buyerName, c.sellerN
				return e.decide(r)
			}
			inReview := func(d GateDecision) {
				t.Helper()
				if d.Outcome != OutcomeReview || !hasReason(d.Decision, ReasonSanctionsPossibleMatch) || hasReason(d.Decision, ReasonSanctionsMatch) || d.ReviewID == nil {
					t.Fatalf("%s %v review %v, want review on sanctions_possible_match", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
				}
				rv := e.checkReviewMatches(*d.ReviewID, c.want, true)
				if rv.SubjectType != SubjectRelease {
					t.Errorf("review of %s, want the release", rv.SubjectType)
				}
				if got := matchKeys(e.alertMatches(rv.SubjectID)); !slices.Equal(got, c.want) {
					t.Errorf("alert matches %v, want %v", got, c.want)
				}
			}
			clearances := func() int {
				t.Helper()
				return e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id IN ($2, $3)`, e.tenant, buyer, seller)
			}

			d := release()
			inReview(d)
			if _, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, false, "not sure", "reviewer-1"); err != nil {
				t.Fatal(err)
			}
			if n := clearances(); n != 0 {
				t.Fatalf("%d clearances after a rejection", n)
			}
			d = release()
			inReview(d)
			if _, err := e.svc.DecideReview(ctx, e.tenant, *d.ReviewID, true, "different people", "reviewer-1"); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id IN ($2, $3) AND partial AND review_id = $4`,
				e.tenant, buyer, seller, *d.ReviewID); n != len(c.want) || clearances() != len(c.want) {
				t.Fatalf("%d possible-match clearances (%d in all) after the approval, want %d", n, clearances(), len(c.want))
			}
			if d = release(); d.Outcome != OutcomeApprove || d.ReviewID != nil || d.Features.SanctionsPossibleMatch {
				t.Fatalf("after the approval: %s %v review %v, want approve", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
			}
		})
	}
	e.t = t
}

// TestEscrowReviewHoldsEveryMatch: at escrow creation the review holds
// every possible match of both parties, or, when a name matched, every
// match of both parties and no possible match (see
// Screening.reviewMatches); approving it clears what it holds, so the
// next escrow of the same parties opens no review, or one of the possible
// match that was left out.
func TestEscrowReviewHoldsEveryMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	for i, c := range []struct {
		name                string
		buyerName, sellerN  string
		match               bool     // a full match: reason sanctions_match
		want                []string // the matches the review holds
		wantAfter           []string // those of the next escrow's review, after the approval
		wantAfterIsPossible bool
	}{
		{"possible matches of both parties", putin, maduro, false, []string{"buyer/35096", "seller/22790"}, nil, false},
		{"two possible entries of one party", bogdanov, plainName, false, []string{"buyer/24317", "buyer/32754"}, nil, false},
		{"matches of both parties", islambuli, kim, true, []string{"buyer/2682", "seller/20157"}, nil, false},
		{"a match and a possible match", islambuli, putin, true, []string{"buyer/2682"}, []string{"seller/35096"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			buyer, seller := Party{ID: fmt.Sprintf("eb%d", i), Name: c.buyerName}, Party{ID: fmt.Sprintf("es%d", i), Name: c.sellerN}
			s, escrow := e.screen(e.gate, buyer, seller)
			if s.ReviewID == nil || s.Match != c.match {
				t.Fatalf("screening %+v", s)
			}
			rv := e.checkReviewMatches(*s.ReviewID, c.want, !c.match)
			code := ReasonSanctionsPossibleMatch
			if c.match {
				code = ReasonSanctionsMatch
			}
			if rv.SubjectType != SubjectEscrow || rv.SubjectID != escrow || len(rv.Reasons) != 1 || rv.Reasons[0].Code != code {
				t.Errorf("review %+v, want one of the escrow with reason %s", rv, code)
			}
			if got := matchKeys(e.alertMatches(escrow)); !slices.Equal(got, c.want) {
				t.Errorf("alert matches %v, want %v", got, c.want)
			}
			if _, err := e.svc.DecideReview(ctx, e.tenant, *s.ReviewID, true, "namesakes", "reviewer-1"); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND party_id IN ($2, $3) AND partial = $4`,
				e.tenant, buyer.ID, seller.ID, !c.match); n != len(c.want) {
				t.Fatalf("%d clearances after the approval, want %d", n, len(c.want))
			}
			s, _ = e.screen(e.gate, buyer, seller)
			if c.wantAfter == nil {
				if s.ReviewID != nil || s.Match || s.PossibleMatch {
					t.Fatalf("next escrow after the approval: %+v, want no review", s)
				}
				return
			}
			if s.ReviewID == nil || s.Match {
				t.Fatalf("next escrow after the approval: %+v, want a review of what was left out", s)
			}
			e.checkReviewMatches(*s.ReviewID, c.wantAfter, c.wantAfterIsPossible)
		})
	}
	e.t = t
}

// TestBlockedPayoutReviewHoldsEveryMatch: a payout blocked by matches of
// both parties opens an escrow review holding both, and its approval
// clears both. A retried payout points at the pending review holding the
// same matches, and at no review holding fewer (the escrow's review of
// the buyer's match alone would clear the buyer only); a possible match
// of the other party stays out of a block's review.
func TestBlockedPayoutReviewHoldsEveryMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.loadRealList()
	e.establish("b", "s")
	escrowID := e.observe("b", "s", "", "250.00", "USD", e.clock.Now().Add(-time.Hour))
	var created Screening
	e.tx(func(tx pgx.Tx) error {
		var err error
		created, err = e.gate.ScreenParties(ctx, tx, e.tenant, escrowID, Party{ID: "b", Name: islambuli}, Party{ID: "s", Name: plainName}, e.clock.Now())
		return err
	})
	if created.ReviewID == nil {
		t.Fatalf("escrow screening %+v opened no review", created)
	}
	e.checkReviewMatches(*created.ReviewID, []string{"buyer/2682"}, false)
	// release blocks a release of the escrow and returns the decision and
	// the release (the alert's subject).
	release := func(buyerName, sellerName string) (GateDecision, uuid.UUID) {
		t.Helper()
		r := e.newRelease("b", "s")
		r.escrowID = escrowID
		r.buyerName, r.sellerName = buyerName, sellerName
		d := e.decide(r)
		if d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonSanctionsMatch) || d.ReviewID == nil {
			t.Fatalf("%s %v review %v, want a sanctions block with a review", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
		}
		return d, r.subject
	}

	both, subject := release(islambuli, kim)
	if *both.ReviewID == *created.ReviewID {
		t.Fatal("the block of two matches points at the review of one")
	}
	rv := e.checkReviewMatches(*both.ReviewID, []string{"buyer/2682", "seller/20157"}, false)
	if rv.SubjectType != SubjectEscrow || rv.SubjectID != escrowID || rv.DecisionID == nil || *rv.DecisionID != both.ID {
		t.Fatalf("review %+v, want the escrow's, of the decision", rv)
	}
	if got := matchKeys(e.alertMatches(subject)); !slices.Equal(got, []string{"buyer/2682", "seller/20157"}) {
		t.Errorf("alert matches %v", got)
	}
	if again, _ := release(islambuli, kim); *again.ReviewID != *both.ReviewID {
		t.Errorf("retried: review %s, want the pending %s of the same matches", again.ReviewID, both.ReviewID)
	}
	if one, _ := release(islambuli, plainName); *one.ReviewID != *created.ReviewID {
		t.Errorf("the buyer's match alone: review %s, want the pending %s of that match", one.ReviewID, created.ReviewID)
	}
	withPossible, subject := release(islambuli, putin)
	if *withPossible.ReviewID != *created.ReviewID {
		t.Errorf("a match and a possible match: review %s, want the pending %s of the match", withPossible.ReviewID, created.ReviewID)
	}
	if got := matchKeys(e.alertMatches(subject)); !slices.Equal(got, []string{"buyer/2682"}) {
		t.Errorf("alert matches %v of a match and a possible match, want the match", got)
	}

	if _, err := e.svc.DecideReview(ctx, e.tenant, *both.ReviewID, true, "namesakes", "reviewer-1"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM risk_clearances WHERE tenant_id = $1 AND NOT partial AND review_id = $2`, e.tenant, *both.ReviewID); n != 2 {
		t.Fatalf("%d clearances after the approval, want 2", n)
	}
	r := e.newRelease("b", "s")
	r.escrowID = escrowID
	r.buyerName, r.sellerName = islambuli, kim
	if d := e.decide(r); d.Outcome == OutcomeBlock || d.Features.SanctionsMatch {
		t.Fatalf("after the approval: %s %v, want neither match", d.Outcome, reasonCodes(d.Decision))
	}
}
