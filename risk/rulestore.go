package risk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/valid"
)

// CodeInvalidRule is the problem code of a rule set that does not validate.
const CodeInvalidRule = "invalid_rule"

// RuleStore keeps each tenant's versioned rule sets in the database and
// their compiled form in memory, by version. A tenant without rule sets
// uses DefaultRules (version 1). Rule sets are never changed once stored,
// so a cached (tenant, version) stays right on every instance; each
// decision reads the tenant's current version in its own transaction.
type RuleStore struct {
	defaults *Compiled
	mu       sync.Mutex
	cache    map[uuid.UUID]*Compiled // tenant → newest compiled set seen
}

// NewRuleStore returns a store with the default rules compiled.
func NewRuleStore() (*RuleStore, error) {
	c, err := CompileRules(DefaultRules())
	if err != nil {
		return nil, fmt.Errorf("risk: default rules: %w", err)
	}
	return &RuleStore{defaults: c, cache: make(map[uuid.UUID]*Compiled)}, nil
}

// RuleSetView is a tenant's current rule set as the API shows it.
type RuleSetView struct {
	RuleSet
	// Default is true for the shipped rules (the tenant has set none).
	Default   bool       `json:"default"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
}

// ResourceID names the rule set version for the audit log.
func (v RuleSetView) ResourceID() string { return fmt.Sprintf("rules:v%d", v.Version) }

// RuleSetInput is a new rule set; the store gives it the next version.
type RuleSetInput struct {
	Rules           []Rule `json:"rules"`
	ReviewThreshold int    `json:"review_threshold,omitempty"`
	BlockThreshold  int    `json:"block_threshold,omitempty"`
}

// currentVersion returns the tenant's newest rule set version, 0 for none.
func currentVersion(ctx context.Context, q db.Querier, tenant uuid.UUID) (int, error) {
	var v *int64
	if err := q.QueryRow(ctx, `SELECT max(version) FROM risk_rule_sets WHERE tenant_id = $1`, tenant).Scan(&v); err != nil {
		return 0, fmt.Errorf("risk: rules version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}

// compiled returns the tenant's rule set of the given version (0: the
// defaults), compiling it on first use.
func (s *RuleStore) compiled(ctx context.Context, q db.Querier, tenant uuid.UUID, version int) (*Compiled, error) {
	if version == 0 {
		return s.defaults, nil
	}
	s.mu.Lock()
	c := s.cache[tenant]
	s.mu.Unlock()
	if c != nil && c.Version() == version {
		return c, nil
	}
	view, err := loadRuleSet(ctx, q, tenant, version)
	if err != nil {
		return nil, err
	}
	// Not CompileRules: a set stored before its cost and trial checks
	// existed may fail them, and still decides as it did (compileRules).
	c, err = compileRules(view.RuleSet)
	if err != nil {
		// Stored sets compiled when they were stored; this one no
		// longer does (the rule language changed). Not a database
		// error: the decision fails closed.
		return nil, fmt.Errorf("risk: stored rule set v%d of tenant %s: %w", version, tenant, err)
	}
	s.mu.Lock()
	if old := s.cache[tenant]; old == nil || old.Version() < version {
		s.cache[tenant] = c
	}
	s.mu.Unlock()
	return c, nil
}

// Current returns the tenant's current compiled rule set.
func (s *RuleStore) Current(ctx context.Context, q db.Querier, tenant uuid.UUID) (*Compiled, error) {
	v, err := currentVersion(ctx, q, tenant)
	if err != nil {
		return nil, err
	}
	return s.compiled(ctx, q, tenant, v)
}

// view returns the tenant's current rule set for the API.
func (s *RuleStore) view(ctx context.Context, q db.Querier, tenant uuid.UUID) (RuleSetView, error) {
	v, err := currentVersion(ctx, q, tenant)
	if err != nil {
		return RuleSetView{}, err
	}
	if v == 0 {
		return RuleSetView{RuleSet: s.defaults.RuleSet(), Default: true}, nil
	}
	return loadRuleSet(ctx, q, tenant, v)
}

func loadRuleSet(ctx context.Context, q db.Querier, tenant uuid.UUID, version int) (RuleSetView, error) {
	var (
		rules     []byte
		review    int64
		block     int64
		createdAt time.Time
		createdBy string
	)
	err := q.QueryRow(ctx, `
		SELECT rules, review_threshold, block_threshold, created_at, created_by
		FROM risk_rule_sets WHERE tenant_id = $1 AND version = $2`, tenant, version).
		Scan(&rules, &review, &block, &createdAt, &createdBy)
	if db.IsNoRows(err) {
		return RuleSetView{}, fmt.Errorf("risk: rule set v%d: %w", version, ErrNotFound)
	}
	if err != nil {
		return RuleSetView{}, fmt.Errorf("risk: rule set v%d: %w", version, err)
	}
	v := RuleSetView{RuleSet: RuleSet{Version: version, ReviewThreshold: int(review), BlockThreshold: int(block)}, CreatedAt: &createdAt, CreatedBy: createdBy}
	if err := json.Unmarshal(rules, &v.Rules); err != nil {
		return RuleSetView{}, fmt.Errorf("risk: rule set v%d: decode: %w", version, err)
	}
	if v.Rules == nil {
		v.Rules = []Rule{}
	}
	return v, nil
}

// put validates in and stores it as the tenant's next version, in tx.
// Validation errors are valid.Errors with code invalid_rule naming the
// field, e.g. "rules[3].when".
func (s *RuleStore) put(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, in RuleSetInput, by string, now time.Time) (RuleSetView, error) {
	if in.Rules == nil {
		return RuleSetView{}, valid.FieldCode(CodeInvalidRule, "rules", "required (an empty list keeps only the hard rules: frozen party and sanctions match block)")
	}
	cur, err := currentVersion(ctx, tx, tenant)
	if err != nil {
		return RuleSetView{}, err
	}
	next := max(cur, s.defaults.Version()) + 1
	c, err := CompileRules(RuleSet{Version: next, Rules: in.Rules, ReviewThreshold: in.ReviewThreshold, BlockThreshold: in.BlockThreshold})
	if err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			return RuleSetView{}, valid.FieldCode(CodeInvalidRule, re.Path(), re.Message)
		}
		return RuleSetView{}, err
	}
	rs := c.RuleSet()
	body, err := json.Marshal(rs.Rules)
	if err != nil {
		return RuleSetView{}, fmt.Errorf("risk: encode rules: %w", err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO risk_rule_sets (tenant_id, version, rules, review_threshold, block_threshold, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		tenant, rs.Version, body, rs.ReviewThreshold, rs.BlockThreshold, now, by)
	if db.IsUniqueViolation(err, "") {
		return RuleSetView{}, fmt.Errorf("risk: store rule set v%d: %w", rs.Version, ErrRulesChanged)
	}
	if err != nil {
		return RuleSetView{}, fmt.Errorf("risk: store rule set v%d: %w", rs.Version, err)
	}
	return RuleSetView{RuleSet: rs, CreatedAt: &now, CreatedBy: by}, nil
}

// stepUpAsked returns a stored decision's StepUpAsked: recorded, or, for a
// decision stored before risk_decisions.step_up_asked existed (NULL),
// derived from its reasons and the rule set of its version (rule sets never
// change once stored; version 1 is DefaultRules): a reason whose rule's
// action is step_up, held or failed, asked for it, and so did a USD amount
// or a rule set that could not be read (as applyHardRules decides now).
func (s *RuleStore) stepUpAsked(ctx context.Context, q db.Querier, tenant uuid.UUID, recorded *bool, reasons []Reason, version int) (bool, error) {
	if recorded != nil {
		return *recorded, nil
	}
	rules := s.defaults.set.Rules
	if version != s.defaults.Version() {
		v, err := loadRuleSet(ctx, q, tenant, version)
		if err != nil {
			return false, err
		}
		rules = v.Rules
	}
	for _, r := range reasons {
		if r.Rule == failAmountUSD || r.Rule == failRules {
			return true, nil
		}
		for _, rule := range rules {
			if rule.ID == r.Rule && rule.Action == OutcomeStepUp {
				return true, nil
			}
		}
	}
	return false, nil
}
