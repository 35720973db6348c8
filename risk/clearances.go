package risk

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
)

// A clearance is a sanctions match a reviewer found to be a false positive:
// approving a review that holds a match (Review.Matches: every match it
// holds, not only the best, Review.Match) records that the party, as buyer
// or seller and under the name that was screened, is not that list entry.
// Screening then skips the entry for that party, role and
// name, so the party's payouts are no longer blocked by it and its next
// escrows open no new review. Another name (a party renamed to a listed
// name), another entry, the other role, or another party with the same
// name still matches. Nor does a list that changes the entry (an alias, a
// date of birth added): the clearance is bound to what the entry said
// (SanctionsEntry.Fingerprint), and the match is reviewed again.
//
// The last decision on a review of the match wins: rejecting one (the
// match is confirmed) deletes the clearance an earlier approval wrote, so
// a reviewer who cleared by mistake can also revoke the clearance
// (RevokeClearance) or freeze the party. Letting a review expire changes
// nothing. A possible match (Match.Partial) is cleared
// by an approval in the same way, but rejecting its review confirms
// nothing: the payout is voided, a clearance stays, and the name is
// reviewed again next time.
//
// Without clearances a false positive held the escrow's money for good:
// every payout was blocked again by the same match.

// nameKey is the normalised form of a screened name a clearance is bound
// to.
func nameKey(name string) string { return strings.Join(NormalizeName(name), " ") }

// decideMatch applies a decided review to the clearance of each match it
// holds (Review.Matches), in the review's transaction: approved writes
// each (the latest approval's review, reviewer and time, and the entry's
// fingerprint; partial while only possible matches of it were approved),
// rejected deletes the clearance of each full match, and a rejection by
// expiry (nobody judged the matches) or of a possible match (nothing to
// confirm) does nothing. A match that did not record the screened name
// (older reviews) changes nothing. A match recorded before matches
// carried fingerprints writes the empty one (any version of the entry)
// for a new clearance, and never widens one bound to a version.
func decideMatch(ctx context.Context, tx pgx.Tx, rv Review, status, by string, now time.Time) error {
	if by == DecidedByExpiry {
		return nil
	}
	var b db.Batch
	wrap := func(err error) error { return fmt.Errorf("risk: clearance of review %s: %w", rv.ID, err) }
	for _, m := range rv.Matches {
		k := m.key()
		if k.partyID == "" || k.nameKey == "" || (m.Partial && status != ReviewApproved) {
			continue
		}
		if status == ReviewApproved {
			b.QueueMap(wrap, `
				INSERT INTO risk_clearances (id, tenant_id, party, party_id, ent_num, name_key, name, review_id, cleared_by, cleared_at, entry_fingerprint, partial)
				VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12)
				ON CONFLICT (tenant_id, party_id, party, ent_num, name_key)
				DO UPDATE SET review_id = excluded.review_id, cleared_by = excluded.cleared_by, cleared_at = excluded.cleared_at,
					entry_fingerprint = COALESCE(NULLIF(excluded.entry_fingerprint, ''), risk_clearances.entry_fingerprint),
					partial = risk_clearances.partial AND excluded.partial`,
				rv.TenantID, k.party, k.partyID, k.entNum, k.nameKey, cut(m.Name, MaxNameRunes*4), rv.ID, by, now, uuid.New(), m.EntryFingerprint,
				m.Partial)
		} else {
			b.QueueMap(wrap, `
				DELETE FROM risk_clearances WHERE tenant_id = $1 AND party_id = $2 AND party = $3 AND ent_num = $4 AND name_key = $5`,
				rv.TenantID, k.partyID, k.party, k.entNum, k.nameKey)
		}
	}
	return db.Send(ctx, tx, &b) // one round trip, or with the transaction's next statement
}

// clearanceKey identifies a match: one entry for one party, role and
// normalised name. A clearance is stored under it, and two reviews hold
// the same match when their keys are equal.
type clearanceKey struct {
	party, partyID, nameKey string
	entNum                  int
}

// key is the clearance key of m.
func (m ScreeningMatch) key() clearanceKey {
	return clearanceKey{party: m.Party, partyID: m.PartyID, nameKey: nameKey(m.Name), entNum: m.EntNum}
}

// dropCleared removes from recs the matches the tenant cleared and returns
// the summary of what is left (see screenParties). It reads the
// clearances only when something matched, so a screening without a match
// costs no query.
func dropCleared(ctx context.Context, q db.Querier, tenant uuid.UUID, recs []screeningRecord) (Screening, error) {
	var ids []string
	for _, r := range recs {
		if len(r.matches) > 0 && r.partyID != "" {
			ids = append(ids, r.partyID)
		}
	}
	if len(ids) == 0 {
		return summarize(recs), nil
	}
	rows, err := q.Query(ctx, `SELECT party, party_id, ent_num, name_key, entry_fingerprint, partial FROM risk_clearances
		WHERE tenant_id = $1 AND party_id = ANY ($2)`, tenant, ids)
	if err != nil {
		return Screening{}, fmt.Errorf("risk: read clearances: %w", err)
	}
	type clearance struct {
		fingerprint string // of the entry when cleared ("": any version)
		partial     bool   // only a possible match was cleared
	}
	cleared := map[clearanceKey]clearance{}
	var k clearanceKey
	var ent int64
	var c clearance
	_, err = pgx.ForEachRow(rows, []any{&k.party, &k.partyID, &ent, &k.nameKey, &c.fingerprint, &c.partial}, func() error {
		k.entNum = int(ent)
		cleared[k] = c
		return nil
	})
	if err != nil {
		return Screening{}, fmt.Errorf("risk: read clearances: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		if len(r.matches) == 0 {
			continue
		}
		key := nameKey(r.name)
		kept := r.matches[:0:0]
		for _, m := range r.matches {
			// A clearance holds while the entry says what it said then, and
			// one of a possible match clears no full match.
			if c, ok := cleared[clearanceKey{party: r.party, partyID: r.partyID, nameKey: key, entNum: m.EntNum}]; ok &&
				(c.fingerprint == "" || c.fingerprint == m.Entry.Fingerprint()) && (!c.partial || m.Partial) {
				r.cleared = append(r.cleared, m)
			} else {
				kept = append(kept, m)
			}
		}
		r.matches = kept
	}
	return summarize(recs), nil
}

// MaxPendingMatchReviews bounds how many pending reviews of one escrow
// pendingMatchReview reads.
const MaxPendingMatchReviews = 50

// pendingMatchReview finds a pending review of the escrow holding the same
// matches as ms (the same set: clearanceKey, entry fingerprint and
// partial), so that a blocked payout tried again does not open one review
// per attempt: the decision points at the review already waiting.
//
// The same set, not one holding ms's best match: the review a blocked
// payout points at must show every match that blocked it, since approving
// it clears what it holds and nothing else, and a review holding more
// would, when approved or rejected, decide matches this payout never met
// (decided since, or of another version of the entry). A review opened
// before the list changed an entry would clear the old version, and one
// of a possible match would clear it as possible only: neither is the
// same match. Reviews stored before migration 0408 hold their one match.
func pendingMatchReview(ctx context.Context, q db.Querier, tenant, escrowID uuid.UUID, ms []ScreeningMatch) (uuid.UUID, bool, error) {
	if len(ms) == 0 {
		return uuid.Nil, false, nil
	}
	rows, err := q.Query(ctx, `SELECT `+reviewColumns+` FROM risk_reviews
		WHERE tenant_id = $1 AND subject_id = $2 AND subject_type = $3 AND status = 'pending' LIMIT $4`,
		tenant, escrowID, SubjectEscrow, MaxPendingMatchReviews)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("risk: pending reviews of escrow %s: %w", escrowID, err)
	}
	rvs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Review, error) { return scanReview(r) })
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("risk: pending reviews of escrow %s: %w", escrowID, err)
	}
	want := matchSet(ms)
	for _, rv := range rvs {
		if maps.Equal(matchSet(rv.Matches), want) {
			return rv.ID, true, nil
		}
	}
	return uuid.Nil, false, nil
}

// sameMatch identifies a match as a review holds it: the clearance key,
// the version of the entry and whether it is a possible match.
type sameMatch struct {
	key         clearanceKey
	fingerprint string
	partial     bool
}

// matchSet is the set of the matches ms.
func matchSet(ms []ScreeningMatch) map[sameMatch]bool {
	out := make(map[sameMatch]bool, len(ms))
	for _, m := range ms {
		out[sameMatch{m.key(), m.EntryFingerprint, m.Partial}] = true
	}
	return out
}
