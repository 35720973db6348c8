package fx

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

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
