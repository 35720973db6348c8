package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
)

// Limits of the reports.
const (
	// MaxReportDays bounds a report's period.
	MaxReportDays = 366
	// MaxReportRows bounds a report's rows (ErrReportTooLarge beyond, or a
	// cut list where the report says so).
	MaxReportRows = 50_000
	// MaxReportMismatches bounds the escrows listed by the liability
	// report as not tying.
	MaxReportMismatches = 100
)

// Period is a report's period: the UTC days From to To, both included,
// i.e. the instants [From, To + 1 day).
type Period struct {
	From, To time.Time
}

// End is the first instant after the period.
func (p Period) End() time.Time { return p.To.Add(24 * time.Hour) }

// ParsePeriod reads from and to (YYYY-MM-DD, both required, at most
// MaxReportDays apart). Errors are valid.Errors naming the parameter.
func ParsePeriod(from, to string) (Period, error) {
	var errs valid.Errors
	p := Period{From: dateField(&errs, "from", from), To: dateField(&errs, "to", to)}
	if len(errs) == 0 {
		switch {
		case p.To.Before(p.From):
			errs.Add("to", "must not be before from")
		case p.To.Sub(p.From) >= MaxReportDays*24*time.Hour:
			errs.Add("to", fmt.Sprintf("a report covers at most %d days", MaxReportDays))
		}
	}
	return p, errs.Err()
}

// SettlementQuery selects a settlement report.
type SettlementQuery struct {
	Period
	Currency string // "" for every currency
	Unmasked bool
}

// SettlementRow is the money held for one seller in one currency on one
// day, and how it moved. ClosingHeld = OpeningHeld + Funded + FX -
// Released - Refunded - Fees + Other.
type SettlementRow struct {
	Day        time.Time
	Currency   string
	SellerID   string
	SellerName string // masked unless asked unmasked
	Flows
}

// Flows are the movements of escrow accounts, in the escrow currency.
type Flows struct {
	OpeningHeld decimal.Decimal
	// Funded: same-currency fundings (entries escrow.fund).
	Funded decimal.Decimal
	// FX: fundings converted from another currency (entries fx.convert).
	FX decimal.Decimal
	// Released: paid to sellers, net of fees (escrow.release).
	Released decimal.Decimal
	// Refunded: paid back to buyers, net of fees (escrow.refund), and
	// chargebacks taken from held money (escrow.chargeback).
	Refunded decimal.Decimal
	// Fees: platform fees taken out of releases and refunds.
	Fees decimal.Decimal
	// Other: every other movement (reversals, adjustments), signed.
	Other       decimal.Decimal
	ClosingHeld decimal.Decimal
}

func zeroFlows() Flows {
	z := decimal.Zero
	return Flows{z, z, z, z, z, z, z, z}
}

func (f *Flows) addMoves(o Flows) {
	f.Funded = f.Funded.Add(o.Funded)
	f.FX = f.FX.Add(o.FX)
	f.Released = f.Released.Add(o.Released)
	f.Refunded = f.Refunded.Add(o.Refunded)
	f.Fees = f.Fees.Add(o.Fees)
	f.Other = f.Other.Add(o.Other)
}

func (f Flows) net() decimal.Decimal {
	return f.Funded.Add(f.FX).Sub(f.Released).Sub(f.Refunded).Sub(f.Fees).Add(f.Other)
}

// SettlementTotal is one currency over the whole period, with the ledger's
// own figures: the balances of all escrow:<escrow id> accounts before the period
// (LedgerOpening) and after it (LedgerClosing). Ties says the report's
// opening and closing held equal them exactly.
type SettlementTotal struct {
	Currency string
	Flows
	LedgerOpening decimal.Decimal
	LedgerClosing decimal.Decimal
	Ties          bool
}

// SettlementReport is the settlement report of a period.
type SettlementReport struct {
	Period
	Currency string
	Rows     []SettlementRow
	Totals   []SettlementTotal
}

type sellerKey struct{ currency, seller string }

// Settlement builds the settlement report: per day, currency and seller,
// the money held in escrow accounts at the start of the day, its
// movements by kind, and the money held at the end; per currency the
// totals, checked against the ledger's escrow:<escrow id> balances. Days without
// movements for a seller have no row. More than MaxReportRows rows is
// ErrReportTooLarge.
func (s *Service) Settlement(ctx context.Context, tenant uuid.UUID, q SettlementQuery) (SettlementReport, error) {
	if q.Currency != "" {
		if _, err := money.Lookup(q.Currency); err != nil {
			return SettlementReport{}, valid.FieldCode("unknown_currency", "currency", "is not an active ISO 4217 currency")
		}
	}
	rep := SettlementReport{Period: q.Period, Currency: q.Currency}
	mask := Masker{Off: q.Unmasked}
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		rep.Rows, rep.Totals = nil, nil
		held, names, err := sellerHeld(ctx, tx, tenant, q.Currency, q.From)
		if err != nil {
			return err
		}
		totals := map[string]*SettlementTotal{}
		total := func(cur string) *SettlementTotal {
			t := totals[cur]
			if t == nil {
				t = &SettlementTotal{Currency: cur, Flows: zeroFlows(), LedgerOpening: decimal.Zero, LedgerClosing: decimal.Zero}
				totals[cur] = t
			}
			return t
		}
		for k, v := range held {
			t := total(k.currency)
			t.OpeningHeld = t.OpeningHeld.Add(v)
		}
		rows, err := settlementFlows(ctx, tx, tenant, q, names)
		if err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			k := sellerKey{r.Currency, r.SellerID}
			r.OpeningHeld = held[k]
			r.ClosingHeld = r.OpeningHeld.Add(r.net())
			held[k] = r.ClosingHeld
			r.SellerName = mask.Name(r.SellerName)
			total(r.Currency).addMoves(r.Flows)
		}
		rep.Rows = rows
		for _, at := range []time.Time{q.From, q.End()} {
			led, err := escrowAccountsBalance(ctx, tx, tenant, q.Currency, at)
			if err != nil {
				return err
			}
			for cur, v := range led {
				t := total(cur)
				if at.Equal(q.From) {
					t.LedgerOpening = v
				} else {
					t.LedgerClosing = v
				}
			}
		}
		for _, cur := range sortedKeys(totals) {
			t := totals[cur]
			t.ClosingHeld = t.OpeningHeld.Add(t.net())
			t.Ties = t.OpeningHeld.Equal(t.LedgerOpening) && t.ClosingHeld.Equal(t.LedgerClosing)
			rep.Totals = append(rep.Totals, *t)
		}
		return nil
	})
	if err != nil {
		return SettlementReport{}, err
	}
	return rep, nil
}

// lastBalanceBefore is the lateral subquery giving a balance row's posted
// balance before $2: the running balance of its last posting booked
// before it (one index lookup per account shard).
const lastBalanceBefore = `
	SELECT p.balance_after FROM ledger_postings p
	WHERE p.account_id = b.account_id AND p.shard = b.shard AND p.seq IS NOT NULL AND p.created_at < $2
	ORDER BY p.created_at DESC, p.seq DESC LIMIT 1`

// sellerHeld is the balance of the escrow accounts before at, per
// currency and seller, with the sellers' names.
func sellerHeld(ctx context.Context, q db.Querier, tenant uuid.UUID, currency string, at time.Time) (map[sellerKey]decimal.Decimal, map[sellerKey]string, error) {
	rows, err := q.Query(ctx, `
		SELECT es.currency, es.seller_id, COALESCE(max(es.seller->>'name'), ''), COALESCE(SUM(x.balance_after), 0)
		FROM escrows es
		JOIN ledger_balances b ON b.account_id = es.ledger_account_id
		JOIN LATERAL (`+lastBalanceBefore+`) x ON true
		WHERE es.tenant_id = $1 AND es.created_at < $2 AND ($3 = '' OR es.currency = $3)
		GROUP BY es.currency, es.seller_id`, tenant, at, currency)
	if err != nil {
		return nil, nil, fmt.Errorf("reconcile: held by seller: %w", err)
	}
	held, names := map[sellerKey]decimal.Decimal{}, map[sellerKey]string{}
	var k sellerKey
	var name string
	var v decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&k.currency, &k.seller, &name, &v}, func() error {
		held[k], names[k] = v, name
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("reconcile: held by seller: %w", err)
	}
	return held, names, nil
}

// escrowAccountsBalance is the balance of every escrow account
// (escrow:<escrow id>) before at, per currency: the ledger's figure,
// independent of the escrows table. An account finance made under another
// escrow: code (escrow:suspense) is left out by the rule that makes escrow
// accounts domain-owned, written for SQL as ledger.EscrowAccountCodePattern,
// so the sum stays in the database.
func escrowAccountsBalance(ctx context.Context, q db.Querier, tenant uuid.UUID, currency string, at time.Time) (map[string]decimal.Decimal, error) {
	rows, err := q.Query(ctx, `
		SELECT a.currency, COALESCE(SUM(x.balance_after), 0)
		FROM ledger_accounts a
		JOIN ledger_balances b ON b.account_id = a.id
		JOIN LATERAL (`+lastBalanceBefore+`) x ON true
		WHERE a.tenant_id = $1 AND left(a.code, 7) = 'escrow:' AND a.code ~ $4 AND ($3 = '' OR a.currency = $3)
		GROUP BY a.currency`, tenant, at, currency, ledger.EscrowAccountCodePattern)
	if err != nil {
		return nil, fmt.Errorf("reconcile: escrow accounts balance: %w", err)
	}
	out := map[string]decimal.Decimal{}
	var cur string
	var v decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&cur, &v}, func() error {
		out[cur] = v
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reconcile: escrow accounts balance: %w", err)
	}
	return out, nil
}

// settlementFlows sums the period's postings on escrow accounts per day,
// currency, seller, entry kind and side. For releases and refunds the fee
// part is what the same entry credited to a fees:* account.
func settlementFlows(ctx context.Context, q db.Querier, tenant uuid.UUID, sq SettlementQuery, names map[sellerKey]string) ([]SettlementRow, error) {
	rows, err := q.Query(ctx, `
		SELECT (p.created_at AT TIME ZONE 'UTC')::DATE, es.currency, es.seller_id, COALESCE(max(es.seller->>'name'), ''), e.kind, p.direction,
			SUM(p.amount),
			SUM(CASE WHEN e.kind IN ('escrow.release', 'escrow.refund', 'escrow.chargeback') AND p.direction = 'debit' THEN
				(SELECT COALESCE(SUM(f.amount), 0) FROM ledger_postings f JOIN ledger_accounts fa ON fa.id = f.account_id
				 WHERE f.entry_id = p.entry_id AND f.direction = 'credit' AND left(fa.code, 5) = 'fees:') ELSE 0 END)
		FROM escrows es
		JOIN ledger_postings p ON p.account_id = es.ledger_account_id AND p.seq IS NOT NULL AND p.created_at >= $2 AND p.created_at < $3
		JOIN ledger_entries e ON e.id = p.entry_id
		WHERE es.tenant_id = $1 AND ($4 = '' OR es.currency = $4)
		GROUP BY 1, es.currency, es.seller_id, e.kind, p.direction
		ORDER BY 1, es.currency, es.seller_id`, tenant, sq.From, sq.End(), sq.Currency)
	if err != nil {
		return nil, fmt.Errorf("reconcile: settlement flows: %w", err)
	}
	var out []SettlementRow
	var day time.Time
	var cur, seller, name, kind, dir string
	var amount, fee decimal.Decimal
	_, err = pgx.ForEachRow(rows, []any{&day, &cur, &seller, &name, &kind, &dir, &amount, &fee}, func() error {
		n := len(out)
		if n == 0 || !out[n-1].Day.Equal(day) || out[n-1].Currency != cur || out[n-1].SellerID != seller {
			if n == MaxReportRows {
				return fmt.Errorf("%w: more than %d rows; narrow the period or pick a currency", ErrReportTooLarge, MaxReportRows)
			}
			if nm := names[sellerKey{cur, seller}]; nm != "" {
				name = nm
			}
			out = append(out, SettlementRow{Day: day.UTC(), Currency: cur, SellerID: seller, SellerName: name, Flows: zeroFlows()})
			n++
		}
		f := &out[n-1].Flows
		credit := dir == "credit"
		switch {
		case kind == "escrow.fund" && credit:
			f.Funded = f.Funded.Add(amount)
		case kind == "fx.convert" && credit:
			f.FX = f.FX.Add(amount)
		case kind == "escrow.release" && !credit:
			f.Released = f.Released.Add(amount.Sub(fee))
			f.Fees = f.Fees.Add(fee)
		case (kind == "escrow.refund" || kind == "escrow.chargeback") && !credit:
			f.Refunded = f.Refunded.Add(amount.Sub(fee))
			f.Fees = f.Fees.Add(fee)
		case credit:
			f.Other = f.Other.Add(amount)
		default:
			f.Other = f.Other.Sub(amount)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrReportTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("reconcile: settlement flows: %w", err)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
