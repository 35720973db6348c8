package loadgen

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		err  bool
	}{
		{"", DefaultMix(), false},
		{"accept=80,refund=10,dispute=10,fx=30", DefaultMix(), false},
		{"accept=100", Mix{Accept: 100, FX: 30, Milestones: 25}, false},
		{"fx=0", Mix{Accept: 80, Refund: 10, Dispute: 10, FX: 0, Milestones: 25}, false},
		{" accept = 50 , refund=25,dispute=25, milestones=0", Mix{Accept: 50, Refund: 25, Dispute: 25, FX: 30}, false},
		{"accept=90", Mix{}, true},                      // the others become 0: sum 90
		{"accept=80,refund=10,dispute=20", Mix{}, true}, // 110
		{"accept=101", Mix{}, true},
		{"accept=-1,refund=101", Mix{}, true},
		{"chargeback=5", Mix{}, true},
		{"accept", Mix{}, true},
		{"fx=30,fx=40", Mix{}, true},
	} {
		got, err := ParseMix(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseMix(%q) = %+v, %v", tc.in, got, err)
		}
	}
	m := Mix{Accept: 70, Refund: 20, Dispute: 10, FX: 5, Milestones: 50}
	if got, err := ParseMix(m.String()); err != nil || got != m {
		t.Errorf("round trip of %s: %+v %v", m, got, err)
	}
}

func TestPlansAreReproducible(t *testing.T) {
	a := NewGenerator(42, DefaultMix(), 1000, 20000)
	b := NewGenerator(42, DefaultMix(), 1000, 20000)
	c := NewGenerator(43, DefaultMix(), 1000, 20000)
	// b draws in the opposite order: each escrow is the same whatever
	// order the clients draw them in
	fromB := map[int]Plan{}
	for seq := 200; seq >= 1; seq-- {
		fromB[seq] = b.Plan(seq)
	}
	same := 0
	for seq := 1; seq <= 200; seq++ {
		pa := a.Plan(seq)
		if !reflect.DeepEqual(pa, a.Plan(seq)) {
			t.Fatalf("seq %d drew two plans", seq)
		}
		if !reflect.DeepEqual(fromB[seq], pa) {
			t.Fatalf("seq %d differs between generators of one seed", seq)
		}
		if reflect.DeepEqual(c.Plan(seq), pa) {
			same++
		}
	}
	if same > 5 {
		t.Errorf("another seed drew %d of 200 identical plans", same)
	}
}

func TestWorkloadShares(t *testing.T) {
	const n = 40000
	mix := Mix{Accept: 70, Refund: 20, Dispute: 10, FX: 30, Milestones: 25}
	g := NewGenerator(7, mix, 1000, 20000)
	paths := map[Path]int{}
	fx, split := 0, 0
	sellers := map[int]int{}
	currencies := map[string]int{}
	for seq := 1; seq <= n; seq++ {
		p := g.Plan(seq)
		paths[p.Path]++
		sellers[p.Seller]++
		currencies[p.Currency.Code]++
		if p.FundCurrency != "" {
			fx++
			if p.FundCurrency == p.Currency.Code {
				t.Fatalf("seq %d funds %s with %s", seq, p.Currency.Code, p.FundCurrency)
			}
		}
		if p.FeePaidBy == "split" {
			split++
		}
		if p.Seller < 0 || p.Seller >= 1000 || p.Buyer < 0 || p.Buyer >= 20000 {
			t.Fatalf("seq %d: seller %d, buyer %d", seq, p.Seller, p.Buyer)
		}
	}
	near := func(name string, got int, wantPct float64) {
		t.Helper()
		if pct := 100 * float64(got) / n; math.Abs(pct-wantPct) > 1.5 {
			t.Errorf("%s: %.1f%%, want %.0f%%", name, pct, wantPct)
		}
	}
	near("accept (plain)", paths[PathAccept], 70*0.75)
	near("accept by milestones", paths[PathMilestones], 70*0.25)
	near("refund", paths[PathRefund], 20)
	near("dispute", paths[PathDispute], 10)
	near("fx funding", fx, 30)
	near("split fees", split, 30)
	total := 0
	for _, c := range Currencies {
		total += c.Weight
	}
	for _, c := range Currencies {
		near("currency "+c.Code, currencies[c.Code], 100*float64(c.Weight)/float64(total))
	}
	// Zipf: seller 0 is the hottest, with about a quarter of the escrows;
	// the ten hottest have more than half; most sellers have few.
	top10 := 0
	for s := range 10 {
		top10 += sellers[s]
		if s < 3 && sellers[s] <= sellers[s+1] {
			t.Errorf("seller %d has %d escrows, seller %d has %d", s, sellers[s], s+1, sellers[s+1])
		}
	}
	if share := float64(sellers[0]) / n; share < 0.15 || share > 0.35 {
		t.Errorf("top seller share %.2f", share)
	}
	if share := float64(top10) / n; share < 0.45 || share > 0.75 {
		t.Errorf("top-10 seller share %.2f", share)
	}
}

func TestAmountsAreExactAndBounded(t *testing.T) {
	g := NewGenerator(3, DefaultMix(), 100, 100)
	usdPerEUR := decimal.RequireFromString("1.0850")
	decimals := map[int32]bool{}
	var logs []float64
	for seq := 1; seq <= 20000; seq++ {
		p := g.Plan(seq)
		c := p.Currency
		decimals[c.MinorUnits] = true
		s := money.Format(p.Amount, c)
		back, err := money.ParseAmount(s, c)
		if err != nil || !back.Equal(p.Amount) || money.CheckExact(p.Amount, c) != nil {
			t.Fatalf("seq %d: %s %s does not round-trip: %v", seq, s, c.Code, err)
		}
		// in USD at the reference rates: within the limits, give or take a minor unit
		var perEUR decimal.Decimal
		for _, cur := range Currencies {
			if cur.Code == c.Code {
				perEUR = decimal.RequireFromString(cur.PerEUR)
			}
		}
		usd, _ := p.Amount.Div(perEUR).Mul(usdPerEUR).Float64()
		if usd < MinUSD*0.99 || usd > MaxUSD*1.01 {
			t.Fatalf("seq %d: %s %s is USD %.2f", seq, s, c.Code, usd)
		}
		logs = append(logs, math.Log(usd))
		pos := func(name string, d decimal.Decimal, below decimal.Decimal) {
			if !d.IsPositive() || d.GreaterThan(below) || money.CheckExact(d, c) != nil {
				t.Fatalf("seq %d: %s %s of %s %s", seq, name, d, s, c.Code)
			}
		}
		switch p.Path {
		case PathMilestones:
			if len(p.Milestones) != 2 || !p.Milestones[0].Add(p.Milestones[1]).Equal(p.Amount) {
				t.Fatalf("seq %d: milestones %v of %s", seq, p.Milestones, s)
			}
			pos("milestone 0", p.Milestones[0], p.Amount)
			pos("milestone 1", p.Milestones[1], p.Amount)
		case PathRefund:
			pos("refund", p.Refund, p.Amount)
		case PathDispute:
			pos("claim", p.Claim, p.Amount)
			pos("award", p.Award, p.Claim)
		}
	}
	if len(decimals) != 3 {
		t.Errorf("minor units seen: %v, want 0, 2 and 3", decimals)
	}
	// log-normal: the median of the USD amounts is near MedianUSD
	mid := median(logs)
	if got := math.Exp(mid); got < MedianUSD*0.9 || got > MedianUSD*1.1 {
		t.Errorf("median amount USD %.2f, want about %.0f", got, MedianUSD)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestClampPart(t *testing.T) {
	jpy, _ := money.Lookup("JPY")
	kwd, _ := money.Lookup("KWD")
	for _, tc := range []struct {
		part, whole string
		c           money.Currency
		want        string
	}{
		{"0", "100", jpy, "1"},
		{"100", "100", jpy, "99"},
		{"50", "100", jpy, "50"},
		{"1", "1", jpy, "1"},
		{"0.000", "0.500", kwd, "0.001"},
		{"0.500", "0.500", kwd, "0.499"},
	} {
		got := clampPart(decimal.RequireFromString(tc.part), decimal.RequireFromString(tc.whole), tc.c)
		if !got.Equal(decimal.RequireFromString(tc.want)) {
			t.Errorf("clampPart(%s, %s %s) = %s, want %s", tc.part, tc.whole, tc.c.Code, got, tc.want)
		}
	}
}
