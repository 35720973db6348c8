package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/valid"
)

// Finance's manual entries (Service.PostAdjustment and Service.ReverseEntry,
// i.e. POST /v1/ledger/entries and /v1/ledger/entries/{id}/reverse) stay off
// what other domains keep in step with their own records. A domain that
// books through the ledger and relies on what it booked corrects its own
// entries (escrow's ReverseChargeback calls Reverse), so the package
// functions do not refuse anything; only the manual path does.
//
// Domain-owned accounts are those whose balance a domain's records must
// equal: escrow:<id>, whose balance is what the escrow holds plus what its
// pending payouts reserve (docs/architecture.md, chart of accounts). An
// adjustment there would leave the escrow promising money its account does
// not hold (or the reverse), and every later release, refund or cancel
// failing. The other accounts the domains book on are not domain-owned:
// seller payables, buyer refunds and seller receivables are settled by
// finance (paying a seller out is an adjustment debiting its payable), and
// the domains only read their current balance, taking at most what is
// there; the platform accounts (cash:psp, fees, fx, guarantee,
// chargeback:loss) are reconciled and closed by finance, and the reports
// that compare them with the domains' records show an adjustment as a
// difference, which is what they are for.
//
// Domain-owned entries are the entries a domain wrote: every kind but
// adjustment and reversal (escrow.*, dispute.*, chargeback.*, fx.convert,
// and commits, which keep their pending entry's kind), and the reversals of
// those (a won chargeback's). Reversing one would undo money the domain's
// records still count (a funding, a payout, a clawback a won chargeback
// must reverse itself); the domain's own action corrects it instead.

// CodeDomainOwned is the problem code of a manual entry refused because it
// names an account or an entry a domain owns.
const CodeDomainOwned = "domain_owned"

// domainAccountPrefixes are the code prefixes of domain-owned accounts.
var domainAccountPrefixes = []string{"escrow:"}

// domainOwnedAccount reports whether code is a domain-owned account's.
func domainOwnedAccount(code string) bool {
	for _, p := range domainAccountPrefixes {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

// manualKind reports whether an entry of kind may have been written by
// hand: an adjustment or a reversal.
func manualKind(kind string) bool { return kind == KindAdjustment || kind == KindReversal }

// domainOwnedError is ErrDomainOwned and a field error (the API names the
// field in its problem).
func domainOwnedError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrDomainOwned, valid.FieldCode(CodeDomainOwned, field, fmt.Sprintf(format, args...)))
}

// checkManualAccount refuses a manual posting (postings[i]) on a
// domain-owned account.
func checkManualAccount(i int, a Account) error {
	if !domainOwnedAccount(a.Code) {
		return nil
	}
	return domainOwnedError(fmt.Sprintf("postings[%d].account_id", i),
		"account %s belongs to a domain: its balance must equal the domain's records, and only the domain's own actions move it", a.Code)
}

// checkManualReversal refuses the manual reversal of o when a domain owns
// it: o is a domain's kind, or the reversal of an entry of a domain's kind
// (one more read, for reversals only), or o posts on a domain-owned
// account. The reversal is named as the field id (the path's entry id).
func checkManualReversal(ctx context.Context, q db.Querier, o Entry) error {
	if !manualKind(o.Kind) {
		return domainOwnedError("id", "entry %s is a %s booking: the domain that wrote it corrects it, not a manual reversal", o.ID, o.Kind)
	}
	if o.Kind == KindReversal && o.ReversesID != nil {
		kind, err := entryKind(ctx, q, o.TenantID, *o.ReversesID)
		if err != nil {
			return err
		}
		if !manualKind(kind) {
			return domainOwnedError("id", "entry %s reverses a %s booking (entry %s): the domain that wrote it corrects it, not a manual reversal", o.ID, kind, *o.ReversesID)
		}
	}
	for _, p := range o.Postings {
		if domainOwnedAccount(p.AccountCode) {
			return domainOwnedError("id", "entry %s posts on account %s, which belongs to a domain: only the domain's own actions move it", o.ID, p.AccountCode)
		}
	}
	return nil
}

// entryKind returns the kind of the tenant's entry id.
func entryKind(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (string, error) {
	var kind string
	err := q.QueryRow(ctx, `SELECT kind FROM ledger_entries WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&kind)
	if db.IsNoRows(err) {
		return "", fmt.Errorf("%w: entry %s", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("entry %s: %w", id, err)
	}
	return kind, nil
}
