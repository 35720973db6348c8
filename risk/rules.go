package risk

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"github.com/shopspring/decimal"
)

// Limits on a rule set.
const (
	// MaxRules is the most rules a RuleSet may have.
	MaxRules = 200
	// MaxRuleExprLen is the longest When expression, in characters.
	MaxRuleExprLen = 1000
	// MaxRuleCost is the CEL runtime cost one rule may spend on one
	// evaluation; past it the rule fails (and the decision fails closed,
	// see Evaluate). The default rules cost under 20. It still guards
	// rule sets stored before MaxRuleEstimatedCost existed, and inputs
	// beyond the sizes the estimate assumes (estimatedSizes).
	MaxRuleCost = 10000
	// MaxRuleEstimatedCost is the most a new rule may cost on one
	// evaluation by CEL's static estimate (its upper end, over inputs of
	// the sizes estimatedSizes assumes), checked by CompileRules. A CEL
	// cost unit took 60 to 160 ns here, so a rule at the limit costs
	// about 0.1 ms. The default rules estimate at 34 or less; a
	// comprehension over the context map with a regular expression on
	// each value, about 530.
	MaxRuleEstimatedCost = 1000
	// MaxRuleSetEstimatedCost is the most the estimates of all a new
	// set's rules may add up to: at worst about 0.5 ms of scoring, inside
	// the payout's transaction (the whole decision's target is 5 ms). The
	// default rules add up to under 150; MaxRules rules at 25 each fit.
	MaxRuleSetEstimatedCost = 5000
	// MaxRuleIDLen is the longest rule ID and reason code.
	MaxRuleIDLen = 64
	// MaxRuleDescriptionLen is the longest Description, in characters.
	MaxRuleDescriptionLen = 500
	// MaxRulePoints bounds Points either way: a rule adds at most this
	// many points to the score, or takes at most this many away.
	MaxRulePoints = 100
	// DefaultReviewThreshold is the score from which a decision is
	// review when a RuleSet leaves ReviewThreshold zero.
	DefaultReviewThreshold = 65
	// DefaultBlockThreshold is the score from which a decision is block
	// when a RuleSet leaves BlockThreshold zero.
	DefaultBlockThreshold = 90
)

// Reason codes of the default rules, and ReasonScoringError, which
// Evaluate gives when a rule fails.
const (
	ReasonLargeAmount    = "large_amount"
	ReasonLargeAmount24h = "large_amount_24h"
	ReasonPartyFrozen    = "party_frozen"
	ReasonSanctionsMatch = "sanctions_match"
	// ReasonSanctionsPossibleMatch is the gate's own (no default rule
	// gives it): a name matched only by the partial-name rule (see
	// Screener), at least review.
	ReasonSanctionsPossibleMatch = "sanctions_possible_match"
	ReasonNewBuyer               = "new_buyer"
	ReasonNewSeller              = "new_seller"
	ReasonSellerVelocity1h       = "seller_velocity_1h"
	ReasonBuyerVelocity1h        = "buyer_velocity_1h"
	ReasonDeviceVelocity         = "device_velocity"
	ReasonCardTesting            = "card_testing"
	ReasonOffHours               = "off_hours"
	ReasonIPCountryMismatch      = "ip_country_mismatch"
	ReasonDeviceCountryMismatch  = "device_country_mismatch"
	ReasonHighDisputeRate        = "high_dispute_rate"
	ReasonAmountAboveSellerP95   = "amount_above_seller_p95"
	ReasonCrossBorder            = "cross_border"
	// ReasonScoringError marks a rule that could not be evaluated; rules
	// may not use it themselves.
	ReasonScoringError = "scoring_error"
)

// Rule is one risk rule: when When holds, the rule adds Points to the
// score, records Reason, and asks for Action.
type Rule struct {
	// ID names the rule within its set: lower case letters, digits,
	// "_", "-" and ".", at most MaxRuleIDLen.
	ID string `json:"id"`
	// Description says what the rule is for, for people.
	Description string `json:"description,omitempty"`
	// When is a CEL expression of type bool over the variables of
	// Features (see Features.Activation).
	When string `json:"when"`
	// Action is "" (score only) or one of OutcomeApprove, OutcomeReview,
	// OutcomeStepUp and OutcomeBlock. The most severe action of the
	// rules that hold wins, so approve can never lift another rule's
	// review or block.
	Action string `json:"action,omitempty"`
	// Points are added to the score when When holds; negative points
	// lower it. Between -MaxRulePoints and MaxRulePoints.
	Points int `json:"points,omitempty"`
	// Reason is the explainable code recorded when When holds, in
	// snake_case, e.g. "amount_over_step_up_threshold".
	Reason string `json:"reason"`
}

// RuleSet is a versioned list of rules with its score thresholds.
type RuleSet struct {
	// Version identifies the set; decisions record it. At least 1.
	Version int `json:"version"`
	// Rules are evaluated in order; at most MaxRules.
	Rules []Rule `json:"rules"`
	// ReviewThreshold is the score from which the outcome is at least
	// review; 0 means DefaultReviewThreshold.
	ReviewThreshold int `json:"review_threshold,omitempty"`
	// BlockThreshold is the score from which the outcome is block; 0
	// means DefaultBlockThreshold.
	BlockThreshold int `json:"block_threshold,omitempty"`
}

// ErrInvalidRule is wrapped by every *RuleError.
var ErrInvalidRule = errors.New("invalid risk rule")

// RuleError says which rule, and which of its fields, is invalid.
type RuleError struct {
	// Index is the rule's position in RuleSet.Rules, or -1 when the
	// error is about the set itself.
	Index int
	// ID is the rule's ID as given, "" when Index is -1.
	ID string
	// Field is the JSON name of the field: "id", "when", "action",
	// "points", "reason", "description", or for the set "version",
	// "rules", "review_threshold", "block_threshold".
	Field string
	// Message says what is wrong, for the client.
	Message string
}

// Path returns where the error is in JSON terms, e.g. "rules[3].when"
// or "review_threshold".
func (e *RuleError) Path() string {
	if e.Index < 0 {
		return e.Field
	}
	return fmt.Sprintf("rules[%d].%s", e.Index, e.Field)
}

// Error implements error.
func (e *RuleError) Error() string { return e.Path() + ": " + e.Message }

// Unwrap returns ErrInvalidRule.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }

var (
	ruleIDPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	reasonCodePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// ruleEnv is the CEL environment every rule is compiled in.
var ruleEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	for _, v := range featureVars {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	return cel.NewEnv(opts...)
})

// Compiled is a validated RuleSet ready to evaluate. It is immutable
// and safe for concurrent use.
type Compiled struct {
	set      RuleSet
	programs []cel.Program
	asts     []*cel.Ast // checked, for the cost estimate
}

// CompileRules validates rs as a new rule set (PUT /v1/risk/rules, the
// defaults) and compiles its rules. Zero thresholds take their defaults.
// Every rule needs a unique ID, a When that compiles to bool over the
// Features variables, an allowed Action, Points within MaxRulePoints, a
// snake_case Reason, and some effect (Action or Points). Each When must
// also be affordable and able to run: CEL's static cost estimate at most
// MaxRuleEstimatedCost, all of them together at most
// MaxRuleSetEstimatedCost, and no evaluation error on zero-valued
// features or on a typical payout (trialFeatures). A rule that fails
// there would fail on most payouts, and each failure sends the payout to
// review. Errors are *RuleError for the first problem found.
func CompileRules(rs RuleSet) (*Compiled, error) {
	c, err := compileRules(rs)
	if err != nil {
		return nil, err
	}
	if err := c.checkCost(); err != nil {
		return nil, err
	}
	if err := c.trial(); err != nil {
		return nil, err
	}
	return c, nil
}

// compileRules validates and compiles rs as CompileRules does, without
// the checks of cost and the trial evaluation: the form of a rule set
// stored before those checks existed (RuleStore.compiled). Such a set
// keeps deciding as it did; MaxRuleCost still bounds each rule at run
// time, and a rule that fails there fails closed (Evaluate).
func compileRules(rs RuleSet) (*Compiled, error) {
	env, err := ruleEnv()
	if err != nil {
		return nil, fmt.Errorf("risk: building CEL environment: %w", err)
	}
	if rs.ReviewThreshold == 0 {
		rs.ReviewThreshold = DefaultReviewThreshold
	}
	if rs.BlockThreshold == 0 {
		rs.BlockThreshold = DefaultBlockThreshold
	}
	setErr := func(field, format string, args ...any) error {
		return &RuleError{Index: -1, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case rs.Version < 1:
		return nil, setErr("version", "must be at least 1")
	case len(rs.Rules) > MaxRules:
		return nil, setErr("rules", "at most %d rules", MaxRules)
	case rs.ReviewThreshold < 1 || rs.ReviewThreshold > 100:
		return nil, setErr("review_threshold", "must be between 1 and 100")
	case rs.BlockThreshold < rs.ReviewThreshold || rs.BlockThreshold > 100:
		return nil, setErr("block_threshold", "must be between review_threshold (%d) and 100", rs.ReviewThreshold)
	}
	c := &Compiled{set: rs, programs: make([]cel.Program, len(rs.Rules)), asts: make([]*cel.Ast, len(rs.Rules))}
	c.set.Rules = append([]Rule(nil), rs.Rules...)
	ids := make(map[string]int, len(rs.Rules))
	for i, r := range c.set.Rules {
		ruleErr := func(field, format string, args ...any) error {
			return &RuleError{Index: i, ID: r.ID, Field: field, Message: fmt.Sprintf(format, args...)}
		}
		switch {
		case r.ID == "":
			return nil, ruleErr("id", "required")
		case len(r.ID) > MaxRuleIDLen || !ruleIDPattern.MatchString(r.ID):
			return nil, ruleErr("id", "must be at most %d of a-z, 0-9, _ . - starting with a letter or digit", MaxRuleIDLen)
		}
		if j, dup := ids[r.ID]; dup {
			return nil, ruleErr("id", "duplicate of rules[%d]", j)
		}
		ids[r.ID] = i
		if utf8.RuneCountInString(r.Description) > MaxRuleDescriptionLen {
			return nil, ruleErr("description", "longer than %d characters", MaxRuleDescriptionLen)
		}
		switch r.Action {
		case "", OutcomeApprove, OutcomeReview, OutcomeStepUp, OutcomeBlock:
		default:
			return nil, ruleErr("action", "must be empty or one of approve, review, step_up, block")
		}
		switch {
		case r.Points < -MaxRulePoints || r.Points > MaxRulePoints:
			return nil, ruleErr("points", "must be between %d and %d", -MaxRulePoints, MaxRulePoints)
		case r.Points == 0 && r.Action == "":
			return nil, ruleErr("points", "a rule without an action must score points")
		}
		switch {
		case r.Reason == "":
			return nil, ruleErr("reason", "required")
		case len(r.Reason) > MaxRuleIDLen || !reasonCodePattern.MatchString(r.Reason):
			return nil, ruleErr("reason", "must be a snake_case code of at most %d characters", MaxRuleIDLen)
		case r.Reason == ReasonScoringError:
			return nil, ruleErr("reason", "%q is reserved", ReasonScoringError)
		}
		switch n := utf8.RuneCountInString(r.When); {
		case n == 0:
			return nil, ruleErr("when", "required")
		case n > MaxRuleExprLen:
			return nil, ruleErr("when", "longer than %d characters", MaxRuleExprLen)
		}
		ast, iss := env.Compile(r.When)
		if iss.Err() != nil {
			return nil, ruleErr("when", "%s", iss.Err().Error())
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			return nil, ruleErr("when", "must be a bool expression, is %s", ast.OutputType())
		}
		prg, err := env.Program(ast, cel.CostLimit(MaxRuleCost), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, ruleErr("when", "%s", err.Error())
		}
		c.programs[i], c.asts[i] = prg, ast
	}
	return c, nil
}

// ruleErr is the *RuleError of rule i's field.
func (c *Compiled) ruleErr(i int, field, format string, args ...any) error {
	return &RuleError{Index: i, ID: c.set.Rules[i].ID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// checkCost checks CEL's static cost estimate of each rule against
// MaxRuleEstimatedCost and of the rules so far against
// MaxRuleSetEstimatedCost, naming the rule that goes over.
func (c *Compiled) checkCost() error {
	env, err := ruleEnv()
	if err != nil {
		return fmt.Errorf("risk: building CEL environment: %w", err)
	}
	var total uint64
	for i, ast := range c.asts {
		est, err := env.EstimateCost(ast, estimatedSizes{})
		if err != nil {
			return c.ruleErr(i, "when", "cannot estimate its cost: %s", err)
		}
		if est.Max > MaxRuleEstimatedCost {
			return c.ruleErr(i, "when", "estimated cost per evaluation %s, over the limit of %d per rule (nested comprehensions and regular expressions cost most)",
				costString(est.Max), MaxRuleEstimatedCost)
		}
		total += est.Max // each at most MaxRuleEstimatedCost: no overflow
		if total > MaxRuleSetEstimatedCost {
			return c.ruleErr(i, "when", "estimated cost per evaluation of the rules up to this one %d, over the limit of %d per rule set",
				total, MaxRuleSetEstimatedCost)
		}
	}
	return nil
}

// costString formats a cost estimate, "unbounded" for CEL's unknown.
func costString(n uint64) string {
	if n == math.MaxUint64 {
		return "unbounded"
	}
	return strconv.FormatUint(n, 10)
}

// trial evaluates every rule on each of trialFeatures: a rule that fails
// on one of them (a missing context key, a division by a count that is
// zero, MaxRuleCost) is refused, naming the features it failed on.
func (c *Compiled) trial() error {
	for _, tf := range trialFeatures {
		act := tf.features.Activation()
		for i, prg := range c.programs {
			out, _, err := prg.Eval(act)
			if err == nil && out == nil {
				err = errors.New("no result")
			} else if err == nil {
				if _, ok := out.Value().(bool); !ok {
					err = fmt.Errorf("result %v is not a bool", out)
				}
			}
			if err != nil {
				return c.ruleErr(i, "when", "fails on %s: %s; every such payout would go to review (test `\"key\" in context` before reading a key, and a count before dividing by it)",
					tf.name, err)
			}
		}
	}
	return nil
}

// trialFeatures are the features CompileRules evaluates every new rule
// on: those of a payout with nothing known (zero values, no context
// keys), a typical release, and a typical refund, whose context escrow
// gives without the buyer's ip, country and device_country (a refund is
// not the buyer acting).
var trialFeatures = []struct {
	name     string
	features Features
}{
	{"a payout with zero-valued features (no history, no context keys)", Features{Operation: OperationRelease}},
	{"a typical release (USD 250, 12 past escrows, context keys ip, device_id, country and device_country)", typicalPayout(OperationRelease)},
	{"a typical refund (USD 250, 12 past escrows, context key device_id only)", typicalPayout(OperationRefund)},
}

// typicalPayout is the trial features of an ordinary payout of operation
// op between parties with some history.
func typicalPayout(op string) Features {
	f := Features{
		AmountUSD: decimal.NewFromInt(250), EscrowPayoutsUSD24h: decimal.NewFromInt(400), BuyerEscrowCount: 12, SellerEscrowCount: 40,
		BuyerVolumeUSD: decimal.NewFromInt(3000), BuyerMedianAmountUSD: decimal.NewFromInt(200), BuyerP95AmountUSD: decimal.NewFromInt(600),
		SellerVolumeUSD: decimal.NewFromInt(12000), SellerMedianAmountUSD: decimal.NewFromInt(250), SellerP95AmountUSD: decimal.NewFromInt(800),
		BuyerFirstSeenDays: 200, SellerFirstSeenDays: 400, SellerReleases1h: 1, SellerReleases24h: 6,
		BuyerEscrows1h: 1, DeviceEscrows1h: 1, SellerDisputeRate: 0.025, LocalHour: 14, SanctionsScore: 0.4,
		IPCountry: "US", DeviceCountry: "US", BuyerCountry: "US", SellerCountry: "US", Operation: op,
		Context: map[string]string{"ip": "203.0.113.7", "device_id": "device-1", "country": "US", "device_country": "US"},
	}
	if op == OperationRefund {
		f.IPCountry, f.DeviceCountry = "", ""
		f.Context = map[string]string{"device_id": "device-1"}
	}
	return f
}

// Sizes CEL's static cost estimate assumes for the features (see
// estimatedSizes). Escrow keeps at most four context keys (ip up to 64
// characters, device_id up to 200, two country codes); countries are two
// letters and operations a word.
const (
	// estimatedStringLen is the longest string feature, context keys and
	// values included, in bytes.
	estimatedStringLen = 256
	// estimatedContextEntries is the most keys the context map has.
	estimatedContextEntries = 16
)

// estimatedSizes tells CEL's cost estimate how large the variables of
// Features can be: without it a string or the context map is unbounded,
// and so is every rule that looks into one. Larger inputs at run time
// are bounded by MaxRuleCost.
type estimatedSizes struct{}

// EstimateSize implements cost.Estimator.
func (estimatedSizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	p := n.Path()
	switch {
	case len(p) == 1 && p[0] == "context":
		s := cost.MapSizeEstimate(cost.RangedSizeEstimate(0, estimatedContextEntries),
			cost.RangedSizeEstimate(0, estimatedStringLen), cost.RangedSizeEstimate(0, estimatedStringLen))
		return &s
	case len(p) >= 1 && n.Type() != nil && n.Type().IsExactType(cel.StringType):
		s := cost.RangedSizeEstimate(0, estimatedStringLen)
		return &s
	}
	return nil
}

// EstimateCallCost implements cost.Estimator: CEL's own call costs.
func (estimatedSizes) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Version returns the rule set's version.
func (c *Compiled) Version() int { return c.set.Version }

// RuleSet returns the rule set as compiled, with thresholds filled in.
func (c *Compiled) RuleSet() RuleSet {
	rs := c.set
	rs.Rules = append([]Rule(nil), c.set.Rules...)
	return rs
}

// DefaultRules returns the rule set escrowd ships with, version 1:
// block frozen parties and sanctions matches, step up payouts over
// USD 10,000 on their own or with the escrow's payouts of the same kind
// in the last 24 hours, and score signals of fraud, with review from 65
// points and block from 90.
func DefaultRules() RuleSet {
	return RuleSet{
		Version:         1,
		ReviewThreshold: DefaultReviewThreshold,
		BlockThreshold:  DefaultBlockThreshold,
		Rules: []Rule{
			{ID: "large_amount", Description: "Amount over USD 10,000.",
				When: `amount_usd_cents > 1000000`, Action: OutcomeStepUp, Reason: ReasonLargeAmount},
			{ID: "large_amount_24h", Description: "Amount of USD 10,000 or less, but over USD 10,000 with the escrow's payouts of the same kind in the last 24 hours, completed or waiting.",
				When: `amount_usd_cents <= 1000000 && escrow_payouts_usd_cents_24h > 1000000`, Action: OutcomeStepUp, Reason: ReasonLargeAmount24h},
			{ID: "party_frozen", Description: "Buyer or seller account is frozen.",
				When: `party_frozen`, Action: OutcomeBlock, Reason: ReasonPartyFrozen},
			{ID: "sanctions_match", Description: "Buyer or seller matched the sanctions list.",
				When: `sanctions_match`, Action: OutcomeBlock, Reason: ReasonSanctionsMatch},
			{ID: "new_buyer", Description: "Buyer first seen under 7 days ago with under 3 escrows.",
				When: `buyer_first_seen_days < 7 && buyer_escrow_count < 3`, Points: 15, Reason: ReasonNewBuyer},
			{ID: "new_seller", Description: "Seller first seen under 14 days ago with under 5 escrows.",
				When: `seller_first_seen_days < 14 && seller_escrow_count < 5`, Points: 20, Reason: ReasonNewSeller},
			{ID: "seller_velocity_1h", Description: "Seller released 10 or more escrows in an hour, or 50 in a day.",
				When: `seller_releases_1h >= 10 || seller_releases_24h >= 50`, Points: 25, Reason: ReasonSellerVelocity1h},
			{ID: "buyer_velocity_1h", Description: "Buyer opened 5 or more escrows in an hour.",
				When: `buyer_escrows_1h >= 5`, Points: 20, Reason: ReasonBuyerVelocity1h},
			{ID: "device_velocity", Description: "8 or more escrows from the acting device in an hour.",
				When: `device_escrows_1h >= 8`, Points: 25, Reason: ReasonDeviceVelocity},
			{ID: "card_testing", Description: "Burst of 5 or more tiny escrows by the buyer or the device in an hour.",
				When: `tiny_escrows_buyer_1h >= 5 || tiny_escrows_device_1h >= 5`, Points: 45, Reason: ReasonCardTesting},
			{ID: "off_hours", Description: "Between 01:00 and 05:00 in the acting party's country.",
				When: `local_hour >= 1 && local_hour < 5`, Points: 10, Reason: ReasonOffHours},
			{ID: "ip_country_mismatch", Description: "IP address in another country than the acting party's (buyer on release, seller on refund).",
				When:   `ip_country != "" && (operation == "refund" ? seller_country : buyer_country) != "" && ip_country != (operation == "refund" ? seller_country : buyer_country)`,
				Points: 15, Reason: ReasonIPCountryMismatch},
			{ID: "device_country_mismatch", Description: "Device reports another country than its IP address, or than the buyer's country when the IP's is unknown.",
				When:   `device_country != "" && (ip_country != "" ? device_country != ip_country : buyer_country != "" && device_country != buyer_country)`,
				Points: 10, Reason: ReasonDeviceCountryMismatch},
			{ID: "high_dispute_rate", Description: "Seller with 20 or more escrows of which 5% or more were disputed.",
				When: `seller_escrow_count >= 20 && seller_dispute_rate >= 0.05`, Points: 25, Reason: ReasonHighDisputeRate},
			{ID: "amount_above_seller_p95", Description: "Amount above the seller's 95th percentile, for sellers with 10 or more escrows.",
				When: `seller_escrow_count >= 10 && seller_p95_amount_usd > 0.0 && amount_usd > seller_p95_amount_usd`, Points: 15, Reason: ReasonAmountAboveSellerP95},
			{ID: "cross_border", Description: "Buyer and seller in different countries.",
				When: `buyer_country != "" && seller_country != "" && buyer_country != seller_country`, Points: 5, Reason: ReasonCrossBorder},
		},
	}
}
