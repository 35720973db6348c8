package ledger

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Limits.
const (
	// MaxPostings bounds the postings of one entry.
	MaxPostings = 64
	// MaxShards bounds the balance shards of a hot account.
	MaxShards = 256
	// MaxCodeLength, MaxReferenceLength, MaxKindLength and
	// MaxDescriptionLength bound the text columns (checked by the database
	// too).
	MaxCodeLength        = 200
	MaxReferenceLength   = 200
	MaxKindLength        = 100
	MaxDescriptionLength = 1000
	// MaxMetadataKeys and MaxMetadataLength bound metadata maps.
	MaxMetadataKeys   = 50
	MaxMetadataLength = 500
	// MaxListLimit bounds every page of a list.
	MaxListLimit = 500
)

// Side is the side of a posting: debit or credit.
type Side string

// Sides.
const (
	SideDebit  Side = "debit"
	SideCredit Side = "credit"
)

func (s Side) valid() bool { return s == SideDebit || s == SideCredit }

// Opposite returns the other side.
func (s Side) Opposite() Side {
	if s == SideDebit {
		return SideCredit
	}
	return SideDebit
}

// Kind is the kind of an account.
type Kind string

// Kinds.
const (
	KindAsset     Kind = "asset"
	KindLiability Kind = "liability"
	KindEquity    Kind = "equity"
	KindRevenue   Kind = "revenue"
	KindExpense   Kind = "expense"
)

func (k Kind) valid() bool {
	switch k {
	case KindAsset, KindLiability, KindEquity, KindRevenue, KindExpense:
		return true
	}
	return false
}

// NormalSide is the side that increases an account of kind k: debit for
// assets and expenses, credit for liabilities, equity and revenue.
func NormalSide(k Kind) Side {
	if k == KindAsset || k == KindExpense {
		return SideDebit
	}
	return SideCredit
}

// AccountSpec describes an account for EnsureAccount.
type AccountSpec struct {
	TenantID uuid.UUID
	Code     string
	Currency string
	Kind     Kind
	// NoOverdraft: the available balance (posted less pending outflows)
	// may never go below zero on the normal side.
	NoOverdraft bool
	// OverdraftLimit, when positive (and NoOverdraft false), lets the
	// available balance go down to -OverdraftLimit and no further. Zero
	// means no guard unless NoOverdraft.
	OverdraftLimit decimal.Decimal
	// Shards: 0 or 1 is one balance row; more makes a hot account with
	// that many balance rows (see docs/architecture.md, "Ledger: hot
	// accounts").
	Shards   int
	Metadata map[string]string
}

// Account is a ledger account of one tenant in one currency.
type Account struct {
	ID, TenantID   uuid.UUID
	Code, Currency string
	Kind           Kind
	NormalSide     Side
	NoOverdraft    bool
	OverdraftLimit decimal.Decimal
	Shards         int
	Metadata       map[string]string
	CreatedAt      time.Time
	ClosedAt       *time.Time
}

// guarded reports whether outflows are checked against a floor.
func (a Account) guarded() bool { return a.NoOverdraft || a.OverdraftLimit.IsPositive() }

// floor is the lowest available balance a guarded account may reach.
func (a Account) floor() decimal.Decimal {
	if a.NoOverdraft {
		return decimal.Zero
	}
	return a.OverdraftLimit.Neg()
}

// signed is amount as seen on the account's normal side: positive when
// the posting is on the normal side (an inflow), negative otherwise.
func (a Account) signed(dir Side, amount decimal.Decimal) decimal.Decimal {
	if dir == a.NormalSide {
		return amount
	}
	return amount.Neg()
}

// Posting is one leg of an entry.
type Posting struct {
	AccountID uuid.UUID
	Direction Side
	Amount    decimal.Decimal
	Currency  string

	// Filled on read.
	AccountCode string
	// BalanceAfter is the account's posted balance (normal side) right
	// after this posting; zero for the postings of a pending entry.
	BalanceAfter decimal.Decimal
	EntryID      uuid.UUID
	// CreatedAt is when the posting was booked, the same for every posted
	// posting of an entry: the entry's CreatedAt, or a moment later when a
	// concurrent entry with a later clock reading booked one of its
	// balance rows first (posting times are monotonic per row; see
	// BalanceAt). A pending posting has its entry's CreatedAt.
	CreatedAt   time.Time
	EffectiveAt time.Time
	// Shard and Seq place a posted posting in its account's history.
	Shard int
	Seq   int64
}

// Entry statuses.
const (
	StatusPosted    = "posted"
	StatusPending   = "pending"
	StatusCommitted = "committed"
	StatusVoided    = "voided"
	StatusExpired   = "expired"
)

// Entry kinds written by the ledger itself.
const (
	KindAdjustment = "adjustment"
	KindReversal   = "reversal"
)

// Entry is a journal transaction: balanced postings with a reference that
// is unique per tenant.
type Entry struct {
	ID, TenantID uuid.UUID
	// Kind says what the entry is for, e.g. "escrow.fund", "escrow.release",
	// "fx.convert", "adjustment", "reversal".
	Kind        string
	Description string
	// Reference is unique per tenant and required.
	Reference   string
	EffectiveAt time.Time
	// CreatedAt must be set by the caller from its injected clock.
	CreatedAt time.Time
	Metadata  map[string]string
	// Status: "posted", "pending", "committed" (a pending entry that was
	// posted), "voided" or "expired". Set on read and by the writers.
	Status   string
	Postings []Posting
	// ReversesID is the entry a reversal reverses.
	ReversesID *uuid.UUID
	// PendingID is the pending entry that Commit posted this entry for.
	PendingID *uuid.UUID
	// ExpiresAt, on a pending entry, is when it expires if still pending.
	ExpiresAt *time.Time
}

// ResourceID names the entry for the audit log.
func (e Entry) ResourceID() string { return e.ID.String() }

// ResourceID names the account for the audit log.
func (a Account) ResourceID() string { return a.ID.String() }

// Balance is an account's balance on its normal side.
type Balance struct {
	AccountID uuid.UUID
	Currency  string
	// Posted is the sum of posted postings (normal side positive).
	Posted decimal.Decimal
	// PendingDebits and PendingCredits are the amounts of open pending
	// entries on each side.
	PendingDebits, PendingCredits decimal.Decimal
	// Available is Posted less pending outflows (pending postings against
	// the normal side). Pending inflows are not available yet.
	Available decimal.Decimal
}

// dbTime is t in UTC at the database's precision (microseconds), so what
// Post returns equals what a later read returns.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
