package fx

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

const (
	// RatePrecision is the number of decimal places kept when a rate is
	// divided (inverse and cross rates). It is a minimum: see
	// MinRateSignificantDigits.
	RatePrecision = 20
	// MinRateSignificantDigits is the number of significant digits a
	// derived rate keeps at least; tiny rates get more than RatePrecision
	// decimal places to honour it.
	MinRateSignificantDigits = 12
	// maxDivisionPrecision bounds the decimal places of a derived rate.
	maxDivisionPrecision = 100
	// MaxRatesPerSet is the number of quote currencies accepted in a RateSet.
	MaxRatesPerSet = 500
	// MaxSourceLength is the number of characters accepted in a rate source.
	MaxSourceLength = 32
	// MaxClockSkew is how far in the future a rate may be dated and still
	// be used: feeds and our clock are not perfectly in step.
	MaxClockSkew = 5 * time.Minute
)

// Rate is an exchange rate: 1 Base = Rate Quote, as of AsOf.
type Rate struct {
	// Base is the currency code of one unit, e.g. "EUR".
	Base string
	// Quote is the currency code the rate is expressed in, e.g. "USD".
	Quote string
	// Rate is the number of Quote units for one Base unit, > 0.
	Rate decimal.Decimal
	// AsOf is when the rate was observed; derived rates carry the oldest
	// AsOf of the rates they were derived from.
	AsOf time.Time
	// Source names where the rate comes from, e.g. "ecb".
	Source string
}

// RateSet is a set of rates from one Base, one source and one moment:
// 1 Base = Rates[code] code.
type RateSet struct {
	// Base is the currency code all rates are quoted from.
	Base string
	// AsOf is when the rates were observed.
	AsOf time.Time
	// Source names where the rates come from, e.g. "ecb".
	Source string
	// Rates maps a quote currency code to its rate.
	Rates map[string]decimal.Decimal
}

// lookupRateCurrency accepts active currencies and the withdrawn ones that
// appear in historic feeds (HRK in the ECB feed until 2022).
func lookupRateCurrency(code string) error {
	_, err := money.LookupHistoric(code)
	return err
}

// Validate checks the set: known base and quote currencies, base not among
// the quotes, 1..MaxRatesPerSet rates, all > 0, a non-zero AsOf and a
// source of 1..MaxSourceLength characters [A-Za-z0-9._-]. Errors wrap
// ErrInvalidRate.
func (s RateSet) Validate() error {
	if err := lookupRateCurrency(s.Base); err != nil {
		return fmt.Errorf("%w: base: %w", ErrInvalidRate, err)
	}
	if s.AsOf.IsZero() {
		return fmt.Errorf("%w: as-of time missing", ErrInvalidRate)
	}
	if err := validateSource(s.Source); err != nil {
		return err
	}
	if len(s.Rates) == 0 {
		return fmt.Errorf("%w: no rates", ErrInvalidRate)
	}
	if len(s.Rates) > MaxRatesPerSet {
		return fmt.Errorf("%w: %d rates, max %d", ErrInvalidRate, len(s.Rates), MaxRatesPerSet)
	}
	for _, code := range slices.Sorted(maps.Keys(s.Rates)) {
		if code == s.Base {
			return fmt.Errorf("%w: base %s quoted against itself", ErrInvalidRate, code)
		}
		if err := lookupRateCurrency(code); err != nil {
			return fmt.Errorf("%w: quote: %w", ErrInvalidRate, err)
		}
		if !s.Rates[code].IsPositive() {
			return fmt.Errorf("%w: %s/%s rate %s is not positive", ErrInvalidRate, s.Base, code, s.Rates[code])
		}
	}
	return nil
}

func validateSource(src string) error {
	if src == "" || len(src) > MaxSourceLength {
		return fmt.Errorf("%w: source must have 1 to %d characters", ErrInvalidRate, MaxSourceLength)
	}
	for i := 0; i < len(src); i++ {
		b := src[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("%w: source may only contain letters, digits, '.', '_' and '-'", ErrInvalidRate)
		}
	}
	return nil
}

// List returns the set as Rates sorted by quote currency.
func (s RateSet) List() []Rate {
	out := make([]Rate, 0, len(s.Rates))
	for _, code := range slices.Sorted(maps.Keys(s.Rates)) {
		out = append(out, Rate{Base: s.Base, Quote: code, Rate: s.Rates[code], AsOf: s.AsOf, Source: s.Source})
	}
	return out
}

// parseRate parses a strictly positive plain decimal rate with at most
// RatePrecision decimal places.
func parseRate(s string) (decimal.Decimal, error) {
	d, err := money.ParsePlainDecimal(s, RatePrecision)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("rate %s is not a decimal: %w", quoteShort(s), err)
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("%w: rate %s is not positive", ErrInvalidRate, quoteShort(s))
	}
	return d, nil
}

// maxEcho bounds how much of an input value is echoed in an error.
const maxEcho = 24

// quoteShort quotes s for an error message, shortened to maxEcho bytes.
func quoteShort(s string) string {
	if len(s) > maxEcho {
		return fmt.Sprintf("%q...", s[:maxEcho])
	}
	return fmt.Sprintf("%q", s)
}

var one = decimal.NewFromInt(1)

// IdentitySource is the Source of the identity rate CrossRate returns when
// from == to.
const IdentitySource = "identity"

// CrossRate derives the rate from → to out of rates: directly (a from/to
// rate) or inverted (1 / a to/from rate), whichever is newer (the direct
// one on a tie), else crossed through pivot (from → pivot → to, each leg
// chosen the same way); pivot "" disables crossing. Among several rates
// for the same pair the newest is used. The
// result is exact when no division is needed, else one division rounded
// half-up at RatePrecision decimal places (more for tiny rates, keeping at
// least MinRateSignificantDigits significant digits); nothing is rounded
// before that. Its AsOf is the oldest AsOf of the rates used and its Source
// joins their sources with '+' when they differ. from == to gives rate 1
// with Source IdentitySource and a zero AsOf. ErrNoRate if no rate can be
// derived, ErrInvalidRate if a rate used is not positive.
func CrossRate(rates []Rate, from, to, pivot string) (Rate, error) {
	if from == to {
		return Rate{Base: from, Quote: to, Rate: one, Source: IdentitySource}, nil
	}
	l, ok, err := findLeg(rates, from, to)
	if err != nil {
		return Rate{}, err
	}
	if !ok && pivot != "" && pivot != from && pivot != to {
		l1, ok1, err := findLeg(rates, from, pivot)
		if err != nil {
			return Rate{}, err
		}
		l2, ok2, err := findLeg(rates, pivot, to)
		if err != nil {
			return Rate{}, err
		}
		if ok1 && ok2 {
			l, ok = l1.then(l2), true
		}
	}
	if !ok {
		return Rate{}, fmt.Errorf("%w: %s/%s", ErrNoRate, from, to)
	}
	return Rate{Base: from, Quote: to, Rate: divide(l.num, l.den), AsOf: l.asOf, Source: l.source}, nil
}

// leg is a rate kept as an exact fraction num/den until the final division.
type leg struct {
	num, den decimal.Decimal
	asOf     time.Time
	source   string
}

// then chains l (a → b) with m (b → c) into a → c.
func (l leg) then(m leg) leg {
	out := leg{num: l.num.Mul(m.num), den: l.den.Mul(m.den), asOf: l.asOf, source: l.source}
	if m.asOf.Before(out.asOf) {
		out.asOf = m.asOf
	}
	if m.source != l.source {
		out.source = l.source + "+" + m.source
	}
	return out
}

// findLeg finds from → to as the newer of the newest direct rate (from/to)
// and the newest inverse rate (to/from), the direct one on a tie (it needs
// no division): an old direct rate does not hide a fresh inverse one.
func findLeg(rates []Rate, from, to string) (leg, bool, error) {
	direct, okDirect, err := newest(rates, from, to)
	if err != nil {
		return leg{}, false, err
	}
	inverse, okInverse, err := newest(rates, to, from)
	if err != nil {
		return leg{}, false, err
	}
	if okInverse && (!okDirect || inverse.AsOf.After(direct.AsOf)) {
		return leg{num: one, den: inverse.Rate, asOf: inverse.AsOf, source: inverse.Source}, true, nil
	}
	return leg{num: direct.Rate, den: one, asOf: direct.AsOf, source: direct.Source}, okDirect, nil
}

// newest returns the newest rate base → quote in rates.
func newest(rates []Rate, base, quote string) (Rate, bool, error) {
	var best Rate
	found := false
	for _, r := range rates {
		if r.Base != base || r.Quote != quote {
			continue
		}
		if !r.Rate.IsPositive() {
			return Rate{}, false, fmt.Errorf("%w: %s/%s rate %s is not positive", ErrInvalidRate, base, quote, r.Rate)
		}
		if !found || r.AsOf.After(best.AsOf) {
			best, found = r, true
		}
	}
	return best, found, nil
}

// divide returns num/den, exact when den is 1, else rounded half-up at
// RatePrecision decimal places or more so the result keeps at least
// MinRateSignificantDigits significant digits.
func divide(num, den decimal.Decimal) decimal.Decimal {
	if den.Equal(one) {
		return num
	}
	// lead(x) is the number of integer digits of x (negative for x < 0.1);
	// the quotient's leading digit sits at about 10^(lead(num)-lead(den)).
	lead := func(x decimal.Decimal) int { return x.NumDigits() + int(x.Exponent()) }
	places := MinRateSignificantDigits - (lead(num) - lead(den)) + 1
	places = min(max(places, RatePrecision), maxDivisionPrecision)
	return num.DivRound(den, int32(places))
}

// CheckFresh returns an error wrapping ErrRateStale if r is older than
// maxAge at now, or ErrRateInFuture if r is dated more than MaxClockSkew
// after now. Identity rates (Source IdentitySource, rate 1) are always
// fresh.
func CheckFresh(r Rate, now time.Time, maxAge time.Duration) error {
	if r.Source == IdentitySource && r.Base == r.Quote && r.Rate.Equal(one) {
		return nil
	}
	age := now.Sub(r.AsOf)
	if r.AsOf.IsZero() || age > maxAge {
		return fmt.Errorf("%w: %s/%s as of %s is %s old (max %s)", ErrRateStale, r.Base, r.Quote, r.AsOf.UTC().Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	if age < -MaxClockSkew {
		return fmt.Errorf("%w: %s/%s as of %s is %s ahead of now", ErrRateInFuture, r.Base, r.Quote, r.AsOf.UTC().Format(time.RFC3339), (-age).Round(time.Second))
	}
	return nil
}
