package escrow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/valid"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/risk"
)

// ReleaseResult is the answer to a release: the payout with its risk
// decision, and the escrow after it.
type ReleaseResult struct {
	Release Payout
	Escrow  Escrow
	// CodeRejected is set when a step-up confirmation code was wrong; the
	// attempt is recorded and AttemptsLeft says how many remain.
	CodeRejected bool
	AttemptsLeft int
}

// ResourceID names the payout for the audit log.
func (r ReleaseResult) ResourceID() string { return r.Release.ID.String() }

// AcceptResult is the answer to an acceptance: the release of every open
// milestone (releaseAllOpen), none when nothing was open.
type AcceptResult struct {
	Releases []Payout
	Escrow   Escrow
}

// ResourceID names the escrow for the audit log.
func (r AcceptResult) ResourceID() string { return r.Escrow.ID.String() }

// RefundResult is the answer to a refund.
type RefundResult struct {
	Refund Payout
	Escrow Escrow
}

// ResourceID names the escrow for the audit log.
func (r RefundResult) ResourceID() string { return r.Escrow.ID.String() }

// Release releases one milestone, an amount of order money, or (neither)
// everything open, to the seller, through the risk gate. A blocked release
// commits its decision and answers with status blocked (nothing moves).
func (s *Service) Release(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req ReleaseRequest) (ReleaseResult, error) {
	var p Payout
	ctx = s.WithRiskFeatures(ctx, tenant, id)
	return act(ctx, s, tenant, id, ifMatch, ActRelease, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		alloc, idx, err := releaseAllocation(*e, req)
		if err != nil {
			return err
		}
		p, err = s.payout(ctx, tx, e, KindRelease, "manual", alloc, idx, "", now)
		return err
	}, func(e Escrow) ReleaseResult { return ReleaseResult{Release: p, Escrow: e} })
}

// releaseAllocation picks the order money a release covers.
func releaseAllocation(e Escrow, req ReleaseRequest) ([]Allocation, *int, error) {
	switch {
	case req.Milestone != nil && req.Amount != nil:
		return nil, nil, valid.Field("milestone", "give a milestone or an amount, not both")
	case req.Milestone != nil:
		i := *req.Milestone
		if i < 0 || i >= len(e.Milestones) {
			return nil, nil, valid.Field("milestone", fmt.Sprintf("must be 0..%d", len(e.Milestones)-1))
		}
		open := e.Milestones[i].Open()
		if !open.IsPositive() {
			return nil, nil, valid.FieldCode(codeAmountMismatch, "milestone", fmt.Sprintf("milestone %d has nothing left to release (%s)", i, e.Milestones[i].State()))
		}
		return []Allocation{{Index: i, Amount: open}}, &i, nil
	case req.Amount != nil:
		x, err := parseAmount("amount", *req.Amount, e.Currency)
		if err != nil {
			return nil, nil, err
		}
		if x.GreaterThan(e.OrderOpen()) {
			return nil, nil, valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("%s exceeds the %s held for release", fmtAmount(x, e.Currency), fmtAmount(e.OrderOpen(), e.Currency)))
		}
		return allocateForward(e, x), nil, nil
	}
	if !e.OrderOpen().IsPositive() {
		return nil, nil, fmt.Errorf("escrow %s: %w", e.ID, ErrNothingToRelease)
	}
	return allocateForward(e, e.OrderOpen()), nil, nil
}

// allocateForward spreads x over the open milestones, first to last.
func allocateForward(e Escrow, x decimal.Decimal) []Allocation {
	var out []Allocation
	for _, m := range e.Milestones {
		if !x.IsPositive() {
			break
		}
		take := decimal.Min(m.Open(), x)
		if take.IsPositive() {
			out = append(out, Allocation{Index: m.Index, Amount: take})
			x = x.Sub(take)
		}
	}
	return out
}

// allocateBackward spreads y over the open milestones, last to first
// (refunds take from the parts furthest from delivery).
func allocateBackward(e Escrow, y decimal.Decimal) []Allocation {
	var out []Allocation
	for i := len(e.Milestones) - 1; i >= 0 && y.IsPositive(); i-- {
		take := decimal.Min(e.Milestones[i].Open(), y)
		if take.IsPositive() {
			out = append(out, Allocation{Index: i, Amount: take})
			y = y.Sub(take)
		}
	}
	return out
}

// Refund returns order money not yet released to the buyer (with the
// buyer's part of the fee on it), through the risk gate. A full refund of
// everything held ends in refunded.
func (s *Service) Refund(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req RefundRequest) (RefundResult, error) {
	var errs valid.Errors
	reason := reasonField(&errs, req.Reason, true)
	if err := errs.Err(); err != nil {
		return RefundResult{}, err
	}
	var p Payout
	ctx = s.WithRiskFeatures(ctx, tenant, id)
	return act(ctx, s, tenant, id, ifMatch, ActRefund, func(tx pgx.Tx, e *Escrow, now time.Time) error {
		y, err := parseAmount("amount", req.Amount, e.Currency)
		if err != nil {
			return err
		}
		if y.GreaterThan(e.OrderOpen()) {
			return valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("%s exceeds the %s not yet released", fmtAmount(y, e.Currency), fmtAmount(e.OrderOpen(), e.Currency)))
		}
		p, err = s.payout(ctx, tx, e, KindRefund, "manual", allocateBackward(*e, y), nil, reason, now)
		return err
	}, func(e Escrow) RefundResult { return RefundResult{Refund: p, Escrow: e} })
}

// Accept is the buyer's acceptance: every open milestone is released.
func (s *Service) Accept(ctx context.Context, tenant, id uuid.UUID, ifMatch int64) (AcceptResult, error) {
	var ps []Payout
	ctx = s.WithRiskFeatures(ctx, tenant, id)
	return act(ctx, s, tenant, id, ifMatch, ActAccept, func(tx pgx.Tx, e *Escrow, now time.Time) (err error) {
		ps, err = s.releaseAllOpen(ctx, tx, e, "accept", now)
		return err
	}, func(e Escrow) AcceptResult { return AcceptResult{Releases: ps, Escrow: e} })
}

// releaseAllOpen releases every open milestone in one payout, which the
// gate decides on once, on the total: the buyer's acceptance (or the
// auto-release) of an order over USD 10,000 in milestones each under it
// is one step-up, with one code (or one review), not one per milestone
// after the first, and nothing of it moves before the code. A payout of
// one milestone names it (MilestoneIdx); one of several spreads over them
// (Allocation), as a release of everything open does. None when nothing
// is open. The state set by the table applies only once everything
// settled; settle decides.
func (s *Service) releaseAllOpen(ctx context.Context, tx pgx.Tx, e *Escrow, trigger string, now time.Time) ([]Payout, error) {
	alloc := allocateForward(*e, e.OrderOpen())
	if len(alloc) == 0 {
		return nil, nil
	}
	var idx *int
	if len(alloc) == 1 {
		i := alloc[0].Index
		idx = &i
	}
	p, err := s.payout(ctx, tx, e, KindRelease, trigger, alloc, idx, "", now)
	if err != nil {
		return nil, err
	}
	return []Payout{p}, nil
}

// Cancel cancels an escrow: before funding it is cancelled at once (any
// partial funding refunded); after funding and before shipping everything is
// refunded, then it is cancelled.
func (s *Service) Cancel(ctx context.Context, tenant, id uuid.UUID, ifMatch int64, req CancelRequest) (RefundResult, error) {
	var errs valid.Errors
	reason := reasonField(&errs, req.Reason, true)
	if err := errs.Err(); err != nil {
		return RefundResult{}, err
	}
	var p Payout
	ctx = s.WithRiskFeatures(ctx, tenant, id)
	return act(ctx, s, tenant, id, ifMatch, ActCancel, func(tx pgx.Tx, e *Escrow, now time.Time) (err error) {
		p, err = s.returnAll(ctx, tx, e, "cancel", reason, now)
		return err
	}, func(e Escrow) RefundResult { return RefundResult{Refund: p, Escrow: e} })
}

// closedBy maps the trigger of a refund that closes its escrow to the
// state the escrow closes in. The trigger is the name of the action that
// asked for the refund (settleAfter checks the action against the table).
var closedBy = map[string]State{string(ActCancel): Cancelled, string(ActExpire): Expired}

// closingTrigger is the trigger of the refunds that close an escrow in
// state s, "" for a state no refund closes in.
func closingTrigger(s State) string {
	for trigger, to := range closedBy {
		if to == s {
			return trigger
		}
	}
	return ""
}

// refuseWhileClosing refuses action a (heldByClosing) with
// ErrPayoutsPending while a refund of e that closes it waits for the gate.
func refuseWhileClosing(ctx context.Context, tx pgx.Tx, e Escrow, a Action) error {
	id, trigger, ok, err := waitingClosingRefund(ctx, tx, e)
	if err != nil || !ok {
		return err
	}
	return fmt.Errorf("escrow %s: cannot %s while %s refund %s waits for a decision: %w", e.ID, a, trigger, id, ErrPayoutsPending)
}

// returnAll refunds every unit the escrow holds (partial funding included)
// and leaves the escrow in the state the table set when the refund went
// through, or in its previous state while the refund waits for the gate.
func (s *Service) returnAll(ctx context.Context, tx pgx.Tx, e *Escrow, trigger, reason string, now time.Time) (Payout, error) {
	if e.Pending.IsPositive() {
		return Payout{}, fmt.Errorf("escrow %s: %s: %w", e.ID, trigger, ErrPayoutsPending)
	}
	to := e.State
	if !e.Held().IsPositive() {
		e.ClosedAt = &now
		if err := jobs.Cancel(ctx, tx, JobExpire, e.ID.String(), now); err != nil {
			return Payout{}, err
		}
		e.announce("escrow."+string(to), map[string]any{"reason": reason})
		return Payout{}, nil
	}
	// Order money covered by what was funded, taken from the last milestones.
	p, err := s.payout(ctx, tx, e, KindRefund, trigger, allocateBackward(*e, e.orderHeld()), nil, reason, now)
	if err != nil {
		return Payout{}, err
	}
	if p.Status == StatusCompleted {
		e.State, e.ClosedAt = to, &now
		if err := jobs.Cancel(ctx, tx, JobExpire, e.ID.String(), now); err != nil {
			return Payout{}, err
		}
		e.announce("escrow."+string(to), map[string]any{"reason": reason})
		return p, nil
	}
	// The refund waits for the gate: the escrow stays funded (or
	// awaiting_funding) until it completes (settleAfter closes it then).
	e.State = AwaitingFunding
	if e.FundedAt != nil {
		e.State = Funded
	}
	return p, nil
}

// payout moves order money (alloc) out of the escrow: to the seller (a
// release, minus the seller's fee part, the fee to revenue) or to the buyer
// (a refund, with the buyer's fee part). It asks the risk gate first:
// approve posts the ledger entry; review and step_up post a pending entry
// (a hold) that a reviewer or the buyer's code later commits or voids;
// block moves nothing. The payout and its decision are stored either way.
func (s *Service) payout(ctx context.Context, tx pgx.Tx, e *Escrow, kind, trigger string, alloc []Allocation, idx *int, reason string, now time.Time) (Payout, error) {
	x := decimal.Zero
	for _, a := range alloc {
		x = x.Add(a.Amount)
	}
	bp, sp := feeParts(*e, x, e.OrderOpen(), e.BuyerFeeParts, e.SellerFeeParts)
	// What the buyer paid on top for order money not funded yet is not held.
	bp = decimal.Min(bp, e.Held().Sub(x))
	if bp.IsNegative() {
		bp = decimal.Zero
	}
	p := Payout{ID: uuid.New(), TenantID: e.TenantID, EscrowID: e.ID, Kind: kind, Trigger: trigger, MilestoneIdx: idx,
		OrderAmount: x, BuyerFeePart: bp, SellerFeePart: sp, Allocation: alloc, Reason: reason, CreatedAt: now, UpdatedAt: now}
	p.Gross = x.Add(bp)
	if kind == KindRelease {
		sp = decimal.Min(sp, x)
		p.SellerFeePart = sp
		p.Fee, p.Net = bp.Add(sp), x.Sub(sp)
	} else {
		// The seller's fee on refunded order money is waived, but counted
		// as settled so later remainders stay right.
		p.Fee, p.Net = decimal.Zero, p.Gross
	}
	if !p.Gross.IsPositive() {
		return Payout{}, fmt.Errorf("escrow %s: %w", e.ID, ErrNothingToRelease)
	}
	if p.Gross.GreaterThan(e.Held()) {
		return Payout{}, valid.FieldCode(codeAmountMismatch, "amount", fmt.Sprintf("%s exceeds the %s held", fmtAmount(p.Gross, e.Currency), fmtAmount(e.Held(), e.Currency)))
	}
	op, payee := risk.OperationRelease, e.Seller.ID
	if kind == KindRefund {
		op, payee = risk.OperationRefund, e.Buyer.ID
	}
	recent, err := recentPayouts(ctx, tx, e, kind, now)
	if err != nil {
		return Payout{}, err
	}
	d, err := s.Gate.Decide(ctx, tx, risk.GateInput{TenantID: e.TenantID, Operation: op, SubjectType: kind, SubjectID: p.ID, EscrowID: e.ID,
		Amount: p.Gross, Currency: e.Currency, EscrowPayouts: recent, Buyer: riskParty(e.Buyer), Seller: riskParty(e.Seller), Payee: payee,
		RiskContext: actingContext(*e, kind), Features: features(ctx), Unattended: unattended(trigger)}, now)
	if err != nil {
		return Payout{}, fmt.Errorf("escrow %s: risk gate: %w", e.ID, err)
	}
	p.DecisionID = &d.ID
	p.Risk = summary(d)
	entry, err := s.payoutEntry(ctx, tx, e, p, now)
	if err != nil {
		return Payout{}, err
	}
	switch d.Outcome {
	case risk.OutcomeApprove:
		posted, err := ledger.Post(ctx, tx, entry)
		if err != nil {
			return Payout{}, fmt.Errorf("escrow %s: %s: %w", e.ID, kind, err)
		}
		p.Status, p.EntryID = StatusCompleted, &posted.ID
		e.applyPayout(p, +1)
	case risk.OutcomeReview, risk.OutcomeStepUp:
		if d.Outcome == risk.OutcomeReview {
			p.Status, p.ReviewID = StatusPendingReview, d.ReviewID
		} else if err := awaitConfirmation(ctx, tx, &p, now); err != nil {
			return Payout{}, err
		}
		pending, err := ledger.PostPending(ctx, tx, entry)
		if err != nil {
			return Payout{}, fmt.Errorf("escrow %s: %s hold: %w", e.ID, kind, err)
		}
		p.EntryID = &pending.ID
		e.holdPayout(p, +1)
	default:
		p.Status = StatusBlocked
	}
	if err := insertPayout(ctx, tx, p); err != nil {
		return Payout{}, err
	}
	e.announcePayout(p, d)
	return p, nil
}

// maxRecentPayouts bounds the payouts recentPayouts adds up.
const maxRecentPayouts = 1000

// recentPayouts is the gross of e's payouts of kind completed within
// risk.PayoutsWindow before now or waiting for a review or the buyer's
// code (risk.GateInput.EscrowPayouts), in the escrow's currency: the gate
// adds the payout it decides on, so that a transfer split into parts (by
// amount, or milestone by milestone) is stepped up or reviewed as a whole.
// Payouts of the same action count too: their inserts are held back
// (insertPayout) and go before this read. The read is in the action's
// transaction, not in the snapshot read before it (WithRiskFeatures), which
// a concurrent payout of the escrow, or a retry, would leave stale; it
// reads only this escrow's payouts, whose row the action has locked. It
// costs nothing for the escrow's first payout of kind (nothing paid, nothing
// pending). A chargeback's refund does not count: the card network paid
// the buyer, not escrow, and it never passed the gate. Past
// maxRecentPayouts rows it gives what e paid out by kind in all, plus all
// it holds pending: more, never less.
func recentPayouts(ctx context.Context, tx pgx.Tx, e *Escrow, kind string, now time.Time) (decimal.Decimal, error) {
	paid := e.Released
	if kind == KindRefund {
		paid = e.Refunded
	}
	if !paid.IsPositive() && !e.Pending.IsPositive() {
		return decimal.Zero, nil
	}
	var n int64
	var sum decimal.Decimal
	err := tx.QueryRow(ctx, `
		SELECT count(*), COALESCE(sum(gross), 0) FROM (SELECT gross FROM escrow_payouts
			WHERE escrow_id = $1 AND kind = $2 AND (status IN ($3, $4) OR (status = $5 AND updated_at > $6)) AND trigger <> $7
			LIMIT $8) AS p`,
		e.ID, kind, StatusPendingReview, StatusAwaitingConfirmation, StatusCompleted, now.Add(-risk.PayoutsWindow), TriggerChargeback,
		maxRecentPayouts).Scan(&n, &sum)
	if err != nil {
		return decimal.Zero, fmt.Errorf("escrow %s: recent %s payouts: %w", e.ID, kind, err)
	}
	if n >= maxRecentPayouts {
		return paid.Add(e.Pending), nil
	}
	return sum, nil
}

// awaitConfirmation makes p, whose ledger entry is pending, wait for the
// buyer's step-up code (the challenge the gate opened): status
// awaiting_confirmation, and voided by HandleConfirmationTimeout unless
// confirmed within ConfirmationTimeout. A step_up outcome comes here, and
// so does an approved review whose decision still owes the step-up
// (resolve).
func awaitConfirmation(ctx context.Context, tx pgx.Tx, p *Payout, now time.Time) error {
	p.Status = StatusAwaitingConfirmation
	return jobs.Schedule(ctx, tx, jobs.Job{TenantID: p.TenantID, Kind: JobConfirmationTimeout, DedupeKey: p.ID.String(),
		RunAt: now.Add(ConfirmationTimeout), Payload: payoutJobPayload(p.TenantID, p.ID)}, now)
}

// unattended reports whether a payout of trigger was asked for by nobody
// at the time (the auto-release after the inspection window, a dispute
// outcome): the buyer is not there to confirm it with a step-up code.
func unattended(trigger string) bool { return trigger == TriggerAuto || trigger == TriggerDispute }

// buyerConfirms reports whether the buyer can confirm p with a step-up
// code: a release the buyer is there for.
func buyerConfirms(p Payout) bool { return p.Kind == KindRelease && !unattended(p.Trigger) }

// payoutEntry is the ledger entry of a payout: the escrow account debited
// the gross; the payee's payable account credited the net; fees credited.
func (s *Service) payoutEntry(ctx context.Context, tx pgx.Tx, e *Escrow, p Payout, now time.Time) (ledger.Entry, error) {
	cur := e.Currency
	var payee ledger.Account
	var err error
	if p.Kind == KindRelease {
		payee, err = s.account(ctx, tx, e.TenantID, "seller:"+e.Seller.ID+":payable:"+cur, cur, ledger.KindLiability, PartyShards, now)
	} else {
		payee, err = s.account(ctx, tx, e.TenantID, "buyer:"+e.Buyer.ID+":refund:"+cur, cur, ledger.KindLiability, PartyShards, now)
	}
	if err != nil {
		return ledger.Entry{}, err
	}
	postings := []ledger.Posting{{AccountID: e.AccountID, Direction: ledger.SideDebit, Amount: p.Gross, Currency: cur}}
	if p.Net.IsPositive() {
		postings = append(postings, ledger.Posting{AccountID: payee.ID, Direction: ledger.SideCredit, Amount: p.Net, Currency: cur})
	}
	if p.Fee.IsPositive() {
		fees, err := s.account(ctx, tx, e.TenantID, "fees:"+cur, cur, ledger.KindRevenue, HotShards, now)
		if err != nil {
			return ledger.Entry{}, err
		}
		postings = append(postings, ledger.Posting{AccountID: fees.ID, Direction: ledger.SideCredit, Amount: p.Fee, Currency: cur})
	}
	return ledger.Entry{TenantID: e.TenantID, Kind: "escrow." + p.Kind, Reference: "escrow:" + e.ID.String() + ":payout:" + p.ID.String(),
		Description: p.Kind + " for order " + e.OrderRef, EffectiveAt: now, CreatedAt: now,
		Metadata: map[string]string{"escrow_id": e.ID.String(), "payout_id": p.ID.String(), "trigger": p.Trigger},
		Postings: postings}, nil
}

// applyPayout books a completed payout on the escrow's totals (sign +1) .
func (e *Escrow) applyPayout(p Payout, sign int64) {
	e.countFeeParts(p, sign)
	g := p.Gross.Mul(decimal.NewFromInt(sign))
	if p.Kind == KindRelease {
		e.Released = e.Released.Add(g)
	} else {
		e.Refunded = e.Refunded.Add(g)
	}
	e.FeeCollect = e.FeeCollect.Add(p.Fee.Mul(decimal.NewFromInt(sign)))
	for _, a := range p.Allocation {
		m := &e.Milestones[a.Index]
		if p.Kind == KindRelease {
			m.Released = m.Released.Add(a.Amount.Mul(decimal.NewFromInt(sign)))
		} else {
			m.Refunded = m.Refunded.Add(a.Amount.Mul(decimal.NewFromInt(sign)))
		}
	}
}

// countFeeParts adds (+1) or takes back (-1) p's fee parts: a payout's
// count while it is completed or holds money pending a decision.
func (e *Escrow) countFeeParts(p Payout, sign int64) {
	s := decimal.NewFromInt(sign)
	e.BuyerFeeParts = e.BuyerFeeParts.Add(p.BuyerFeePart.Mul(s))
	e.SellerFeeParts = e.SellerFeeParts.Add(p.SellerFeePart.Mul(s))
}

// holdPayout books (+1) or releases (-1) a pending payout's hold.
func (e *Escrow) holdPayout(p Payout, sign int64) {
	e.countFeeParts(p, sign)
	e.Pending = e.Pending.Add(p.Gross.Mul(decimal.NewFromInt(sign)))
	for _, a := range p.Allocation {
		m := &e.Milestones[a.Index]
		m.Pending = m.Pending.Add(a.Amount.Mul(decimal.NewFromInt(sign)))
	}
}

// settle closes an escrow whose order money is all paid out: completed when
// something was released, cancelled or expired when the last refund came
// from a cancellation or an expiry, refunded otherwise.
func (s *Service) settle(ctx context.Context, tx pgx.Tx, e *Escrow, now time.Time) error {
	switch e.State {
	case Funded, Shipped, Delivered, Completed:
	default:
		return nil
	}
	if e.OrderOpen().IsPositive() || e.Pending.IsPositive() {
		if e.State == Completed { // accept or auto-release still waiting on the gate
			e.State = Delivered
		}
		return nil
	}
	to := Refunded
	if e.Released.IsPositive() {
		to = Completed
	}
	// The auto-release job, if any, finds the escrow closed and does
	// nothing (HandleAutoRelease); see Fund for why it is not cancelled.
	e.State, e.ClosedAt = to, &now
	if to == Refunded && e.announced("escrow.refunded") {
		return nil // the refund that closed it said so (announce)
	}
	e.announce("escrow."+string(to), nil)
	return nil
}

// actingContext is the risk context of the party acting on a payout of
// kind. The escrow's context is the buyer's session when it was opened:
// it describes the buyer acting on a release, but not the seller acting
// on a refund, so a refund's context leaves out the buyer's location (ip,
// country, device_country), which would otherwise be compared with the
// seller's country (ip_country_mismatch on every cross-border refund).
func actingContext(e Escrow, kind string) map[string]string {
	if kind != KindRefund {
		return e.RiskContext
	}
	out := maps.Clone(e.RiskContext)
	delete(out, "ip")
	delete(out, "country")
	delete(out, "device_country")
	return out
}

func riskParty(p Party) risk.Party { return risk.Party{ID: p.ID, Name: p.Name, Country: p.Country} }

func summary(d risk.GateDecision) *RiskSummary {
	s := &RiskSummary{DecisionID: d.ID, Decision: d.Outcome, Score: d.Score}
	for _, r := range d.Reasons {
		s.Reasons = append(s.Reasons, RiskReason{Code: r.Code, Points: r.Points})
	}
	return s
}

// announcePayout announces a payout: release.completed / escrow.released,
// release.pending_review, release.confirmation_required (with the one-time
// code for the marketplace's SMS channel), release.blocked; refunds alike.
func (e *Escrow) announcePayout(p Payout, d risk.GateDecision) {
	extra := e.payoutFields(p)
	extra["risk"] = map[string]any{"decision": d.Outcome, "score": d.Score, "reasons": d.Reasons, "decision_id": d.ID}
	var types []string
	switch p.Status {
	case StatusCompleted:
		types = []string{p.Kind + ".completed", moneyEvent(p.Kind)}
	case StatusPendingReview:
		types = []string{p.Kind + ".pending_review"}
		if p.ReviewID != nil {
			extra["review_id"] = p.ReviewID
		}
	case StatusAwaitingConfirmation:
		types = []string{p.Kind + ".confirmation_required"}
		extra["code"], extra["code_expires_at"] = d.StepUpCode, d.StepUpExpiresAt
	case StatusBlocked:
		types = []string{p.Kind + ".blocked"}
	}
	for _, t := range types {
		e.announce(t, extra)
	}
}

// payoutFields are the fields every event about payout p carries.
func (e *Escrow) payoutFields(p Payout) map[string]any {
	return map[string]any{
		p.Kind + "_id": p.ID, "status": p.Status, "trigger": p.Trigger,
		"amount": fmtAmount(p.OrderAmount, e.Currency), "fee_amount": fmtAmount(p.Fee, e.Currency), "gross_amount": fmtAmount(p.Gross, e.Currency),
	}
}

// moneyEvent is the escrow event of a completed payout of kind:
// escrow.released or escrow.refunded.
func moneyEvent(kind string) string {
	if kind == KindRelease {
		return "escrow.released"
	}
	return "escrow.refunded"
}

func jobPayload(tenant, id uuid.UUID) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"tenant_id": tenant.String(), "escrow_id": id.String()})
	return b
}

func parseAmount(field, s, currency string) (decimal.Decimal, error) {
	var errs valid.Errors
	cur, ok := currencyField(&errs, "currency", currency)
	if !ok {
		return decimal.Zero, errs
	}
	d := amountField(&errs, field, s, cur, true)
	return d, errs.Err()
}
