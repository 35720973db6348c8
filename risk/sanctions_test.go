package risk

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// loadRealList loads the real OFAC list for e's tenant.
func (e *env) loadRealList() SanctionsList {
	e.t.Helper()
	f, err := os.Open(realSDNPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	l, err := e.svc.LoadSanctions(context.Background(), e.tenant, f, "ofac-sdn-2024-05-03.csv")
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) screen(g *Gate, buyer, seller Party) (Screening, uuid.UUID) {
	e.t.Helper()
	escrow := uuid.Must(uuid.NewV7())
	var s Screening
	e.tx(func(tx pgx.Tx) error {
		var err error
		s, err = g.ScreenParties(context.Background(), tx, e.tenant, escrow, buyer, seller, e.clock.Now())
		return err
	})
	return s, escrow
}

func TestScreenPartiesRealList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ordinary := Party{ID: "p-ord", Name: "Jan de Vries", Country: "NL"}

	// No list loaded: nothing matches, the screenings are still stored.
	s, escrow := e.screen(e.gate, Party{ID: "b", Name: "Kim Jong Un"}, ordinary)
	if s.Match || s.ReviewID != nil {
		t.Fatalf("without a list: %+v", s)
	}
	if n := e.count(`SELECT count(*) FROM risk_screenings WHERE subject_id = $1 AND list_id IS NULL`, escrow); n != 2 {
		t.Errorf("%d screenings stored without a list, want 2", n)
	}

	l := e.loadRealList()
	if l.Entries != 14965 || len(l.SHA256) != 64 {
		t.Fatalf("list %+v", l)
	}
	if n := e.count(`SELECT count(*) FROM sanctions_entries WHERE tenant_id = $1 AND list_id = $2`, e.tenant, l.ID); n != 14965 {
		t.Fatalf("%d entries stored", n)
	}
	// A second gate on the same database reads the list from it, as
	// another instance would.
	cold, err := NewGate(GateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	matches := []struct {
		name   string
		entNum int
	}{
		{"kim jong un", 20157},                      // case
		{"Jong-Un KIM", 20157},                      // word order, punctuation
		{"Gilberto José Rodríguez Orejuela", 4107},  // accents
		{"RODRIGUEZ OREJUELA, GILBERTO JOSE", 4107}, // list form
		{"Joaquín Guzmán Loera", 6861},              // accents
		{"Loera Joaquin Guzman", 6861},              // word order
		{"The Chess Player", 4107},                  // alias (a.k.a.)
		{"Caribex", 751},                            // alias
		{"Mousa Mohammed Abu Marzook", 3754},        // individual, first-last
		{"Banco Nacional de Cuba", 306},             // entity
		{"Sberbank Capital LLC", 18669},             // legal form written otherwise
		{"Khalid Sheikh Mohammed", 6928},            // transliteration
	}
	for i, m := range matches {
		t.Run(m.name, func(t *testing.T) {
			e.t = t
			g := e.gate
			if i%2 == 1 {
				g = cold
			}
			s, escrow := e.screen(g, ordinary, Party{ID: "seller-x", Name: m.name})
			if !s.Match || len(s.Matches) != 1 || s.Matches[0].EntNum != m.entNum || s.Matches[0].Party != PartySeller || s.ReviewID == nil {
				t.Fatalf("screening %+v, want a match on %d with a review", s, m.entNum)
			}
			rv, err := e.svc.Review(ctx, e.tenant, *s.ReviewID)
			if err != nil || rv.SubjectType != SubjectEscrow || rv.SubjectID != escrow || rv.Match == nil || rv.Match.EntNum != m.entNum ||
				rv.Reasons[0].Code != ReasonSanctionsMatch {
				t.Fatalf("review %+v %v", rv, err)
			}
			if e.alerts(escrow) != 1 {
				t.Error("no risk.alert")
			}
			if n := e.count(`SELECT count(*) FROM risk_screenings WHERE subject_id = $1 AND matched AND party = 'seller' AND list_id = $2`, escrow, l.ID); n != 1 {
				t.Errorf("matched screening not stored (%d)", n)
			}
		})
	}
	e.t = t
	for _, name := range []string{"Jan de Vries", "Maria Garcia Lopez", "John Smith", "Acme Trading GmbH", "Sarah O'Connor", "Pieter Jansen"} {
		if s, _ := e.screen(cold, Party{ID: "b", Name: name}, ordinary); s.Match {
			t.Errorf("ordinary name %q matched %+v", name, s.Matches)
		}
	}
}

func TestDecideSanctionsAtRelease(t *testing.T) {
	e := newEnv(t)
	e.loadRealList()
	e.establish("b", "s")
	r := e.newRelease("b", "s")
	r.escrowID = e.observe("b", "s", "", r.amount, "USD", e.clock.Now().Add(-time.Hour))
	r.buyerName = "mohammed shawki islambuli"
	d := e.decide(r)
	if d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonSanctionsMatch) || d.ReviewID == nil || !d.Features.SanctionsMatch {
		t.Fatalf("%s %v review %v, want block on sanctions_match with a review", d.Outcome, reasonCodes(d.Decision), d.ReviewID)
	}
	rv, err := e.svc.Review(context.Background(), e.tenant, *d.ReviewID)
	if err != nil || rv.Match == nil || rv.Match.EntNum != 2682 || rv.Match.Party != PartyBuyer || rv.SubjectType != SubjectEscrow ||
		rv.SubjectID != r.escrowID || rv.DecisionID == nil || *rv.DecisionID != d.ID {
		t.Fatalf("review %+v %v", rv, err)
	}
	var payload string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT payload::TEXT FROM events WHERE type = 'risk.alert' AND subject_id = $1`, r.subject.String()).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(payload, `"sanctions_match"`) || !strings.Contains(payload, `"ent_num": 2682`) {
		t.Errorf("alert %s", payload)
	}
	// The tenant's rules cannot lift the hard rule.
	if _, err := e.svc.PutRules(context.Background(), e.tenant, RuleSetInput{Rules: []Rule{{ID: "ok", When: "true", Action: OutcomeApprove, Reason: "all_good"}}}, "t"); err != nil {
		t.Fatal(err)
	}
	r.subject = uuid.Must(uuid.NewV7())
	if d := e.decide(r); d.Outcome != OutcomeBlock || !hasReason(d.Decision, ReasonSanctionsMatch) {
		t.Errorf("with an approve-all rule set: %s %v", d.Outcome, reasonCodes(d.Decision))
	}
}

func TestLoadSanctionsErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bad := "36,\"AEROCARIBBEAN AIRLINES\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n" +
		"x,\"BAD\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n"
	_, err := e.svc.LoadSanctions(ctx, e.tenant, strings.NewReader(bad), "bad.csv")
	var pe *SDNParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !errors.Is(err, ErrSDNFormat) {
		t.Fatalf("bad file: %v, want an SDNParseError on line 2", err)
	}
	if _, err := e.svc.LoadSanctions(ctx, e.tenant, strings.NewReader(""), "empty.csv"); !errors.Is(err, ErrEmptySanctionsList) {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := e.svc.CurrentSanctionsList(ctx, e.tenant); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a list was stored: %v", err)
	}
	// A new list replaces the old one.
	good := strings.SplitN(bad, "\r\n", 2)[0] + "\r\n"
	first, err := e.svc.LoadSanctions(ctx, e.tenant, strings.NewReader(good), "one.csv")
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.svc.LoadSanctions(ctx, e.tenant, strings.NewReader(good), "two.csv")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := e.svc.CurrentSanctionsList(ctx, e.tenant)
	if err != nil || cur.ID != second.ID || cur.Entries != 1 {
		t.Fatalf("current %+v %v", cur, err)
	}
	if n := e.count(`SELECT count(*) FROM sanctions_entries WHERE list_id = $1`, first.ID); n != 0 {
		t.Errorf("old list kept %d entries", n)
	}
}
