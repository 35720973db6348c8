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
// equal: an escrow's account, escrow:<escrow id>, whose balance is what
// the escrow holds plus what its pending payouts reserve
// (docs/architecture.md, chart of accounts). An adjustment there would
// leave the escrow promising money its account does not hold (or the
// reverse), and every later release, refund or cancel failing. An account
// finance made itself under another code (escrow:suspense, say: not an
// escrow id) is finance's. The other accounts the domains book on are not
// domain-owned: seller payables, buyer refunds and seller receivables are
// settled by finance (paying a seller out is an adjustment debiting its
// payable), and the domains only read their current balance, taking at
// most what is there; the platform accounts (cash:psp, fees, fx,
// guarantee, chargeback:loss) are reconciled and closed by finance, and
// the reports that compare them with the domains' records show an
// adjustment as a difference, which is what they are for.
//
// Domain-owned entries are those that post on a domain-owned account (a
// funding, a payout, its commit, a conversion into an escrow: reversing
// one would undo money the escrow's record still counts), those a domain
// reverses itself (a chargeback's, chargeback.*, which a won chargeback
// reverses: a manual reversal first would make that fail), and the
// reversals of either. Any other entry, a domain's included (dispute
// coverage, a clawback's receivable booked by a dispute), posts only on
// accounts finance settles, and finance may reverse it as issue 3 says:
// corrections are reversal entries that reference the original.

// CodeDomainOwned is the problem code of a manual entry refused because it
// names an account or an entry a domain owns.
const CodeDomainOwned = "domain_owned"

// domainOwnedAccount reports whether code is a domain-owned account's: an
// escrow's, escrow:<escrow id>.
func domainOwnedAccount(code string) bool { return IsEscrowAccountCode(code) }

// IsEscrowAccountCode reports whether code is an escrow's account code,
// escrow:<escrow id>. An account finance created under another escrow:
// code (escrow:suspense, say) is not one: it holds no escrow's money, so
// the reports that sum the escrow liability leave it out. The id is in
// the one spelling the escrow service writes (uuid.UUID.String: lower
// case, hyphenated); other spellings uuid.Parse takes ({...},
// urn:uuid:..., no hyphens, upper case) name no escrow's account.
// EscrowAccountCodePattern is IsEscrowAccountCode as a POSIX regular
// expression, for SQL (code ~ pattern): PostgreSQL and CockroachDB both
// have the operator.
const EscrowAccountCodePattern = `^escrow:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`

func IsEscrowAccountCode(code string) bool {
	id, ok := strings.CutPrefix(code, "escrow:")
	if !ok {
		return false
	}
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// domainReversedKind reports whether the domain that writes entries of
// kind reverses them itself: a chargeback's (escrow.ReverseChargeback).
func domainReversedKind(kind string) bool {
	return strings.HasPrefix(kind, "chargeback.") || kind == "escrow.chargeback"
}

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
// it: o posts on a domain-owned account, is of a kind its domain reverses
// itself, or is the reversal of an entry of such a kind (one more read,
// for reversals only; the reversal of an entry on a domain-owned account
// posts on it too). The reversal is named as the field id (the path's
// entry id).
func checkManualReversal(ctx context.Context, q db.Querier, o Entry) error {
	if domainReversedKind(o.Kind) {
		return domainOwnedError("id", "entry %s is a %s booking: the domain that wrote it reverses it, not a manual reversal", o.ID, o.Kind)
	}
	if o.Kind == KindReversal && o.ReversesID != nil {
		kind, err := entryKind(ctx, q, o.TenantID, *o.ReversesID)
		if err != nil {
			return err
		}
		if domainReversedKind(kind) {
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
