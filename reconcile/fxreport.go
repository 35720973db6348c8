package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/ledger"
)

// chargebackConversionKind is the kind of the ledger entry that books the
// captured currency's side of a chargeback of an escrow funded through FX
// (escrow.Service.chargebackConversion): debit fx:<sell> the amount the
// PSP took back, credit cash:psp:<sell>. Its metadata names the escrow's
// currency (escrow_currency, the conversions' buy currency) and the amount
// that the chargeback's escrow.chargeback and chargeback.clawback entries
// credited to fx:<buy> (escrow_amount).
const chargebackConversionKind = "chargeback.conversion"

// FXPair is the conversions of a period from one currency into another,
// and the chargebacks in the sell currency that unwound some of them.
type FXPair struct {
	SellCurrency, BuyCurrency string
	Conversions               int
	SellAmount                decimal.Decimal
	BuyAmount                 decimal.Decimal
	// ClearingAmount = BuyAmount + SpreadRevenue + Rounding.
	ClearingAmount decimal.Decimal
	SpreadRevenue  decimal.Decimal
	// Rounding is the net residual (gains positive); RoundingGains and
	// RoundingLosses (positive) split it.
	Rounding       decimal.Decimal
	RoundingGains  decimal.Decimal
	RoundingLosses decimal.Decimal

	// Reversals counts the chargebacks in the sell currency booked in the
	// period (chargeback.conversion entries) of escrows funded through
	// this pair; ReversalsUndone the reversals of such entries booked in
	// the period (won chargebacks, of this period's or earlier ones).
	Reversals       int
	ReversalsUndone int
	// ReversedSellAmount is the sell currency the chargebacks took back
	// through fx:<sell> (debited), and ReversedBuyAmount the buy currency
	// their escrows gave back to fx:<buy> (credited), at the conversions'
	// own rate (spread revenue and rounding stay booked); both net of
	// what won chargebacks undid in the period, so negative when more
	// was undone than charged back.
	ReversedSellAmount decimal.Decimal
	ReversedBuyAmount  decimal.Decimal
	// NetSellAmount = SellAmount - ReversedSellAmount and NetBuyAmount =
	// BuyAmount - ReversedBuyAmount: what stayed converted.
	NetSellAmount decimal.Decimal
	NetBuyAmount  decimal.Decimal
	// NetClearingAmount = ClearingAmount - ReversedBuyAmount: the pair's
	// net debit to fx:<buy> in the period (its net credit to fx:<sell> is
	// NetSellAmount).
	NetClearingAmount decimal.Decimal
}

// FXLedgerCheck compares, per currency, the report with what the ledger's
// FX accounts moved in the period: spread and rounding (of the pairs
// buying the currency) with fx:revenue:<CUR> and fx:rounding:<CUR>
// (credits less debits), and the clearing movement the report accounts
// for with fx:<CUR> (debits less credits). Anything else booked on those
// accounts, such as finance's adjustment settling the position with the
// FX counterparty, shows as a difference.
type FXLedgerCheck struct {
	Currency       string
	SpreadRevenue  decimal.Decimal
	LedgerRevenue  decimal.Decimal
	Rounding       decimal.Decimal
	LedgerRounding decimal.Decimal
	// Clearing is the net debit to fx:<CUR> the report accounts for: the
	// NetClearingAmount of the pairs buying the currency less the
	// NetSellAmount of those selling it. LedgerClearing is what fx:<CUR>
	// moved (debits less credits).
	Clearing       decimal.Decimal
	LedgerClearing decimal.Decimal
	// Ties: revenue, rounding and clearing all equal the ledger's.
	Ties bool
}

// FXReport is the FX report of a period.
type FXReport struct {
	Period
	Pairs  []FXPair
	Ledger []FXLedgerCheck
}

// FX builds the FX report: conversions booked in the period by currency
// pair with spread revenue and rounding residuals, the conversions
// chargebacks unwound, all checked against the ledger's revenue, rounding
// and clearing accounts.
func (s *Service) FX(ctx context.Context, tenant uuid.UUID, p Period) (FXReport, error) {
	rep := FXReport{Period: p}
	err := s.DB.ReadTx(ctx, func(tx pgx.Tx) error {
		rep.Pairs, rep.Ledger = nil, nil
		pairs, err := fxConversions(ctx, tx, tenant, p)
		if err != nil {
			return err
		}
		if err := fxChargebackReversals(ctx, tx, tenant, p, pairs); err != nil {
			return err
		}
		checks := map[string]*FXLedgerCheck{}
		check := func(cur string) *FXLedgerCheck {
			c := checks[cur]
			if c == nil {
				z := decimal.Zero
				c = &FXLedgerCheck{Currency: cur, SpreadRevenue: z, LedgerRevenue: z, Rounding: z, LedgerRounding: z, Clearing: z, LedgerClearing: z}
				checks[cur] = c
			}
			return c
		}
		for _, f := range pairs {
			f.NetSellAmount = f.SellAmount.Sub(f.ReversedSellAmount)
			f.NetBuyAmount = f.BuyAmount.Sub(f.ReversedBuyAmount)
			f.NetClearingAmount = f.ClearingAmount.Sub(f.ReversedBuyAmount)
			rep.Pairs = append(rep.Pairs, *f)
			b := check(f.BuyCurrency)
			b.SpreadRevenue = b.SpreadRevenue.Add(f.SpreadRevenue)
			b.Rounding = b.Rounding.Add(f.Rounding)
			b.Clearing = b.Clearing.Add(f.NetClearingAmount)
			sc := check(f.SellCurrency)
			sc.Clearing = sc.Clearing.Sub(f.NetSellAmount)
		}
		slices.SortFunc(rep.Pairs, func(a, b FXPair) int {
			return cmp.Or(cmp.Compare(a.SellCurrency, b.SellCurrency), cmp.Compare(a.BuyCurrency, b.BuyCurrency))
		})
		if err := fxLedgerMovements(ctx, tx, tenant, p, check); err != nil {
			return err
		}
		for _, cur := range sortedKeys(checks) {
			c := checks[cur]
			c.Ties = c.SpreadRevenue.Equal(c.LedgerRevenue) && c.Rounding.Equal(c.LedgerRounding) && c.Clearing.Equal(c.LedgerClearing)
			rep.Ledger = append(rep.Ledger, *c)
		}
		return nil
	})
	if err != nil {
		return FXReport{}, err
	}
	return rep, nil
}

// fxPairKey is a currency pair, sell then buy.
type fxPairKey struct{ sell, buy string }

// newFXPair is an FXPair of k with every amount zero.
func newFXPair(k fxPairKey) *FXPair {
	z := decimal.Zero
	return &FXPair{SellCurrency: k.sell, BuyCurrency: k.buy, SellAmount: z, BuyAmount: z, ClearingAmount: z, SpreadRevenue: z,
		Rounding: z, RoundingGains: z, RoundingLosses: z, ReversedSellAmount: z, ReversedBuyAmount: z}
}

// fxConversions sums the conversions booked in the period by pair (one
// row per pair: at most the square of the ISO 4217 table).
func fxConversions(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, p Period) (map[fxPairKey]*FXPair, error) {
	rows, err := tx.Query(ctx, `
		SELECT sell_currency, buy_currency, count(*), SUM(sell_amount), SUM(buy_amount), SUM(clearing_amount), SUM(spread_amount),
			SUM(rounding_amount), SUM(CASE WHEN rounding_amount > 0 THEN rounding_amount ELSE 0 END),
			SUM(CASE WHEN rounding_amount < 0 THEN -rounding_amount ELSE 0 END)
		FROM fx_conversions
		WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3
		GROUP BY sell_currency, buy_currency`, tenant, p.From, p.End())
	if err != nil {
		return nil, fmt.Errorf("reconcile: fx report: %w", err)
	}
	pairs := map[fxPairKey]*FXPair{}
	var k fxPairKey
	var n int64
	var f FXPair
	if _, err := pgx.ForEachRow(rows, []any{&k.sell, &k.buy, &n, &f.SellAmount, &f.BuyAmount, &f.ClearingAmount,
		&f.SpreadRevenue, &f.Rounding, &f.RoundingGains, &f.RoundingLosses}, func() error {
		x := newFXPair(k)
		x.Conversions = int(n)
		x.SellAmount, x.BuyAmount, x.ClearingAmount, x.SpreadRevenue = f.SellAmount, f.BuyAmount, f.ClearingAmount, f.SpreadRevenue
		x.Rounding, x.RoundingGains, x.RoundingLosses = f.Rounding, f.RoundingGains, f.RoundingLosses
		pairs[k] = x
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reconcile: fx report: %w", err)
	}
	return pairs, nil
}

// fxChargebackReversals adds to pairs the chargeback.conversion entries
// booked in the period (each unwinds conversions of its pair: sell
// currency from the entry's fx:<sell> debit, buy currency and amount from
// its metadata) and, subtracted, the reversals of such entries booked in
// the period (a won chargeback puts the conversion back). One row per
// pair. The kinds are written into the SQL, not passed as parameters, so
// that a generic plan can still use the partial index on them
// (ledger_entries_fx_unwinds, migration 0104).
func fxChargebackReversals(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, p Period, pairs map[fxPairKey]*FXPair) error {
	rows, err := tx.Query(ctx, `
		WITH cb AS (
			SELECT e.id, 1 AS sign FROM ledger_entries e
			WHERE e.tenant_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND e.kind = '`+chargebackConversionKind+`'
			UNION ALL
			SELECT o.id, -1 FROM ledger_entries r JOIN ledger_entries o ON o.id = r.reverses_id
			WHERE r.tenant_id = $1 AND r.created_at >= $2 AND r.created_at < $3 AND r.kind = '`+ledger.KindReversal+`' AND o.kind = '`+chargebackConversionKind+`'
		)
		SELECT p.currency, COALESCE(o.metadata->>'escrow_currency', ''),
			count(CASE WHEN cb.sign > 0 THEN 1 END), count(CASE WHEN cb.sign < 0 THEN 1 END),
			SUM(cb.sign * p.amount), SUM(cb.sign * CAST(o.metadata->>'escrow_amount' AS DECIMAL)),
			count(CASE WHEN o.metadata->>'escrow_amount' IS NULL THEN 1 END)
		FROM cb
		JOIN ledger_entries o ON o.id = cb.id
		JOIN ledger_postings p ON p.entry_id = o.id AND p.direction = 'debit'
		GROUP BY 1, 2`, tenant, p.From, p.End())
	if err != nil {
		return fmt.Errorf("reconcile: fx chargebacks: %w", err)
	}
	var k fxPairKey
	var booked, undone, missing int64
	var sell, buy decimal.NullDecimal
	if _, err := pgx.ForEachRow(rows, []any{&k.sell, &k.buy, &booked, &undone, &sell, &buy, &missing}, func() error {
		if k.buy == "" || missing > 0 || !sell.Valid || !buy.Valid {
			return fmt.Errorf("%s entries selling %s without escrow_currency or escrow_amount metadata", chargebackConversionKind, k.sell)
		}
		x := pairs[k]
		if x == nil {
			x = newFXPair(k)
			pairs[k] = x
		}
		x.Reversals, x.ReversalsUndone = int(booked), int(undone)
		x.ReversedSellAmount, x.ReversedBuyAmount = sell.Decimal, buy.Decimal
		return nil
	}); err != nil {
		return fmt.Errorf("reconcile: fx chargebacks: %w", err)
	}
	return nil
}

// fxLedgerMovements sets, through check, what the period moved on the FX
// accounts of each currency: fx:revenue:<CUR> and fx:rounding:<CUR>
// (credits less debits) and fx:<CUR> (debits less credits).
func fxLedgerMovements(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, p Period, check func(string) *FXLedgerCheck) error {
	rows, err := tx.Query(ctx, `
		SELECT a.currency, CASE WHEN left(a.code, 11) = 'fx:revenue:' THEN 'revenue' WHEN left(a.code, 12) = 'fx:rounding:' THEN 'rounding' ELSE 'clearing' END,
			COALESCE(SUM(CASE WHEN p.direction = 'credit' THEN p.amount ELSE -p.amount END), 0)
		FROM ledger_accounts a
		JOIN ledger_postings p ON p.account_id = a.id AND p.seq IS NOT NULL AND p.created_at >= $2 AND p.created_at < $3
		WHERE a.tenant_id = $1 AND (left(a.code, 11) = 'fx:revenue:' OR left(a.code, 12) = 'fx:rounding:' OR a.code = 'fx:' || a.currency)
		GROUP BY a.currency, 2`, tenant, p.From, p.End())
	if err != nil {
		return fmt.Errorf("reconcile: fx ledger: %w", err)
	}
	var cur, what string
	var v decimal.Decimal
	if _, err := pgx.ForEachRow(rows, []any{&cur, &what, &v}, func() error {
		switch what {
		case "revenue":
			check(cur).LedgerRevenue = v
		case "rounding":
			check(cur).LedgerRounding = v
		default:
			check(cur).LedgerClearing = v.Neg()
		}
		return nil
	}); err != nil {
		return fmt.Errorf("reconcile: fx ledger: %w", err)
	}
	return nil
}
