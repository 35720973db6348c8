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
	"github.com/escrowd/escrowd/internal/money"
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
	// EscrowPayouts is, in Currency, what the escrow's other payouts of
	// this operation (releases, or refunds) paid out in the last
	// PayoutsWindow or hold while they wait for a review or the buyer's
	// code, those of the same transaction included; zero for none, never
	// negative. The gate adds Amount to it for the
	// escrow_payouts_usd_24h feature, so that a large transfer split
	// into payouts each under a threshold is seen whole.
	EscrowPayouts decimal.Decimal
	Buyer         Party
	Seller        Party
	// Payee is the id of the party that receives the money.
	Payee string
	// RiskContext is what the marketplace told us about the acting
	// request. The gate reads "device_id", "ip_country" (or "country")
	// and "device_country" (ISO 3166-1 alpha-2): escrowd has no GeoIP
	// database and makes no outside calls. Rules see the whole map as
	// `context`. Escrow payouts pass the escrow's creation context, whose
	// device_id is the one risk.Observe recorded for the escrow.
	RiskContext map[string]string
	// Features, when set, are the history and velocity features read
	// before the transaction by Gate.ReadFeatures for the same tenant,
	// parties and escrow; nil: Decide reads them in the transaction.
	Features *FeatureSnapshot
	// Unattended marks a release that nobody asked for at the time (the
	// auto-release after the inspection window, a dispute outcome): the
	// buyer is not there to enter a step-up code, so a step_up outcome
	// becomes review, as for refunds.
	Unattended bool
}

// GateDecision is the stored decision on one payout.
type GateDecision struct {
	ID uuid.UUID `json:"id"`
	Decision
	// ReviewID is the review opened for a review outcome (subject: the
	// input's SubjectType and SubjectID; it holds the possible sanctions
	// match, if any), or for a block caused by a sanctions match: then
	// the review holds the matched entry and is about the escrow
	// (subject "escrow", EscrowID), since the payout itself is refused
	// and holds nothing a reviewer could release.
	ReviewID *uuid.UUID `json:"review_id,omitempty"`
	// StepUpCode is the one-time code of a step_up outcome, in clear, only
	// so the caller can put it in the release.confirmation_required event;
	// it is stored hashed and never returned by the API.
	StepUpCode      string     `json:"-"`
	StepUpExpiresAt *time.Time `json:"step_up_expires_at,omitempty"`
}

// USDConverter prices a currency in US dollars with escrowd's own rates
// (fx.Service satisfies it): the gate converts every amount of a decision
// with one rate. An error that is not a database error (no rate, say)
// makes the decision fail closed.
type USDConverter interface {
	USDRate(ctx context.Context, q db.Querier, tenant uuid.UUID, currency string) (decimal.Decimal, error)
}

// toUSD is amount at rate, rounded half-even to cents.
func toUSD(amount, rate decimal.Decimal) decimal.Decimal {
	usd, _ := money.Lookup("USD")
	return money.Round(amount.Mul(rate), usd)
}

// Feature limits.
const (
	// MaxHistoryEscrows is how many of a party's most recent escrows the
	// history features (count, volume, median, p95, dispute rate) look
	// at; counts saturate there. It bounds the cost of a decision for the
	// busiest sellers; 500 amounts give stable percentiles.
	MaxHistoryEscrows = 500
	// PayoutsWindow is how far back completed payouts count in
	// GateInput.EscrowPayouts (escrow_payouts_usd_24h); waiting ones
	// count whatever their age.
	PayoutsWindow = 24 * time.Hour
	// MaxVelocityCount is where velocity counts (releases, escrows, tiny
	// escrows per window) saturate: 4 times the highest default
	// threshold (50 releases a day). Rules comparing against more never
	// hold.
	MaxVelocityCount = 200
)

// CardTestingMaxUSD is the amount below which an escrow counts as tiny for
// the card-testing features (tiny_escrows_*_1h).
var CardTestingMaxUSD = decimal.NewFromInt(5)

// Rule ids recorded for reasons the gate adds itself: the hard rules that
// apply whatever the tenant's rules say, and scoring failures.
const (
	hardRuleFrozen    = "hard.party_frozen"
	hardRuleSanctions = "hard.sanctions_match"
	// hardRulePossibleSanctions records a possible sanctions match.
	hardRulePossibleSanctions = "hard.sanctions_possible_match"
	hardRuleStepUp            = "hard.step_up_attempts"
	failAmountUSD             = "gate.amount_usd"
	failRules                 = "gate.rules"
	failSanctions             = "gate.sanctions"
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
	// StepUpKey keys the stored hashes of step-up codes (HMAC-SHA256);
	// nil: salted SHA-256 only.
	StepUpKey []byte
	// StepUpKeySince is when this process started keying code hashes:
	// a code created before it may have the unkeyed hash of a process that
	// ran without the key, and still verifies; one created after it must
	// be keyed. Zero: only keyed hashes verify.
	StepUpKeySince time.Time
}

// Gate decides on payouts inside the caller's transaction. It is safe for
// concurrent use.
type Gate struct {
	rules          *RuleStore
	sanctions      *SanctionsStore
	fx             USDConverter
	reviewTTL      time.Duration
	stepUpKey      []byte
	stepUpKeySince time.Time
}

// NewGate returns a gate.
func NewGate(cfg GateConfig) (*Gate, error) {
	g := &Gate{rules: cfg.Rules, sanctions: cfg.Sanctions, fx: cfg.FX, reviewTTL: cfg.ReviewTTL, stepUpKey: cfg.StepUpKey, stepUpKeySince: cfg.StepUpKeySince}
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
	case in.EscrowPayouts.IsNegative():
		return fmt.Errorf("risk: decide: %w: negative escrow payouts %s", ErrInvalidGateInput, in.EscrowPayouts)
	}
	return nil
}

// Decide scores a payout in the caller's transaction, stores the decision
// and returns it.
//
// Hard rules apply whatever the tenant's rules say: a frozen buyer or
// seller blocks (party_frozen); a sanctions match on either name, unless a
// reviewer cleared it (clearances.go), blocks (sanctions_match) and opens a
// review holding every match of both names, or points at the escrow's
// review of the same matches still pending (pendingMatchReview); a
// possible match (ScreeningMatch.Partial: the partial-name or extra-name rule, or weak spelling variants) on either
// name, when neither matched fully, makes the outcome at least review
// (sanctions_possible_match), never block by itself, and the payout's
// review holds every possible match of both names, so that approving it
// clears each as a match's review does (Screening.reviewMatches says why
// a block's review holds no possible match). Features
// come from risk's own tables (see Observe); the tenant's current rule set
// scores them. A review outcome opens a review; step_up opens a challenge
// whose code is in StepUpCode; review, step_up and block write a
// risk.alert event. Both names' screenings are stored. The decision
// records whether a step_up rule held (StepUpAsked) even when review or
// block won, for StepUpAfterReview.
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
	f := contextFeatures(in, now)
	snap := in.Features
	if !snap.matches(in) {
		snap = nil
	}
	device := strings.TrimSpace(in.RiskContext["device_id"])
	h, err := readState(ctx, tx, in, device, now, &f, snap)
	if err != nil {
		return GateDecision{}, err
	}

	var failures []Reason
	fail := func(rule string, err error) error {
		if err := dbError(ctx, tx, err); err != nil {
			return err
		}
		failures = append(failures, Reason{Code: ReasonScoringError, Rule: rule})
		return nil
	}
	if err := g.amountsUSD(ctx, tx, in, &f); err != nil {
		if err := fail(failAmountUSD, err); err != nil {
			return GateDecision{}, fmt.Errorf("risk: decide: amount in USD: %w", err)
		}
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
	recs, screening, err := screenParties(ctx, tx, in.TenantID, scr, in.Buyer, in.Seller)
	if err != nil {
		return GateDecision{}, err
	}
	match := screening.best() // a possible match only when there is no match
	if match != nil {
		f.SanctionsMatch, f.SanctionsPossibleMatch, f.SanctionsScore = !match.Partial, match.Partial, match.Score
	}

	var d Decision
	if rules != nil {
		d = rules.Evaluate(f)
	} else {
		d = Decision{Outcome: OutcomeApprove, RulesVersion: max(h.rulesVersion, g.rules.defaults.Version()), Features: f.clone()}
	}
	d = applyHardRules(d, f, failures, in.Operation == OperationRelease && !in.Unattended)

	gd := GateDecision{ID: uuid.Must(uuid.NewV7()), Decision: d}
	escrowID := optionalID(in.EscrowID)
	// The review, the decision and both screenings go in one round trip.
	var batch db.Batch
	switch {
	case d.Outcome == OutcomeReview, d.Outcome == OutcomeBlock && f.SanctionsMatch:
		n := newReview{tenant: in.TenantID, subjectType: in.SubjectType, subjectID: in.SubjectID, escrowID: escrowID, decisionID: &gd.ID, reasons: d.Reasons}
		if f.SanctionsMatch || f.SanctionsPossibleMatch {
			// Every match of both parties, or, without one, every
			// possible match (Screening.reviewMatches). For possible
			// matches the payout waits for this review: approving it
			// pays and clears each of them (decideMatch), as for a match.
			n.matches = screening.reviewMatches()
		}
		if f.SanctionsMatch && escrowID != nil {
			n.subjectType, n.subjectID = SubjectEscrow, *escrowID
		}
		rv, found := uuid.Nil, false
		if len(n.matches) > 0 && n.subjectType == SubjectEscrow {
			if rv, found, err = pendingMatchReview(ctx, tx, in.TenantID, n.subjectID, n.matches); err != nil {
				return GateDecision{}, err
			}
		}
		if !found {
			if rv, err = g.queueReview(ctx, tx, &batch, n, now); err != nil {
				return GateDecision{}, err
			}
		}
		gd.ReviewID = &rv
	case d.Outcome == OutcomeStepUp:
		code, expires, err := g.createChallenge(ctx, tx, in.TenantID, in.SubjectID, escrowID, &gd.ID, now)
		if err != nil {
			return GateDecision{}, err
		}
		gd.StepUpCode, gd.StepUpExpiresAt = code, &expires
	}
	if err := queueDecision(&batch, in, gd, now); err != nil {
		return GateDecision{}, err
	}
	if err := queueScreenings(&batch, in.TenantID, in.SubjectType, in.SubjectID, escrowID, &gd.ID, h.listID, recs, now); err != nil {
		return GateDecision{}, err
	}
	if err := db.Send(ctx, tx, &batch); err != nil {
		return GateDecision{}, fmt.Errorf("risk: store decision: %w", err)
	}
	if d.Outcome != OutcomeApprove {
		a := Alert{DecisionID: &gd.ID, Outcome: d.Outcome, Score: d.Score, Reasons: d.Reasons, Operation: in.Operation,
			SubjectType: in.SubjectType, SubjectID: in.SubjectID, EscrowID: escrowID, ReviewID: gd.ReviewID,
			BuyerID: in.Buyer.ID, SellerID: in.Seller.ID}
		if f.SanctionsMatch || f.SanctionsPossibleMatch {
			a.Match, a.Matches = match, screening.reviewMatches()
		}
		if err := emitAlert(ctx, tx, in.TenantID, a, now); err != nil {
			return GateDecision{}, err
		}
	}
	return gd, nil
}

// applyHardRules adds the gate's own reasons to d: scoring failures make
// the outcome at least review; a frozen party and a sanctions match block,
// with their reason whether or not the tenant's rules gave it; a possible
// sanctions match makes it at least review. Only a
// release the buyer is there for can be confirmed by step-up (the
// buyer's code, POST /v1/releases/{id}/confirm): unless confirmable, a
// payout the rules would step up (a refund, an unattended release) goes to
// review. It would otherwise wait for a code nobody enters, be voided by
// the confirmation timeout, and leave the money held with nothing to move
// it. StepUpAsked is left as the rules set it, except that a payout whose
// USD amount or rule set could not be read counts as asking (failing
// closed: the large-amount rule could not tell). Whether a step-up is owed
// after a review is for the payout's owner to tell (escrow asks only for
// a release the buyer is there for).
func applyHardRules(d Decision, f Features, failures []Reason, confirmable bool) Decision {
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
		d.StepUpAsked = d.StepUpAsked || r.Rule == failAmountUSD || r.Rule == failRules
	}
	if d.Outcome == OutcomeStepUp && !confirmable {
		d.Outcome = OutcomeReview
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
	if f.SanctionsPossibleMatch {
		if !has(ReasonSanctionsPossibleMatch) {
			d.Reasons = append(d.Reasons, Reason{Code: ReasonSanctionsPossibleMatch, Rule: hardRulePossibleSanctions})
		}
		d.Outcome = moreSevere(d.Outcome, OutcomeReview)
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

// amountsUSD sets f's AmountUSD and EscrowPayoutsUSD24h (the amount with
// the escrow's other payouts, converted as one sum), or neither: one rate
// lookup for both.
func (g *Gate) amountsUSD(ctx context.Context, tx pgx.Tx, in GateInput, f *Features) error {
	total := in.Amount.Add(in.EscrowPayouts)
	if strings.EqualFold(in.Currency, "USD") {
		f.AmountUSD, f.EscrowPayoutsUSD24h = in.Amount, total
		return nil
	}
	rate, err := g.usdRate(ctx, tx, in.TenantID, in.Currency)
	if err != nil {
		return err
	}
	f.AmountUSD, f.EscrowPayoutsUSD24h = toUSD(in.Amount, rate), toUSD(total, rate)
	return nil
}

// usdRate is the USD price of one unit of a currency other than USD.
func (g *Gate) usdRate(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, currency string) (decimal.Decimal, error) {
	cur := strings.ToUpper(currency)
	if g.fx == nil {
		return decimal.Decimal{}, fmt.Errorf("risk: no USD converter for %s", cur)
	}
	return g.fx.USDRate(ctx, tx, tenant, cur)
}

// dbError returns the error to give up with when err (from a converter or
// a store) came from the database or the request rather than from scoring,
// and nil for a scoring error: database errors are returned so the
// transaction retries or fails, never turned into a review.
func dbError(ctx context.Context, tx pgx.Tx, err error) error {
	if db.SQLState(err) != "" || ctx.Err() != nil || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	// A statement that failed without its error being wrapped still
	// leaves the transaction aborted, and a lost connection fails too. The
	// probe also sends the writes the transaction holds back (db.Send):
	// their error, a serialization failure say, is the one to return.
	if _, perr := tx.Exec(ctx, `SELECT 1`); perr != nil {
		return fmt.Errorf("%w (after: %v)", perr, err)
	}
	return nil
}

func optionalID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// queueDecision queues the insert of decision d.
func queueDecision(b *db.Batch, in GateInput, d GateDecision, now time.Time) error {
	reasons, err := json.Marshal(d.Reasons)
	if err != nil {
		return err
	}
	features, err := json.Marshal(d.Features)
	if err != nil {
		return err
	}
	b.Queue(`
		INSERT INTO risk_decisions (id, tenant_id, operation, subject_type, subject_id, escrow_id, amount, currency,
			outcome, score, reasons, rules_version, features, created_at, buyer_id, seller_id, review_id, step_up_asked)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		d.ID, in.TenantID, in.Operation, in.SubjectType, in.SubjectID, optionalID(in.EscrowID), in.Amount, strings.ToUpper(in.Currency),
		d.Outcome, d.Score, reasons, d.RulesVersion, features, now, in.Buyer.ID, in.Seller.ID, d.ReviewID, d.StepUpAsked)
	return nil
}
