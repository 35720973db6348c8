package fx

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

const (
	// MaxImportRates bounds the rates of one import (all sets together).
	MaxImportRates = MaxCSVRows
	// maxLoadedRates bounds the rows LatestRate reads, the newest rate of
	// every pair that involves one of two currencies (at most four per
	// other currency), and so the pivots it tries.
	maxLoadedRates = 2000
)

// ImportedSet describes one set of an import.
type ImportedSet struct {
	Base   string
	AsOf   time.Time
	Source string
	// Rates is the number of rates in the set.
	Rates int
}

// ImportResult says what an import stored.
type ImportResult struct {
	Sets []ImportedSet
	// Inserted counts new rates; Unchanged counts rates already stored
	// with the same value (a re-import).
	Inserted, Unchanged int
}

// MaxInverseDeviationBps is how far, in basis points, the product of a
// rate and its inverse at the same instant (EUR/GBP and GBP/EUR, from any
// sources) may be from 1. Published rates and their inverses differ by
// the rounding of the figures, at worst by a bid/ask spread, well under
// 1%; further apart they contradict each other and so do the quotes
// priced from them in the two directions: with EUR/GBP 0.85 and GBP/EUR
// 2.5, 1000.00 EUR buy 845.75 GBP, which buy 2103.80 EUR back. An import
// is checked against itself (checkInverses) and against the tenant's
// stored rates at its instants (checkStoredInverses). Rates of the two
// directions at different instants are not compared: LatestRate prices
// both directions from the newer of them (rateIndex.leg), so they never
// contradict each other; only at the same instant does it take the direct
// rate of each direction.
const MaxInverseDeviationBps = 100

// inverseTolerance is MaxInverseDeviationBps as a fraction.
var inverseTolerance = decimal.New(MaxInverseDeviationBps, -4)

// validateImport checks sets before they are stored: each valid, none
// dated after now + MaxClockSkew, at most MaxImportRates rates in all, and
// no rate contradicting an inverse rate of the import at the same instant
// (checkInverses; the stored rates are checked in the transaction, by
// checkStoredInverses).
func validateImport(sets []RateSet, now time.Time) error {
	if len(sets) == 0 {
		return fmt.Errorf("%w: no rate sets", ErrInvalidRate)
	}
	n := 0
	for _, s := range sets {
		if err := s.Validate(); err != nil {
			return err
		}
		if s.AsOf.After(now.Add(MaxClockSkew)) {
			return fmt.Errorf("%w: %s rates as of %s are dated after now", ErrRateInFuture, s.Base, s.AsOf.UTC().Format(time.RFC3339))
		}
		n += len(s.Rates)
	}
	if n > MaxImportRates {
		return fmt.Errorf("%w: %d rates in one import, max %d", ErrInvalidRate, n, MaxImportRates)
	}
	return checkInverses(sets)
}

// importedRate is a rate of an import with the line it was read from (0
// if unknown), for checkInverses.
type importedRate struct {
	rate Rate
	line int
}

// pairAt keys a rate of an import by its pair and instant, to the
// microsecond that fx_rates.as_of keeps.
type pairAt struct {
	base, quote string
	asOf        int64
}

// keyOf returns r's pairAt, inverse swapping base and quote.
func keyOf(r Rate, inverse bool) pairAt {
	k := pairAt{base: r.Base, quote: r.Quote, asOf: r.AsOf.Truncate(asOfPrecision).UnixMicro()}
	if inverse {
		k.base, k.quote = k.quote, k.base
	}
	return k
}

// extremes are the smallest and the largest of the rates of one pair at
// one instant, each the first one seen with its value.
type extremes struct{ lo, hi importedRate }

func (e *extremes) add(r importedRate) {
	if e.lo.rate.Rate.IsZero() || r.rate.Rate.LessThan(e.lo.rate.Rate) {
		e.lo = r
	}
	if e.hi.rate.Rate.IsZero() || r.rate.Rate.GreaterThan(e.hi.rate.Rate) {
		e.hi = r
	}
}

// contradiction returns an inverse rate out of inv whose product with r is
// further from 1 than MaxInverseDeviationBps, and that product. The
// product is monotonic in the inverse rate, so when neither extreme
// contradicts r no rate between them does.
func (e extremes) contradiction(r Rate) (importedRate, decimal.Decimal, bool) {
	if p := r.Rate.Mul(e.hi.rate.Rate); p.Sub(one).GreaterThan(inverseTolerance) {
		return e.hi, p, true
	}
	if p := r.Rate.Mul(e.lo.rate.Rate); one.Sub(p).GreaterThan(inverseTolerance) {
		return e.lo, p, true
	}
	return importedRate{}, decimal.Decimal{}, false
}

// inverseError is the error for two rates that contradict each other: a
// *RateError on the line of second, if known.
func inverseError(second, first string, line int, asOf time.Time, product decimal.Decimal) error {
	e := &RateError{Line: line, Reason: fmt.Sprintf(
		"%s contradicts %s at the same instant %s: their product %s is more than %s%% from 1",
		second, first, asOf.UTC().Format(time.RFC3339Nano), product, decimal.New(MaxInverseDeviationBps, -2))}
	if e.Line > 0 {
		e.Element = "rate"
	}
	return e
}

// checkInverses refuses an import that holds a rate and its inverse at the
// same instant (from any source) whose product is further from 1 than
// MaxInverseDeviationBps: a *RateError naming the line of the later of
// the two rows when a rates CSV gave them. Each rate is compared with the
// extremes of the inverse rates before it, so the work is linear in the
// rates.
func checkInverses(sets []RateSet) error {
	seen := map[pairAt]*extremes{}
	for _, s := range sets {
		for _, r := range s.List() {
			this := importedRate{rate: r, line: s.lines[r.Quote]}
			if inv, ok := seen[keyOf(r, true)]; ok {
				if other, product, bad := inv.contradiction(r); bad {
					first, second := other, this
					if first.line > second.line {
						first, second = second, first
					}
					return inverseError(describeRate(second), describeRate(first), second.line, r.AsOf, product)
				}
			}
			k := keyOf(r, false)
			if seen[k] == nil {
				seen[k] = &extremes{}
			}
			seen[k].add(this)
		}
	}
	return nil
}

// storedInversesSQL reads, for each key ($2, $3, $4)[i] of tenant $1 with
// stored rates, the smallest and the largest of them: one lookup of the
// key in the primary key. The inner ORDER BY (the primary key's order)
// makes the planner take the primary key on a new database too, without
// statistics, where it took (tenant_id, as_of) and filtered on the pair,
// reading (and predicate-locking) all of the tenant's rates at the instant.
const storedInversesSQL = `
	SELECT k.base, k.quote, k.as_of, s.lo, s.hi
	FROM unnest($2::TEXT[], $3::TEXT[], $4::TIMESTAMPTZ[]) AS k (base, quote, as_of)
	CROSS JOIN LATERAL (
		SELECT min(rate) AS lo, max(rate) AS hi FROM (
			SELECT rate FROM fx_rates
			WHERE tenant_id = $1 AND base = k.base AND quote = k.quote AND as_of = k.as_of
			ORDER BY base, quote, as_of, source) AS r) AS s
	WHERE s.lo IS NOT NULL`

// checkStoredInverses refuses, like checkInverses, an import holding a
// rate that contradicts one of tenant's stored rates of the inverse pair
// at the same instant (from any source), naming the imported row. One
// query reads the smallest and the largest stored rate of each inverse
// pair and instant of the import through the primary key (one row per
// key, at most MaxImportRates keys, storedInversesSQL); it runs before
// the rates are inserted, so it sees only earlier imports.
func checkStoredInverses(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, sets []RateSet) error {
	var bases, quotes []string
	var asOfs []time.Time
	keys := map[pairAt]bool{}
	for _, s := range sets {
		for _, r := range s.List() {
			k := keyOf(r, true)
			if keys[k] {
				continue
			}
			keys[k] = true
			bases, quotes, asOfs = append(bases, k.base), append(quotes, k.quote), append(asOfs, time.UnixMicro(k.asOf).UTC())
		}
	}
	rows, err := tx.Query(ctx, storedInversesSQL, tenant, bases, quotes, asOfs)
	if err != nil {
		return fmt.Errorf("fx: read stored inverse rates: %w", err)
	}
	stored := map[pairAt]extremes{}
	var lo, hi Rate
	_, err = pgx.ForEachRow(rows, []any{&lo.Base, &lo.Quote, &lo.AsOf, &lo.Rate, &hi.Rate}, func() error {
		hi.Base, hi.Quote, hi.AsOf = lo.Base, lo.Quote, lo.AsOf
		stored[keyOf(lo, false)] = extremes{lo: importedRate{rate: lo}, hi: importedRate{rate: hi}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fx: read stored inverse rates: %w", err)
	}
	for _, s := range sets {
		for _, r := range s.List() {
			inv, ok := stored[keyOf(r, true)]
			if !ok {
				continue
			}
			if other, product, bad := inv.contradiction(r); bad {
				this := importedRate{rate: r, line: s.lines[r.Quote]}
				desc := fmt.Sprintf("the stored %s/%s %s", other.rate.Base, other.rate.Quote, other.rate.Rate)
				return inverseError(describeRate(this), desc, this.line, r.AsOf, product)
			}
		}
	}
	return nil
}

// describeRate names r for an error: pair, rate, source and line.
func describeRate(r importedRate) string {
	s := fmt.Sprintf("%s/%s %s (source %s", r.rate.Base, r.rate.Quote, r.rate.Rate, r.rate.Source)
	if r.line > 0 {
		s += fmt.Sprintf(", line %d", r.line)
	}
	return s + ")"
}

// insertRates stores the rates of sets for tenant, refusing a rate that
// contradicts a stored inverse rate (checkStoredInverses). A rate already stored
// under the same key with an equal value is counted as unchanged; with
// another value it is ErrRateConflict.
func insertRates(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, sets []RateSet, now time.Time) (ImportResult, error) {
	if err := checkStoredInverses(ctx, tx, tenant, sets); err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	var all []Rate
	b := &pgx.Batch{}
	for _, s := range sets {
		res.Sets = append(res.Sets, ImportedSet{Base: s.Base, AsOf: s.AsOf.UTC(), Source: s.Source, Rates: len(s.Rates)})
		for _, r := range s.List() {
			all = append(all, r)
			b.Queue(`
				INSERT INTO fx_rates (tenant_id, base, quote, as_of, source, rate, imported_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (tenant_id, base, quote, as_of, source) DO NOTHING`,
				tenant, r.Base, r.Quote, r.AsOf, r.Source, r.Rate, now)
		}
	}
	var existing []Rate
	br := tx.SendBatch(ctx, b)
	for _, r := range all {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return ImportResult{}, fmt.Errorf("fx: insert rate %s/%s: %w", r.Base, r.Quote, err)
		}
		if tag.RowsAffected() == 1 {
			res.Inserted++
		} else {
			existing = append(existing, r)
		}
	}
	if err := br.Close(); err != nil {
		return ImportResult{}, fmt.Errorf("fx: insert rates: %w", err)
	}
	for _, r := range existing {
		var stored decimal.Decimal
		err := tx.QueryRow(ctx, `
			SELECT rate FROM fx_rates
			WHERE tenant_id = $1 AND base = $2 AND quote = $3 AND as_of = $4 AND source = $5`,
			tenant, r.Base, r.Quote, r.AsOf, r.Source).Scan(&stored)
		if err != nil {
			return ImportResult{}, fmt.Errorf("fx: read stored rate %s/%s: %w", r.Base, r.Quote, err)
		}
		if !stored.Equal(r.Rate) {
			return ImportResult{}, fmt.Errorf("%w: %s/%s %s as of %s: stored %s, imported %s", ErrRateConflict,
				r.Base, r.Quote, r.Source, r.AsOf.UTC().Format(time.RFC3339), stored, r.Rate)
		}
		res.Unchanged++
	}
	return res, nil
}

// LatestRate returns the rate from → to (1 from = Rate to) out of tenant's
// rates dated up to now + MaxClockSkew, whatever their age: the freshest of
// the newest direct or inverse rate and the cross rates through every
// currency with rates for both legs (EUR for ECB rates, but also the base
// of any other set), the direct one on a tie, then the pivot first in code
// order (see freshestRate). See CrossRate for the arithmetic. from == to is
// the identity rate. Callers check freshness with CheckFresh. ErrNoRate if
// no rate can be derived.
func LatestRate(ctx context.Context, q db.Querier, tenant uuid.UUID, from, to string, now time.Time) (Rate, error) {
	for _, c := range []string{from, to} {
		if err := lookupRateCurrency(c); err != nil {
			return Rate{}, fmt.Errorf("%w: %w", ErrNoRate, err)
		}
	}
	if from == to {
		return identity(from), nil
	}
	rows, err := q.Query(ctx, `
		SELECT DISTINCT ON (base, quote) base, quote, rate, as_of, source
		FROM fx_rates
		WHERE tenant_id = $1 AND (base IN ($2, $3) OR quote IN ($2, $3)) AND as_of <= $4
		ORDER BY base, quote, as_of DESC, source
		LIMIT $5`, tenant, from, to, now.Add(MaxClockSkew), maxLoadedRates)
	if err != nil {
		return Rate{}, fmt.Errorf("fx: load rates: %w", err)
	}
	rates, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rate, error) {
		var r Rate
		err := row.Scan(&r.Base, &r.Quote, &r.Rate, &r.AsOf, &r.Source)
		r.AsOf = r.AsOf.UTC()
		return r, err
	})
	if err != nil {
		return Rate{}, fmt.Errorf("fx: load rates: %w", err)
	}
	return freshestRate(rates, from, to)
}

// spreadBps returns tenant's spread, or def when the tenant has none set.
func spreadBps(ctx context.Context, q db.Querier, tenant uuid.UUID, def int64) (int64, error) {
	var bps int64
	err := q.QueryRow(ctx, `SELECT spread_bps FROM fx_settings WHERE tenant_id = $1`, tenant).Scan(&bps)
	if db.IsNoRows(err) {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fx: read settings: %w", err)
	}
	return bps, nil
}

// Settings are a tenant's FX settings.
type Settings struct {
	// SpreadBps is the spread applied to the tenant's quotes.
	SpreadBps int64
	// Default is true when the tenant has set nothing and the configured
	// default applies.
	Default bool
	// UpdatedAt is when the tenant last changed its settings, nil if never.
	UpdatedAt *time.Time
}

// ResourceID names the settings for the audit log.
func (Settings) ResourceID() string { return "fx-settings" }

// ValidateSpread checks a spread in basis points: 0..MaxSpreadBps. The
// error wraps ErrInvalidSpread.
func ValidateSpread(bps int64) error {
	if bps < 0 || bps > MaxSpreadBps {
		return fmt.Errorf("%w: spread_bps %d, want 0..%d", ErrInvalidSpread, bps, MaxSpreadBps)
	}
	return nil
}

func upsertSettings(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, bps int64, now time.Time) (Settings, error) {
	if err := ValidateSpread(bps); err != nil {
		return Settings{}, err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO fx_settings (tenant_id, spread_bps, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id) DO UPDATE SET spread_bps = excluded.spread_bps, updated_at = excluded.updated_at`,
		tenant, bps, now)
	if err != nil {
		return Settings{}, fmt.Errorf("fx: store settings: %w", err)
	}
	return Settings{SpreadBps: bps, UpdatedAt: &now}, nil
}

func readSettings(ctx context.Context, q db.Querier, tenant uuid.UUID, def int64) (Settings, error) {
	var s Settings
	var at time.Time
	err := q.QueryRow(ctx, `SELECT spread_bps, updated_at FROM fx_settings WHERE tenant_id = $1`, tenant).Scan(&s.SpreadBps, &at)
	if db.IsNoRows(err) {
		return Settings{SpreadBps: def, Default: true}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("fx: read settings: %w", err)
	}
	at = at.UTC()
	s.UpdatedAt = &at
	return s, nil
}
