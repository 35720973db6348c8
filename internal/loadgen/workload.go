package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/money"
)

// Operation names, in workload order (the report lists them so).
const (
	OpCreate     = "create"
	OpQuote      = "fx_quote"
	OpFund       = "fund"
	OpFundFX     = "fund_fx"
	OpShip       = "ship"
	OpDeliver    = "deliver"
	OpMilestone  = "release_milestone"
	OpAccept     = "accept"
	OpRefund     = "refund_partial"
	OpRelease    = "release_rest"
	OpDispute    = "dispute_open"
	OpEscalate   = "dispute_escalate"
	OpResolve    = "dispute_resolve"
	OpApprove    = "review_approve"
	OpRates      = "fx_rates_import"
	OpCheckTB    = "check_trial_balance"
	OpCheckList  = "check_escrows_page"
	OpCheckBal   = "check_account_balance"
	OpProbe      = "probe"
	opRankOthers = 100
)

var opOrder = []string{OpCreate, OpQuote, OpFund, OpFundFX, OpShip, OpDeliver, OpMilestone, OpAccept, OpRefund, OpRelease,
	OpDispute, OpEscalate, OpResolve, OpApprove}

func opRank(op string) int {
	if i := slices.Index(opOrder, op); i >= 0 {
		return i
	}
	return opRankOthers
}

// Path is how an escrow's lifecycle ends after delivery.
type Path string

// The paths.
const (
	PathAccept     Path = "accept"     // the buyer accepts: everything released
	PathMilestones Path = "milestones" // milestone 0 released, then accepted
	PathRefund     Path = "refund"     // a partial refund, then the rest released
	PathDispute    Path = "dispute"    // a claim, escalated, resolved by an agent with a partial refund
)

// Mix is the workload's shares, in percent.
type Mix struct {
	Accept  int // escrows accepted (of which Milestones% by milestones)
	Refund  int // partial refund, then release
	Dispute int // dispute, then agent resolution
	// FX is the share of escrows funded in another currency through a quote.
	FX int
	// Milestones is the share of accepted escrows that have two
	// milestones, the first released before acceptance.
	Milestones int
}

// DefaultMix is the mix of the issue: 80/10/10, 30% FX, a quarter of the
// accepted escrows by milestones.
func DefaultMix() Mix { return Mix{Accept: 80, Refund: 10, Dispute: 10, FX: 30, Milestones: 25} }

// String renders m as ParseMix reads it.
func (m Mix) String() string {
	return fmt.Sprintf("accept=%d,refund=%d,dispute=%d,fx=%d,milestones=%d", m.Accept, m.Refund, m.Dispute, m.FX, m.Milestones)
}

// ParseMix reads "accept=80,refund=10,dispute=10,fx=30,milestones=25".
// Keys left out keep their defaults, except that naming any of accept,
// refund and dispute sets the others of the three to 0; those three must
// add up to 100; fx and milestones are percentages on their own.
func ParseMix(s string) (Mix, error) {
	m := DefaultMix()
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	vals := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 || n > 100 {
			return Mix{}, fmt.Errorf("--mix: %q is not key=percent (0..100)", part)
		}
		k = strings.TrimSpace(k)
		if _, dup := vals[k]; dup {
			return Mix{}, fmt.Errorf("--mix: %s given twice", k)
		}
		vals[k] = n
	}
	_, a := vals["accept"]
	_, r := vals["refund"]
	_, d := vals["dispute"]
	if a || r || d {
		m.Accept, m.Refund, m.Dispute = 0, 0, 0
	}
	for k, n := range vals {
		switch k {
		case "accept":
			m.Accept = n
		case "refund":
			m.Refund = n
		case "dispute":
			m.Dispute = n
		case "fx":
			m.FX = n
		case "milestones":
			m.Milestones = n
		default:
			return Mix{}, fmt.Errorf("--mix: unknown key %q (accept, refund, dispute, fx, milestones)", k)
		}
	}
	if sum := m.Accept + m.Refund + m.Dispute; sum != 100 {
		return Mix{}, fmt.Errorf("--mix: accept+refund+dispute is %d, must be 100", sum)
	}
	return m, nil
}

// Currency is one currency of the workload with its reference rate.
type Currency struct {
	Code   string
	PerEUR string // reference rate: 1 EUR = PerEUR units
	Weight int    // share of escrows in this currency
}

// Currencies are the workload's currencies: 0 (JPY), 2 (EUR, USD, GBP)
// and 3 (KWD, BHD) decimals, with the EUR reference rates the benchmark
// imports (POST /v1/fx/rates).
var Currencies = []Currency{
	{"USD", "1.0850", 35}, {"EUR", "1", 25}, {"GBP", "0.8570", 12}, {"JPY", "162.40", 12}, {"KWD", "0.3341", 8}, {"BHD", "0.4090", 8},
}

// Rates returns the reference rates to import: base EUR.
func Rates() map[string]string {
	out := map[string]string{}
	for _, c := range Currencies {
		if c.Code != "EUR" {
			out[c.Code] = c.PerEUR
		}
	}
	return out
}

// Amount limits, in US dollars: the log-normal draw is repeated outside
// them. Below MinUSD an escrow counts as tiny for the gate's card-testing
// rule; above MaxUSD the default rules step a release up (USD 10,000), and
// the generator avoids step-up rather than confirming codes.
const (
	MedianUSD = 120.0
	SigmaUSD  = 1.0
	MinUSD    = 6.0
	MaxUSD    = 9000.0
	maxDraws  = 100
)

// Countries parties are drawn from (by index).
var countries = []string{"CN", "DE", "US", "GB", "TR", "JP", "KW", "BH", "FR", "IN", "VN", "NL"}

// Plan is one escrow's lifecycle, drawn in advance.
type Plan struct {
	Path         Path
	Currency     money.Currency
	Amount       decimal.Decimal
	Milestones   []decimal.Decimal // two amounts on PathMilestones
	FundCurrency string            // "" funds in the escrow's currency
	Seller       int
	Buyer        int
	FeePaidBy    string
	Refund       decimal.Decimal // PathRefund: the partial refund
	Claim        decimal.Decimal // PathDispute: the amount claimed
	Award        decimal.Decimal // PathDispute: the agent's partial refund
}

// Generator draws plans. Escrow number seq gets its own random stream,
// seeded from the run's seed and seq, so the same seed gives the same
// escrows whatever the interleaving of the clients. It is safe for
// concurrent use.
type Generator struct {
	seed    uint64
	mix     Mix
	sellers int
	buyers  int
	weights int
	perUSD  map[string]decimal.Decimal // units per USD
}

// ZipfS is the Zipf exponent of the seller draw (P(k) ∝ (1+k)^-ZipfS):
// with 1,000 sellers the top seller gets about a quarter of the escrows
// and the top ten more than half.
const ZipfS = 1.2

// NewGenerator returns the generator of a run.
func NewGenerator(seed uint64, mix Mix, sellers, buyers int) *Generator {
	g := &Generator{seed: seed, mix: mix, sellers: max(sellers, 1), buyers: max(buyers, 1), perUSD: map[string]decimal.Decimal{}}
	usd := decimal.RequireFromString("1.0850")
	for _, c := range Currencies {
		g.weights += c.Weight
		g.perUSD[c.Code] = decimal.RequireFromString(c.PerEUR).Div(usd)
	}
	return g
}

func pct(r *rand.Rand, p int) bool { return r.IntN(100) < p }

// Plan draws escrow number seq.
func (g *Generator) Plan(seq int) Plan {
	r := rand.New(rand.NewPCG(g.seed, uint64(seq)))
	zipf := rand.NewZipf(r, ZipfS, 1, uint64(g.sellers-1))
	p := Plan{Seller: int(zipf.Uint64()), Buyer: r.IntN(g.buyers), FeePaidBy: "seller"}
	switch n := r.IntN(100); {
	case n < g.mix.Accept:
		p.Path = PathAccept
		if pct(r, g.mix.Milestones) {
			p.Path = PathMilestones
		}
	case n < g.mix.Accept+g.mix.Refund:
		p.Path = PathRefund
	default:
		p.Path = PathDispute
	}
	code := g.pickCurrency(r, "")
	p.Currency, _ = money.Lookup(code)
	p.Amount = g.amount(r, code)
	if pct(r, g.mix.FX) {
		p.FundCurrency = g.pickCurrency(r, code)
	}
	if pct(r, 30) {
		p.FeePaidBy = "split"
	}
	part := func(lo, hi float64) decimal.Decimal {
		f := lo + r.Float64()*(hi-lo)
		return clampPart(money.Round(p.Amount.Mul(decimal.NewFromFloat(f)), p.Currency), p.Amount, p.Currency)
	}
	switch p.Path {
	case PathMilestones:
		first := part(0.2, 0.4)
		p.Milestones = []decimal.Decimal{first, p.Amount.Sub(first)}
	case PathRefund:
		p.Refund = part(0.1, 0.4)
	case PathDispute:
		p.Claim = part(0.3, 0.8)
		p.Award = clampPart(money.Round(p.Claim.Div(decimal.NewFromInt(2)), p.Currency), p.Claim, p.Currency)
	}
	return p
}

// clampPart keeps a part of whole at least one minor unit and below whole
// (whole itself when whole is a single unit).
func clampPart(part, whole decimal.Decimal, c money.Currency) decimal.Decimal {
	unit := decimal.New(1, -c.MinorUnits)
	if whole.LessThanOrEqual(unit) {
		return whole
	}
	return decimal.Min(decimal.Max(part, unit), whole.Sub(unit))
}

// pickCurrency draws a currency by weight, other than not.
func (g *Generator) pickCurrency(r *rand.Rand, not string) string {
	for range maxDraws {
		n := r.IntN(g.weights)
		for _, c := range Currencies {
			if n -= c.Weight; n < 0 {
				if c.Code != not {
					return c.Code
				}
				break
			}
		}
	}
	return "USD"
}

// amount draws an order amount in code: log-normal in US dollars (median
// MedianUSD, σ SigmaUSD) within [MinUSD, MaxUSD], converted at the
// reference rate and rounded half-even to the currency's minor units.
func (g *Generator) amount(r *rand.Rand, code string) decimal.Decimal {
	usd := MedianUSD
	for range maxDraws {
		x := MedianUSD * math.Exp(SigmaUSD*r.NormFloat64())
		if x >= MinUSD && x <= MaxUSD {
			usd = x
			break
		}
	}
	c, _ := money.Lookup(code)
	return money.Round(decimal.NewFromFloat(usd).Mul(g.perUSD[code]), c)
}

// SellerID, BuyerID and the parties' details are derived from their
// numbers, so the same seller is the same party in every escrow.
func SellerID(n int) string { return fmt.Sprintf("bench-seller-%04d", n) }

// BuyerID is the buyer's id.
func BuyerID(n int) string { return fmt.Sprintf("bench-buyer-%05d", n) }

func sellerCountry(n int) string { return countries[n%len(countries)] }
func buyerCountry(n int) string  { return countries[(n*7+3)%len(countries)] }
