package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/valid"
)

// ParseAsOf reads an as_of parameter: an RFC 3339 instant, or a date
// (YYYY-MM-DD) meaning its last microsecond (UTC); "" is now.
func ParseAsOf(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now.UTC(), nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.Add(24*time.Hour - time.Microsecond), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, valid.Field("as_of", "must be a date YYYY-MM-DD or an RFC 3339 time")
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// LiabilityCurrency is the escrow liability in one currency: what the
// ledger's escrow accounts (escrow:<escrow id>) hold, and what the escrow records say they
// hold (fundings credited less payouts, both booked by then; a payout
// reversed later, by a won chargeback, counts until its reversal).
type LiabilityCurrency struct {
	Currency      string
	LedgerBalance decimal.Decimal
	EscrowFunded  decimal.Decimal
	EscrowPaidOut decimal.Decimal
	EscrowHeld    decimal.Decimal // EscrowFunded - EscrowPaidOut
	Difference    decimal.Decimal // LedgerBalance - EscrowHeld
	Ties          bool
	// Escrows counts the escrow accounts holding money.
	Escrows int
}

// LiabilityMismatch is one escrow whose account and records disagree.
type LiabilityMismatch struct {
	EscrowID      uuid.UUID
	OrderRef      string
	Currency      string
	LedgerBalance decimal.Decimal
	EscrowHeld    decimal.Decimal
}

// LiabilityReport is the escrow liability as of an instant.
type LiabilityReport struct {
	AsOf       time.Time
	Currencies []LiabilityCurrency
	// Mismatches lists at most MaxReportMismatches escrows that do not
	// tie; MismatchCount counts them all.
	Mismatches    []LiabilityMismatch
	MismatchCount int
}

// EscrowLiability builds the escrow liability report as of asOf (postings,
// fundings and payouts booked at or before it): per currency, the sum of
// all escrow ledger accounts (escrow:<escrow id>) against the held total of the escrow
// records, escrow by escrow.
func (s *Service) EscrowLiability(ctx context.Context, tenant uuid.UUID, asOf time.Time) (LiabilityReport, error) {
	rep := LiabilityReport{AsOf: asOf}
	before := asOf.Add(time.Microsecond)
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		rep.Currencies, rep.Mismatches, rep.MismatchCount = nil, nil, 0
		ledger, err := escrowAccountsBalance(ctx, tx, tenant, "", before)
		if err != nil {
			return err
		}
		byCur := map[string]*LiabilityCurrency{}
		get := func(cur string) *LiabilityCurrency {
			c := byCur[cur]
			if c == nil {
				z := decimal.Zero
				c = &LiabilityCurrency{Currency: cur, LedgerBalance: z, EscrowFunded: z, EscrowPaidOut: z}
				byCur[cur] = c
			}
			return c
		}
		for cur, v := range ledger {
			get(cur).LedgerBalance = v
		}
		rows, err := tx.Query(ctx, `
			WITH led AS (
				SELECT es.id, es.order_ref, es.currency, COALESCE(SUM(x.balance_after), 0) AS bal
				FROM escrows es
				JOIN ledger_balances b ON b.account_id = es.ledger_account_id
				LEFT JOIN LATERAL (`+lastBalanceBefore+`) x ON true
				WHERE es.tenant_id = $1 AND es.created_at < $2
				GROUP BY es.id, es.order_ref, es.currency
			), funded AS (
				SELECT f.escrow_id, SUM(f.credited) AS s FROM escrow_fundings f
				WHERE f.tenant_id = $1 AND f.created_at < $2 GROUP BY f.escrow_id
			), paid AS (
				-- A payout reversed later (a won chargeback) was paid out
				-- until its reversal entry was booked.
				SELECT po.escrow_id, SUM(po.gross) AS s FROM escrow_payouts po JOIN ledger_entries e ON e.id = po.entry_id
				WHERE po.tenant_id = $1 AND e.created_at < $2 AND (po.status = 'completed' OR po.status = 'reversed' AND NOT EXISTS (
					SELECT 1 FROM ledger_entries r WHERE r.reverses_id = po.entry_id AND r.created_at < $2))
				GROUP BY po.escrow_id
			)
			SELECT led.id, led.order_ref, led.currency, led.bal, COALESCE(funded.s, 0), COALESCE(paid.s, 0)
			FROM led LEFT JOIN funded ON funded.escrow_id = led.id LEFT JOIN paid ON paid.escrow_id = led.id
			ORDER BY led.id`, tenant, before)
		if err != nil {
			return fmt.Errorf("reconcile: escrow liability: %w", err)
		}
		var m LiabilityMismatch
		var fund, paid decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&m.EscrowID, &m.OrderRef, &m.Currency, &m.LedgerBalance, &fund, &paid}, func() error {
			c := get(m.Currency)
			c.EscrowFunded = c.EscrowFunded.Add(fund)
			c.EscrowPaidOut = c.EscrowPaidOut.Add(paid)
			if !m.LedgerBalance.IsZero() {
				c.Escrows++
			}
			m.EscrowHeld = fund.Sub(paid)
			if !m.EscrowHeld.Equal(m.LedgerBalance) {
				rep.MismatchCount++
				if len(rep.Mismatches) < MaxReportMismatches {
					rep.Mismatches = append(rep.Mismatches, m)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reconcile: escrow liability: %w", err)
		}
		for _, cur := range sortedKeys(byCur) {
			c := byCur[cur]
			c.EscrowHeld = c.EscrowFunded.Sub(c.EscrowPaidOut)
			c.Difference = c.LedgerBalance.Sub(c.EscrowHeld)
			c.Ties = c.Difference.IsZero()
			rep.Currencies = append(rep.Currencies, *c)
		}
		return nil
	})
	if err != nil {
		return LiabilityReport{}, err
	}
	return rep, nil
}
