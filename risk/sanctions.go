package risk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// Sanctions limits.
const (
	// SanctionsInsertBatch is how many entries one INSERT stores when a
	// list is loaded.
	SanctionsInsertBatch = 1000
	// MaxSanctionsSourceLen is the longest source label kept.
	MaxSanctionsSourceLen = 200
	// MaxScreeningsStored is the most matches stored per screening.
	MaxScreeningsStored = 10
)

// Screening subjects and parties.
const (
	SubjectEscrow  = "escrow"
	SubjectRelease = "release"
	SubjectRefund  = "refund"
	PartyBuyer     = "buyer"
	PartySeller    = "seller"
)

// SanctionsStore keeps each tenant's current sanctions list in the
// database (the newest loaded list is current) and a Screener over it in
// memory, keyed by list id. Lists are never changed once loaded, so a
// cached screener is right for its id on every instance; a decision reads
// the tenant's current list id in its own transaction.
//
// Parties are people and organisations, so vessels and aircraft on the
// list are not screened against their names.
type SanctionsStore struct {
	threshold float64
	mu        sync.Mutex
	cache     map[uuid.UUID]cachedScreener // tenant → screener of its newest list seen
}

type cachedScreener struct {
	listID uuid.UUID
	s      *Screener
}

// NewSanctionsStore returns a store screening at threshold (0 means
// DefaultScreenThreshold; else it must be in (0, 1]).
func NewSanctionsStore(threshold float64) (*SanctionsStore, error) {
	if _, err := NewScreener(nil, threshold); err != nil {
		return nil, err
	}
	if threshold == 0 {
		threshold = DefaultScreenThreshold
	}
	return &SanctionsStore{threshold: threshold, cache: make(map[uuid.UUID]cachedScreener)}, nil
}

// Threshold returns the screening threshold.
func (s *SanctionsStore) Threshold() float64 { return s.threshold }

// SanctionsList describes a loaded list.
type SanctionsList struct {
	ID       uuid.UUID `json:"id"`
	Source   string    `json:"source"`
	SHA256   string    `json:"sha256"`
	Entries  int       `json:"entries"`
	LoadedAt time.Time `json:"loaded_at"`
}

// ResourceID names the list for the audit log.
func (l SanctionsList) ResourceID() string { return l.ID.String() }

// ParsedSanctionsList is a parsed file ready to store (see
// ParseSanctionsList).
type ParsedSanctionsList struct {
	Entries []SanctionsEntry
	SHA256  string
}

// ParseSanctionsList parses an OFAC SDN file (see ParseSDN) and hashes it.
// It runs outside any transaction.
func ParseSanctionsList(r io.Reader) (ParsedSanctionsList, error) {
	h := sha256.New()
	entries, err := ParseSDN(io.TeeReader(r, h))
	if err != nil {
		return ParsedSanctionsList{}, fmt.Errorf("risk: sanctions list: %w", err)
	}
	if len(entries) == 0 {
		return ParsedSanctionsList{}, fmt.Errorf("risk: sanctions list: %w", ErrEmptySanctionsList)
	}
	return ParsedSanctionsList{Entries: entries, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// load stores p as the tenant's current list in tx, in batches of
// SanctionsInsertBatch, and deletes the entries of older lists (their
// metadata stays, for the screenings that name them).
func (s *SanctionsStore) load(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, p ParsedSanctionsList, source string, now time.Time) (SanctionsList, error) {
	l := SanctionsList{ID: uuid.Must(uuid.NewV7()), Source: cut(source, MaxSanctionsSourceLen), SHA256: p.SHA256, Entries: len(p.Entries), LoadedAt: now}
	if _, err := tx.Exec(ctx, `
		INSERT INTO sanctions_lists (id, tenant_id, source, sha256, entries, loaded_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		l.ID, tenant, l.Source, l.SHA256, l.Entries, now); err != nil {
		return SanctionsList{}, fmt.Errorf("risk: store sanctions list: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sanctions_entries WHERE tenant_id = $1 AND list_id <> $2`, tenant, l.ID); err != nil {
		return SanctionsList{}, fmt.Errorf("risk: drop old sanctions entries: %w", err)
	}
	for start := 0; start < len(p.Entries); start += SanctionsInsertBatch {
		batch := p.Entries[start:min(start+SanctionsInsertBatch, len(p.Entries))]
		nums := make([]int64, len(batch))
		names := make([]string, len(batch))
		types := make([]string, len(batch))
		programs := make([]string, len(batch))
		remarks := make([]string, len(batch))
		for i, e := range batch {
			nums[i], names[i], types[i], remarks[i] = int64(e.EntNum), e.Name, e.Type, e.Remarks
			programs[i] = strings.Join(e.Programs, "] [")
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO sanctions_entries (tenant_id, list_id, ent_num, name, entry_type, programs, remarks)
			SELECT $1, $2, u.ent_num, u.name, u.entry_type, u.programs, u.remarks
			FROM unnest($3::INT8[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[]) AS u (ent_num, name, entry_type, programs, remarks)`,
			tenant, l.ID, nums, names, types, programs, remarks); err != nil {
			return SanctionsList{}, fmt.Errorf("risk: store sanctions entries %d-%d: %w", start, start+len(batch), err)
		}
	}
	return l, nil
}

// remember caches a screener built from a list that was just committed.
func (s *SanctionsStore) remember(tenant uuid.UUID, listID uuid.UUID, entries []SanctionsEntry) error {
	scr, err := NewScreener(screenable(entries), s.threshold)
	if err != nil {
		return err
	}
	s.put(tenant, listID, scr)
	return nil
}

func (s *SanctionsStore) put(tenant, listID uuid.UUID, scr *Screener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// UUIDv7 ids grow with time: never replace a newer list by an older.
	if old, ok := s.cache[tenant]; !ok || uuidLess(old.listID, listID) || old.listID == listID {
		s.cache[tenant] = cachedScreener{listID: listID, s: scr}
	}
}

func uuidLess(a, b uuid.UUID) bool { return string(a[:]) < string(b[:]) }

// currentListID returns the id of the tenant's current list, nil for none.
func currentListID(ctx context.Context, q db.Querier, tenant uuid.UUID) (*uuid.UUID, error) {
	var id uuid.UUID
	err := q.QueryRow(ctx, `SELECT id FROM sanctions_lists WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, tenant).Scan(&id)
	if db.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("risk: current sanctions list: %w", err)
	}
	return &id, nil
}

// screener returns the screener of list listID of the tenant (nil listID:
// no list, nil screener), reading the entries through q on first use.
func (s *SanctionsStore) screener(ctx context.Context, q db.Querier, tenant uuid.UUID, listID *uuid.UUID) (*Screener, error) {
	if listID == nil {
		return nil, nil
	}
	s.mu.Lock()
	c, ok := s.cache[tenant]
	s.mu.Unlock()
	if ok && c.listID == *listID {
		return c.s, nil
	}
	rows, err := q.Query(ctx, `
		SELECT ent_num, name, entry_type, programs, remarks FROM sanctions_entries
		WHERE tenant_id = $1 AND list_id = $2 ORDER BY ent_num`, tenant, *listID)
	if err != nil {
		return nil, fmt.Errorf("risk: read sanctions list %s: %w", listID, err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SanctionsEntry, error) {
		var e SanctionsEntry
		var num int64
		var programs string
		if err := row.Scan(&num, &e.Name, &e.Type, &programs, &e.Remarks); err != nil {
			return e, err
		}
		e.EntNum = int(num)
		e.Programs = splitPrograms(programs)
		e.Aliases = parseAliases(e.Remarks, e.Name)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("risk: read sanctions list %s: %w", listID, err)
	}
	scr, err := NewScreener(screenable(entries), s.threshold)
	if err != nil {
		return nil, err
	}
	s.put(tenant, *listID, scr)
	return scr, nil
}

// screenable drops vessels and aircraft: parties are people and
// organisations.
func screenable(entries []SanctionsEntry) []SanctionsEntry {
	out := make([]SanctionsEntry, 0, len(entries))
	for _, e := range entries {
		if e.Type != SDNTypeVessel && e.Type != SDNTypeAircraft {
			out = append(out, e)
		}
	}
	return out
}

// ScreeningMatch is the best list entry a party's name matched.
type ScreeningMatch struct {
	Party       string  `json:"party"` // PartyBuyer or PartySeller
	PartyID     string  `json:"party_id,omitempty"`
	Name        string  `json:"name,omitempty"` // the party's name as screened
	EntNum      int     `json:"ent_num"`
	MatchedName string  `json:"matched_name"`
	Score       float64 `json:"score"`
	// Partial marks a possible match (Match.Partial): the name matched
	// only by the partial-name or extra-name rule, or through weak
	// spelling variants.
	Partial  bool     `json:"partial,omitempty"`
	Programs []string `json:"programs,omitempty"`
	// EntryFingerprint identifies what the list entry said when it
	// matched (SanctionsEntry.Fingerprint); a clearance is bound to it.
	EntryFingerprint string `json:"entry_fingerprint,omitempty"`
}

// Screening is the result of screening both parties of an escrow.
type Screening struct {
	// Match is true when a party's name matched (not only possibly).
	Match bool `json:"match"`
	// PossibleMatch is true when a party's best remaining match is a
	// possible match (ScreeningMatch.Partial).
	PossibleMatch bool `json:"possible_match"`
	// Matches are the matches left after clearances: the buyer's, then
	// the seller's, each party's in Screen's order (matches before
	// possible matches, best first).
	Matches []ScreeningMatch `json:"matches,omitempty"`
	// ReviewID is the review opened for a match.
	ReviewID *uuid.UUID `json:"review_id,omitempty"`
}

// best returns the highest-scoring match, a possible match only when
// there is no other; nil for none.
func (s Screening) best() *ScreeningMatch {
	var b *ScreeningMatch
	for i := range s.Matches {
		m := &s.Matches[i]
		if b == nil || (b.Partial && !m.Partial) || (b.Partial == m.Partial && m.Score > b.Score) {
			b = m
		}
	}
	return b
}

// reviewMatches returns the matches a review opened for s holds, best()
// among them: when a name matched, every match of both parties (the
// review of a block); otherwise every possible match of both parties (the
// review a payout waits for). Each is cleared by the review's approval
// (decideMatch), so none may be left out: a possible match left out of the
// review a payout waits for would be paid without anybody judging it.
//
// A block's review leaves out the possible matches, of the other party or
// of the matched party's other entries. Approving it pays nothing (the
// payout was refused) and is a judgement of the matches that blocked;
// clearing a possible match beside them would pass it on a decision about
// something else. Left out, it is not cleared, so the next payout, once
// the matches are cleared, waits for a review of it: nothing is paid
// before a reviewer was shown every possible match.
func (s Screening) reviewMatches() []ScreeningMatch {
	var out []ScreeningMatch
	for _, m := range s.Matches {
		if !s.Match || !m.Partial { // without a match, every one is possible
			out = append(out, m)
		}
	}
	return out
}

// screeningRecord is one stored screening of one name.
type screeningRecord struct {
	party   string
	partyID string
	name    string
	matches []Match
	cleared []Match // matches a reviewer cleared (dropCleared)
}

// screenNames screens both names with scr (nil: no list, no match) and
// returns the per-party records; screenParties adds the summary.
func screenNames(scr *Screener, buyer, seller Party) []screeningRecord {
	recs := []screeningRecord{{party: PartyBuyer, partyID: buyer.ID, name: buyer.Name}, {party: PartySeller, partyID: seller.ID, name: seller.Name}}
	for i := range recs {
		if scr == nil || strings.TrimSpace(recs[i].name) == "" {
			continue
		}
		recs[i].matches = scr.Screen(recs[i].name)
	}
	return recs
}

// screenParties screens both names and drops the matches the tenant
// cleared (dropCleared): the per-party records and the summary.
func screenParties(ctx context.Context, q db.Querier, tenant uuid.UUID, scr *Screener, buyer, seller Party) ([]screeningRecord, Screening, error) {
	recs := screenNames(scr, buyer, seller)
	out, err := dropCleared(ctx, q, tenant, recs)
	return recs, out, err
}

// summarize is the summary of screening records: every remaining match,
// each party's in Screen's order (matches before possible matches).
func summarize(recs []screeningRecord) Screening {
	var out Screening
	for _, r := range recs {
		if len(r.matches) > 0 {
			out.Match = out.Match || !r.matches[0].Partial
			out.PossibleMatch = out.PossibleMatch || r.matches[0].Partial
		}
		for _, m := range r.matches {
			out.Matches = append(out.Matches, ScreeningMatch{Party: r.party, PartyID: r.partyID, Name: r.name, EntNum: m.EntNum,
				MatchedName: m.MatchedName, Score: m.Score, Partial: m.Partial, Programs: m.Entry.Programs, EntryFingerprint: m.Entry.Fingerprint()})
		}
	}
	return out
}

// matched reports whether matches holds a match that is not a possible
// match.
func matched(matches []Match) bool {
	return len(matches) > 0 && !matches[0].Partial // matches before possible matches
}

// queueScreenings queues the insert of each screening, in one statement.
// matched is true when a match that is not a possible match is left
// after clearances; each stored match says whether it is a possible
// match (partial) or was cleared.
func queueScreenings(b *db.Batch, tenant uuid.UUID, subjectType string, subjectID uuid.UUID, escrowID *uuid.UUID,
	decisionID *uuid.UUID, listID *uuid.UUID, recs []screeningRecord, now time.Time) error {
	ids := make([]uuid.UUID, len(recs))
	parties := make([]string, len(recs))
	partyIDs := make([]string, len(recs))
	names := make([]string, len(recs))
	isMatched := make([]bool, len(recs))
	matches := make([]string, len(recs))
	for i, r := range recs {
		ids[i], parties[i], partyIDs[i], names[i], isMatched[i] = uuid.Must(uuid.NewV7()), r.party, r.partyID, cut(r.name, MaxNameRunes*4), matched(r.matches)
		type stored struct {
			EntNum      int     `json:"ent_num"`
			MatchedName string  `json:"matched_name"`
			Score       float64 `json:"score"`
			Partial     bool    `json:"partial,omitempty"` // a possible match (Match.Partial)
			Cleared     bool    `json:"cleared,omitempty"` // by a reviewer (clearances.go)
		}
		ms := make([]stored, 0, min(len(r.matches)+len(r.cleared), MaxScreeningsStored))
		for _, m := range r.matches[:min(len(r.matches), MaxScreeningsStored)] {
			ms = append(ms, stored{m.EntNum, m.MatchedName, m.Score, m.Partial, false})
		}
		for _, m := range r.cleared[:min(len(r.cleared), MaxScreeningsStored-len(ms))] {
			ms = append(ms, stored{m.EntNum, m.MatchedName, m.Score, m.Partial, true})
		}
		b, err := json.Marshal(ms)
		if err != nil {
			return err
		}
		matches[i] = string(b)
	}
	b.Queue(`
		INSERT INTO risk_screenings (id, tenant_id, subject_type, subject_id, escrow_id, decision_id, party, party_id, name, list_id, matched, matches, screened_at)
		SELECT u.id, $1, $2, $3, $4, $5, u.party, u.party_id, u.name, $6, u.matched, u.matches::JSONB, $7
		FROM unnest($8::UUID[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BOOL[], $13::TEXT[]) AS u (id, party, party_id, name, matched, matches)`,
		tenant, subjectType, subjectID, escrowID, decisionID, listID, now, ids, parties, partyIDs, names, isMatched, matches)
	return nil
}

// ScreenParties screens the buyer's and the seller's names against the
// tenant's current sanctions list at escrow creation, in the caller's
// transaction, and stores both screenings. A match not cleared by a
// reviewer (clearances.go) opens a review (subject "escrow", escrowID)
// holding every match of both parties (Screening.reviewMatches; the best
// is its Match), reason sanctions_match, and writes a risk.alert event;
// so do possible matches (Match.Partial), reason
// sanctions_possible_match, when there is no match: the review holds
// every possible match of both parties. Nothing is
// blocked here: the gate decides each payout. Without a loaded list
// nothing matches.
func (g *Gate) ScreenParties(ctx context.Context, tx pgx.Tx, tenant, escrowID uuid.UUID, buyer, seller Party, now time.Time) (Screening, error) {
	listID, err := currentListID(ctx, tx, tenant)
	if err != nil {
		return Screening{}, err
	}
	scr, err := g.sanctions.screener(ctx, tx, tenant, listID)
	if err != nil {
		return Screening{}, err
	}
	recs, out, err := screenParties(ctx, tx, tenant, scr, buyer, seller)
	if err != nil {
		return Screening{}, err
	}
	var batch db.Batch
	if err := queueScreenings(&batch, tenant, SubjectEscrow, escrowID, &escrowID, nil, listID, recs, now); err != nil {
		return Screening{}, err
	}
	if err := db.Send(ctx, tx, &batch); err != nil {
		return Screening{}, fmt.Errorf("risk: store screenings: %w", err)
	}
	if !out.Match && !out.PossibleMatch {
		return out, nil
	}
	reasons := []Reason{{Code: ReasonSanctionsMatch, Rule: hardRuleSanctions}}
	if !out.Match {
		reasons = []Reason{{Code: ReasonSanctionsPossibleMatch, Rule: hardRulePossibleSanctions}}
	}
	matches := out.reviewMatches()
	rv, err := g.openReview(ctx, tx, newReview{tenant: tenant, subjectType: SubjectEscrow, subjectID: escrowID, escrowID: &escrowID,
		reasons: reasons, matches: matches}, now)
	if err != nil {
		return Screening{}, err
	}
	out.ReviewID = &rv
	err = emitAlert(ctx, tx, tenant, Alert{Outcome: OutcomeReview, Reasons: reasons, SubjectType: SubjectEscrow, SubjectID: escrowID,
		EscrowID: &escrowID, ReviewID: &rv, BuyerID: buyer.ID, SellerID: seller.ID, Match: out.best(), Matches: matches}, now)
	if err != nil {
		return Screening{}, err
	}
	return out, nil
}
