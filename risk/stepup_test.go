package risk

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// stepUp makes a release that needs a step-up and returns it with its code.
func (e *env) stepUp() (*release, GateDecision) {
	e.t.Helper()
	e.establish("b", "s")
	r := e.newRelease("b", "s")
	r.amount = "25000.00"
	d := e.decide(r)
	if d.Outcome != OutcomeStepUp || d.StepUpCode == "" {
		e.t.Fatalf("%s %v, want step_up with a code", d.Outcome, reasonCodes(d.Decision))
	}
	if e.alerts(r.subject) != 1 {
		e.t.Error("step_up wrote no risk.alert")
	}
	return r, d
}

func (e *env) verify(subject uuid.UUID, code string) (StepUpResult, error) {
	var res StepUpResult
	err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		res, err = e.gate.VerifyStepUp(context.Background(), tx, e.tenant, subject, code, e.clock.Now())
		return err
	})
	return res, err
}

func (e *env) resend(subject uuid.UUID) (string, time.Time, error) {
	var code string
	var exp time.Time
	err := e.db.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		code, exp, err = e.gate.ResendStepUp(context.Background(), tx, e.tenant, subject, e.clock.Now())
		return err
	})
	return code, exp, err
}

// wrong returns a code that is not code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestStepUpConfirm(t *testing.T) {
	e := newEnv(t)
	r, d := e.stepUp()
	res, err := e.verify(r.subject, wrong(d.StepUpCode))
	if err != nil || res.Confirmed || res.Blocked || res.AttemptsLeft != MaxStepUpAttempts-1 {
		t.Fatalf("wrong code: %+v %v", res, err)
	}
	res, err = e.verify(r.subject, d.StepUpCode)
	if err != nil || !res.Confirmed || res.Blocked {
		t.Fatalf("right code: %+v %v", res, err)
	}
	if _, err := e.verify(r.subject, d.StepUpCode); !errors.Is(err, ErrStepUpNotFound) {
		t.Errorf("code reused: %v, want ErrStepUpNotFound", err)
	}
	if _, err := e.verify(uuid.Must(uuid.NewV7()), "123456"); !errors.Is(err, ErrStepUpNotFound) {
		t.Errorf("no challenge: %v", err)
	}
}

func TestStepUpBruteForce(t *testing.T) {
	e := newEnv(t)
	r, d := e.stepUp()
	bad := wrong(d.StepUpCode)
	for i := 1; i < MaxStepUpAttempts; i++ {
		res, err := e.verify(r.subject, bad)
		if err != nil || res.Confirmed || res.Blocked || res.AttemptsLeft != MaxStepUpAttempts-i {
			t.Fatalf("wrong code %d: %+v %v", i, res, err)
		}
	}
	res, err := e.verify(r.subject, bad)
	if err != nil || !res.Blocked || res.ReviewID == nil || res.AttemptsLeft != 0 {
		t.Fatalf("5th wrong code: %+v %v, want blocked with a review", res, err)
	}
	rv, err := e.svc.Review(context.Background(), e.tenant, *res.ReviewID)
	if err != nil || rv.SubjectType != SubjectRelease || rv.SubjectID != r.subject || rv.Status != ReviewPending ||
		rv.DecisionID == nil || *rv.DecisionID != d.ID || len(rv.Reasons) != 1 || rv.Reasons[0].Code != ReasonStepUpFailed {
		t.Fatalf("review %+v %v", rv, err)
	}
	if e.alerts(r.subject) != 2 {
		t.Errorf("%d risk.alert events, want 2 (step_up, then block)", e.alerts(r.subject))
	}
	// The challenge is closed: the right code no longer works.
	if _, err := e.verify(r.subject, d.StepUpCode); !errors.Is(err, ErrStepUpNotFound) {
		t.Errorf("after block: %v, want ErrStepUpNotFound", err)
	}
}

func TestStepUpExpired(t *testing.T) {
	e := newEnv(t)
	r, d := e.stepUp()
	e.clock.Advance(StepUpTTL)
	if _, err := e.verify(r.subject, d.StepUpCode); !errors.Is(err, ErrStepUpExpired) {
		t.Fatalf("expired code: %v, want ErrStepUpExpired", err)
	}
	code, exp, err := e.resend(r.subject)
	if err != nil || !exp.Equal(e.clock.Now().Add(StepUpTTL)) {
		t.Fatalf("resend %v %v", exp, err)
	}
	if res, err := e.verify(r.subject, code); err != nil || !res.Confirmed {
		t.Fatalf("new code: %+v %v", res, err)
	}
}

func TestStepUpResendLimits(t *testing.T) {
	e := newEnv(t)
	r, d := e.stepUp()
	_, _, err := e.resend(r.subject)
	var rl *RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.RetryAfter != StepUpResendInterval {
		t.Fatalf("immediate resend: %v, want RateLimitedError after 60 s", err)
	}
	e.clock.Advance(45 * time.Second)
	if _, _, err = e.resend(r.subject); !errors.As(err, &rl) || rl.RetryAfter != 15*time.Second {
		t.Fatalf("resend after 45 s: %v, want retry after 15 s", err)
	}
	if rl.ProblemExtra()["retry_after_seconds"] != 15 {
		t.Errorf("problem extra %v", rl.ProblemExtra())
	}

	// A wrong code before the resend counts against the new code too.
	if res, err := e.verify(r.subject, wrong(d.StepUpCode)); err != nil || res.AttemptsLeft != MaxStepUpAttempts-1 {
		t.Fatalf("wrong code: %+v %v", res, err)
	}
	e.clock.Advance(15 * time.Second)
	second, _, err := e.resend(r.subject)
	if err != nil {
		t.Fatalf("second code after 60 s: %v", err)
	}
	if second != d.StepUpCode {
		if res, err := e.verify(r.subject, d.StepUpCode); err != nil || res.Confirmed {
			t.Fatalf("the replaced code still works: %+v %v", res, err)
		}
	}
	e.clock.Advance(StepUpResendInterval)
	third, _, err := e.resend(r.subject)
	if err != nil {
		t.Fatalf("third code: %v", err)
	}
	e.clock.Advance(StepUpResendInterval)
	_, _, err = e.resend(r.subject)
	if !errors.As(err, &rl) || rl.RetryAfter != 24*time.Hour-3*StepUpResendInterval {
		t.Fatalf("fourth code in a day: %v, want retry after %v", err, 24*time.Hour-3*StepUpResendInterval)
	}
	res, err := e.verify(r.subject, wrong(third))
	if err != nil || res.AttemptsLeft > MaxStepUpAttempts-2 {
		t.Fatalf("attempts did not carry over: %+v %v", res, err)
	}
	if res, err := e.verify(r.subject, third); err != nil || !res.Confirmed {
		t.Fatalf("third code: %+v %v", res, err)
	}
	if _, _, err := e.resend(uuid.Must(uuid.NewV7())); !errors.Is(err, ErrStepUpNotFound) {
		t.Errorf("resend without a challenge: %v", err)
	}
}

// TestStepUpCodeHashKeyed: with a StepUpKey the stored hash of a code is
// keyed, so the table alone no longer gives the code away (a code has only
// 10^6 values); the right code confirms and a wrong one does not. A code
// issued before the key was configured still confirms; an unkeyed code
// issued after it does not.
func TestStepUpCodeHashKeyed(t *testing.T) {
	e := newEnv(t)
	unkeyed := e.gate
	keyed, err := NewGate(GateConfig{FX: tableRates{"EUR": decimal.RequireFromString("1.08")}, StepUpKey: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	stored := func(subject uuid.UUID) (salt, hash []byte) {
		t.Helper()
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT salt, code_hash FROM risk_step_ups WHERE subject_id = $1 AND status = 'open'`,
			subject).Scan(&salt, &hash); err != nil {
			t.Fatal(err)
		}
		return salt, hash
	}

	e.gate = unkeyed
	old, oldDecision := e.stepUp()
	if salt, hash := stored(old.subject); !bytes.Equal(hashStepUpCode(nil, salt, oldDecision.StepUpCode), hash) {
		t.Fatal("without a key the stored hash is not SHA-256(salt || code)")
	}
	e.clock.Advance(time.Second)
	keyed.stepUpKeySince = e.clock.Now() // the keyed process starts
	e.clock.Advance(time.Second)
	// A process still without the key issues a code after that: the keyed
	// gate does not take its unkeyed hash.
	late, lateDecision := e.stepUp()

	e.gate = keyed
	if res, err := e.verify(late.subject, lateDecision.StepUpCode); err != nil || res.Confirmed {
		t.Fatalf("unkeyed code issued after the key: %+v %v, want refused", res, err)
	}
	r, d := e.stepUp()
	if salt, hash := stored(r.subject); bytes.Equal(hashStepUpCode(nil, salt, d.StepUpCode), hash) {
		t.Fatal("with a key the stored hash is still SHA-256(salt || code)")
	}
	if res, err := e.verify(r.subject, wrong(d.StepUpCode)); err != nil || res.Confirmed {
		t.Fatalf("wrong code: %+v %v", res, err)
	}
	if res, err := e.verify(r.subject, d.StepUpCode); err != nil || !res.Confirmed {
		t.Fatalf("right code: %+v %v", res, err)
	}
	if res, err := e.verify(old.subject, oldDecision.StepUpCode); err != nil || !res.Confirmed {
		t.Fatalf("code issued before the key: %+v %v", res, err)
	}
}
