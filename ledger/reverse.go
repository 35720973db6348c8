package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Reverse posts the reversal of the tenant's posted entry entryID: the same
// postings with debits and credits swapped, kind "reversal", ReversesID
// set. It is the only way to correct a posted entry. An entry is reversed
// at most once (a unique constraint; ErrAlreadyReversed); a pending entry
// is voided instead (ErrInvalidEntry). reference defaults to
// "reversal:<entry id>" and description to "Reversal of <reference>". The
// reversal is checked like any entry: it may not overdraw a guarded account
// (ErrInsufficientFunds). Duplicate references behave as for Post.
func Reverse(ctx context.Context, tx pgx.Tx, tenant, entryID uuid.UUID, reference, description string, now time.Time) (Entry, error) {
	return reverse(ctx, tx, tenant, entryID, reference, description, now, false)
}

// reverse is Reverse; manual refuses an entry a domain owns
// (checkManualReversal), for finance's reversals.
func reverse(ctx context.Context, tx pgx.Tx, tenant, entryID uuid.UUID, reference, description string, now time.Time, manual bool) (Entry, error) {
	o, err := GetEntry(ctx, tx, tenant, entryID)
	if err != nil {
		return Entry{}, err
	}
	if o.Status != StatusPosted {
		return Entry{}, invalidf("entry %s is %s: only posted entries are reversed (a pending one is voided)", o.ID, o.Status)
	}
	if manual {
		if err := checkManualReversal(ctx, tx, o); err != nil {
			return Entry{}, err
		}
	}
	if reference == "" {
		reference = "reversal:" + o.ID.String()
	}
	if description == "" {
		description = "Reversal of " + o.Reference
		if len(description) > MaxDescriptionLength {
			description = description[:MaxDescriptionLength]
		}
	}
	e := Entry{TenantID: tenant, Kind: KindReversal, Description: description, Reference: reference, CreatedAt: now,
		Metadata: map[string]string{"reverses_reference": o.Reference}, ReversesID: &o.ID}
	for _, p := range o.Postings {
		e.Postings = append(e.Postings, Posting{AccountID: p.AccountID, Direction: p.Direction.Opposite(), Amount: p.Amount, Currency: p.Currency})
	}
	out, err := writeEntry(ctx, tx, e, writeMode{})
	if err != nil {
		return out, fmt.Errorf("reverse %s: %w", o.ID, err)
	}
	return out, nil
}
