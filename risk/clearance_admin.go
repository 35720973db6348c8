package risk

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
)

// EventClearanceRevoked is written when a reviewer revokes a clearance;
// its data is the clearance as it was, with who revoked it, when and why.
const EventClearanceRevoked = "risk.clearance_revoked"

// MaxClearancePage bounds a page of ListClearances (as the API's pages).
const MaxClearancePage = 500

// Clearance is a sanctions match cleared as a false positive (see
// decideMatch): the party, as buyer or seller, under the name screened, is
// not list entry EntNum.
type Clearance struct {
	ID        uuid.UUID `json:"id"`
	Party     string    `json:"party"` // buyer or seller
	PartyID   string    `json:"party_id"`
	EntNum    int       `json:"ent_num"`
	Name      string    `json:"name"`
	ReviewID  uuid.UUID `json:"review_id"` // the approval that cleared it (the latest)
	ClearedBy string    `json:"cleared_by"`
	ClearedAt time.Time `json:"cleared_at"`
	// EntryFingerprint is what the entry said when cleared ("" for
	// clearances older than fingerprints: any version).
	EntryFingerprint string `json:"entry_fingerprint"`
	// Set only in the answer to a revocation.
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// ResourceID names the clearance for the audit log.
func (c Clearance) ResourceID() string { return c.ID.String() }

const clearanceColumns = `id, party, party_id, ent_num, name, review_id, cleared_by, cleared_at, entry_fingerprint`

func scanClearance(row pgx.Row) (Clearance, error) {
	var c Clearance
	var ent int64
	err := row.Scan(&c.ID, &c.Party, &c.PartyID, &ent, &c.Name, &c.ReviewID, &c.ClearedBy, &c.ClearedAt, &c.EntryFingerprint)
	c.EntNum = int(ent)
	return c, err
}

// ListClearances lists the tenant's clearances by id after the cursor,
// those of one party when partyID is set.
func (s *Service) ListClearances(ctx context.Context, tenant uuid.UUID, partyID string, after uuid.UUID, limit int) ([]Clearance, error) {
	if partyID != "" {
		if err := ValidatePartyID("party_id", partyID); err != nil {
			return nil, err
		}
	}
	if limit < 1 || limit > MaxClearancePage {
		limit = MaxClearancePage
	}
	rows, err := s.DB.Pool.Query(ctx, `SELECT `+clearanceColumns+` FROM risk_clearances
		WHERE tenant_id = $1 AND ($2 = '' OR party_id = $2) AND id > $3 ORDER BY id LIMIT $4`, tenant, partyID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("risk: list clearances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Clearance, error) { return scanClearance(row) })
	if err != nil {
		return nil, fmt.Errorf("risk: list clearances: %w", err)
	}
	return out, nil
}

// RevokeClearance deletes a clearance, so that the match blocks the
// party's payouts again, and writes a risk.clearance_revoked event with the
// clearance, the reviewer and the reason (required). Another tenant's
// clearance, or one revoked already, is ErrNotFound.
func (s *Service) RevokeClearance(ctx context.Context, tenant, id uuid.UUID, reason, by string) (Clearance, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > MaxReviewNoteLen {
		return Clearance{}, valid.Field("reason", fmt.Sprintf("must say why, in 1 to %d bytes", MaxReviewNoteLen))
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Clearance, error) {
		now := s.Clock.Now()
		c, err := scanClearance(tx.QueryRow(ctx, `DELETE FROM risk_clearances WHERE tenant_id = $1 AND id = $2 RETURNING `+clearanceColumns, tenant, id))
		if db.IsNoRows(err) {
			return Clearance{}, fmt.Errorf("clearance %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Clearance{}, fmt.Errorf("risk: revoke clearance %s: %w", id, err)
		}
		c.RevokedBy, c.RevokedAt, c.Reason = by, &now, reason
		if _, err := outbox.Emit(ctx, tx, tenant, EventClearanceRevoked, c.PartyID, c, now); err != nil {
			return Clearance{}, err
		}
		return c, nil
	})
}
