package escrow

// Action is something that can happen to an escrow.
type Action string

// The actions.
const (
	ActFund        Action = "fund"
	ActShip        Action = "ship"
	ActDeliver     Action = "deliver"
	ActAccept      Action = "accept"
	ActRelease     Action = "release"
	ActRefund      Action = "refund"
	ActCancel      Action = "cancel"
	ActExpire      Action = "expire"
	ActAutoRelease Action = "auto_release"
	ActDispute     Action = "dispute"
	ActResolve     Action = "resolve" // a dispute outcome (the disputes package)
	ActChargeback  Action = "chargeback"
)

// Actions lists every action.
var Actions = []Action{ActFund, ActShip, ActDeliver, ActAccept, ActRelease, ActRefund, ActCancel, ActExpire, ActAutoRelease, ActDispute, ActResolve, ActChargeback}

// transitions is the escrow state machine: for each state, the actions
// allowed in it and the state they lead to. An action missing from a
// state's row is refused with ErrInvalidState.
//
// Money actions lead to the state shown, and then settle: an escrow whose
// order money is all released or refunded (nothing held, nothing pending)
// becomes completed (something was released), refunded (everything was
// refunded) or cancelled (the last payout was a cancellation). Funding
// leads to funded only once fully funded; partial funding stays
// awaiting_funding.
var transitions = map[State]map[Action]State{
	AwaitingFunding: {
		ActFund:       Funded,
		ActCancel:     Cancelled,
		ActExpire:     Expired,
		ActDispute:    Disputed,        // not_received, late_shipment only (disputes checks)
		ActChargeback: AwaitingFunding, // of a partial funding; still awaiting the rest
	},
	Funded: {
		ActShip:       Shipped,
		ActRelease:    Funded, // e.g. a deposit milestone before shipping
		ActRefund:     Funded,
		ActCancel:     Cancelled, // full refund, then cancelled
		ActDispute:    Disputed,
		ActChargeback: Funded,
	},
	Shipped: {
		ActDeliver:    Delivered,
		ActRelease:    Shipped,
		ActRefund:     Shipped,
		ActDispute:    Disputed,
		ActChargeback: Shipped,
	},
	Delivered: {
		ActAccept:      Completed,
		ActRelease:     Delivered,
		ActRefund:      Delivered,
		ActAutoRelease: Completed,
		ActDispute:     Disputed,
		ActChargeback:  Delivered,
	},
	Disputed: {
		ActResolve:    Disputed, // the outcome's payouts settle the escrow, or it returns to its state before the dispute
		ActChargeback: Disputed,
	},
	Completed: {
		ActDispute:    Disputed, // within the claim window, covered by the guarantee
		ActChargeback: Completed,
	},
	// A payment refunded by a cancellation or an expiry can still be
	// charged back by the card network, as a refunded one can. A refund
	// moves what the gate did not let through automatically: the refund
	// of money a won chargeback brought back (ReverseChargeback) or of an
	// expired escrow's partial funding (HandleExpire); nothing else is
	// held in these states.
	Cancelled: {
		ActChargeback: Cancelled,
		ActRefund:     Cancelled,
	},
	Expired: {
		ActChargeback: Expired,
		ActRefund:     Expired,
	},
	Refunded: {
		ActChargeback: Refunded,
	},
}

// heldByClosing lists the actions refused with ErrPayoutsPending while the
// refund of a cancellation or an expiry (closedBy) waits for a review or a
// confirmation, although the table allows them: the order is being called
// off, so the escrow must not move on (ship, deliver), pay the seller
// (release, accept) nor be disputed (dispute: the outcome would void the
// cancellation's refund and decide the money anew, release_full paying the
// seller for a cancelled order). Approved, the refund closes the escrow
// (settleAfter); rejected, it leaves the escrow where it was, and these
// are allowed again. Fund and cancel wait for every pending payout, not
// only these. The auto-release is not listed: it runs in delivered, where
// no closing refund waits, and releases only open money, of which a
// closing refund leaves none. A chargeback is not listed either: the card
// network took the money already, and ApplyChargeback keeps the
// cancellation standing.
var heldByClosing = map[Action]bool{ActShip: true, ActDeliver: true, ActRelease: true, ActAccept: true, ActDispute: true}

// next returns the state action leads to from s, or ErrInvalidState.
func next(s State, a Action) (State, error) {
	to, ok := transitions[s][a]
	if !ok {
		return "", &InvalidStateError{State: s, Action: a}
	}
	return to, nil
}

// Allowed reports whether action a is allowed in state s.
func Allowed(s State, a Action) bool {
	_, ok := transitions[s][a]
	return ok
}
