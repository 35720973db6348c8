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
	// MaxRateMagnitude bounds an imported rate r by its order of magnitude:
	// 10^-MaxRateMagnitude <= r <= 10^MaxRateMagnitude. The pairs of the
	// currencies escrowd knows that lie furthest apart are about 10^8 (1
	// CLF, about 40 USD, was some 1.6e8 VES before the 2021
	// redenomination; at a million IRR to the USD, 1 CLF is 4e7 IRR; 1 EUR
	// is about 1e6 IRR, 1e5 LBP, 3e4 VND). Four more orders of magnitude
	// leave room for inflation; 1e38 or 1e-30, no pair's rate, is a typo
	// or garbage.
	MaxRateMagnitude = 12
	// MinRateYear is the earliest year of a rate's as-of time (UTC). The
	// euro and the ECB reference rates start in 1999; escrowd prices with
	// rates at most hours old, and a rate dated 0001-01-01 or 0217 is a
	// typo.
	MinRateYear = 1999
)

// minRate and maxRate are the bounds of MaxRateMagnitude.
var (
	minRate = decimal.New(1, -MaxRateMagnitude)
	maxRate = decimal.New(1, MaxRateMagnitude)
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
	// exact is the exact value of a rate derived by division (inverse or
	// cross), of which Rate is the rounded quotient; nil when Rate is
	// exact. Price computes amounts from it (see Rate.exactly).
	exact *fraction
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
	// lines maps a quote currency code to the 1-based line of its row
	// when ParseRatesCSV read the set, for errors; nil otherwise.
	lines map[string]int
}

// lookupRateCurrency accepts active currencies and the withdrawn ones that
// appear in historic feeds (HRK in the ECB feed until 2022).
func lookupRateCurrency(code string) error {
	_, err := money.LookupHistoric(code)
	return err
}

// Validate checks the set: known base and quote currencies, base not among
// the quotes, 1..MaxRatesPerSet rates, all > 0 and within
// MaxRateMagnitude, an AsOf in MinRateYear or later and a source of
// 1..MaxSourceLength characters [A-Za-z0-9._-]. Errors wrap
// ErrInvalidRate.
func (s RateSet) Validate() error {
	if err := lookupRateCurrency(s.Base); err != nil {
		return fmt.Errorf("%w: base: %w", ErrInvalidRate, err)
	}
	if s.AsOf.IsZero() {
		return fmt.Errorf("%w: as-of time missing", ErrInvalidRate)
	}
	if y := s.AsOf.UTC().Year(); y < MinRateYear {
		return fmt.Errorf("%w: as-of year %d is before %d", ErrInvalidRate, y, MinRateYear)
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
		if !rateInRange(s.Rates[code]) {
			return fmt.Errorf("%w: %s/%s rate %s is outside %s..%s", ErrInvalidRate, s.Base, code, s.Rates[code], minRate, maxRate)
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
// RatePrecision decimal places, within MaxRateMagnitude.
func parseRate(s string) (decimal.Decimal, error) {
	d, err := money.ParsePlainDecimal(s, RatePrecision)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("rate %s is not a decimal: %w", quoteShort(s), err)
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("%w: rate %s is not positive", ErrInvalidRate, quoteShort(s))
	}
	if !rateInRange(d) {
		return decimal.Decimal{}, fmt.Errorf("%w: rate %s is outside %s..%s", ErrInvalidRate, quoteShort(s), minRate, maxRate)
	}
	return d, nil
}

// rateInRange reports whether d is within minRate..maxRate
// (MaxRateMagnitude).
func rateInRange(d decimal.Decimal) bool {
	return !d.LessThan(minRate) && !d.GreaterThan(maxRate)
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
