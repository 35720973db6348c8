package disputes

// Action is something that can happen to a dispute.
type Action string

// Dispute actions.
const (
	ActOffer       Action = "offer"
	ActAcceptOffer Action = "accept_offer"
	ActRejectOffer Action = "reject_offer"
	ActEvidence    Action = "add_evidence"
	ActEscalate    Action = "escalate"
	ActDeadline    Action = "deadline" // a deadline passed: automatic escalation
	ActAssign      Action = "assign"
	ActResolve     Action = "resolve" // the agent's decision
	ActWithdraw    Action = "withdraw"
)

// transitions is the dispute state machine: for each status, the actions
// allowed in it and the status they lead to. A missing action is refused
// with an InvalidStatusError (409 invalid_state).
//
// Buyer and seller negotiate (offers, evidence); either escalates once the
// negotiation period is over (escalate checks the seller's response), or a
// deadline does; an agent then decides. An accepted offer resolves the
// dispute at any point before that. The buyer may withdraw while it is open.
var transitions = map[Status]map[Action]Status{
	Negotiating: {
		ActOffer:       Negotiating,
		ActAcceptOffer: Resolved,
		ActRejectOffer: Negotiating,
		ActEvidence:    Negotiating, // until evidence_due_at
		ActEscalate:    UnderReview,
		ActDeadline:    UnderReview,
		ActAssign:      Negotiating,
		ActWithdraw:    Withdrawn,
	},
	UnderReview: {
		ActOffer:       UnderReview,
		ActAcceptOffer: Resolved,
		ActRejectOffer: UnderReview,
		ActEvidence:    UnderReview, // until evidence_due_at
		ActAssign:      UnderReview,
		ActResolve:     Resolved,
		ActWithdraw:    Withdrawn,
	},
	Resolved:  {},
	Withdrawn: {},
}

// next returns the status action a leads to from st.
func next(st Status, a Action) (Status, error) {
	to, ok := transitions[st][a]
	if !ok {
		return "", &InvalidStatusError{Status: string(st), Action: string(a)}
	}
	return to, nil
}

// Allowed reports whether action a is allowed in status st.
func Allowed(st Status, a Action) bool {
	_, ok := transitions[st][a]
	return ok
}

// ChargebackStatus is where a chargeback is.
type ChargebackStatus string

// Chargeback statuses.
const (
	NeedsResponse         ChargebackStatus = "needs_response"
	ChargebackUnderReview ChargebackStatus = "under_review"
	Won                   ChargebackStatus = "won"
	Lost                  ChargebackStatus = "lost"
)

// ChargebackAction is something that can happen to a chargeback.
type ChargebackAction string

// Chargeback actions.
const (
	CBEvidence ChargebackAction = "add_evidence"
	CBSubmit   ChargebackAction = "submit" // the response went to the card network
	CBWin      ChargebackAction = "win"
	CBLose     ChargebackAction = "lose"
	CBExpire   ChargebackAction = "expire" // respond_by passed without a response
)

// chargebackTransitions is the chargeback state machine. Won reverses the
// chargeback's postings; lost keeps them (and settles the escrow).
var chargebackTransitions = map[ChargebackStatus]map[ChargebackAction]ChargebackStatus{
	NeedsResponse: {
		CBEvidence: NeedsResponse, // until respond_by
		CBSubmit:   ChargebackUnderReview,
		CBLose:     Lost, // accepted without a response
		CBExpire:   Lost,
	},
	ChargebackUnderReview: {
		CBWin:  Won,
		CBLose: Lost,
	},
	Won:  {},
	Lost: {},
}

func nextChargeback(st ChargebackStatus, a ChargebackAction) (ChargebackStatus, error) {
	to, ok := chargebackTransitions[st][a]
	if !ok {
		return "", &InvalidStatusError{Status: string(st), Action: string(a), Chargeback: true}
	}
	return to, nil
}
