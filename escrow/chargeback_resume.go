package escrow

// What a chargeback does to a decided outcome whose payouts wait for the
// gate. The card network paid the buyer, so ApplyChargeback voids every
// payout waiting for a review or a confirmation (voidPending) and takes
// the chargeback from the money they held. The decision behind the payouts
// of a dispute outcome (trigger "dispute") still stands, as a
// cancellation's or an expiry's does (ApplyChargeback refunds the rest of
// those):
//
//	when                       refund of the outcome           release of the outcome
//	chargeback booked          its order money less what the   its order money less what the
//	                           chargeback took of it           chargeback took of it
//	chargeback won             what the chargeback took of it  what the chargeback took of it
//	chargeback lost            nothing more                    nothing more
//
// The chargeback takes (takenFrom) from the outcome's refund first, since
// the card network paid the buyer, then from its release. Each part is
// paid out again through the gate (payout) with the voided payout's kind,
// trigger and reason, over its milestones (reallocate), so an outcome
// interrupted by a chargeback ends as the agent decided whichever way the
// card network decides: refund_full pays the buyer everything, never the
// seller. The voided outcome payouts a chargeback suspends in this way are
// stored with it (disputes: chargebacks.voided_payout_ids).
//
// While another claim is open (the escrow is disputed) nothing is paid out
// again: that claim's outcome, if it is resolved, decides all the money
// open. A claim cannot be opened while an outcome's payouts wait
// (refuseWhileOutcomeWaits), so a chargeback booked during one finds none
// to suspend. A claim withdrawn decided nothing, so when the chargeback
// is won while one is open the resume is owed (ReverseChargeback reports
// it, the disputes package keeps it on the chargeback) and EndDispute runs
// it when that claim is withdrawn. Closing refunds are not resumed here, and
// nothing is resumed in an escrow that is closed or being closed
// (resumable): the cancellation or expiry came after the outcome and
// stands, and refundClosed and refundClosing pay out what a won
// chargeback brings back; what the gate does not let through stays held
// for a refund, never released to the seller of an order called off.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// outcomePayouts are the payouts of a dispute outcome among ps (voided by
// a chargeback), refunds first.
func outcomePayouts(ps []Payout) []Payout {
	var refunds, releases []Payout
	for _, p := range ps {
		switch {
		case p.Trigger != TriggerDispute:
		case p.Kind == KindRefund:
			refunds = append(refunds, p)
		default:
			releases = append(releases, p)
		}
	}
	return append(refunds, releases...)
}

// takenFrom splits t, the order money a chargeback took from the escrow
// account, over ps (outcomePayouts: refunds first) in order, each part at
// most the payout's order money.
func takenFrom(ps []Payout, t decimal.Decimal) map[uuid.UUID]decimal.Decimal {
	out := make(map[uuid.UUID]decimal.Decimal, len(ps))
	for _, p := range ps {
		x := decimal.Max(decimal.Min(p.OrderAmount, t), decimal.Zero)
		out[p.ID] = x
		t = t.Sub(x)
	}
	return out
}

// resumeOutcome pays out again, for each voided outcome payout p of ps in
// order, amount(p) of its order money: same kind, trigger and reason,
// through the gate. Each is spread over p's milestones as p was
// (reallocate) and capped by what they have open; nothing is paid out
// for a zero part.
func (s *Service) resumeOutcome(ctx context.Context, tx pgx.Tx, e *Escrow, ps []Payout, amount func(Payout) decimal.Decimal, now time.Time) ([]Payout, error) {
	var out []Payout
	for _, p := range ps {
		alloc := reallocate(*e, p.Allocation, amount(p))
		if len(alloc) == 0 {
			continue
		}
		q, err := s.payout(ctx, tx, e, p.Kind, p.Trigger, alloc, nil, p.Reason, now)
		if err != nil {
			return nil, fmt.Errorf("escrow %s: %s of payout %s again: %w", e.ID, p.Kind, p.ID, err)
		}
		out = append(out, q)
	}
	return out, nil
}

// reallocate spreads x over the milestones of alloc in its order (a
// refund's last to first, a release's first to last), each at most its
// part in alloc and what the milestone has open.
func reallocate(e Escrow, alloc []Allocation, x decimal.Decimal) []Allocation {
	var out []Allocation
	for _, a := range alloc {
		if !x.IsPositive() {
			break
		}
		if a.Index < 0 || a.Index >= len(e.Milestones) {
			continue
		}
		take := decimal.Min(decimal.Min(a.Amount, e.Milestones[a.Index].Open()), x)
		if take.IsPositive() {
			out = append(out, Allocation{Index: a.Index, Amount: take})
			x = x.Sub(take)
		}
	}
	return out
}

// resumable reports whether a dispute outcome's payouts may be paid out
// again in e: not while a claim is open (its outcome decides), and never
// in an escrow closed or being closed by a cancellation or an expiry
// (closingTrigger, or a closing refund waiting): the order is off, and a
// release there would pay the seller for it (the table has no release in
// cancelled or expired).
func resumable(ctx context.Context, tx pgx.Tx, e Escrow) (bool, error) {
	if e.State == Disputed || closingTrigger(e.State) != "" {
		return false, nil
	}
	_, _, closing, err := waitingClosingRefund(ctx, tx, e)
	return !closing && err == nil, err
}

// refuseWhileOutcomeWaits refuses a new claim on e (OpenDispute) with
// ErrPayoutsPending while a payout of an earlier claim's outcome waits for
// a review or a confirmation, as heldByClosing does while a cancellation's
// refund waits. A chargeback booked during the new claim would void that
// payout and take its money, and with a claim open would neither pay out
// its rest again nor keep the outcome owed (resumable): once the new
// claim, which decides nothing, were withdrawn, the outcome would be lost
// and the auto-release would pay the seller what refund_full gave the
// buyer. The buyer may claim again once the payout is decided.
func refuseWhileOutcomeWaits(ctx context.Context, tx pgx.Tx, e Escrow) error {
	id, kind, ok, err := waitingOutcomePayout(ctx, tx, e)
	if err != nil || !ok {
		return err
	}
	return fmt.Errorf("escrow %s: cannot %s while %s %s of a dispute outcome waits for a decision: %w", e.ID, ActDispute, kind, id, ErrPayoutsPending)
}

// resumeAfterWin pays out again what a won chargeback took of the outcome
// payouts it had voided (suspended, their ids), now that the reversal
// (reversed, its payout; nil when it took nothing held) put the money
// back. Nothing moves while a claim is open: owed is then true, and
// EndDispute pays it out again if that claim is withdrawn (its outcome
// supersedes it if it is resolved). Nothing moves, and nothing is owed,
// in an escrow closed or being closed (resumable).
func (s *Service) resumeAfterWin(ctx context.Context, tx pgx.Tx, e *Escrow, reversed *Payout, suspended []uuid.UUID, now time.Time) (resumed []Payout, owed bool, err error) {
	if reversed == nil || len(suspended) == 0 {
		return nil, false, nil
	}
	if e.State == Disputed {
		return nil, true, nil
	}
	if ok, err := resumable(ctx, tx, *e); err != nil || !ok {
		return nil, false, err
	}
	var ps []Payout
	for _, id := range suspended {
		p, err := loadPayout(ctx, tx, e.TenantID, id)
		if err != nil {
			return nil, false, err
		}
		if p.EscrowID != e.ID {
			return nil, false, fmt.Errorf("escrow %s: suspended payout %s is of escrow %s", e.ID, p.ID, p.EscrowID)
		}
		ps = append(ps, p)
	}
	ps = outcomePayouts(ps)
	taken := takenFrom(ps, reversed.OrderAmount)
	resumed, err = s.resumeOutcome(ctx, tx, e, ps, func(p Payout) decimal.Decimal { return taken[p.ID] }, now)
	return resumed, false, err
}

// OwedOutcome is a dispute outcome a won chargeback suspended and still
// owes, because a claim was open when it was won (ReverseChargeback):
// Reversed is the chargeback's payout of held money (reversed), Suspended
// the outcome payouts it voided. EndDispute pays it out again when that
// claim is withdrawn.
type OwedOutcome struct {
	Reversed  uuid.UUID
	Suspended []uuid.UUID
}

// resumeOwed pays out again the outcomes owed (OwedOutcome) in e, which
// just left disputed, as a won chargeback would have (resumeAfterWin).
func (s *Service) resumeOwed(ctx context.Context, tx pgx.Tx, e *Escrow, owed []OwedOutcome, now time.Time) ([]Payout, error) {
	var out []Payout
	for _, o := range owed {
		r, err := loadPayout(ctx, tx, e.TenantID, o.Reversed)
		if err != nil {
			return nil, err
		}
		if r.EscrowID != e.ID || r.Status != StatusReversed {
			return nil, fmt.Errorf("escrow %s: owed outcome: payout %s of escrow %s is %s, not a reversed chargeback", e.ID, r.ID, r.EscrowID, r.Status)
		}
		ps, _, err := s.resumeAfterWin(ctx, tx, e, &r, o.Suspended, now)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// refundClosing refunds the order money e holds to the buyer while the
// refund of its cancellation or expiry waits for a review or a
// confirmation (waitingClosingRefund): a won chargeback's money that comes
// back to an escrow being closed goes where the rest went, as
// refundClosed sends it once the escrow is closed. The cancellation stays
// one decision: the waiting refund is voided (its review closed) and one
// refund of everything held, with its trigger, goes through the gate
// (returnAll), so a reviewer cannot approve one part and reject the other
// and leave the escrow half cancelled and open to shipping. Approved, it
// closes the escrow (settleAfter); rejected, the escrow is where the
// cancellation found it, holding everything. Anything else is left alone.
func (s *Service) refundClosing(ctx context.Context, tx pgx.Tx, e *Escrow, reason string, now time.Time) error {
	if !e.orderHeld().IsPositive() || closingTrigger(e.State) != "" {
		return nil
	}
	_, trigger, ok, err := waitingClosingRefund(ctx, tx, *e)
	if err != nil || !ok {
		return err
	}
	// Only the closing refund waits: release and acceptance wait for it
	// (heldByClosing), funding and cancelling for every payout.
	if _, err := s.voidPending(ctx, tx, e, "superseded: "+reason, now); err != nil {
		return err
	}
	e.State = closedBy[trigger]
	_, err = s.returnAll(ctx, tx, e, trigger, reason, now)
	return err
}
