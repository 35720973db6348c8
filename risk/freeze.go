package risk

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/valid"
)

// MaxFreezeReasonLen is the longest freeze reason, in bytes.
const MaxFreezeReasonLen = 500

// Freeze is a party's freeze state (LOCK): while frozen, every payout to or
// from the party is blocked with reason party_frozen.
type Freeze struct {
	PartyID    string     `json:"party_id"`
	Frozen     bool       `json:"frozen"`
	Reason     string     `json:"reason,omitempty"`
	FrozenAt   *time.Time `json:"frozen_at,omitempty"`
	UnfrozenAt *time.Time `json:"unfrozen_at,omitempty"`
}

// ResourceID names the party for the audit log.
func (f Freeze) ResourceID() string { return f.PartyID }

// ValidatePartyID checks a marketplace party id: 1 to MaxPartyIDLen bytes
// of printable characters.
func ValidatePartyID(field, id string) error {
	if id == "" || len(id) > MaxPartyIDLen || !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return valid.Field(field, fmt.Sprintf("must be 1 to %d printable characters", MaxPartyIDLen))
	}
	return nil
}

// Freeze freezes a party of the tenant and writes a party.frozen event.
// Freezing a frozen party changes nothing and returns its freeze.
func (s *Service) Freeze(ctx context.Context, tenant uuid.UUID, partyID, reason string) (Freeze, error) {
	if err := ValidatePartyID("id", partyID); err != nil {
		return Freeze{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > MaxFreezeReasonLen {
		return Freeze{}, valid.Field("reason", fmt.Sprintf("required, at most %d bytes", MaxFreezeReasonLen))
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Freeze, error) {
		now := s.Clock.Now()
		tag, err := tx.Exec(ctx, `
			INSERT INTO party_freezes (tenant_id, party_id, reason, frozen_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tenant_id, party_id) DO NOTHING`, tenant, partyID, reason, now)
		if err != nil {
			return Freeze{}, fmt.Errorf("risk: freeze %q: %w", partyID, err)
		}
		f := Freeze{PartyID: partyID, Frozen: true}
		if err := tx.QueryRow(ctx, `SELECT reason, frozen_at FROM party_freezes WHERE tenant_id = $1 AND party_id = $2`, tenant, partyID).
			Scan(&f.Reason, &f.FrozenAt); err != nil {
			return Freeze{}, fmt.Errorf("risk: freeze %q: %w", partyID, err)
		}
		if tag.RowsAffected() == 1 {
			if _, err := outbox.Emit(ctx, tx, tenant, EventPartyFrozen, partyID, f, now); err != nil {
				return Freeze{}, err
			}
		}
		return f, nil
	})
}

// Unfreeze lifts a party's freeze and writes a party.unfrozen event. A
// party that is not frozen is ErrNotFound.
func (s *Service) Unfreeze(ctx context.Context, tenant uuid.UUID, partyID string) (Freeze, error) {
	if err := ValidatePartyID("id", partyID); err != nil {
		return Freeze{}, err
	}
	return db.Write(ctx, s.DB, func(tx pgx.Tx) (Freeze, error) {
		now := s.Clock.Now()
		f := Freeze{PartyID: partyID}
		err := tx.QueryRow(ctx, `DELETE FROM party_freezes WHERE tenant_id = $1 AND party_id = $2 RETURNING reason, frozen_at`, tenant, partyID).
			Scan(&f.Reason, &f.FrozenAt)
		if db.IsNoRows(err) {
			return Freeze{}, fmt.Errorf("party %q is not frozen: %w", partyID, ErrNotFound)
		}
		if err != nil {
			return Freeze{}, fmt.Errorf("risk: unfreeze %q: %w", partyID, err)
		}
		f.UnfrozenAt = &now
		if _, err := outbox.Emit(ctx, tx, tenant, EventPartyUnfrozen, partyID, f, now); err != nil {
			return Freeze{}, err
		}
		return f, nil
	})
}

// IsFrozen reports whether the party is frozen.
func IsFrozen(ctx context.Context, q db.Querier, tenant uuid.UUID, partyID string) (bool, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM party_freezes WHERE tenant_id = $1 AND party_id = $2`, tenant, partyID).Scan(&n); err != nil {
		return false, fmt.Errorf("risk: is %q frozen: %w", partyID, err)
	}
	return n > 0, nil
}

// CheckNotFrozen returns ErrPartyFrozen, naming the party, when any of
// partyIDs is frozen. A payout that passed the gate before a freeze and
// waits for a review or the buyer's code is checked again with it when it
// would move: while frozen, nothing is paid to or from the party.
func CheckNotFrozen(ctx context.Context, q db.Querier, tenant uuid.UUID, partyIDs ...string) error {
	var frozen []string
	rows, err := q.Query(ctx, `SELECT party_id FROM party_freezes WHERE tenant_id = $1 AND party_id = ANY ($2) ORDER BY party_id`, tenant, partyIDs)
	if err == nil {
		frozen, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return fmt.Errorf("risk: are %q frozen: %w", partyIDs, err)
	}
	if len(frozen) > 0 {
		return fmt.Errorf("party %q: %w", frozen[0], ErrPartyFrozen)
	}
	return nil
}
