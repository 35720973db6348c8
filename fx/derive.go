package fx

import (
	"fmt"
	"slices"
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
// for the same pair the newest is used. The result is exact when no
// division is needed, else one division rounded half-up at RatePrecision
// decimal places (more for tiny rates, keeping at least
// MinRateSignificantDigits significant digits); nothing is rounded before
// that, and the Rate keeps the exact quotient for Price, so amounts are not
// computed from a rounded rate either. Its AsOf is the oldest AsOf of the
// rates used and its Source joins their sources with '+' when they differ.
// from == to gives rate 1 with
// Source IdentitySource and a zero AsOf. ErrNoRate if no rate can be
// derived, ErrInvalidRate if a rate used is not positive.
func CrossRate(rates []Rate, from, to, pivot string) (Rate, error) {
	if from == to {
		return identity(from), nil
	}
	ix := indexRates(rates)
	l, ok, err := ix.leg(from, to)
	if err != nil {
		return Rate{}, err
	}
	if !ok && pivot != "" && pivot != from && pivot != to {
		l, ok, err = ix.cross(from, pivot, to)
		if err != nil {
			return Rate{}, err
		}
	}
	if !ok {
		return Rate{}, fmt.Errorf("%w: %s/%s", ErrNoRate, from, to)
	}
	return l.rate(from, to), nil
}

// freshestRate derives the rate from → to out of rates like CrossRate, but
// crosses through every currency that rates link to both from and to, and
// returns the freshest of the candidates (direct or inverse, and one cross
// rate per pivot): the one with the newest AsOf, which for a cross rate is
// its older leg's. On a tie the direct or inverse rate wins (no pivot),
// then the pivot first in code order, so the choice never depends on the
// order of rates. The work is linear in len(rates) (one index, one pass
// over the candidate pivots), which the caller bounds. Errors as CrossRate.
func freshestRate(rates []Rate, from, to string) (Rate, error) {
	if from == to {
		return identity(from), nil
	}
	ix := indexRates(rates)
	best, ok, err := ix.leg(from, to)
	if err != nil {
		return Rate{}, err
	}
	var pivots []string
	for p := range ix {
		switch {
		case p.base == from && p.quote != to:
			pivots = append(pivots, p.quote)
		case p.quote == from && p.base != to:
			pivots = append(pivots, p.base)
		}
	}
	slices.Sort(pivots)
	for _, pivot := range slices.Compact(pivots) {
		c, okCross, err := ix.cross(from, pivot, to)
		if err != nil {
			return Rate{}, err
		}
		if okCross && (!ok || c.asOf.After(best.asOf)) {
			best, ok = c, true
		}
	}
	if !ok {
		return Rate{}, fmt.Errorf("%w: %s/%s", ErrNoRate, from, to)
	}
	return best.rate(from, to), nil
}

// identity is the rate of code to itself.
func identity(code string) Rate {
	return Rate{Base: code, Quote: code, Rate: one, Source: IdentitySource}
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

// rate is l as the Rate from → to, its exact value kept when l needs a
// division.
func (l leg) rate(from, to string) Rate {
	r := Rate{Base: from, Quote: to, Rate: divide(l.num, l.den), AsOf: l.asOf, Source: l.source}
	if !l.den.Equal(one) {
		r.exact = &fraction{num: l.num, den: l.den, of: r.Rate}
	}
	return r
}

// fraction is the exact value num/den of a derived rate whose rounded
// quotient is of.
type fraction struct{ num, den, of decimal.Decimal }

// exactly returns r's exact value as num/den: the fraction it was derived
// as, or Rate/1 when it needed no division (or its Rate was changed since).
func (r Rate) exactly() (num, den decimal.Decimal) {
	if r.exact != nil && r.exact.of.Equal(r.Rate) {
		return r.exact.num, r.exact.den
	}
	return r.Rate, one
}

// pair is a rate's currency pair.
type pair struct{ base, quote string }

// rateIndex holds the newest rate of each pair (the first of equally new
// ones).
type rateIndex map[pair]Rate

func indexRates(rates []Rate) rateIndex {
	ix := make(rateIndex, len(rates))
	for _, r := range rates {
		k := pair{r.Base, r.Quote}
		if old, ok := ix[k]; !ok || r.AsOf.After(old.AsOf) {
			ix[k] = r
		}
	}
	return ix
}

// leg finds from → to as the newer of the direct rate (from/to) and the
// inverse rate (to/from), the direct one on a tie (it needs no division):
// an old direct rate does not hide a fresh inverse one. ErrInvalidRate if
// either is not positive.
func (ix rateIndex) leg(from, to string) (leg, bool, error) {
	direct, okDirect := ix[pair{from, to}]
	inverse, okInverse := ix[pair{to, from}]
	for _, r := range [...]Rate{direct, inverse} {
		if r.Base != "" && !r.Rate.IsPositive() { // r.Base == "": not found
			return leg{}, false, fmt.Errorf("%w: %s/%s rate %s is not positive", ErrInvalidRate, r.Base, r.Quote, r.Rate)
		}
	}
	if okInverse && (!okDirect || inverse.AsOf.After(direct.AsOf)) {
		return leg{num: one, den: inverse.Rate, asOf: inverse.AsOf, source: inverse.Source}, true, nil
	}
	return leg{num: direct.Rate, den: one, asOf: direct.AsOf, source: direct.Source}, okDirect, nil
}

// cross finds from → pivot → to, each leg as leg finds it.
func (ix rateIndex) cross(from, pivot, to string) (leg, bool, error) {
	l1, ok1, err := ix.leg(from, pivot)
	if err != nil || !ok1 {
		return leg{}, false, err
	}
	l2, ok2, err := ix.leg(pivot, to)
	if err != nil || !ok2 {
		return leg{}, false, err
	}
	return l1.then(l2), true, nil
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
