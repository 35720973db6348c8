package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
)

// Limits of the service.
const (
	// maxRefLength bounds statement ids and entry references (as the
	// database does).
	maxRefLength = 500
	// insertBatchSize bounds the rows of one multi-row INSERT.
	insertBatchSize = 5000
)

// Statement formats.
const (
	FormatCamt053 = "camt.053"
	FormatCSV     = "csv"
)

// Service imports statements, runs the matching and builds the finance
// reports. Each exported method that changes state is one db.Write.
type Service struct {
	DB    *db.DB
	Clock clock.Clock
	Log   *slog.Logger
}

// account resolves the tenant's ledger account by code; an account the
// tenant does not have is ErrUnknownAccount.
func (s *Service) account(ctx context.Context, q db.Querier, tenant uuid.UUID, code string) (ledger.Account, error) {
	if code == "" {
		return ledger.Account{}, fmt.Errorf("%w: account code is required", ErrUnknownAccount)
	}
	a, err := ledger.AccountByCode(ctx, q, tenant, code)
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Account{}, fmt.Errorf("%w: %q is not a ledger account of the tenant", ErrUnknownAccount, code)
	}
	if err != nil {
		return ledger.Account{}, fmt.Errorf("reconcile: account %q: %w", code, err)
	}
	return a, nil
}

// units is the scale of amounts inside the matcher: 1 unit = 0.0001, the
// ledger's finest amount (ledger_postings.amount = trunc(amount, 4)).
const unitsScale = 4

var unitsFactor = decimal.New(1, unitsScale)

// maxUnits bounds amounts the matcher takes (|amount| < 10^14).
const maxUnits = int64(1e18)

// toUnits converts d to units; ok is false when d has more than 4
// decimals or is too large, so it can never equal a ledger amount.
func toUnits(d decimal.Decimal) (int64, bool) {
	u := d.Mul(unitsFactor)
	if !u.IsInteger() || u.Abs().Cmp(decimal.NewFromInt(maxUnits)) >= 0 {
		return 0, false
	}
	return u.IntPart(), true
}

// fromUnits converts units back to a decimal.
func fromUnits(u int64) decimal.Decimal { return decimal.New(u, -unitsScale) }

// dayNumber is t's UTC date as days since 1970-01-01.
func dayNumber(t time.Time) int32 {
	t = t.UTC()
	return int32(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dayTime is the UTC midnight of day number d.
func dayTime(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }
