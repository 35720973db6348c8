package disputes_test

import (
	"errors"
	"github.com/escrowd/escrowd/internal/valid"
	"testing"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
)

var photo = disputes.EvidenceRequest{Party: disputes.PartyBuyer, Kind: "photo", Description: "torn seam",
	URI: "https://files.example/1.jpg", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}

// TestDeadlinesEscalate drives the deadline jobs with the fake clock: a
// seller who does not respond in time, and a negotiation that does not end
// by the escalation deadline, both send the dispute to an agent. Deadlines
// come from the tenant's policy as copied onto the escrow at creation.
func TestDeadlinesEscalate(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.SetPolicy(f.ctx, f.tenant, escrow.Policy{SellerResponseHours: 24, EscalationHours: 96, EvidenceHours: 48}); err != nil {
		t.Fatal(err)
	}
	silent := f.delivered("100.00", nil)
	talking := f.delivered("100.00", nil)
	// A later policy change does not move the deadlines of these escrows.
	if _, err := f.svc.SetPolicy(f.ctx, f.tenant, escrow.Policy{SellerResponseHours: 1, EscalationHours: 2, EvidenceHours: 2}); err != nil {
		t.Fatal(err)
	}
	start := f.clock.Now()
	a := f.open(silent, disputes.ReasonNotAsDescribed, "100.00")
	b := f.open(talking, disputes.ReasonNotAsDescribed, "100.00")
	if !a.SellerResponseDueAt.Equal(start.Add(24*time.Hour)) || !a.EscalationDueAt.Equal(start.Add(96*time.Hour)) || !a.EvidenceDueAt.Equal(start.Add(48*time.Hour)) {
		t.Fatalf("deadlines %v %v %v", a.SellerResponseDueAt, a.EscalationDueAt, a.EvidenceDueAt)
	}
	if _, err := f.svc.MakeOffer(f.ctx, f.tenant, b.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "10.00"}); err != nil {
		t.Fatal(err)
	}
	status := func(id disputes.Dispute) disputes.Dispute {
		d, err := f.svc.Get(f.ctx, f.tenant, id.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Dispute
	}
	f.clock.Advance(23 * time.Hour)
	f.runJobs()
	if status(a).Status != disputes.Negotiating {
		t.Fatalf("escalated before the seller's deadline")
	}
	f.clock.Advance(2 * time.Hour) // past the seller's response deadline
	f.runJobs()
	got := status(a)
	if got.Status != disputes.UnderReview || got.EscalatedBy != disputes.BySystem || !got.EvidenceDueAt.Equal(f.clock.Now().Add(48*time.Hour)) {
		t.Fatalf("silent seller: %s by %q, evidence due %v", got.Status, got.EscalatedBy, got.EvidenceDueAt)
	}
	if !contains(f.events(silent.ID), "dispute.opened", "dispute.deadline_missed", "dispute.escalated") {
		t.Fatalf("events %v", f.events(silent.ID))
	}
	if status(b).Status != disputes.Negotiating {
		t.Fatal("a seller who responded is escalated at the seller's deadline")
	}
	f.clock.Set(start.Add(96 * time.Hour))
	f.runJobs()
	if got := status(b); got.Status != disputes.UnderReview || got.EscalatedBy != disputes.BySystem {
		t.Fatalf("negotiation deadline: %s by %q", got.Status, got.EscalatedBy)
	}
	// While disputed, the inspection window ended long ago: nothing was released.
	for _, id := range []escrow.Escrow{silent, talking} {
		if e := f.checkEscrow(id.ID); e.State != escrow.Disputed || !e.Released.IsZero() {
			t.Fatalf("escrow %s released %s during the dispute", e.State, e.Released)
		}
	}
}

// TestEvidenceDeadline: evidence is stored until its deadline and refused
// after it; escalation opens a new evidence window for the agent.
func TestEvidenceDeadline(t *testing.T) {
	f := newFixture(t)
	d := f.open(f.delivered("80.00", nil), disputes.ReasonDamaged, "80.00")
	if _, err := f.svc.AddEvidence(f.ctx, f.tenant, d.ID, photo); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(d.EvidenceDueAt.Add(time.Second))
	if _, err := f.svc.AddEvidence(f.ctx, f.tenant, d.ID, photo); !errors.Is(err, disputes.ErrEvidenceDeadlinePassed) {
		t.Fatalf("evidence after the deadline: %v", err)
	}
	if _, err := f.svc.Escalate(f.ctx, f.tenant, d.ID, disputes.EscalateRequest{By: disputes.PartyBuyer}); err != nil {
		t.Fatal(err) // the seller missed its deadline: the buyer may escalate
	}
	seller := photo
	seller.Party = disputes.PartySeller
	if _, err := f.svc.AddEvidence(f.ctx, f.tenant, d.ID, seller); err != nil {
		t.Fatalf("evidence after escalation: %v", err)
	}
	got, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Evidence) != 2 || got.Evidence[0].SHA256 != photo.SHA256 || got.Evidence[1].Party != disputes.PartySeller {
		t.Fatalf("evidence %+v", got.Evidence)
	}
}

// TestClaimsOffersAndWithdrawal: the claim window, one open dispute per
// escrow, the negotiation period, offers, and a withdrawal that gives the
// escrow back its auto-release.
func TestClaimsOffersAndWithdrawal(t *testing.T) {
	f := newFixture(t)
	funded := f.create("100.00", nil)
	if _, err := f.esc.Fund(f.ctx, f.tenant, funded.ID, 0, escrow.FundRequest{Amount: "100.00", Currency: "EUR", PaymentRef: "p1"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Open(f.ctx, f.tenant, funded.ID, disputes.OpenRequest{Reason: disputes.ReasonQuality, ClaimedAmount: "100.00", Description: "d"})
	if !errors.Is(err, disputes.ErrClaimWindowClosed) {
		t.Fatalf("quality claim before delivery: %v", err)
	}
	nr := f.open(funded, disputes.ReasonNotReceived, "100.00")
	_, err = f.svc.Open(f.ctx, f.tenant, funded.ID, disputes.OpenRequest{Reason: disputes.ReasonNotReceived, ClaimedAmount: "100.00", Description: "d"})
	if !errors.Is(err, disputes.ErrDisputeOpen) {
		t.Fatalf("second open dispute: %v", err)
	}
	if _, err := f.svc.Escalate(f.ctx, f.tenant, nr.ID, disputes.EscalateRequest{By: disputes.PartyBuyer}); !errors.Is(err, disputes.ErrNegotiationOpen) {
		t.Fatalf("buyer escalating before the seller's deadline: %v", err)
	}
	// Offers: a buyer's offer is superseded by the seller's counter-offer,
	// which the buyer rejects; then the buyer withdraws.
	o1, err := f.svc.MakeOffer(f.ctx, f.tenant, nr.ID, disputes.OfferRequest{By: disputes.PartyBuyer, RefundAmount: "100.00"})
	if err != nil {
		t.Fatal(err)
	}
	o2, err := f.svc.MakeOffer(f.ctx, f.tenant, nr.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "20.00", Note: "partial"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptOffer(f.ctx, f.tenant, nr.ID, o1.Offer.ID); !errors.Is(err, disputes.ErrOfferNotOpen) {
		t.Fatalf("accepting a superseded offer: %v", err)
	}
	if _, err := f.svc.MakeOffer(f.ctx, f.tenant, nr.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "100.01"}); err == nil {
		t.Fatal("an offer above the claimable amount was accepted")
	}
	rej, err := f.svc.RejectOffer(f.ctx, f.tenant, nr.ID, o2.Offer.ID)
	if err != nil || rej.Offer.Status != disputes.OfferRejected {
		t.Fatalf("reject: %v %+v", err, rej.Offer)
	}
	w, err := f.svc.Withdraw(f.ctx, f.tenant, nr.ID, disputes.WithdrawRequest{Reason: "parcel arrived"})
	if err != nil || w.Status != disputes.Withdrawn || w.NextDeadlineAt != nil {
		t.Fatalf("withdraw: %v %+v", err, w)
	}
	if e := f.checkEscrow(funded.ID); e.State != escrow.Funded {
		t.Fatalf("escrow after withdrawal: %s", e.State)
	}
	// A delivered escrow whose inspection window ended during the dispute
	// is auto-released soon after the withdrawal.
	e := f.delivered("60.00", func(r *escrow.CreateRequest) { h := 24; r.Terms = &escrow.TermsInput{InspectionHours: &h} })
	d := f.open(e, disputes.ReasonDamaged, "10.00")
	f.clock.Advance(30 * time.Hour)
	f.runJobs() // the seller's deadline has not passed; the auto-release job was cancelled
	if got := f.escrow(e.ID); got.State != escrow.Disputed {
		t.Fatalf("during the dispute: %s", got.State)
	}
	if _, err := f.svc.Withdraw(f.ctx, f.tenant, d.ID, disputes.WithdrawRequest{}); err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	if got := f.checkEscrow(e.ID); got.State != escrow.Completed || !got.Released.Equal(dec("60")) {
		t.Fatalf("after withdrawal: %s released %s", got.State, got.Released)
	}
	// Claim window: 30 days after delivery (the default terms).
	late := f.delivered("10.00", nil)
	f.clock.Advance(30*24*time.Hour + time.Minute)
	_, err = f.svc.Open(f.ctx, f.tenant, late.ID, disputes.OpenRequest{Reason: disputes.ReasonNotReceived, ClaimedAmount: "10.00", Description: "d"})
	if !errors.Is(err, disputes.ErrClaimWindowClosed) {
		t.Fatalf("claim after the window: %v", err)
	}
}

// TestAcceptedOfferResolves: the seller offers 30%, the buyer accepts; the
// refund and the release of the rest commit with the resolution.
func TestAcceptedOfferResolves(t *testing.T) {
	f := newFixture(t)
	e := f.delivered("200.00", nil)
	d := f.open(e, disputes.ReasonNotAsDescribed, "200.00")
	o, err := f.svc.MakeOffer(f.ctx, f.tenant, d.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "60.00"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.AcceptOffer(f.ctx, f.tenant, d.ID, o.Offer.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, r := res.Outcome.Settlement, res.Dispute.Resolution
	if res.Dispute.Status != disputes.Resolved || r.Outcome != disputes.OutcomeRefundPartial || r.AcceptedOfferID == nil || *r.AcceptedOfferID != o.Offer.ID ||
		r.ResolvedBy != disputes.PartyBuyer {
		t.Fatalf("resolution %+v", r)
	}
	if !st.Refund.Gross.Equal(dec("60")) || !st.Release.Gross.Equal(dec("140")) || !st.Release.Fee.Equal(dec("3.5")) {
		t.Fatalf("refund %s release %s fee %s", st.Refund.Gross, st.Release.Gross, st.Release.Fee)
	}
	if got := f.checkEscrow(e.ID); got.State != escrow.Completed {
		t.Fatalf("escrow %s", got.State)
	}
	if !contains(f.events(e.ID), "dispute.opened", "dispute.offer_made", "dispute.offer_accepted", "dispute.resolved") {
		t.Fatalf("events %v", f.events(e.ID))
	}
	det, err := f.svc.Get(f.ctx, f.tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, it := range det.Timeline {
		kinds[it.Type]++
	}
	if kinds["dispute.resolved"] != 1 || kinds["refund.completed"] != 1 || kinds["release.completed"] != 1 || kinds["offer.accepted"] != 1 {
		t.Fatalf("timeline %v", kinds)
	}
}

// TestOfferLimit: the dispute's offers are capped at MaxOffers, and the
// error names the dispute's list, not the offer's "by" (whose value is
// valid).
func TestOfferLimit(t *testing.T) {
	f := newFixture(t)
	d := f.open(f.delivered("100.00", nil), disputes.ReasonDamaged, "10.00")
	if _, err := f.db.Pool.Exec(f.ctx, `
		INSERT INTO dispute_offers (id, dispute_id, by_party, refund_amount, note, status, created_at, tenant_id)
		SELECT gen_random_uuid(), $1, 'buyer', 1, '', 'superseded', $2, $3 FROM generate_series(1, $4)`,
		d.ID, f.clock.Now(), f.tenant, disputes.MaxOffers-1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.MakeOffer(f.ctx, f.tenant, d.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "5.00"}); err != nil {
		t.Fatalf("offer %d of %d: %v", disputes.MaxOffers, disputes.MaxOffers, err)
	}
	_, err := f.svc.MakeOffer(f.ctx, f.tenant, d.ID, disputes.OfferRequest{By: disputes.PartySeller, RefundAmount: "5.00"})
	errs, ok := valid.As(err)
	if !ok || len(errs) != 1 || errs[0].Field != "offers" {
		t.Fatalf("offer %d: want a validation error on offers, got %v", disputes.MaxOffers+1, err)
	}
}
