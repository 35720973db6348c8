package risk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/db"
)

// Party is a buyer or seller as the marketplace identifies them.
type Party struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Country string `json:"country"`
}

// GateInput describes one payout (a release to a seller or a refund to a
// buyer) that must pass the gate before money moves.
type GateInput struct {
	TenantID    uuid.UUID
	Operation   string // OperationRelease or OperationRefund
	SubjectType string // what SubjectID names: "release" or "refund"
	SubjectID   uuid.UUID
	EscrowID    uuid.UUID
	Amount      decimal.Decimal
	Currency    string
	Buyer       Party
	Seller      Party
	// Payee is the id of the party that receives the money.
	Payee string
	// RiskContext is what the marketplace told us about the acting
	// request. The gate reads "device_id", "ip_country" (or "country")
	// and "device_country" (ISO 3166-1 alpha-2): escrowd has no GeoIP
	// database and makes no outside calls. Rules see the whole map as
	// `context`.
	RiskContext map[string]string
}

// GateDecision is the stored decision on one payout.
type GateDecision struct {
	ID uuid.UUID `json:"id"`
	Decision
	// ReviewID is the review opened for a review outcome (subject: the
	// input's SubjectType and SubjectID), or for a block caused by a
	// sanctions match: then the review holds the matched entry and is
	// about the escrow (subject "escrow", EscrowID), since the payout
	// itself is refused and holds nothing a reviewer could release.
	ReviewID *uuid.UUID `json:"review_id,omitempty"`
	// StepUpCode is the one-time code of a step_up outcome, in clear, only
	// so the caller can put it in the release.confirmation_required event;
	// it is stored hashed and never returned by the API.
	StepUpCode      string     `json:"-"`
	StepUpExpiresAt *time.Time `json:"step_up_expires_at,omitempty"`
}

// USDConverter converts an amount to US dollars with escrowd's own rates
// (fx.Service satisfies it). An error that is not a database error (no
// rate, say) makes the decision fail closed.
type USDConverter interface {
	ToUSD(ctx context.Context, q db.Querier, tenant uuid.UUID, amount decimal.Decimal, currency string) (decimal.Decimal, error)
}

// Feature limits.
const (
	// MaxHistoryEscrows is how many of a party's most recent escrows the
	// history features look at; counts saturate there.
	MaxHistoryEscrows = 1000
	// MaxVelocityCount is where velocity counts saturate.
	MaxVelocityCount = 1000
)

// CardTestingMaxUSD is the amount below which an escrow counts as tiny for
// the card-testing features (tiny_escrows_*_1h).
var CardTestingMaxUSD = decimal.NewFromInt(5)

// Rule ids recorded for reasons the gate adds itself: the hard rules that
// apply whatever the tenant's rules say, and scoring failures.
const (
	hardRuleFrozen    = "hard.party_frozen"
	hardRuleSanctions = "hard.sanctions_match"
	hardRuleStepUp    = "hard.step_up_attempts"
	failAmountUSD     = "gate.amount_usd"
	failRules         = "gate.rules"
	failSanctions     = "gate.sanctions"
)

// GateConfig configures a Gate. Zero fields take defaults.
type GateConfig struct {
	// Rules holds tenants' rule sets; nil: a new store.
	Rules *RuleStore
	// Sanctions holds tenants' sanctions lists; nil: a new store at
	// DefaultScreenThreshold.
	Sanctions *SanctionsStore
	// FX converts amounts to USD; nil: only USD amounts can be scored
	// (others fail closed to review).
	FX USDConverter
	// ReviewTTL is how long a review waits before it expires; 0:
	// DefaultReviewTTL.
	ReviewTTL time.Duration
}

// Gate decides on payouts inside the caller's transaction. It is safe for
// concurrent use.
type Gate struct {
	rules     *RuleStore
	sanctions *SanctionsStore
	fx        USDConverter
	reviewTTL time.Duration
}

// NewGate returns a gate.
func NewGate(cfg GateConfig) (*Gate, error) {
	g := &Gate{rules: cfg.Rules, sanctions: cfg.Sanctions, fx: cfg.FX, reviewTTL: cfg.ReviewTTL}
	var err error
	if g.rules == nil {
		if g.rules, err = NewRuleStore(); err != nil {
			return nil, err
		}
	}
	if g.sanctions == nil {
		if g.sanctions, err = NewSanctionsStore(0); err != nil {
			return nil, err
		}
	}
	if g.reviewTTL == 0 {
		g.reviewTTL = DefaultReviewTTL
	}
	if g.reviewTTL < 0 {
		return nil, errors.New("risk: negative review TTL")
	}
	return g, nil
}

// ReviewTTL returns how long reviews the gate opens wait for a decision.
func (g *Gate) ReviewTTL() time.Duration { return g.reviewTTL }

func (in GateInput) validate() error {
	switch {
	case in.TenantID == uuid.Nil, in.SubjectID == uuid.Nil, in.SubjectType == "", in.Currency == "",
		in.Buyer.ID == "", in.Seller.ID == "":
		return fmt.Errorf("risk: decide: %w: tenant, subject, currency, buyer and seller are required", ErrInvalidGateInput)
	case in.Operation != OperationRelease && in.Operation != OperationRefund:
		return fmt.Errorf("risk: decide: %w: operation %q", ErrInvalidGateInput, in.Operation)
	}
	return nil
}

// Decide scores a payout in the caller's transaction, stores the decision
// and returns it.
//
// Hard rules apply whatever the tenant's rules say: a frozen buyer or
// seller blocks (party_frozen); a sanctions match on either name blocks
// (sanctions_match) and opens a review holding the matched entry. Features
// come from risk's own tables (see Observe); the tenant's current rule set
// scores them. A review outcome opens a review; step_up opens a challenge
// whose code is in StepUpCode; review, step_up and block write a
// risk.alert event. Both names' screenings are stored.
//
// Database errors are returned (the caller's transaction retries or
// fails). Any other error while scoring — no USD rate, a rule that fails
// at run time, a stored rule set that no longer compiles — adds a
// scoring_error reason and makes the outcome at least review: the gate
// fails closed, never approving what it could not score.
func (g *Gate) Decide(ctx context.Context, tx pgx.Tx, in GateInput, now time.Time) (GateDecision, error) {
	if err := in.validate(); err != nil {
		return GateDecision{}, err
	}
	h, err := readHead(ctx, tx, in)
	if err != nil {
		return GateDecision{}, err
	}
	f := contextFeatures(in, now)
	f.PartyFrozen = h.frozen
	device := strings.TrimSpace(in.RiskContext["device_id"])
	if device == "" {
		device = h.device
	}
	if err := readFeatures(ctx, tx, in, device, now, &f); err != nil {
		return GateDecision{}, err
	}

	var failures []Reason
	fail := func(rule string, err error) error {
		if isDBError(ctx, tx, err) {
			return err
		}
		failures = append(failures, Reason{Code: ReasonScoringError, Rule: rule})
		return nil
	}
	if usd, err := g.amountUSD(ctx, tx, in); err != nil {
		if err := fail(failAmountUSD, err); err != nil {
			return GateDecision{}, fmt.Errorf("risk: decide: amount in USD: %w", err)
		}
	} else {
		f.AmountUSD = usd
	}
	rules, err := g.rules.compiled(ctx, tx, in.TenantID, h.rulesVersion)
	if err != nil {
		if err := fail(failRules, err); err != nil {
			return GateDecision{}, err
		}
	}
	scr, err := g.sanctions.screener(ctx, tx, in.TenantID, h.listID)
	if err != nil {
		if err := fail(failSanctions, err); err != nil {
			return GateDecision{}, err
		}
	}
	recs, screening := screenParties(scr, in.Buyer, in.Seller)
	if m := screening.best(); m != nil {
		f.SanctionsMatch, f.SanctionsScore = true, m.Score
	}

	var d Decision
	if rules != nil {
		d = rules.Evaluate(f)
	} else {
		d = Decision{Outcome: OutcomeApprove, RulesVersion: max(h.rulesVersion, g.rules.defaults.Version()), Features: f.clone()}
	}
	d = applyHardRules(d, f, failures)

	gd := GateDecision{ID: uuid.Must(uuid.NewV7()), Decision: d}
	escrowID := optionalID(in.EscrowID)
	switch {
	case d.Outcome == OutcomeReview, d.Outcome == OutcomeBlock && f.SanctionsMatch:
		n := newReview{tenant: in.TenantID, subjectType: in.SubjectType, subjectID: in.SubjectID, escrowID: escrowID, decisionID: &gd.ID, reasons: d.Reasons}
		if f.SanctionsMatch {
			n.match = screening.best()
			if escrowID != nil {
				n.subjectType, n.subjectID = SubjectEscrow, *escrowID
			}
		}
		rv, err := g.openReview(ctx, tx, n, now)
		if err != nil {
			return GateDecision{}, err
		}
		gd.ReviewID = &rv
	case d.Outcome == OutcomeStepUp:
		code, expires, err := createChallenge(ctx, tx, in.TenantID, in.SubjectID, escrowID, &gd.ID, now)
		if err != nil {
			return GateDecision{}, err
		}
		gd.StepUpCode, gd.StepUpExpiresAt = code, &expires
	}
	if err := storeDecision(ctx, tx, in, gd, now); err != nil {
		return GateDecision{}, err
	}
	if err := storeScreenings(ctx, tx, in.TenantID, in.SubjectType, in.SubjectID, escrowID, &gd.ID, h.listID, recs, now); err != nil {
		return GateDecision{}, err
	}
	if d.Outcome != OutcomeApprove {
		a := Alert{DecisionID: &gd.ID, Outcome: d.Outcome, Score: d.Score, Reasons: d.Reasons, Operation: in.Operation,
			SubjectType: in.SubjectType, SubjectID: in.SubjectID, EscrowID: escrowID, ReviewID: gd.ReviewID,
			BuyerID: in.Buyer.ID, SellerID: in.Seller.ID}
		if f.SanctionsMatch {
			a.Match = screening.best()
		}
		if err := emitAlert(ctx, tx, in.TenantID, a, now); err != nil {
			return GateDecision{}, err
		}
	}
	return gd, nil
}

// applyHardRules adds the gate's own reasons to d: scoring failures make
// the outcome at least review; a frozen party and a sanctions match block,
// with their reason whether or not the tenant's rules gave it.
func applyHardRules(d Decision, f Features, failures []Reason) Decision {
	has := func(code string) bool {
		for _, r := range d.Reasons {
			if r.Code == code {
				return true
			}
		}
		return false
	}
	for _, r := range failures {
		d.Reasons = append(d.Reasons, r)
		d.Outcome = moreSevere(d.Outcome, OutcomeReview)
	}
	if f.PartyFrozen {
		if !has(ReasonPartyFrozen) {
			d.Reasons = append(d.Reasons, Reason{Code: ReasonPartyFrozen, Rule: hardRuleFrozen})
		}
		d.Outcome = OutcomeBlock
	}
	if f.SanctionsMatch {
		if !has(ReasonSanctionsMatch) {
			d.Reasons = append(d.Reasons, Reason{Code: ReasonSanctionsMatch, Rule: hardRuleSanctions})
		}
		d.Outcome = OutcomeBlock
	}
	d.Reasons = nonNilReasons(d.Reasons)
	return d
}

// contextFeatures fills the features that come from the input alone.
func contextFeatures(in GateInput, now time.Time) Features {
	ctx := in.RiskContext
	ipCountry := strings.ToUpper(strings.TrimSpace(ctx["ip_country"]))
	if ipCountry == "" {
		ipCountry = strings.ToUpper(strings.TrimSpace(ctx["country"]))
	}
	f := Features{
		Operation:     in.Operation,
		BuyerCountry:  strings.ToUpper(strings.TrimSpace(in.Buyer.Country)),
		SellerCountry: strings.ToUpper(strings.TrimSpace(in.Seller.Country)),
		IPCountry:     ipCountry,
		DeviceCountry: strings.ToUpper(strings.TrimSpace(ctx["device_country"])),
		Context:       ctx,
	}
	acting := f.BuyerCountry
	if in.Operation == OperationRefund {
		acting = f.SellerCountry
	}
	if acting == "" {
		acting = f.IPCountry
	}
	f.LocalHour = LocalHour(acting, now)
	return f
}

func (g *Gate) amountUSD(ctx context.Context, tx pgx.Tx, in GateInput) (decimal.Decimal, error) {
	cur := strings.ToUpper(in.Currency)
	if cur == "USD" {
		return in.Amount, nil
	}
	if g.fx == nil {
		return decimal.Decimal{}, fmt.Errorf("risk: no USD converter for %s", cur)
	}
	return g.fx.ToUSD(ctx, tx, in.TenantID, in.Amount, cur)
}

// isDBError reports whether err (from a converter or a store) came from the
// database or the request, rather than from scoring: those are returned so
// the transaction retries or fails, never turned into a review.
func isDBError(ctx context.Context, tx pgx.Tx, err error) bool {
	if db.SQLState(err) != "" || ctx.Err() != nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgx.ErrTxClosed) {
		return true
	}
	// A statement that failed without its error being wrapped still
	// leaves the transaction aborted, and a lost connection fails too.
	_, perr := tx.Exec(ctx, `SELECT 1`)
	return perr != nil
}

func optionalID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// head is what Decide reads first, in one statement.
type head struct {
	frozen       bool
	rulesVersion int        // 0: the defaults
	listID       *uuid.UUID // nil: no sanctions list
	device       string     // the device the escrow was created from
}

func readHead(ctx context.Context, tx pgx.Tx, in GateInput) (head, error) {
	var (
		h       head
		frozen  int64
		version *int64
		device  *string
	)
	err := tx.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM party_freezes WHERE tenant_id = $1 AND party_id IN ($2, $3)),
			(SELECT max(version) FROM risk_rule_sets WHERE tenant_id = $1),
			(SELECT id FROM sanctions_lists WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1),
			(SELECT device_id FROM risk_observations WHERE tenant_id = $1 AND escrow_id = $4)`,
		in.TenantID, in.Buyer.ID, in.Seller.ID, in.EscrowID).Scan(&frozen, &version, &h.listID, &device)
	if err != nil {
		return head{}, fmt.Errorf("risk: decide: %w", err)
	}
	h.frozen = frozen > 0
	if version != nil {
		h.rulesVersion = int(*version)
	}
	if device != nil {
		h.device = *device
	}
	return h, nil
}

// featuresSQL computes the history and velocity features in one statement.
// Every subquery is bounded (LIMIT) and reads one index: history from the
// buyer's and seller's most recent escrows, first-seen times, the seller's
// releases over 24 h (risk_decisions), the buyer's and the device's
// escrows over the last hour with the tiny ones among them.
const featuresSQL = `
SELECT b.n, b.vol, b.med, b.p95,
	s.n, s.vol, s.med, s.p95, s.disputed,
	(SELECT min(observed_at) FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2),
	(SELECT min(observed_at) FROM risk_observations WHERE tenant_id = $1 AND seller_id = $3),
	r.h1, r.h24, bv.n, bv.tiny, dv.n, dv.tiny
FROM
	(SELECT count(*) AS n, COALESCE(sum(amount_usd), 0) AS vol,
		percentile_disc(0.5) WITHIN GROUP (ORDER BY amount_usd) AS med,
		percentile_disc(0.95) WITHIN GROUP (ORDER BY amount_usd) AS p95
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2 AND escrow_id <> $4
		ORDER BY observed_at DESC LIMIT $5) AS h) AS b,
	(SELECT count(*) AS n, COALESCE(sum(amount_usd), 0) AS vol,
		percentile_disc(0.5) WITHIN GROUP (ORDER BY amount_usd) AS med,
		percentile_disc(0.95) WITHIN GROUP (ORDER BY amount_usd) AS p95,
		count(disputed_at) AS disputed
	FROM (SELECT amount_usd, disputed_at FROM risk_observations WHERE tenant_id = $1 AND seller_id = $3 AND escrow_id <> $4
		ORDER BY observed_at DESC LIMIT $5) AS h) AS s,
	(SELECT count(*) AS h24, count(CASE WHEN created_at > $7 THEN 1 END) AS h1
	FROM (SELECT created_at FROM risk_decisions WHERE tenant_id = $1 AND seller_id = $3 AND operation = 'release'
		AND created_at > $8 AND created_at <= $6 ORDER BY created_at DESC LIMIT $9) AS x) AS r,
	(SELECT count(*) AS n, count(CASE WHEN amount_usd < $10 THEN 1 END) AS tiny
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND buyer_id = $2
		AND observed_at > $7 AND observed_at <= $6 ORDER BY observed_at DESC LIMIT $9) AS x) AS bv,
	(SELECT count(*) AS n, count(CASE WHEN amount_usd < $10 THEN 1 END) AS tiny
	FROM (SELECT amount_usd FROM risk_observations WHERE tenant_id = $1 AND device_id = $11 AND $11 <> ''
		AND observed_at > $7 AND observed_at <= $6 ORDER BY observed_at DESC LIMIT $9) AS x) AS dv`

// readFeatures fills f's history and velocity features (see featuresSQL).
func readFeatures(ctx context.Context, tx pgx.Tx, in GateInput, device string, now time.Time, f *Features) error {
	var (
		bn, sn, disputed, h1, h24, bvn, bvt, dvn, dvt int64
		bMed, bP95, sMed, sP95                        decimal.NullDecimal
		bFirst, sFirst                                *time.Time
	)
	err := tx.QueryRow(ctx, featuresSQL,
		in.TenantID, in.Buyer.ID, in.Seller.ID, in.EscrowID, MaxHistoryEscrows,
		now, now.Add(-time.Hour), now.Add(-24*time.Hour), MaxVelocityCount, CardTestingMaxUSD, device).
		Scan(&bn, &f.BuyerVolumeUSD, &bMed, &bP95,
			&sn, &f.SellerVolumeUSD, &sMed, &sP95, &disputed,
			&bFirst, &sFirst, &h1, &h24, &bvn, &bvt, &dvn, &dvt)
	if err != nil {
		return fmt.Errorf("risk: decide: features: %w", err)
	}
	f.BuyerEscrowCount, f.SellerEscrowCount = int(bn), int(sn)
	f.BuyerMedianAmountUSD, f.BuyerP95AmountUSD = bMed.Decimal, bP95.Decimal
	f.SellerMedianAmountUSD, f.SellerP95AmountUSD = sMed.Decimal, sP95.Decimal
	if sn > 0 {
		f.SellerDisputeRate = float64(disputed) / float64(sn)
	}
	f.BuyerFirstSeenDays, f.SellerFirstSeenDays = daysSince(bFirst, now), daysSince(sFirst, now)
	f.SellerReleases1h, f.SellerReleases24h = int(h1), int(h24)
	f.BuyerEscrows1h, f.TinyEscrowsBuyer1h = int(bvn), int(bvt)
	f.DeviceEscrows1h, f.TinyEscrowsDevice1h = int(dvn), int(dvt)
	return nil
}

// daysSince is the number of whole days from first to now, 0 for never
// seen (first seen now).
func daysSince(first *time.Time, now time.Time) int {
	if first == nil || !first.Before(now) {
		return 0
	}
	return int(now.Sub(*first) / (24 * time.Hour))
}

func storeDecision(ctx context.Context, tx pgx.Tx, in GateInput, d GateDecision, now time.Time) error {
	reasons, err := json.Marshal(d.Reasons)
	if err != nil {
		return err
	}
	features, err := json.Marshal(d.Features)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO risk_decisions (id, tenant_id, operation, subject_type, subject_id, escrow_id, amount, currency,
			outcome, score, reasons, rules_version, features, created_at, buyer_id, seller_id, review_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		d.ID, in.TenantID, in.Operation, in.SubjectType, in.SubjectID, optionalID(in.EscrowID), in.Amount, strings.ToUpper(in.Currency),
		d.Outcome, d.Score, reasons, d.RulesVersion, features, now, in.Buyer.ID, in.Seller.ID, d.ReviewID)
	if err != nil {
		return fmt.Errorf("risk: store decision: %w", err)
	}
	return nil
}
