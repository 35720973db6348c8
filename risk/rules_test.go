package risk

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDefaultRulesCompile(t *testing.T) {
	c, err := CompileRules(DefaultRules())
	if err != nil {
		t.Fatalf("CompileRules(DefaultRules()): %v", err)
	}
	rs := c.RuleSet()
	if c.Version() != 1 || rs.ReviewThreshold != 65 || rs.BlockThreshold != 90 {
		t.Errorf("version %d thresholds %d/%d, want 1 and 65/90", c.Version(), rs.ReviewThreshold, rs.BlockThreshold)
	}
	rs.Rules[0].Points = 99 // a copy: must not change c
	if c.RuleSet().Rules[0].Points == 99 {
		t.Error("RuleSet() shares its rules with the compiled set")
	}
}

func TestCompileRulesDefaultsThresholds(t *testing.T) {
	c, err := CompileRules(RuleSet{Version: 3, Rules: []Rule{{ID: "a", When: "true", Points: 1, Reason: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rs := c.RuleSet(); rs.ReviewThreshold != DefaultReviewThreshold || rs.BlockThreshold != DefaultBlockThreshold {
		t.Errorf("thresholds %d/%d, want defaults", rs.ReviewThreshold, rs.BlockThreshold)
	}
}

func TestCompileRulesErrors(t *testing.T) {
	ok := Rule{ID: "ok", When: "amount_usd > 1.0", Points: 10, Reason: "ok"}
	// set builds a valid RuleSet with bad as its fourth rule (index 3).
	set := func(bad Rule) RuleSet {
		a, b, c := ok, ok, ok
		a.ID, b.ID, c.ID = "a", "b", "c"
		return RuleSet{Version: 1, Rules: []Rule{a, b, c, bad}}
	}
	with := func(f func(*Rule)) RuleSet {
		r := ok
		f(&r)
		return set(r)
	}
	many := RuleSet{Version: 1}
	for i := 0; i <= MaxRules; i++ {
		many.Rules = append(many.Rules, Rule{ID: fmt.Sprint("r", i), When: "true", Points: 1, Reason: "r"})
	}
	tests := []struct {
		name     string
		rs       RuleSet
		index    int
		field    string
		contains string // in Message
	}{
		{"bad syntax", with(func(r *Rule) { r.When = "amount_usd >" }), 3, "when", "Syntax error"},
		{"not bool", with(func(r *Rule) { r.When = "amount_usd + 1.0" }), 3, "when", "must be a bool"},
		{"string result", with(func(r *Rule) { r.When = `context["x"]` }), 3, "when", "must be a bool"},
		{"unknown variable", with(func(r *Rule) { r.When = "amount > 10" }), 3, "when", "undeclared reference to 'amount'"},
		{"unknown function", with(func(r *Rule) { r.When = "explode(amount_usd)" }), 3, "when", "undeclared reference"},
		{"type mismatch", with(func(r *Rule) { r.When = `ip_country > 3` }), 3, "when", "no matching overload"},
		{"empty when", with(func(r *Rule) { r.When = "" }), 3, "when", "required"},
		{"too long", with(func(r *Rule) { r.When = "true" + strings.Repeat(" ", MaxRuleExprLen) }), 3, "when", "longer than"},
		{"bad action", with(func(r *Rule) { r.Action = "deny" }), 3, "action", "must be"},
		{"duplicate id", with(func(r *Rule) { r.ID = "b" }), 3, "id", "duplicate of rules[1]"},
		{"empty id", with(func(r *Rule) { r.ID = "" }), 3, "id", "required"},
		{"bad id", with(func(r *Rule) { r.ID = "Big Rule" }), 3, "id", "a-z"},
		{"points too high", with(func(r *Rule) { r.Points = MaxRulePoints + 1 }), 3, "points", "between"},
		{"points too low", with(func(r *Rule) { r.Points = -MaxRulePoints - 1 }), 3, "points", "between"},
		{"no effect", with(func(r *Rule) { r.Points = 0 }), 3, "points", "without an action"},
		{"empty reason", with(func(r *Rule) { r.Reason = "" }), 3, "reason", "required"},
		{"bad reason", with(func(r *Rule) { r.Reason = "Too Big" }), 3, "reason", "snake_case"},
		{"reserved reason", with(func(r *Rule) { r.Reason = ReasonScoringError }), 3, "reason", "reserved"},
		{"long description", with(func(r *Rule) { r.Description = strings.Repeat("x", MaxRuleDescriptionLen+1) }), 3, "description", "longer"},
		{"fails on zero features", with(func(r *Rule) { r.When = "100 / buyer_escrow_count > 1" }), 3, "when", "zero-valued features"},
		{"missing context key", with(func(r *Rule) { r.When = `context["segment"] == "vip"` }), 3, "when", "no such key: segment"},
		{"fails on a typical release", with(func(r *Rule) { r.When = "1000 / (seller_escrow_count - 40) > 1" }), 3, "when", "typical release"},
		{"over the runtime cost limit", with(func(r *Rule) { r.When = comprehension(30) }), 3, "when", "estimated cost"},
		{"unbounded cost", with(func(r *Rule) { r.When = `context.all(k, context.all(j, context.all(i, k + j + i != "")))` }), 3, "when", "over the limit of"},
		{"first rule", RuleSet{Version: 1, Rules: []Rule{{ID: "x", When: "1", Points: 1, Reason: "x"}}}, 0, "when", "must be a bool"},
		{"version", RuleSet{Version: 0}, -1, "version", "at least 1"},
		{"too many rules", many, -1, "rules", "at most"},
		{"review threshold", RuleSet{Version: 1, ReviewThreshold: 101}, -1, "review_threshold", "between"},
		{"block below review", RuleSet{Version: 1, ReviewThreshold: 70, BlockThreshold: 60}, -1, "block_threshold", "between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CompileRules(tt.rs)
			var re *RuleError
			if !errors.As(err, &re) || !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("CompileRules = %v, %v; want *RuleError", c, err)
			}
			if re.Index != tt.index || re.Field != tt.field || !strings.Contains(re.Message, tt.contains) {
				t.Errorf("got %d %q %q, want %d %q containing %q", re.Index, re.Field, re.Message, tt.index, tt.field, tt.contains)
			}
			wantPath := tt.field
			if tt.index >= 0 {
				wantPath = fmt.Sprintf("rules[%d].%s", tt.index, tt.field)
				if re.ID != tt.rs.Rules[tt.index].ID {
					t.Errorf("ID = %q, want %q", re.ID, tt.rs.Rules[tt.index].ID)
				}
			}
			if re.Path() != wantPath || !strings.HasPrefix(err.Error(), wantPath+": ") {
				t.Errorf("Path %q, Error %q; want %q", re.Path(), err.Error(), wantPath)
			}
		})
	}
}
