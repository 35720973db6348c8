package risk

import (
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// cleanFeatures is an ordinary release by established parties in one
// country: the default rules find nothing.
func cleanFeatures() Features {
	return Features{
		AmountUSD:             decimal.RequireFromString("250.00"),
		BuyerEscrowCount:      12,
		BuyerVolumeUSD:        decimal.RequireFromString("3400.00"),
		SellerEscrowCount:     340,
		SellerVolumeUSD:       decimal.RequireFromString("98000.00"),
		SellerMedianAmountUSD: decimal.RequireFromString("180.00"),
		SellerP95AmountUSD:    decimal.RequireFromString("900.00"),
		BuyerFirstSeenDays:    400,
		SellerFirstSeenDays:   900,
		SellerReleases1h:      2,
		SellerReleases24h:     14,
		BuyerEscrows1h:        1,
		DeviceEscrows1h:       1,
		SellerDisputeRate:     0.01,
		LocalHour:             14,
		IPCountry:             "NL",
		DeviceCountry:         "NL",
		BuyerCountry:          "NL",
		SellerCountry:         "NL",
		Operation:             OperationRelease,
		Context:               map[string]string{"channel": "web"},
	}
}

func defaultCompiled(tb testing.TB) *Compiled {
	tb.Helper()
	c, err := CompileRules(DefaultRules())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func codes(d Decision) []string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.Code)
	}
	return out
}

func TestEvaluateDefaultRules(t *testing.T) {
	c := defaultCompiled(t)
	tests := []struct {
		name    string
		change  func(*Features)
		reasons []string
		outcome string
	}{
		{"clean", func(*Features) {}, nil, OutcomeApprove},
		{"clean refund", func(f *Features) { f.Operation = OperationRefund }, nil, OutcomeApprove},
		{"exactly 10,000", func(f *Features) {
			f.AmountUSD = decimal.RequireFromString("10000.00")
			f.SellerP95AmountUSD = decimal.RequireFromString("20000")
		}, nil, OutcomeApprove},
		{ReasonLargeAmount, func(f *Features) {
			f.AmountUSD = decimal.RequireFromString("10000.01")
			f.SellerP95AmountUSD = decimal.RequireFromString("20000")
		}, []string{ReasonLargeAmount}, OutcomeStepUp},
		{ReasonLargeAmount24h, func(f *Features) { f.EscrowPayoutsUSD24h = decimal.RequireFromString("10000.01") }, []string{ReasonLargeAmount24h}, OutcomeStepUp},
		{ReasonLargeAmount24h + " refund", func(f *Features) {
			f.Operation, f.EscrowPayoutsUSD24h = OperationRefund, decimal.RequireFromString("10250")
		}, []string{ReasonLargeAmount24h}, OutcomeStepUp},
		{"exactly 10,000 in 24 hours", func(f *Features) { f.EscrowPayoutsUSD24h = decimal.RequireFromString("10000.00") }, nil, OutcomeApprove},
		{ReasonLargeAmount + " alone, over in 24 hours too", func(f *Features) {
			f.AmountUSD, f.EscrowPayoutsUSD24h = decimal.RequireFromString("10000.01"), decimal.RequireFromString("18000")
			f.SellerP95AmountUSD = decimal.RequireFromString("20000")
		}, []string{ReasonLargeAmount}, OutcomeStepUp},
		{ReasonPartyFrozen, func(f *Features) { f.PartyFrozen = true }, []string{ReasonPartyFrozen}, OutcomeBlock},
		{ReasonSanctionsMatch, func(f *Features) { f.SanctionsMatch, f.SanctionsScore = true, 0.97 }, []string{ReasonSanctionsMatch}, OutcomeBlock},
		{ReasonNewBuyer, func(f *Features) { f.BuyerFirstSeenDays, f.BuyerEscrowCount = 2, 0 }, []string{ReasonNewBuyer}, OutcomeApprove},
		{ReasonNewSeller, func(f *Features) { f.SellerFirstSeenDays, f.SellerEscrowCount = 3, 1 }, []string{ReasonNewSeller}, OutcomeApprove},
		{ReasonSellerVelocity1h, func(f *Features) { f.SellerReleases1h = 10 }, []string{ReasonSellerVelocity1h}, OutcomeApprove},
		{ReasonSellerVelocity1h + " over 24h", func(f *Features) { f.SellerReleases24h = 50 }, []string{ReasonSellerVelocity1h}, OutcomeApprove},
		{ReasonBuyerVelocity1h, func(f *Features) { f.BuyerEscrows1h = 5 }, []string{ReasonBuyerVelocity1h}, OutcomeApprove},
		{ReasonDeviceVelocity, func(f *Features) { f.DeviceEscrows1h = 8 }, []string{ReasonDeviceVelocity}, OutcomeApprove},
		{ReasonCardTesting + " buyer", func(f *Features) { f.TinyEscrowsBuyer1h = 5 }, []string{ReasonCardTesting}, OutcomeApprove},
		{ReasonCardTesting + " device", func(f *Features) { f.TinyEscrowsDevice1h = 7 }, []string{ReasonCardTesting}, OutcomeApprove},
		{ReasonOffHours, func(f *Features) { f.LocalHour = 3 }, []string{ReasonOffHours}, OutcomeApprove},
		{"midnight is not off hours", func(f *Features) { f.LocalHour = 0 }, nil, OutcomeApprove},
		{ReasonIPCountryMismatch, func(f *Features) { f.IPCountry, f.DeviceCountry = "RU", "RU" }, []string{ReasonIPCountryMismatch}, OutcomeApprove},
		{ReasonIPCountryMismatch + " refund uses seller", func(f *Features) {
			f.Operation, f.BuyerCountry, f.IPCountry, f.DeviceCountry = OperationRefund, "BE", "BE", "BE"
		}, []string{ReasonIPCountryMismatch, ReasonCrossBorder}, OutcomeApprove},
		{"unknown ip country", func(f *Features) { f.IPCountry = "" }, nil, OutcomeApprove},
		{ReasonDeviceCountryMismatch, func(f *Features) { f.DeviceCountry = "US" }, []string{ReasonDeviceCountryMismatch}, OutcomeApprove},
		{ReasonHighDisputeRate, func(f *Features) { f.SellerDisputeRate = 0.08 }, []string{ReasonHighDisputeRate}, OutcomeApprove},
		{ReasonAmountAboveSellerP95, func(f *Features) { f.AmountUSD = decimal.RequireFromString("900.01") }, []string{ReasonAmountAboveSellerP95}, OutcomeApprove},
		{ReasonCrossBorder, func(f *Features) { f.SellerCountry = "DE" }, []string{ReasonCrossBorder}, OutcomeApprove},
		{"review from 65", func(f *Features) {
			f.TinyEscrowsBuyer1h = 6                        // 45
			f.BuyerFirstSeenDays, f.BuyerEscrowCount = 0, 0 // 15
			f.LocalHour = 2                                 // 10
		}, []string{ReasonNewBuyer, ReasonCardTesting, ReasonOffHours}, OutcomeReview},
		{"block from 90", func(f *Features) {
			f.TinyEscrowsDevice1h = 9                         // 45
			f.DeviceEscrows1h = 9                             // 25
			f.SellerFirstSeenDays, f.SellerEscrowCount = 1, 0 // 20
		}, []string{ReasonNewSeller, ReasonDeviceVelocity, ReasonCardTesting}, OutcomeBlock},
		{"score review beats step_up", func(f *Features) {
			f.AmountUSD = decimal.RequireFromString("25000")
			f.TinyEscrowsBuyer1h = 6
			f.DeviceEscrows1h = 9
		}, []string{ReasonLargeAmount, ReasonDeviceVelocity, ReasonCardTesting, ReasonAmountAboveSellerP95}, OutcomeReview},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cleanFeatures()
			tt.change(&f)
			d := c.Evaluate(f)
			if got := codes(d); !slices.Equal(got, tt.reasons) {
				t.Errorf("reasons = %v, want %v", got, tt.reasons)
			}
			if d.Outcome != tt.outcome {
				t.Errorf("outcome = %s (score %d), want %s", d.Outcome, d.Score, tt.outcome)
			}
			sum := 0
			for _, r := range d.Reasons {
				sum += r.Points
				if r.Rule == "" {
					t.Errorf("reason %s names no rule", r.Code)
				}
			}
			if d.Score != min(sum, 100) {
				t.Errorf("score %d, reasons add up to %d", d.Score, sum)
			}
			if d.RulesVersion != 1 || !reflect.DeepEqual(d.Features, f) {
				t.Errorf("decision does not record rules version and features")
			}
		})
	}
}

func TestEvaluateThresholds(t *testing.T) {
	rule := func(id string, points int) Rule {
		return Rule{ID: id, When: `"points_" + "` + id + `" in context`, Points: points, Reason: id}
	}
	c, err := CompileRules(RuleSet{
		Version: 7, ReviewThreshold: 40, BlockThreshold: 60,
		Rules: []Rule{rule("a", 39), rule("b", 1), rule("c", 20), rule("d", 100), rule("neg", -100),
			{ID: "large", When: `"points_large" in context`, Action: OutcomeStepUp, Reason: ReasonLargeAmount}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		keys    []string
		score   int
		outcome string
	}{
		{nil, 0, OutcomeApprove},
		{[]string{"a"}, 39, OutcomeApprove},
		{[]string{"a", "b"}, 40, OutcomeReview},
		{[]string{"a", "c"}, 59, OutcomeReview},
		{[]string{"a", "b", "c"}, 60, OutcomeBlock},
		{[]string{"a", "d"}, 100, OutcomeBlock},   // clamped
		{[]string{"a", "neg"}, 0, OutcomeApprove}, // clamped
		{[]string{"large"}, 0, OutcomeStepUp},
		{[]string{"a", "b", "large"}, 40, OutcomeReview}, // the score's review outranks the large amount's step-up
	}
	for _, tt := range tests {
		ctx := map[string]string{}
		for _, k := range tt.keys {
			ctx["points_"+k] = "1"
		}
		d := c.Evaluate(Features{Context: ctx})
		if d.Score != tt.score || d.Outcome != tt.outcome || d.RulesVersion != 7 {
			t.Errorf("%v: score %d outcome %s version %d, want %d %s 7", tt.keys, d.Score, d.Outcome, d.RulesVersion, tt.score, tt.outcome)
		}
	}
}

func TestEvaluateActions(t *testing.T) {
	act := func(id, action string) Rule {
		return Rule{ID: id, When: `"` + id + `" in context`, Action: action, Reason: id}
	}
	c, err := CompileRules(RuleSet{Version: 1, Rules: []Rule{
		act("approve", OutcomeApprove), act("review", OutcomeReview), act("step_up", OutcomeStepUp), act("block", OutcomeBlock),
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		keys []string
		want string
	}{
		{[]string{"approve"}, OutcomeApprove},
		{[]string{"approve", "review"}, OutcomeReview},
		{[]string{"approve", "step_up"}, OutcomeStepUp},
		{[]string{"review", "step_up"}, OutcomeReview}, // a person looks, whatever the buyer's code says
		{[]string{"approve", "review", "step_up", "block"}, OutcomeBlock},
	}
	for _, tt := range tests {
		ctx := map[string]string{}
		for _, k := range tt.keys {
			ctx[k] = ""
		}
		if d := c.Evaluate(Features{Context: ctx}); d.Outcome != tt.want {
			t.Errorf("%v: outcome %s, want %s", tt.keys, d.Outcome, tt.want)
		}
	}
}

func TestEvaluateFailsClosed(t *testing.T) {
	heavy := `context.all(a, context.all(b, context.all(c, a + b + c != "")))`
	big := map[string]string{}
	for _, k := range "abcdefghijklmnopqrstuvwxyz0123456789" {
		big[string(k)] = "v"
	}
	tests := []struct {
		name    string
		when    string
		ctx     map[string]string
		extra   []Rule
		outcome string
	}{
		{"missing map key", `context["x"] == "y"`, nil, nil, OutcomeReview},
		{"division by zero", `100 / buyer_escrow_count > 1`, nil, nil, OutcomeReview},
		{"modulo by zero", `local_hour % buyer_escrow_count == 0`, nil, nil, OutcomeReview},
		{"cost limit", heavy, big, nil, OutcomeReview},
		{"error does not hide a block", `context["x"] == "y"`, nil,
			[]Rule{{ID: "frozen", When: "party_frozen", Action: OutcomeBlock, Reason: ReasonPartyFrozen}}, OutcomeBlock},
		{"error with approve action", `context["x"] == "y"`, nil,
			[]Rule{{ID: "allow", When: "true", Action: OutcomeApprove, Points: -100, Reason: "allow_listed"}}, OutcomeReview},
		{"error with step_up action", `context["x"] == "y"`, nil,
			[]Rule{{ID: "large", When: "true", Action: OutcomeStepUp, Reason: ReasonLargeAmount}}, OutcomeReview},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := append([]Rule{{ID: "bad", When: tt.when, Action: OutcomeApprove, Points: -50, Reason: "bad"}}, tt.extra...)
			// compileRules: CompileRules refuses rules that fail on
			// zero-valued features or cost too much by estimate, but a
			// set stored before those checks may have them, and a rule
			// may fail only on features the checks do not try.
			c, err := compileRules(RuleSet{Version: 1, Rules: rules})
			if err != nil {
				t.Fatalf("compileRules: %v", err)
			}
			d := c.Evaluate(Features{Context: tt.ctx, PartyFrozen: true})
			if d.Outcome != tt.outcome {
				t.Errorf("outcome = %s, want %s", d.Outcome, tt.outcome)
			}
			if len(d.Reasons) == 0 || d.Reasons[0] != (Reason{Code: ReasonScoringError, Rule: "bad"}) {
				t.Errorf("reasons = %+v, want scoring_error for rule bad first", d.Reasons)
			}
		})
	}
}

// TestEvaluateCostLimitNotHitByNormalRules guards the cost limit against
// being set so low that ordinary rules trip it.
func TestEvaluateCostLimitNotHitByNormalRules(t *testing.T) {
	c, err := CompileRules(RuleSet{Version: 1, Rules: []Rule{{ID: "ctx", Reason: "ctx", Points: 1,
		When: `context.exists(k, k.startsWith("flag_") && context[k] == "1") && ip_country in ["RU", "BY", "IR", "KP"]`}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := map[string]string{}
	for i := range 30 {
		ctx["flag_"+string(rune('a'+i%26))+string(rune('a'+i/26))] = "0"
	}
	if d := c.Evaluate(Features{Context: ctx, IPCountry: "NL"}); d.Outcome != OutcomeApprove || len(d.Reasons) != 0 {
		t.Errorf("decision %+v, want a clean approve", d)
	}
}

func TestEvaluateIsPure(t *testing.T) {
	c := defaultCompiled(t)
	f := cleanFeatures()
	f.TinyEscrowsBuyer1h = 9
	d1 := c.Evaluate(f)
	f.Context["channel"] = "changed"
	d2 := c.Evaluate(cleanFeatures())
	d3 := c.Evaluate(func() Features { g := cleanFeatures(); g.TinyEscrowsBuyer1h = 9; return g }())
	if d1.Features.Context["channel"] != "web" {
		t.Error("decision shares its context map with the caller")
	}
	if !reflect.DeepEqual(d1, d3) || reflect.DeepEqual(d1, d2) {
		t.Error("same features gave different decisions")
	}
}

// evaluateWorkload returns n varied feature sets.
func evaluateWorkload(n int) []Features {
	out := make([]Features, n)
	for i := range out {
		f := cleanFeatures()
		f.AmountUSD = decimal.NewFromInt(int64(i%50) * 500)
		f.BuyerFirstSeenDays = i % 30
		f.TinyEscrowsBuyer1h = i % 7
		f.DeviceEscrows1h = i % 11
		f.LocalHour = i % 24
		if i%5 == 0 {
			f.IPCountry = "US"
		}
		out[i] = f
	}
	return out
}

// TestEvaluateLatency logs the 99th percentile of 10,000 evaluations of
// the default rules. It never fails on time.
func TestEvaluateLatency(t *testing.T) {
	c := defaultCompiled(t)
	fs := evaluateWorkload(10000)
	d := make([]time.Duration, len(fs))
	for i, f := range fs {
		start := time.Now()
		c.Evaluate(f)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	t.Logf("Evaluate over %d feature sets, %d rules: p50 %v, p99 %v, max %v",
		len(d), len(DefaultRules().Rules), d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
}

func BenchmarkEvaluate(b *testing.B) {
	c := defaultCompiled(b)
	fs := evaluateWorkload(1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Evaluate(fs[i%len(fs)])
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	c := defaultCompiled(t)
	fs := evaluateWorkload(200)
	want := make([]Decision, len(fs))
	for i, f := range fs {
		want[i] = c.Evaluate(f)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, f := range fs {
				if got := c.Evaluate(f); !reflect.DeepEqual(got, want[i]) {
					t.Errorf("concurrent Evaluate differs for workload %d", i)
					return
				}
			}
		})
	}
	wg.Wait()
}
