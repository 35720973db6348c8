package risk

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/jobs"
)

// openTestReview makes a release that the gate sends to review (no USD
// rate) and returns the review id.
func (e *env) openTestReview() (uuid.UUID, uuid.UUID) {
	e.t.Helper()
	r := e.newRelease("b", "s")
	r.currency = "XAF"
	d := e.decide(r)
	if d.ReviewID == nil {
		e.t.Fatalf("%s %v: no review", d.Outcome, reasonCodes(d.Decision))
	}
	return *d.ReviewID, r.subject
}

// resolverLog makes a table the test resolver writes to, and registers a
// resolver for "release" that writes a row in the review's transaction.
func (e *env) resolverLog(fail *bool) {
	e.t.Helper()
	dbtest.MustExec(e.t, e.db, `CREATE TABLE resolver_log (review_id UUID NOT NULL, subject_id UUID NOT NULL, approved BOOL NOT NULL, status TEXT NOT NULL)`)
	e.svc.RegisterResolver(SubjectRelease, func(ctx context.Context, tx pgx.Tx, rv Review, approved bool, now time.Time) (string, error) {
		if _, err := tx.Exec(ctx, `INSERT INTO resolver_log VALUES ($1, $2, $3, $4)`, rv.ID, rv.SubjectID, approved, rv.Status); err != nil {
			return "", err
		}
		if fail != nil && *fail {
			return "", errors.New("ledger refused")
		}
		if approved {
			return "completed", nil
		}
		return "rejected", nil
	})
}

func TestDecideReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fail := false
	e.resolverLog(&fail)

	approveID, approveSubject := e.openTestReview()
	rejectID, _ := e.openTestReview()

	pending, err := e.svc.ListReviews(ctx, e.tenant, ReviewPending, uuid.Nil, 10)
	if err != nil || len(pending) != 2 || pending[0].ID != approveID || pending[1].ID != rejectID {
		t.Fatalf("pending %v %v", pending, err)
	}
	if page, _ := e.svc.ListReviews(ctx, e.tenant, ReviewPending, approveID, 10); len(page) != 1 || page[0].ID != rejectID {
		t.Fatalf("page after the first: %v", page)
	}
	if other, _ := e.svc.ListReviews(ctx, uuid.Must(uuid.NewV7()), "", uuid.Nil, 10); len(other) != 0 {
		t.Fatalf("another tenant sees %d reviews", len(other))
	}

	// A failing resolver rolls the decision back.
	fail = true
	if _, err := e.svc.DecideReview(ctx, e.tenant, approveID, true, "", "key:1"); err == nil {
		t.Fatal("a failing resolver did not fail the decision")
	}
	if rv, _ := e.svc.Review(ctx, e.tenant, approveID); rv.Status != ReviewPending {
		t.Fatalf("status %s after a failed resolver", rv.Status)
	}
	fail = false

	rv, err := e.svc.DecideReview(ctx, e.tenant, approveID, true, "known customer", "key:1")
	if err != nil || rv.Status != ReviewApproved || rv.Note != "known customer" || rv.DecidedBy != "key:1" || rv.DecidedAt == nil ||
		rv.SubjectStatus != "completed" {
		t.Fatalf("approve: %+v %v", rv, err)
	}
	if n := e.count(`SELECT count(*) FROM resolver_log WHERE review_id = $1 AND subject_id = $2 AND approved AND status = 'approved'`, approveID, approveSubject); n != 1 {
		t.Errorf("resolver rows %d, want 1", n)
	}
	if _, err := e.svc.DecideReview(ctx, e.tenant, approveID, false, "", "key:2"); !errors.Is(err, ErrReviewDecided) {
		t.Errorf("second decision: %v, want ErrReviewDecided", err)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE kind = $1 AND dedupe_key = $2 AND status = 'cancelled'`, JobReviewExpire, approveID.String()); n != 1 {
		t.Errorf("expiry job not cancelled")
	}

	rv, err = e.svc.DecideReview(ctx, e.tenant, rejectID, false, "", "key:1")
	if err != nil || rv.Status != ReviewRejected {
		t.Fatalf("reject: %+v %v", rv, err)
	}
	if n := e.count(`SELECT count(*) FROM resolver_log WHERE review_id = $1 AND NOT approved`, rejectID); n != 1 {
		t.Errorf("reject resolver rows %d, want 1", n)
	}
	if _, err := e.svc.DecideReview(ctx, e.tenant, uuid.Must(uuid.NewV7()), true, "", "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown review: %v", err)
	}
	if _, err := e.svc.DecideReview(ctx, uuid.Must(uuid.NewV7()), rejectID, true, "", "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's review: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM events WHERE tenant_id = $1 AND type = $2`, e.tenant, EventReviewDecided); n != 2 {
		t.Errorf("%d review_decided events, want 2", n)
	}
}

func TestReviewExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.resolverLog(nil)
	id, _ := e.openTestReview()
	decided, _ := e.openTestReview()
	if _, err := e.svc.DecideReview(ctx, e.tenant, decided, true, "", "k"); err != nil {
		t.Fatal(err)
	}
	runner := jobs.NewRunner(e.db, e.clock, nil)
	runner.Handle(JobReviewExpire, e.svc.HandleReviewExpire)

	e.clock.Advance(DefaultReviewTTL - time.Minute)
	if n, err := runner.RunAll(ctx, 10); err != nil || n != 0 {
		t.Fatalf("before expiry ran %d jobs: %v", n, err)
	}
	e.clock.Advance(time.Minute)
	if n, err := runner.RunAll(ctx, 10); err != nil || n != 1 {
		t.Fatalf("at expiry ran %d jobs: %v", n, err)
	}
	rv, err := e.svc.Review(ctx, e.tenant, id)
	if err != nil || rv.Status != ReviewRejected || rv.DecidedBy != DecidedByExpiry {
		t.Fatalf("expired review %+v %v, want rejected by %s", rv, err, DecidedByExpiry)
	}
	if n := e.count(`SELECT count(*) FROM resolver_log WHERE review_id = $1 AND NOT approved AND status = 'rejected'`, id); n != 1 {
		t.Errorf("resolver rows for expiry %d, want 1", n)
	}
	// The list: an expired review is among the rejected ones, and the
	// filter "expired" finds it; so are, and does, a row stored as
	// "expired" by a version before migration 0406 (an older binary
	// during an upgrade); a rejection by a reviewer is not expired.
	rejected, _ := e.openTestReview()
	if _, err := e.svc.DecideReview(ctx, e.tenant, rejected, false, "", "k"); err != nil {
		t.Fatal(err)
	}
	legacy, _ := e.openTestReview()
	dbtest.MustExec(t, e.db, `UPDATE risk_reviews SET status = 'expired', decided_by = 'system:expiry', decided_at = now() WHERE id = '`+legacy.String()+`'`)
	for _, c := range []struct {
		status string
		want   []uuid.UUID
	}{
		{ReviewRejected, []uuid.UUID{id, rejected, legacy}},
		{ReviewExpired, []uuid.UUID{id, legacy}},
	} {
		list, err := e.svc.ListReviews(ctx, e.tenant, c.status, uuid.Nil, 10)
		var got []uuid.UUID
		for _, rv := range list {
			got = append(got, rv.ID)
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("status=%s: %v %v, want %v", c.status, got, err, c.want)
		}
	}
	// Idempotent: expiring again changes nothing.
	if _, ok, err := e.svc.ExpireReview(ctx, e.tenant, id); ok || err != nil {
		t.Errorf("second expiry ok=%v err=%v", ok, err)
	}
	if rv, _ := e.svc.Review(ctx, e.tenant, decided); rv.Status != ReviewApproved {
		t.Errorf("decided review became %s", rv.Status)
	}
	if n := e.count(`SELECT count(*) FROM resolver_log WHERE review_id = $1`, id); n != 1 {
		t.Errorf("resolver ran %d times for the expired review", n)
	}
}

// TestWithdrawReview: a review whose payout was voided elsewhere is closed
// as rejected by the system, without running the resolver, once; a wrong
// tenant or subject leaves it alone.
func TestWithdrawReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.resolverLog(nil)
	id, subject := e.openTestReview()
	withdraw := func(tenant, subject uuid.UUID) error {
		return e.db.Tx(ctx, func(tx pgx.Tx) error {
			return e.gate.WithdrawReview(ctx, tx, tenant, id, subject, "superseded by chargeback psp-1", e.clock.Now())
		})
	}
	for _, c := range []struct{ tenant, subject uuid.UUID }{{uuid.Must(uuid.NewV7()), subject}, {e.tenant, uuid.Must(uuid.NewV7())}} {
		if err := withdraw(c.tenant, c.subject); err != nil {
			t.Fatal(err)
		}
		if rv, _ := e.svc.Review(ctx, e.tenant, id); rv.Status != ReviewPending {
			t.Fatalf("withdrawn by tenant %s subject %s: %s", c.tenant, c.subject, rv.Status)
		}
	}
	for range 2 {
		if err := withdraw(e.tenant, subject); err != nil {
			t.Fatal(err)
		}
	}
	rv, err := e.svc.Review(ctx, e.tenant, id)
	if err != nil || rv.Status != ReviewRejected || rv.DecidedBy != DecidedBySuperseded || rv.Note != "superseded by chargeback psp-1" || rv.DecidedAt == nil {
		t.Fatalf("withdrawn: %+v %v", rv, err)
	}
	if n := e.count(`SELECT count(*) FROM resolver_log`); n != 0 {
		t.Errorf("the resolver ran %d times", n)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE kind = $1 AND dedupe_key = $2 AND status = 'cancelled'`, JobReviewExpire, id.String()); n != 1 {
		t.Errorf("expiry job not cancelled")
	}
	if n := e.count(`SELECT count(*) FROM events WHERE tenant_id = $1 AND type = $2`, e.tenant, EventReviewDecided); n != 1 {
		t.Errorf("%d review_decided events, want 1", n)
	}
}
