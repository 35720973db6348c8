package escrow

// Dispute and chargeback hooks: what the disputes package does to an
// escrow. Each runs inside the caller's transaction (the disputes service's
// one db.Write), locks the escrow row, keeps the escrow's totals and its
// ledger account in step, and saves it guarded on its version:
//
//	held = funded − released − refunded − pending
//	balance of escrow:<id> = held + pending
//
// Money a dispute outcome moves out of the escrow account goes through the
// risk gate like any payout (trigger "dispute"); coverage of money already
// released comes from the platform's guarantee account, through the gate
// as a refund to the buyer (cover); a chargeback is
// money the card network already took, so it is booked without the gate.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/money"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// Payout triggers and the status of a payout a won chargeback undid.
const (
	TriggerAuto       = "auto" // the auto-release after the inspection window
	TriggerDispute    = "dispute"
	TriggerChargeback = "chargeback"
	StatusReversed    = "reversed"
)

// Policy bounds (hours).
const (
	MinPolicyHours = 1
	MaxPolicyHours = 24 * 90
)

// ErrAlreadyDisputed: the escrow has an open dispute.
var ErrAlreadyDisputed = errors.New("the escrow has an open dispute")

// Ledger account codes of disputes and chargebacks (see the chart of
// accounts in docs/architecture.md).
func guaranteeCode(cur string) string             { return "guarantee:" + cur }
func chargebackLossCode(cur string) string        { return "chargeback:loss:" + cur }
func receivableCode(seller, cur string) string    { return "receivable:seller:" + seller + ":" + cur }
func sellerPayableCode(seller, cur string) string { return "seller:" + seller + ":payable:" + cur }

// Validate checks a policy's bounds: every timer 1..2160 hours, and the
// seller must be due to respond before the dispute escalates by itself.
func (p Policy) Validate() error {
	var errs valid.Errors
	for _, f := range []struct {
		name string
		v    int
	}{{"seller_response_hours", p.SellerResponseHours}, {"escalation_hours", p.EscalationHours}, {"evidence_hours", p.EvidenceHours}} {
		if f.v < MinPolicyHours || f.v > MaxPolicyHours {
			errs.Add(f.name, fmt.Sprintf("must be %d..%d hours", MinPolicyHours, MaxPolicyHours))
		}
	}
	if len(errs) == 0 && p.SellerResponseHours > p.EscalationHours {
		errs.Add("seller_response_hours", "must not exceed escalation_hours")
	}
	return errs.Err()
}

// DisputePolicy is the policy copied onto the escrow, or DefaultPolicy for
// an escrow that carries none.
func (e Escrow) DisputePolicy() Policy {
	if e.Policy.Validate() != nil {
		return DefaultPolicy
	}
	return e.Policy
}

// TenantPolicy is a tenant's dispute policy; Default when it set none.
type TenantPolicy struct {
	Policy
	Default   bool
	UpdatedAt *time.Time
}

// PolicyOf returns the tenant's dispute policy (DefaultPolicy when unset).
func PolicyOf(ctx context.Context, q db.Querier, tenant uuid.UUID) (TenantPolicy, error) {
	var p TenantPolicy
	var at time.Time
	err := q.QueryRow(ctx, `SELECT seller_response_hours, escalation_hours, evidence_hours, updated_at FROM disputes_policies WHERE tenant_id = $1`,
		tenant).Scan(&p.SellerResponseHours, &p.EscalationHours, &p.EvidenceHours, &at)
	if db.IsNoRows(err) {
		return TenantPolicy{Policy: DefaultPolicy, Default: true}, nil
	}
	if err != nil {
		return TenantPolicy{}, fmt.Errorf("dispute policy: %w", err)
	}
	p.UpdatedAt = &at
	return p, nil
}

// SetPolicy stores the tenant's dispute policy, for escrows created from
// now on.
func SetPolicy(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, p Policy, now time.Time) (TenantPolicy, error) {
	if err := p.Validate(); err != nil {
		return TenantPolicy{}, err
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO disputes_policies (tenant_id, seller_response_hours, escalation_hours, evidence_hours, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id) DO UPDATE SET seller_response_hours = excluded.seller_response_hours,
			escalation_hours = excluded.escalation_hours, evidence_hours = excluded.evidence_hours, updated_at = excluded.updated_at`,
		tenant, p.SellerResponseHours, p.EscalationHours, p.EvidenceHours, now)
	if err != nil {
		return TenantPolicy{}, fmt.Errorf("dispute policy: %w", err)
	}
	return TenantPolicy{Policy: p, UpdatedAt: &now}, nil
}

// policyFor is the policy Create copies onto a new escrow.
func policyFor(ctx context.Context, tx pgx.Tx, tenant uuid.UUID) (Policy, error) {
	p, err := PolicyOf(ctx, tx, tenant)
	return p.Policy, err
}

// Read returns an escrow of tenant without locking it, inside the caller's
// transaction or on a pool.
func Read(ctx context.Context, q db.Querier, tenant, id uuid.UUID) (Escrow, error) {
	return load(ctx, q, tenant, id, false)
}

// Claimable is the order money the buyer may still get back: the order
// money it paid (the order amount once fully funded) less what was
// refunded (a chargeback of held money is a refund), what earlier disputes
// covered from the guarantee (coveredBefore), and the order part of what
// chargebacks not won took back beyond the money the escrow held
// (chargedBack, gross: the card network returned it to the buyer).
func (e Escrow) Claimable(coveredBefore, chargedBack decimal.Decimal) decimal.Decimal {
	paid := e.Amount
	if e.FundedAt == nil {
		paid = decimal.Min(e.Amount, e.Funded)
	}
	r := paid.Sub(coveredBefore).Sub(e.OrderShare(chargedBack))
	for _, m := range e.Milestones {
		r = r.Sub(m.Refunded)
	}
	if r.IsNegative() {
		return decimal.Zero
	}
	return r
}

// OrderShare is the order money in g, an amount the buyer paid (order
// money plus the buyer's fee on it, in proportion): g × amount / (amount +
// buyer fee), rounded half-even to the currency's minor unit.
func (e Escrow) OrderShare(g decimal.Decimal) decimal.Decimal {
	if !e.BuyerFee.IsPositive() {
		return g
	}
	cur, _ := money.Lookup(e.Currency)
	return money.Round(g.Mul(e.Amount).DivRound(e.Amount.Add(e.BuyerFee), 24), cur)
}

// OpenDispute moves the escrow to disputed (through the transition table),
// remembers the state it was in and cancels its auto-release and expiry
// jobs: nothing is released until the dispute ends. check runs on the
// locked escrow before the change (claim window, amounts). An escrow
// already disputed is ErrAlreadyDisputed; one whose cancellation's refund
// waits for the gate is ErrPayoutsPending (heldByClosing), and so is one
// where a payout of an earlier claim's outcome waits
// (refuseWhileOutcomeWaits).
func (s *Service) OpenDispute(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, check func(Escrow) error, now time.Time) (Escrow, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return Escrow{}, err
	}
	if e.State == Disputed {
		return Escrow{}, fmt.Errorf("escrow %s: %w", e.ID, ErrAlreadyDisputed)
	}
	to, err := next(e.State, ActDispute)
	if err != nil {
		return Escrow{}, fmt.Errorf("escrow %s: %w", e.ID, err)
	}
	// A cancellation whose refund waits for the gate: the order is being
	// called off (heldByClosing).
	if heldByClosing[ActDispute] {
		if err := refuseWhileClosing(ctx, tx, e, ActDispute); err != nil {
			return Escrow{}, err
		}
	}
	// An earlier claim's outcome whose payout waits for the gate: a
	// chargeback during this claim would lose it (refuseWhileOutcomeWaits).
	if err := refuseWhileOutcomeWaits(ctx, tx, e); err != nil {
		return Escrow{}, err
	}
	if check != nil {
		if err := check(e); err != nil {
			return Escrow{}, err
		}
	}
	e.StateBeforeDispute, e.State = e.State, to
	for _, kind := range []string{JobAutoRelease, JobExpire} {
		if err := jobs.Cancel(ctx, tx, kind, e.ID.String(), now); err != nil {
			return Escrow{}, err
		}
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Escrow{}, err
	}
	return e, nil
}

// EndDispute returns a disputed escrow to the state it was in before the
// dispute (a withdrawn claim) and restarts its timers: a delivered escrow
// whose inspection window is over is auto-released at once (when its terms
// say so); an escrow awaiting funding expires at its deadline or at once.
// An escrow that had settled and holds money again (a chargeback won
// during the dispute) is reopened instead (reopen).
//
// owed are the dispute outcomes that chargebacks won during the claim
// suspended (ReverseChargeback reported them owed): the withdrawn claim
// decided nothing, so they are paid out again now as the chargeback would
// have when won (resumeAfterWin). The escrow then settles when nothing is
// left open, and no auto-release restarts: the outcome decided the money,
// and what the gate holds back waits for the marketplace, as after a won
// chargeback (an escrow awaiting funding still expires at its deadline).
func (s *Service) EndDispute(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, owed []OwedOutcome, now time.Time) (Escrow, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return Escrow{}, err
	}
	back, err := e.disputedFrom()
	if err != nil {
		return Escrow{}, err
	}
	e.State, e.StateBeforeDispute = back, ""
	resumed, err := s.resumeOwed(ctx, tx, &e, owed, now)
	if err != nil {
		return Escrow{}, err
	}
	// A chargeback won during the dispute may have put money back into an
	// escrow that had settled: it is open again, as ReverseChargeback
	// reopens one, and waits for the marketplace (no timers).
	reopened, err := s.reopen(ctx, tx, &e, now)
	if err != nil {
		return Escrow{}, err
	}
	switch {
	case reopened:
	case len(resumed) > 0 && e.State != AwaitingFunding:
		if err := s.settle(ctx, tx, &e, now); err != nil {
			return Escrow{}, err
		}
	default:
		if err := s.resumeJobs(ctx, tx, e, now); err != nil {
			return Escrow{}, err
		}
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Escrow{}, err
	}
	return e, nil
}

// reopen opens again an escrow that settled (completed or refunded) while
// it holds order money again or has a payout waiting for the gate: money
// a won chargeback put back, or what a dispute outcome left of it (a
// payout the gate blocked or holds for review). No action moves money out
// of a settled escrow, so it goes back to the furthest state it reached
// (delivered, shipped or funded) and waits for the marketplace: the
// auto-release job its settlement left pending (settle) is cancelled.
// reopened is false, and e unchanged, for any other escrow.
func (s *Service) reopen(ctx context.Context, tx pgx.Tx, e *Escrow, now time.Time) (reopened bool, err error) {
	if e.State != Completed && e.State != Refunded || !e.OrderOpen().IsPositive() && !e.Pending.IsPositive() {
		return false, nil
	}
	e.State, e.ClosedAt = Funded, nil
	switch {
	case e.DeliveredAt != nil:
		e.State = Delivered
	case e.ShippedAt != nil:
		e.State = Shipped
	}
	if err := jobs.Cancel(ctx, tx, JobAutoRelease, e.ID.String(), now); err != nil {
		return false, err
	}
	return true, nil
}

// disputedFrom checks that e is disputed and returns its state before.
func (e Escrow) disputedFrom() (State, error) {
	if e.State != Disputed {
		return "", fmt.Errorf("escrow %s: %w", e.ID, &InvalidStateError{State: e.State, Action: ActResolve})
	}
	if e.StateBeforeDispute == "" {
		return "", fmt.Errorf("escrow %s is disputed without a state to return to", e.ID)
	}
	return e.StateBeforeDispute, nil
}

func (s *Service) resumeJobs(ctx context.Context, tx pgx.Tx, e Escrow, now time.Time) error {
	latest := func(t time.Time) time.Time {
		if t.Before(now) {
			return now
		}
		return t
	}
	switch e.State {
	case Delivered:
		if e.Terms.AutoRelease && e.InspectionEndsAt != nil {
			return jobs.Schedule(ctx, tx, jobs.Job{TenantID: e.TenantID, Kind: JobAutoRelease, DedupeKey: e.ID.String(),
				RunAt: latest(*e.InspectionEndsAt), Payload: jobPayload(e.TenantID, e.ID)}, now)
		}
	case AwaitingFunding:
		return jobs.Schedule(ctx, tx, jobs.Job{TenantID: e.TenantID, Kind: JobExpire, DedupeKey: e.ID.String(),
			RunAt: latest(e.FundingDeadlineAt), Payload: jobPayload(e.TenantID, e.ID)}, now)
	}
	return nil
}

// SettleInput is a dispute outcome for SettleDispute.
type SettleInput struct {
	DisputeID uuid.UUID
	// Refund is the order money the buyer gets back; nil is everything
	// Claimable. Zero releases everything to the seller.
	Refund *decimal.Decimal
	// CoveredBefore is what earlier disputes of the escrow covered from
	// the guarantee (it counts against the coverage limit).
	CoveredBefore decimal.Decimal
	// ChargedBack is what chargebacks not won took back beyond the money
	// the escrow held (gross); its order part is not claimable again, and
	// it does not count against the coverage limit (the guarantee did not
	// pay it).
	ChargedBack decimal.Decimal
	// CoveragePayouts is what earlier coverage of the escrow's disputes
	// paid the buyer in the last risk.PayoutsWindow or holds while it
	// waits for review: refunds to the buyer too, so the gate counts them
	// with the escrow's refunds when it decides on this coverage (cover).
	CoveragePayouts decimal.Decimal
	// Reason is written on the payouts.
	Reason string
}

// Settlement is what a dispute outcome did.
type Settlement struct {
	Escrow Escrow
	// Requested is the refund the outcome gives the buyer.
	Requested decimal.Decimal
	// Refund and Release are the payouts from the escrow account (nil when
	// nothing was due); each passed the risk gate and has its status.
	Refund, Release *Payout
	// Voided are payouts that waited for review or confirmation when the
	// dispute opened; the outcome supersedes them.
	Voided []Payout
	// Coverage of the part of the refund already released to the seller.
	Coverage Coverage
}

// Coverage is the part of a refund paid from the guarantee because the
// money had already been released: Needed was asked, Covered paid (up to
// the coverage limit; Capped when less), Recovered at once from the
// seller's payable balance, Receivable still owed by the seller.
//
// The coverage is a refund to the buyer and passes the risk gate as one
// (cover): Status is completed (paid), pending_review (held: EntryIDs are
// pending entries, and Covered, Recovered and Receivable what approving
// the review ReviewID books, FinishCoverage) or blocked (nothing moved:
// Covered, Recovered and Receivable are zero); "" when nothing was
// covered. Risk is the gate's decision.
type Coverage struct {
	Needed, Covered, Recovered, Receivable decimal.Decimal
	Capped                                 bool
	Status                                 string
	Risk                                   *RiskSummary
	ReviewID                               *uuid.UUID
	EntryIDs                               []uuid.UUID
}

// SubjectCoverage is the risk subject type of a dispute's coverage: the
// gate's decision and its review name the dispute (SubjectID).
const SubjectCoverage = "coverage"

// SettleDispute carries out a dispute outcome on a disputed escrow, in the
// caller's transaction: payouts still waiting for review or confirmation
// are voided; of the order money still open, the refund goes to the buyer
// and the rest is released to the seller, both through the risk gate
// (trigger "dispute"); a refund larger than what is open is covered from
// the guarantee up to the coverage limit (terms.coverage_limit, the order
// amount when unset) and booked as a receivable from the seller, recovered
// first from the seller's payable balance, once the gate lets it through
// (cover: held while it waits for review, nothing when blocked; the
// coverage moves no escrow money). The escrow then leaves disputed:
// it settles (completed or refunded) when everything is paid out, or goes
// back to the state it was in while a payout waits for the gate. An escrow
// that had settled before the dispute has open money only when a
// chargeback won meanwhile put it back; what the outcome leaves of it
// (blocked, or waiting for the gate) reopens the escrow (reopen).
func (s *Service) SettleDispute(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, in SettleInput, now time.Time) (Settlement, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return Settlement{}, err
	}
	back, err := e.disputedFrom()
	if err != nil {
		return Settlement{}, err
	}
	out := Settlement{}
	if out.Voided, err = s.voidPending(ctx, tx, &e, "superseded by the dispute outcome", now); err != nil {
		return Settlement{}, err
	}
	claimable := e.Claimable(in.CoveredBefore, in.ChargedBack)
	r := claimable
	if in.Refund != nil {
		r = *in.Refund
		if r.IsNegative() || r.GreaterThan(claimable) {
			return Settlement{}, valid.FieldCode(codeAmountMismatch, "refund_amount", fmt.Sprintf("%s exceeds the %s the buyer can claim",
				fmtAmount(r, e.Currency), fmtAmount(claimable, e.Currency)))
		}
	}
	out.Requested = r
	e.State, e.StateBeforeDispute = back, ""
	open := e.OrderOpen()
	if e.FundedAt == nil { // awaiting funding: only what arrived can go back
		open = decimal.Min(open, e.Held())
	}
	fromEscrow := decimal.Min(r, open)
	if fromEscrow.IsPositive() {
		p, err := s.payout(ctx, tx, &e, KindRefund, TriggerDispute, allocateBackward(e, fromEscrow), nil, in.Reason, now)
		if err != nil {
			return Settlement{}, err
		}
		out.Refund = &p
	}
	if rest := open.Sub(fromEscrow); rest.IsPositive() && e.FundedAt != nil {
		p, err := s.payout(ctx, tx, &e, KindRelease, TriggerDispute, allocateForward(e, rest), nil, in.Reason, now)
		if err != nil {
			return Settlement{}, err
		}
		out.Release = &p
	}
	if need := r.Sub(fromEscrow); need.IsPositive() {
		if out.Coverage, err = s.cover(ctx, tx, e, in, need, "dispute:"+in.DisputeID.String(), now); err != nil {
			return Settlement{}, err
		}
	}
	switch back {
	case Funded, Shipped, Delivered:
		if err := s.settle(ctx, tx, &e, now); err != nil {
			return Settlement{}, err
		}
	case Completed, Refunded:
		// Settled before the dispute: open money is what a chargeback
		// won meanwhile put back; what the outcome's payouts leave of it
		// (blocked, or waiting for the gate) reopens the escrow.
		if _, err := s.reopen(ctx, tx, &e, now); err != nil {
			return Settlement{}, err
		}
	case AwaitingFunding:
		if !e.Held().IsPositive() && !e.Pending.IsPositive() {
			e.State, e.ClosedAt = Cancelled, &now
			e.announce("escrow.cancelled", map[string]any{"reason": in.Reason})
		} else if err := s.resumeJobs(ctx, tx, e, now); err != nil {
			return Settlement{}, err
		}
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Settlement{}, err
	}
	out.Escrow = e
	return out, nil
}

// voidPending voids the escrow's payouts waiting for a review or a step-up
// confirmation, every one of them (waitingPayouts): their holds are
// released, they become rejected (their events give reason) and their
// reviews are closed as rejected (risk.Gate.WithdrawReview), so nothing
// is left to approve. e.Pending is zero afterwards.
func (s *Service) voidPending(ctx context.Context, tx pgx.Tx, e *Escrow, reason string, now time.Time) ([]Payout, error) {
	ps, err := waitingPayouts(ctx, tx, *e)
	if err != nil {
		return nil, err
	}
	var out []Payout
	for _, p := range ps {
		if p.EntryID == nil {
			return nil, fmt.Errorf("payout %s is %s without a ledger entry", p.ID, p.Status)
		}
		if _, err := ledger.Void(ctx, tx, e.TenantID, *p.EntryID, now); err != nil && !errors.Is(err, ledger.ErrNotPending) {
			return nil, fmt.Errorf("payout %s: void: %w", p.ID, err)
		}
		e.holdPayout(p, -1)
		from := p.Status
		p.Status = StatusRejected
		if err := setPayoutStatus(ctx, tx, p, from, now); err != nil {
			return nil, err
		}
		// Its review has nothing left to decide: closed, so that the
		// reviewers' queue does not hold a payout that cannot move.
		if p.ReviewID != nil {
			if err := s.Gate.WithdrawReview(ctx, tx, e.TenantID, *p.ReviewID, p.ID, reason, now); err != nil {
				return nil, fmt.Errorf("payout %s: %w", p.ID, err)
			}
		}
		e.announce(p.Kind+".rejected", map[string]any{p.Kind + "_id": p.ID, "status": p.Status,
			"amount": fmtAmount(p.OrderAmount, e.Currency), "reason": reason})
		out = append(out, p)
	}
	return out, nil
}

// cover pays need (order money already released) to the buyer from the
// guarantee, up to what is left of the coverage limit, books it as owed by
// the seller and recovers what the seller's payable balance holds:
//
//	dispute.coverage    debit guarantee:<CUR>            credit buyer:<b>:refund:<CUR>
//	dispute.receivable  debit receivable:seller:<s>:<CUR> credit guarantee:<CUR>
//	dispute.recovery    debit seller:<s>:payable:<CUR>    credit receivable:seller:<s>:<CUR>
//
// The coverage is a refund to the buyer, so it asks the risk gate first,
// as every refund does (a frozen party or a sanctions match blocks): it
// is unattended, as the outcome's other payouts are, so a step-up becomes
// review. The gate sees it with the escrow's other refunds
// (GateInput.EscrowPayouts): those paid in the last risk.PayoutsWindow or
// waiting (recentPayouts), the outcome's own refund from the escrow, sent
// in this transaction, included, and earlier coverage of the escrow's
// disputes (in.CoveragePayouts), so that a refund split between the
// escrow and the guarantee is reviewed as a whole when it is large.
// Approve posts the entries; review posts them pending (the seller's
// payable balance is held for the recovery) until the review is decided
// (FinishCoverage); block moves nothing. ref is the entries'
// reference before their suffix (":coverage", ":receivable",
// ":recovery"): "dispute:<id>", and for coverage paid again after a
// chargeback (ResumeCoverage) one naming the chargeback too, so that it
// does not collide with the entries the chargeback voided.
func (s *Service) cover(ctx context.Context, tx pgx.Tx, e Escrow, in SettleInput, need decimal.Decimal, ref string, now time.Time) (Coverage, error) {
	limit := e.Amount
	if e.Terms.CoverageLimit != nil {
		limit = *e.Terms.CoverageLimit
	}
	left := decimal.Max(limit.Sub(in.CoveredBefore), decimal.Zero)
	x := decimal.Min(need, left)
	c := Coverage{Needed: need, Covered: x, Recovered: decimal.Zero, Receivable: decimal.Zero, Capped: x.LessThan(need)}
	if !x.IsPositive() {
		return c, nil
	}
	recent, err := recentPayouts(ctx, tx, &e, KindRefund, now)
	if err != nil {
		return Coverage{}, err
	}
	d, err := s.Gate.Decide(ctx, tx, risk.GateInput{TenantID: e.TenantID, Operation: risk.OperationRefund, SubjectType: SubjectCoverage,
		SubjectID: in.DisputeID, EscrowID: e.ID, Amount: x, Currency: e.Currency, EscrowPayouts: recent.Add(in.CoveragePayouts),
		Buyer: riskParty(e.Buyer), Seller: riskParty(e.Seller),
		Payee: e.Buyer.ID, RiskContext: actingContext(e, KindRefund), Features: features(ctx), Unattended: true}, now)
	if err != nil {
		return Coverage{}, fmt.Errorf("escrow %s: coverage: risk gate: %w", e.ID, err)
	}
	c.Risk = summary(d)
	var pending bool
	switch d.Outcome {
	case risk.OutcomeApprove:
		c.Status = StatusCompleted
	case risk.OutcomeReview:
		c.Status, c.ReviewID, pending = StatusPendingReview, d.ReviewID, true
	default: // block; a step-up the gate does not give an unattended refund fails closed too
		c.Status, c.Covered = StatusBlocked, decimal.Zero
		return c, nil
	}
	cur, ten := e.Currency, e.TenantID
	guarantee, err := s.account(ctx, tx, ten, guaranteeCode(cur), cur, ledger.KindExpense, 1, now)
	if err != nil {
		return Coverage{}, err
	}
	buyer, err := s.account(ctx, tx, ten, "buyer:"+e.Buyer.ID+":refund:"+cur, cur, ledger.KindLiability, PartyShards, now)
	if err != nil {
		return Coverage{}, err
	}
	recv, err := s.account(ctx, tx, ten, receivableCode(e.Seller.ID, cur), cur, ledger.KindAsset, 1, now)
	if err != nil {
		return Coverage{}, err
	}
	payable, err := s.account(ctx, tx, ten, sellerPayableCode(e.Seller.ID, cur), cur, ledger.KindLiability, PartyShards, now)
	if err != nil {
		return Coverage{}, err
	}
	post := func(kind, suffix, desc string, debit, credit ledger.Account, amount decimal.Decimal) error {
		write := ledger.Post
		if pending {
			write = ledger.PostPending
		}
		en, err := write(ctx, tx, ledger.Entry{TenantID: ten, Kind: kind, Reference: ref + ":" + suffix,
			Description: desc + " for order " + e.OrderRef, EffectiveAt: now, CreatedAt: now,
			Metadata: map[string]string{"escrow_id": e.ID.String(), "dispute_id": in.DisputeID.String()},
			Postings: []ledger.Posting{
				{AccountID: debit.ID, Direction: ledger.SideDebit, Amount: amount, Currency: cur},
				{AccountID: credit.ID, Direction: ledger.SideCredit, Amount: amount, Currency: cur},
			}})
		if err != nil {
			return fmt.Errorf("escrow %s: %s: %w", e.ID, kind, err)
		}
		c.EntryIDs = append(c.EntryIDs, en.ID)
		return nil
	}
	if err := post("dispute.coverage", "coverage", "guarantee coverage", guarantee, buyer, x); err != nil {
		return Coverage{}, err
	}
	if err := post("dispute.receivable", "receivable", "coverage owed by the seller", recv, guarantee, x); err != nil {
		return Coverage{}, err
	}
	bal, err := ledger.GetBalance(ctx, tx, ten, payable.ID)
	if err != nil {
		return Coverage{}, fmt.Errorf("escrow %s: seller payable: %w", e.ID, err)
	}
	c.Recovered = decimal.Min(x, decimal.Max(bal.Available, decimal.Zero))
	c.Receivable = x.Sub(c.Recovered)
	if c.Recovered.IsPositive() {
		if err := post(kindRecovery, "recovery", "coverage recovered from the seller's payable", payable, recv, c.Recovered); err != nil {
			return Coverage{}, err
		}
	}
	return c, nil
}

// FinishCoverage carries out a reviewer's decision on the coverage of a
// dispute of escrow id that waited for review (cover): approved, its
// pending entries (entryIDs, as cover posted them) are posted, and the
// posted entries are returned in the same order with what the recovery
// took from the seller's payable; rejected (or expired), they are
// released and nothing moved. The recovery's hold does not stop finance
// from paying the seller out meanwhile (an adjustment debiting the
// payable; the account has no overdraft guard), so on approval it takes
// at most what the payable still has for it (its available balance with
// the recovery's own hold added back): the rest stays owed by the seller,
// as the receivable entry booked it, and a recovery left with nothing is
// voided. A freeze of either party since the gate held it stops an
// approval (risk.ErrPartyFrozen), as for a payout (resolve): the review
// stays pending. An entry no longer pending (finance voided it) cannot be
// approved (ledger.ErrNotPending); a rejection passes over it.
func (s *Service) FinishCoverage(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, entryIDs []uuid.UUID, approved bool, now time.Time) ([]uuid.UUID, decimal.Decimal, error) {
	e, err := load(ctx, tx, tenant, id, false)
	if err != nil {
		return nil, decimal.Zero, err
	}
	if !approved {
		for _, en := range entryIDs {
			if _, err := ledger.Void(ctx, tx, tenant, en, now); err != nil && !errors.Is(err, ledger.ErrNotPending) {
				return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage entry %s: void: %w", e.ID, en, err)
			}
		}
		return nil, decimal.Zero, nil
	}
	if err := risk.CheckNotFrozen(ctx, tx, tenant, e.Buyer.ID, e.Seller.ID); err != nil {
		return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage: %w", e.ID, err)
	}
	var posted []uuid.UUID
	recovered := decimal.Zero
	for _, en := range entryIDs {
		pe, err := ledger.GetEntry(ctx, tx, tenant, en)
		if err != nil {
			return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage entry %s: %w", e.ID, en, err)
		}
		var part *decimal.Decimal
		if pe.Kind == kindRecovery {
			x, full, err := recoverable(ctx, tx, tenant, pe)
			if err != nil {
				return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage entry %s: %w", e.ID, en, err)
			}
			if !x.IsPositive() {
				if _, err := ledger.Void(ctx, tx, tenant, en, now); err != nil {
					return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage entry %s: void: %w", e.ID, en, err)
				}
				continue
			}
			if x.LessThan(full) {
				part = &x
			}
			recovered = x
		}
		p, err := ledger.Commit(ctx, tx, tenant, en, part, now)
		if err != nil {
			return nil, decimal.Zero, fmt.Errorf("escrow %s: coverage entry %s: commit: %w", e.ID, en, err)
		}
		posted = append(posted, p.ID)
	}
	return posted, recovered, nil
}

// kindRecovery is the ledger entry kind of a coverage's recovery from the
// seller's payable (cover).
const kindRecovery = "dispute.recovery"

// recoverable is what the pending recovery entry pe (debit the seller's
// payable, credit its receivable: full) can take now: at most what the
// payable has available, its own hold added back, never below zero.
func recoverable(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, pe ledger.Entry) (x, full decimal.Decimal, err error) {
	for _, p := range pe.Postings {
		if p.Direction != ledger.SideDebit {
			continue
		}
		bal, err := ledger.GetBalance(ctx, tx, tenant, p.AccountID)
		if err != nil {
			return decimal.Zero, decimal.Zero, fmt.Errorf("seller payable: %w", err)
		}
		return decimal.Min(p.Amount, decimal.Max(bal.Available.Add(p.Amount), decimal.Zero)), p.Amount, nil
	}
	return decimal.Zero, decimal.Zero, fmt.Errorf("recovery entry %s debits no account", pe.ID)
}

// VoidCoverage voids the coverage of dispute disputeID of escrow id that
// waits for review (cover): its pending entries (entryIDs) are released
// and its review (reviewID, nil for none) is closed as rejected by
// risk.DecidedBySuperseded with reason as its note
// (risk.Gate.WithdrawReview), so nothing is left to approve. A chargeback
// booked while the coverage waits calls it before ApplyChargeback: the
// card network paid the buyer, and the recovery's hold on the seller's
// payable goes back into what the chargeback claws back.
func (s *Service) VoidCoverage(ctx context.Context, tx pgx.Tx, tenant, id, disputeID uuid.UUID, entryIDs []uuid.UUID, reviewID *uuid.UUID, reason string, now time.Time) error {
	if _, _, err := s.FinishCoverage(ctx, tx, tenant, id, entryIDs, false, now); err != nil {
		return err
	}
	if reviewID == nil {
		return nil
	}
	if err := s.Gate.WithdrawReview(ctx, tx, tenant, *reviewID, disputeID, reason, now); err != nil {
		return fmt.Errorf("escrow %s: coverage of dispute %s: %w", id, disputeID, err)
	}
	return nil
}

// ResumeCoverage pays need again, from the guarantee, as the coverage of
// dispute in.DisputeID (in.CoveredBefore: what the escrow's other disputes
// covered, for the coverage limit), once the card network decided a
// chargeback that voided that coverage while it waited for review
// (VoidCoverage): through the gate again, as cover does (approve posts,
// review holds, block moves nothing). Its entries are referenced
// "dispute:<id>:chargeback:<chargeback id>". The escrow is locked and not
// changed: coverage moves no escrow money.
func (s *Service) ResumeCoverage(ctx context.Context, tx pgx.Tx, tenant, id, chargebackID uuid.UUID, in SettleInput, need decimal.Decimal, now time.Time) (Coverage, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return Coverage{}, err
	}
	return s.cover(ctx, tx, e, in, need, "dispute:"+in.DisputeID.String()+":chargeback:"+chargebackID.String(), now)
}

// ChargebackInput is a card-network chargeback for ApplyChargeback.
type ChargebackInput struct {
	ChargebackID uuid.UUID
	// Amount is in Currency: the escrow's currency, or a currency the
	// escrow was funded in through FX (the PSP takes back what it
	// captured, in the currency it captured it).
	Amount   decimal.Decimal
	Currency string
	PSPRef   string
	// ChargedBefore is the amount, in the escrow's currency, of the
	// escrow's earlier chargebacks that were not won; ClawedBefore what
	// was already taken back from the seller for this escrow (clawbacks
	// and receivables of chargebacks and coverage), in the escrow's
	// currency too.
	ChargedBefore, ClawedBefore decimal.Decimal
	// ChargedBeforeIn is the amount, in Currency, of the escrow's earlier
	// chargebacks in Currency that were not won (what is left to charge
	// back in Currency is what fundings captured in it less this), and
	// TakenBeforeIn what they took in the escrow's currency (their escrow
	// amounts; it counts only when Currency is not the escrow's).
	ChargedBeforeIn, TakenBeforeIn decimal.Decimal
}

// ChargebackBooking is how a chargeback was covered, in the escrow's
// currency: EscrowAmount, the chargeback in that currency, is FromHeld
// taken from the escrow account, ClawedBack from the seller's payable
// balance, and the shortfall Loss booked to chargeback:loss, of which the
// seller owes Receivable. EntryIDs are the ledger entries, in the order
// posted. Voided are the payouts that were waiting for a review or a
// confirmation; Suspended those of them that a dispute outcome decided,
// whose rest Resumed pays out again (see chargeback_resume.go): a won
// chargeback pays out again what it took of them (ReverseChargeback).
type ChargebackBooking struct {
	Escrow                                 Escrow
	EscrowAmount                           decimal.Decimal
	FromHeld, ClawedBack, Loss, Receivable decimal.Decimal
	PayoutID                               *uuid.UUID
	EntryIDs                               []uuid.UUID
	Voided, Suspended, Resumed             []Payout
}

// ApplyChargeback books money the PSP took back for an escrow:
//
//	escrow.chargeback      debit escrow:<id>                  credit cash:psp:<CUR>  (money still held)
//	chargeback.clawback    debit seller:<s>:payable:<CUR>,
//	                       debit chargeback:loss:<CUR>        credit cash:psp:<CUR>  (money already released)
//	chargeback.receivable  debit receivable:seller:<s>:<CUR>  credit chargeback:loss:<CUR>
//
// A chargeback in a currency X the escrow was funded in through FX (the
// PSP captured X and takes X back) is converted to the escrow's currency
// at the rate of those fundings (chargebackInEscrowCurrency), and that
// amount is booked as above except that fx:<CUR> takes the place of
// cash:psp:<CUR>; then the PSP's X comes back out of the clearing account
// (chargebackConversion):
//
//	chargeback.conversion  debit fx:<X>                       credit cash:psp:<X>
//
// The held part is recorded as a refund payout with trigger "chargeback"
// (the money went back to the buyer through the card network), so the
// escrow's totals stay in step with its account. The clawback takes from
// the seller's payable balance at most what the escrow released to the
// seller; the shortfall is a loss, owed back by the seller up to what it
// was paid. Payouts waiting for a review or a confirmation are voided
// first; what the chargeback leaves of a dispute outcome's payouts among
// them is paid out again (chargeback_resume.go), as what it leaves of a
// cancellation's or expiry's refund is. A dispute's coverage waiting for
// review is the disputes package's: it voids it before calling this
// (VoidCoverage), so the recovery's hold on the seller's payable is
// released before the clawback reads it. The escrow keeps its state: the
// chargeback may still be won.
func (s *Service) ApplyChargeback(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, in ChargebackInput, now time.Time) (ChargebackBooking, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return ChargebackBooking{}, err
	}
	if !Allowed(e.State, ActChargeback) {
		return ChargebackBooking{}, fmt.Errorf("escrow %s: %w", e.ID, &InvalidStateError{State: e.State, Action: ActChargeback})
	}
	amount, err := chargebackInEscrowCurrency(ctx, tx, e, in)
	if err != nil {
		return ChargebackBooking{}, err
	}
	if most := e.Funded.Sub(in.ChargedBefore); amount.GreaterThan(most) {
		what := fmtAmount(amount, e.Currency)
		// Unreachable with each currency capped at what was captured in
		// it, unless chargebacks stored before that cap (in the escrow's
		// currency, of money an FX funding brought) took it already.
		if in.Currency != e.Currency {
			what = fmt.Sprintf("%s %s, %s %s at the rate of the escrow's fundings in %s,", fmtAmount(in.Amount, in.Currency), in.Currency, what, e.Currency, in.Currency)
		}
		return ChargebackBooking{}, valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("%s exceeds the %s captured for the escrow and not charged back yet",
			what, fmtAmount(most, e.Currency)))
	}
	// The card network has paid the buyer: a payout still waiting for a
	// review or a confirmation would pay the same money again (a refund)
	// or pay the seller money the chargeback takes (a release). Voiding
	// them puts their holds back into what the chargeback takes from.
	voided, err := s.voidPending(ctx, tx, &e, "superseded by chargeback "+in.PSPRef, now)
	if err != nil {
		return ChargebackBooking{}, err
	}
	cur := e.Currency
	out := ChargebackBooking{EscrowAmount: amount, FromHeld: decimal.Min(amount, e.Held()), ClawedBack: decimal.Zero, Loss: decimal.Zero, Receivable: decimal.Zero, Voided: voided}
	// The account the escrow's currency goes to: the PSP's cash, or for
	// a chargeback in another currency the FX clearing account, which
	// gives that currency back to the PSP's cash (chargebackConversion).
	var to ledger.Account
	if in.Currency == cur {
		to, err = s.account(ctx, tx, tenant, "cash:psp:"+cur, cur, ledger.KindAsset, HotShards, now)
	} else {
		to, err = fx.Clearing(ctx, tx, tenant, cur, now)
	}
	if err != nil {
		return ChargebackBooking{}, err
	}
	taken := decimal.Zero // order money the chargeback takes from the escrow account
	if out.FromHeld.IsPositive() {
		p, err := s.chargebackPayout(ctx, tx, &e, out.FromHeld, to, in, now)
		if err != nil {
			return ChargebackBooking{}, err
		}
		out.PayoutID, taken = &p.ID, p.OrderAmount
		out.EntryIDs = append(out.EntryIDs, *p.EntryID)
	}
	if rest := amount.Sub(out.FromHeld); rest.IsPositive() {
		if err := s.clawBack(ctx, tx, e, in, rest, to, &out, now); err != nil {
			return ChargebackBooking{}, err
		}
	}
	if in.Currency != cur {
		id, err := s.chargebackConversion(ctx, tx, e, in, amount, now)
		if err != nil {
			return ChargebackBooking{}, err
		}
		out.EntryIDs = append(out.EntryIDs, id)
	}
	// A dispute outcome whose payouts were voided above still stands:
	// what the chargeback did not take is paid out again as decided
	// (chargeback_resume.go), unless another claim is open or the escrow
	// is closed (resumable).
	if ps := outcomePayouts(voided); len(ps) > 0 {
		ok, err := resumable(ctx, tx, e)
		if err != nil {
			return ChargebackBooking{}, err
		}
		if ok {
			took := takenFrom(ps, taken)
			out.Suspended = ps
			if out.Resumed, err = s.resumeOutcome(ctx, tx, &e, ps, func(p Payout) decimal.Decimal { return p.OrderAmount.Sub(took[p.ID]) }, now); err != nil {
				return ChargebackBooking{}, err
			}
		}
	}
	// A cancellation or expiry whose refund was voided above still
	// stands: what is left goes back to the buyer as it would have, or
	// the escrow closes when nothing is.
	if trigger := voidedClosing(voided); trigger != "" {
		reason := "rest of the " + trigger + " after chargeback " + in.PSPRef
		if closingTrigger(e.State) != "" { // closed already: an expiry closes before its refund is through
			err = s.refundClosed(ctx, tx, &e, reason, now)
		} else {
			e.State = closedBy[trigger]
			_, err = s.returnAll(ctx, tx, &e, trigger, reason, now)
		}
		if err != nil {
			return ChargebackBooking{}, err
		}
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return ChargebackBooking{}, err
	}
	out.Escrow = e
	return out, nil
}

// voidedClosing is the trigger (closedBy) of a refund among ps that would
// have closed its escrow, "" if none.
func voidedClosing(ps []Payout) string {
	for _, p := range ps {
		if _, ok := closedBy[p.Trigger]; ok && p.Kind == KindRefund {
			return p.Trigger
		}
	}
	return ""
}

// chargebackPayout takes g from the escrow account to cash (cash:psp, or
// the FX clearing account: see ApplyChargeback) as a completed refund
// payout. g is order money plus the buyer's fee part on it: when g is
// everything a fully funded escrow holds it is all the open order money
// and what is left of the buyer's fee; part of it splits in
// proportion, the order part g × amount / (amount + buyer fee) rounded
// half-even to the minor unit and the remainder the buyer's fee part. An
// escrow still awaiting the rest of its funding holds order money first,
// as Claimable and dispute refunds count it: there g is order money up to
// what is open (its open order money was never all paid).
func (s *Service) chargebackPayout(ctx context.Context, tx pgx.Tx, e *Escrow, g decimal.Decimal, cash ledger.Account, in ChargebackInput, now time.Time) (Payout, error) {
	open := e.OrderOpen()
	x := open
	switch {
	case e.FundedAt == nil:
		x = decimal.Min(g, open)
	case !g.Equal(e.Held()):
		x = decimal.Min(e.OrderShare(g), open)
	}
	bp := g.Sub(x)
	if left := decimal.Max(e.BuyerFee.Sub(e.BuyerFeeParts), decimal.Zero); bp.GreaterThan(left) {
		bp, x = left, g.Sub(left)
	}
	if x.GreaterThan(open) || x.IsNegative() || bp.IsNegative() { // assertions: a split cannot do this
		return Payout{}, fmt.Errorf("escrow %s: chargeback of %s does not split into order money (%s open) and buyer fee", e.ID, g, open)
	}
	_, sp := feeParts(*e, x, open, e.BuyerFeeParts, e.SellerFeeParts)
	p := Payout{ID: uuid.New(), TenantID: e.TenantID, EscrowID: e.ID, Kind: KindRefund, Trigger: TriggerChargeback,
		OrderAmount: x, Gross: g, Fee: decimal.Zero, BuyerFeePart: bp, SellerFeePart: sp, Net: g, Allocation: allocateBackward(*e, x),
		Status: StatusCompleted, Reason: "chargeback " + in.PSPRef, CreatedAt: now, UpdatedAt: now}
	en, err := ledger.Post(ctx, tx, ledger.Entry{TenantID: e.TenantID, Kind: "escrow.chargeback", Reference: "escrow:" + e.ID.String() + ":payout:" + p.ID.String(),
		Description: "chargeback of order " + e.OrderRef, EffectiveAt: now, CreatedAt: now,
		Metadata: map[string]string{"escrow_id": e.ID.String(), "payout_id": p.ID.String(), "chargeback_id": in.ChargebackID.String(), "psp_ref": in.PSPRef},
		Postings: []ledger.Posting{
			{AccountID: e.AccountID, Direction: ledger.SideDebit, Amount: g, Currency: e.Currency},
			{AccountID: cash.ID, Direction: ledger.SideCredit, Amount: g, Currency: e.Currency},
		}})
	if err != nil {
		return Payout{}, fmt.Errorf("escrow %s: chargeback: %w", e.ID, err)
	}
	p.EntryID = &en.ID
	e.applyPayout(p, +1)
	if err := insertPayout(ctx, tx, p); err != nil {
		return Payout{}, err
	}
	return p, nil
}

// clawBack covers rest, money the escrow no longer holds, from the
// seller's payable balance and books the shortfall as a loss with a
// receivable from the seller, crediting cash (cash:psp, or the FX clearing
// account: see ApplyChargeback).
func (s *Service) clawBack(ctx context.Context, tx pgx.Tx, e Escrow, in ChargebackInput, rest decimal.Decimal, cash ledger.Account, out *ChargebackBooking, now time.Time) error {
	cur, ten := e.Currency, e.TenantID
	var releasedNet decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT COALESCE(sum(net), 0) FROM escrow_payouts WHERE escrow_id = $1 AND kind = 'release' AND status = 'completed'`,
		e.ID).Scan(&releasedNet); err != nil {
		return fmt.Errorf("escrow %s: released: %w", e.ID, err)
	}
	owed := decimal.Max(releasedNet.Sub(in.ClawedBefore), decimal.Zero) // what the seller got and may be asked back
	payable, err := s.account(ctx, tx, ten, sellerPayableCode(e.Seller.ID, cur), cur, ledger.KindLiability, PartyShards, now)
	if err != nil {
		return err
	}
	bal, err := ledger.GetBalance(ctx, tx, ten, payable.ID)
	if err != nil {
		return fmt.Errorf("escrow %s: seller payable: %w", e.ID, err)
	}
	out.ClawedBack = decimal.Min(decimal.Min(rest, owed), decimal.Max(bal.Available, decimal.Zero))
	out.Loss = rest.Sub(out.ClawedBack)
	out.Receivable = decimal.Min(out.Loss, owed.Sub(out.ClawedBack))
	postings := []ledger.Posting{{AccountID: cash.ID, Direction: ledger.SideCredit, Amount: rest, Currency: cur}}
	if out.ClawedBack.IsPositive() {
		postings = append(postings, ledger.Posting{AccountID: payable.ID, Direction: ledger.SideDebit, Amount: out.ClawedBack, Currency: cur})
	}
	var loss ledger.Account
	if out.Loss.IsPositive() {
		if loss, err = s.account(ctx, tx, ten, chargebackLossCode(cur), cur, ledger.KindExpense, 1, now); err != nil {
			return err
		}
		postings = append(postings, ledger.Posting{AccountID: loss.ID, Direction: ledger.SideDebit, Amount: out.Loss, Currency: cur})
	}
	meta := map[string]string{"escrow_id": e.ID.String(), "chargeback_id": in.ChargebackID.String(), "psp_ref": in.PSPRef}
	ref := "chargeback:" + in.ChargebackID.String()
	en, err := ledger.Post(ctx, tx, ledger.Entry{TenantID: ten, Kind: "chargeback.clawback", Reference: ref + ":clawback",
		Description: "chargeback of released money of order " + e.OrderRef, EffectiveAt: now, CreatedAt: now, Metadata: meta, Postings: postings})
	if err != nil {
		return fmt.Errorf("escrow %s: chargeback clawback: %w", e.ID, err)
	}
	out.EntryIDs = append(out.EntryIDs, en.ID)
	if !out.Receivable.IsPositive() {
		return nil
	}
	recv, err := s.account(ctx, tx, ten, receivableCode(e.Seller.ID, cur), cur, ledger.KindAsset, 1, now)
	if err != nil {
		return err
	}
	en, err = ledger.Post(ctx, tx, ledger.Entry{TenantID: ten, Kind: "chargeback.receivable", Reference: ref + ":receivable",
		Description: "chargeback loss owed by the seller of order " + e.OrderRef, EffectiveAt: now, CreatedAt: now, Metadata: meta,
		Postings: []ledger.Posting{
			{AccountID: recv.ID, Direction: ledger.SideDebit, Amount: out.Receivable, Currency: cur},
			{AccountID: loss.ID, Direction: ledger.SideCredit, Amount: out.Receivable, Currency: cur},
		}})
	if err != nil {
		return fmt.Errorf("escrow %s: chargeback receivable: %w", e.ID, err)
	}
	out.EntryIDs = append(out.EntryIDs, en.ID)
	return nil
}

// ReverseChargeback undoes a won chargeback: its entries are reversed
// (last first) and its payout, if any, is marked reversed, so the money is
// held again. Then the decisions the chargeback interrupted go on, in
// the same transaction:
//
//	escrow when the chargeback is won                the money back
//	cancelled or expired                             refunded to the buyer (refundClosed)
//	its cancellation's or expiry's refund waiting    refunded to the buyer, same trigger (refundClosing)
//	the chargeback voided a dispute outcome's        paid out again as the outcome decided
//	payouts (suspended; not superseded)              (resumeAfterWin, chargeback_resume.go)
//	disputed                                         left held: the open claim's outcome decides it,
//	                                                 or, withdrawn, the suspended outcome (owed)
//	otherwise                                        left held for the marketplace
//
// An escrow that settled meanwhile, or whose payouts above leave money
// held or waiting, is open again (reopen); one whose payouts above leave
// nothing open settles. suspended are the ids of the outcome payouts the
// chargeback voided (ChargebackBooking.Suspended), nil when a later
// claim superseded that outcome. owed is true when the escrow is
// disputed and the suspended outcome is to be paid out again if that
// claim is withdrawn (EndDispute, OwedOutcome).
func (s *Service) ReverseChargeback(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, payoutID *uuid.UUID, entryIDs, suspended []uuid.UUID, now time.Time) (e Escrow, owed bool, err error) {
	e, err = load(ctx, tx, tenant, id, true)
	if err != nil {
		return Escrow{}, false, err
	}
	for i := len(entryIDs) - 1; i >= 0; i-- {
		if _, err := ledger.Reverse(ctx, tx, tenant, entryIDs[i], "", "", now); err != nil {
			return Escrow{}, false, fmt.Errorf("escrow %s: reverse chargeback entry: %w", e.ID, err)
		}
	}
	var reversed *Payout
	if payoutID != nil {
		p, err := loadPayout(ctx, tx, tenant, *payoutID)
		if err != nil {
			return Escrow{}, false, err
		}
		if p.Status == StatusCompleted {
			e.applyPayout(p, -1)
			p.Status = StatusReversed
			if err := setPayoutStatus(ctx, tx, p, StatusCompleted, now); err != nil {
				return Escrow{}, false, err
			}
			reversed = &p
		}
	}
	// Closed meanwhile, or being closed: the order is off, so the money
	// goes back to the buyer as the closing refund took the rest.
	if err := s.refundClosed(ctx, tx, &e, "chargeback won after the escrow was "+string(e.State), now); err != nil {
		return Escrow{}, false, err
	}
	if err := s.refundClosing(ctx, tx, &e, "chargeback won while the escrow's closing refund waits", now); err != nil {
		return Escrow{}, false, err
	}
	resumed, owed, err := s.resumeAfterWin(ctx, tx, &e, reversed, suspended, now)
	if err != nil {
		return Escrow{}, false, err
	}
	reopened, err := s.reopen(ctx, tx, &e, now)
	if err != nil {
		return Escrow{}, false, err
	}
	if open := e.State == Funded || e.State == Shipped || e.State == Delivered; len(resumed) > 0 && open && !reopened {
		if err := s.settle(ctx, tx, &e, now); err != nil {
			return Escrow{}, false, err
		}
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Escrow{}, false, err
	}
	return e, owed, nil
}

// refundClosed refunds the order money a cancelled or expired escrow
// still holds to the buyer, through the gate, as the refund that closed it
// (same trigger). The escrow stays closed whatever the gate says; money a
// review or a block keeps is moved by a refund (allowed in these states).
// Other states, or nothing held, are left alone.
func (s *Service) refundClosed(ctx context.Context, tx pgx.Tx, e *Escrow, reason string, now time.Time) error {
	trigger, held := closingTrigger(e.State), e.orderHeld()
	if trigger == "" || !held.IsPositive() {
		return nil
	}
	_, err := s.payout(ctx, tx, e, KindRefund, trigger, allocateBackward(*e, held), nil, reason, now)
	return err
}

// SettleChargeback closes the escrow after a lost chargeback when nothing
// is left open (refunded or completed, as any settlement).
func (s *Service) SettleChargeback(ctx context.Context, tx pgx.Tx, tenant, id uuid.UUID, now time.Time) (Escrow, error) {
	e, err := load(ctx, tx, tenant, id, true)
	if err != nil {
		return Escrow{}, err
	}
	switch e.State {
	case Funded, Shipped, Delivered:
	default:
		return e, nil
	}
	if err := s.settle(ctx, tx, &e, now); err != nil {
		return Escrow{}, err
	}
	if err := save(ctx, tx, &e, now); err != nil {
		return Escrow{}, err
	}
	return e, nil
}
