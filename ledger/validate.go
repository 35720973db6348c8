package ledger

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

// Validate checks the shape of an entry for Post (pending false) or
// PostPending (pending true): everything that needs no database. The
// business checks (accounts exist, are open, in the posting's currency,
// funds) run inside the transaction. Errors wrap ErrInvalidEntry, except an
// unbalanced currency (ErrUnbalanced) and an unknown currency (also
// money.ErrUnknownCurrency).
func (e Entry) Validate(pending bool) error {
	switch {
	case e.TenantID == uuid.Nil:
		return invalidf("tenant is required")
	case len(e.Kind) == 0 || len(e.Kind) > MaxKindLength:
		return invalidf("kind: 1 to %d characters", MaxKindLength)
	case len(e.Reference) == 0 || len(e.Reference) > MaxReferenceLength:
		return invalidf("reference: 1 to %d characters", MaxReferenceLength)
	case len(e.Description) > MaxDescriptionLength:
		return invalidf("description: at most %d characters", MaxDescriptionLength)
	case e.CreatedAt.IsZero():
		return invalidf("created_at must be set from the caller's clock")
	case len(e.Postings) < 2 || len(e.Postings) > MaxPostings:
		return invalidf("an entry has 2 to %d postings, not %d", MaxPostings, len(e.Postings))
	case !pending && e.ExpiresAt != nil:
		return invalidf("only a pending entry expires")
	case e.ExpiresAt != nil && !e.ExpiresAt.After(e.CreatedAt):
		return invalidf("expires_at must be after created_at")
	}
	if err := checkMetadata(e.Metadata); err != nil {
		return err
	}
	type sums struct{ debit, credit decimal.Decimal }
	totals := map[string]*sums{}
	var order []string
	for i, p := range e.Postings {
		if p.AccountID == uuid.Nil {
			return invalidf("postings[%d]: account is required", i)
		}
		if !p.Direction.valid() {
			return invalidf("postings[%d]: direction %q: want debit or credit", i, p.Direction)
		}
		c, err := money.Lookup(p.Currency)
		if err != nil {
			return fmt.Errorf("%w: postings[%d]: %w", ErrInvalidEntry, i, err)
		}
		if !p.Amount.IsPositive() {
			return invalidf("postings[%d]: amount must be greater than zero", i)
		}
		if err := money.CheckExact(p.Amount, c); err != nil {
			return fmt.Errorf("%w: postings[%d]: %w", ErrInvalidEntry, i, err)
		}
		s := totals[p.Currency]
		if s == nil {
			s = &sums{}
			totals[p.Currency] = s
			order = append(order, p.Currency)
		}
		if p.Direction == SideDebit {
			s.debit = s.debit.Add(p.Amount)
		} else {
			s.credit = s.credit.Add(p.Amount)
		}
	}
	for _, cur := range order {
		if s := totals[cur]; !s.debit.Equal(s.credit) {
			return fmt.Errorf("%w: %s debits %s, credits %s", ErrUnbalanced, cur, s.debit, s.credit)
		}
	}
	return nil
}
