package escrow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/risk"
)

func write[T any](f *fixture, fn func(tx pgx.Tx) (T, error)) (T, error) {
	return db.Write(context.Background(), f.db, fn)
}

// TestPolicyCopiedAtCreate: a new escrow copies the tenant's dispute
// policy; changing the policy later leaves existing escrows alone.
func TestPolicyCopiedAtCreate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if e := f.create("10.00", "EUR", nil); e.Policy != escrow.DefaultPolicy {
		t.Fatalf("policy %+v, want the default", e.Policy)
	}
	p := escrow.Policy{SellerResponseHours: 48, EscalationHours: 120, EvidenceHours: 96}
	if _, err := write(f, func(tx pgx.Tx) (escrow.TenantPolicy, error) {
		return escrow.SetPolicy(ctx, tx, f.tenant, p, f.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	e := f.create("10.00", "EUR", nil)
	if _, err := write(f, func(tx pgx.Tx) (escrow.TenantPolicy, error) {
		return escrow.SetPolicy(ctx, tx, f.tenant, escrow.Policy{SellerResponseHours: 1, EscalationHours: 1, EvidenceHours: 1}, f.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(ctx, f.tenant, e.ID); got.Policy != p {
		t.Fatalf("policy %+v, want %+v", got.Policy, p)
	}
	if err := (escrow.Policy{SellerResponseHours: 200, EscalationHours: 100, EvidenceHours: 10}).Validate(); err == nil {
		t.Fatal("a seller deadline after the escalation passed validation")
	}
}

// TestDisputeHooksKeepInvariants: a payout waiting for review when the
// dispute opens is voided by the outcome; the outcome's own refund waits
// for review too (no USD rate for CHF: the gate fails closed), and the
// escrow leaves disputed with the refund pending; its approval settles it.
func TestDisputeHooksKeepInvariants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("300.00", "CHF", nil), "300.00")
	if _, err := f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); err != nil {
		t.Fatal(err)
	}
	rel, err := f.svc.Release(ctx, f.tenant, e.ID, 0, escrow.ReleaseRequest{})
	if err != nil || rel.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("release %v %s", err, rel.Release.Status)
	}
	got, err := write(f, func(tx pgx.Tx) (escrow.Escrow, error) {
		return f.svc.OpenDispute(ctx, tx, f.tenant, e.ID, nil, f.clock.Now())
	})
	if err != nil || got.State != escrow.Disputed || got.StateBeforeDispute != escrow.Delivered {
		t.Fatalf("open: %v %s / %s", err, got.State, got.StateBeforeDispute)
	}
	_, err = write(f, func(tx pgx.Tx) (escrow.Escrow, error) {
		return f.svc.OpenDispute(ctx, tx, f.tenant, e.ID, nil, f.clock.Now())
	})
	if !errors.Is(err, escrow.ErrAlreadyDisputed) {
		t.Fatalf("second open: %v", err)
	}
	// The reviewer cannot approve the release while the escrow is disputed.
	if _, err := f.risk.DecideReview(ctx, f.tenant, *rel.Release.ReviewID, true, "", "r"); !errors.Is(err, escrow.ErrInvalidState) {
		t.Fatalf("approval during the dispute: %v", err)
	}
	f.checkInvariants(got)
	refund := dec("120.00")
	st, err := write(f, func(tx pgx.Tx) (escrow.Settlement, error) {
		return f.svc.SettleDispute(ctx, tx, f.tenant, e.ID, escrow.SettleInput{Refund: &refund, CoveredBefore: decimal.Zero, Reason: "test"}, f.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Voided) != 1 || st.Voided[0].ID != rel.Release.ID || st.Refund == nil || st.Refund.Status != escrow.StatusPendingReview ||
		st.Release == nil || st.Release.Status != escrow.StatusPendingReview {
		t.Fatalf("settlement %+v", st)
	}
	// The voided release's review is closed: nothing is left to approve.
	if rv, err := f.risk.Review(ctx, f.tenant, *rel.Release.ReviewID); err != nil || rv.Status != risk.ReviewRejected || rv.DecidedBy != risk.DecidedBySuperseded {
		t.Fatalf("the voided release's review: %v, %s by %q; want rejected by %s", err, rv.Status, rv.DecidedBy, risk.DecidedBySuperseded)
	}
	if _, err := f.risk.DecideReview(ctx, f.tenant, *rel.Release.ReviewID, true, "", "r"); !errors.Is(err, risk.ErrReviewDecided) {
		t.Fatalf("approving the voided release: %v, want ErrReviewDecided", err)
	}
	if st.Escrow.State != escrow.Delivered || !st.Escrow.Pending.Equal(dec("300")) {
		t.Fatalf("escrow %s pending %s", st.Escrow.State, st.Escrow.Pending)
	}
	f.checkInvariants(st.Escrow)
	for _, p := range []*escrow.Payout{st.Refund, st.Release} {
		if _, err := f.risk.DecideReview(ctx, f.tenant, *p.ReviewID, true, "", "r"); err != nil {
			t.Fatalf("approving the outcome's %s: %v", p.Kind, err)
		}
	}
	after, _ := f.svc.Get(ctx, f.tenant, e.ID)
	if after.State != escrow.Completed || !after.Refunded.Equal(dec("120")) || !after.Released.Equal(dec("180")) {
		t.Fatalf("after the approvals: %s refunded %s released %s", after.State, after.Refunded, after.Released)
	}
	f.checkInvariants(after)
}

// TestDisputeBeforeFullFunding: a not_received claim on a partly funded
// escrow refunds what arrived and cancels it.
func TestDisputeBeforeFullFunding(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.fund(f.create("100.00", "EUR", nil), "40.00")
	if _, err := write(f, func(tx pgx.Tx) (escrow.Escrow, error) {
		return f.svc.OpenDispute(ctx, tx, f.tenant, e.ID, nil, f.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	st, err := write(f, func(tx pgx.Tx) (escrow.Settlement, error) {
		return f.svc.SettleDispute(ctx, tx, f.tenant, e.ID, escrow.SettleInput{Reason: "not received"}, f.clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Escrow.State != escrow.Cancelled || !st.Refund.Gross.Equal(dec("40")) || st.Release != nil || !st.Coverage.Covered.IsZero() {
		t.Fatalf("settlement: %s refund %+v", st.Escrow.State, st.Refund)
	}
	f.checkInvariants(st.Escrow)
}

// TestUnattendedLargeReleaseGoesToReview: a release over USD 10,000 that
// the buyer did not ask for at the time (the auto-release, a dispute
// outcome) cannot be confirmed by the buyer's code, so the gate sends it
// to review instead of step-up. (Stepped up, it waited for a code nobody
// entered, was voided after ConfirmationTimeout and left the money held
// with nothing to release it.)
func TestUnattendedLargeReleaseGoesToReview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	delivered := func() escrow.Escrow {
		e := f.fund(f.create("12000.00", "USD", func(r *escrow.CreateRequest) { h := 48; r.Terms = &escrow.TermsInput{InspectionHours: &h} }), "12000.00")
		if _, err := f.svc.Ship(ctx, f.tenant, e.ID, 0, escrow.ShipRequest{Carrier: "c", TrackingNumber: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Deliver(ctx, f.tenant, e.ID, 0, escrow.DeliverRequest{}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	auto, disputed := delivered(), delivered()
	if _, err := write(f, func(tx pgx.Tx) (escrow.Escrow, error) {
		return f.svc.OpenDispute(ctx, tx, f.tenant, disputed.ID, nil, f.clock.Now())
	}); err != nil {
		t.Fatal(err)
	}
	none := decimal.Zero
	st, err := write(f, func(tx pgx.Tx) (escrow.Settlement, error) {
		return f.svc.SettleDispute(ctx, tx, f.tenant, disputed.ID, escrow.SettleInput{Refund: &none, CoveredBefore: decimal.Zero, Reason: "seller right"}, f.clock.Now())
	})
	if err != nil || st.Release == nil || st.Release.Status != escrow.StatusPendingReview || st.Release.ReviewID == nil {
		t.Fatalf("dispute outcome release: %v %+v", err, st.Release)
	}
	f.clock.Advance(49 * time.Hour)
	if _, err := f.jobs.RunAll(ctx, 10); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, f.tenant, auto.ID)
	if !got.Pending.Equal(auto.Amount) {
		t.Fatalf("after the inspection window: %s pending %s released %s", got.State, got.Pending, got.Released)
	}
	rvs, err := f.risk.ListReviews(ctx, f.tenant, risk.ReviewPending, uuid.Nil, 10)
	if err != nil || len(rvs) != 2 {
		t.Fatalf("pending reviews %d, %v; want the dispute outcome's and the auto-release's", len(rvs), err)
	}
	for _, rv := range rvs {
		if _, err := f.risk.DecideReview(ctx, f.tenant, rv.ID, true, "", "r"); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []escrow.Escrow{auto, disputed} {
		got, _ := f.svc.Get(ctx, f.tenant, e.ID)
		if got.State != escrow.Completed || !got.Released.Equal(e.Amount) {
			t.Fatalf("after the approvals: %s released %s", got.State, got.Released)
		}
		f.checkInvariants(got)
	}
}
