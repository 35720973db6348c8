package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/jobs"
)

func TestJobsRunWhenDueRetryAndDedupe(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := jobs.NewRunner(d, clk, nil)
	var ran atomic.Int32
	fail := true
	r.Handle("test.flaky", func(ctx context.Context, j jobs.Job) error {
		ran.Add(1)
		if fail {
			return errors.New("not yet")
		}
		return nil
	})
	schedule := func(key string, at time.Time) {
		if err := d.Tx(ctx, func(tx pgx.Tx) error {
			return jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.flaky", DedupeKey: key, RunAt: at}, clk.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	schedule("a", clk.Now().Add(time.Hour))
	schedule("a", clk.Now().Add(2*time.Hour)) // moves the same job
	if n, _ := r.RunAll(ctx, 10); n != 0 {
		t.Fatalf("ran %d jobs before they were due", n)
	}
	clk.Advance(2 * time.Hour)
	if n, _ := r.RunAll(ctx, 10); n != 1 || ran.Load() != 1 {
		t.Fatalf("ran %d (handler %d), want one run of the deduplicated job", n, ran.Load())
	}
	if n, _ := r.RunAll(ctx, 10); n != 0 {
		t.Fatal("a failed job ran again before its backoff")
	}
	fail = false
	clk.Advance(time.Minute)
	if n, _ := r.RunAll(ctx, 10); n != 1 {
		t.Fatalf("retry ran %d", n)
	}
	var status string
	if err := d.Pool.QueryRow(ctx, `SELECT status FROM jobs WHERE dedupe_key = 'a'`).Scan(&status); err != nil || status != "done" {
		t.Fatalf("status %q (err %v)", status, err)
	}
	// Cancelled jobs never run.
	schedule("b", clk.Now())
	if err := d.Tx(ctx, func(tx pgx.Tx) error { return jobs.Cancel(ctx, tx, "test.flaky", "b", clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RunAll(ctx, 10); n != 0 {
		t.Fatal("a cancelled job ran")
	}
}

// TestJobsClaimedOnce: several runners (as several escrowd instances) never
// run the same job twice.
func TestJobsClaimedOnce(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	runs := map[string]int{}
	handler := func(ctx context.Context, j jobs.Job) error {
		mu.Lock()
		runs[j.DedupeKey]++
		mu.Unlock()
		return nil
	}
	const total = 60
	if err := d.Tx(ctx, func(tx pgx.Tx) error {
		for i := range total {
			if err := jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.once", DedupeKey: string(rune('A' + i)), RunAt: clk.Now()}, clk.Now()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		r := jobs.NewRunner(d, clk, nil)
		r.Handle("test.once", handler)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.RunAll(ctx, 20); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(runs) != total {
		t.Fatalf("%d distinct jobs ran, want %d", len(runs), total)
	}
	for k, n := range runs {
		if n != 1 {
			t.Fatalf("job %q ran %d times", k, n)
		}
	}
}

func TestPeriodicJobReschedules(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := jobs.NewRunner(d, clk, nil)
	var ran atomic.Int32
	if err := r.HandlePeriodic(ctx, jobs.Periodic{Kind: "test.tick", Every: time.Hour, Handler: func(context.Context, jobs.Job) error { ran.Add(1); return nil }}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.RunAll(ctx, 5); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	if ran.Load() != 3 {
		t.Fatalf("periodic job ran %d times over 3 hours, want 3", ran.Load())
	}
}

// TestRescheduledWhileRunning: a job moved by Schedule while it runs keeps
// its new run; the old run does not mark it done.
func TestRescheduledWhileRunning(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := jobs.NewRunner(d, clk, nil)
	var runs atomic.Int32
	r.Handle("test.moved", func(ctx context.Context, j jobs.Job) error {
		if runs.Add(1) == 1 { // while running, something reschedules it
			return d.Tx(ctx, func(tx pgx.Tx) error {
				return jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.moved", DedupeKey: "m", RunAt: clk.Now().Add(time.Hour)}, clk.Now())
			})
		}
		return nil
	})
	if err := d.Tx(ctx, func(tx pgx.Tx) error {
		return jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.moved", DedupeKey: "m", RunAt: clk.Now()}, clk.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := d.Pool.QueryRow(ctx, `SELECT status FROM jobs WHERE dedupe_key = 'm'`).Scan(&status); err != nil || status != "pending" {
		t.Fatalf("after the first run: %q (err %v), want pending for the rescheduled run", status, err)
	}
	clk.Advance(jobs.Lease + time.Hour)
	if _, err := r.RunAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 2 {
		t.Fatalf("ran %d times, want 2", runs.Load())
	}
}

// runDue runs r.RunDue and turns a panic escaping it into a test failure
// (in escrowd serve it would kill the process).
func runDue(t *testing.T, ctx context.Context, r *jobs.Runner) int {
	t.Helper()
	var n int
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("a handler's panic escaped RunDue: %v", p)
			}
		}()
		n, err = r.RunDue(ctx)
	}()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPanickingHandlerIsAFailedAttempt: a handler's panic does not escape
// RunDue; the run is a failed attempt, retried with backoff, and the job
// fails at the attempt limit.
func TestPanickingHandlerIsAFailedAttempt(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name  string
		panic func()
	}{
		{"runtime error", func() {
			var m map[string]int
			m["boom"]++
		}},
		{"value", func() { panic("bad payload") }},
		{"error", func() { panic(errors.New("bad payload")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := "test.panic." + tc.name
			var logged bytes.Buffer
			r := jobs.NewRunner(d, clk, slog.New(slog.NewJSONHandler(&logged, nil)))
			var runs atomic.Int32
			r.Handle(kind, func(context.Context, jobs.Job) error {
				runs.Add(1)
				tc.panic()
				return nil
			})
			if err := d.Tx(ctx, func(tx pgx.Tx) error {
				return jobs.Schedule(ctx, tx, jobs.Job{Kind: kind, DedupeKey: "p", RunAt: clk.Now()}, clk.Now())
			}); err != nil {
				t.Fatal(err)
			}
			for attempt := 1; attempt <= jobs.DefaultMaxAttempts; attempt++ {
				if n := runDue(t, ctx, r); n != 1 {
					t.Fatalf("attempt %d: ran %d jobs, want 1", attempt, n)
				}
				var status, lastError string
				var attempts int
				var runAt time.Time
				if err := d.Pool.QueryRow(ctx, `SELECT status, attempts, last_error, run_at FROM jobs WHERE kind = $1`, kind).
					Scan(&status, &attempts, &lastError, &runAt); err != nil {
					t.Fatal(err)
				}
				want := "pending"
				if attempt == jobs.DefaultMaxAttempts {
					want = "failed"
				}
				if status != want || attempts != attempt || !strings.Contains(lastError, jobs.ErrPanicked.Error()) {
					t.Fatalf("after attempt %d: status %s, attempts %d, last error %q; want %s, %d, the panic", attempt, status, attempts, lastError, want, attempt)
				}
				if attempt == 1 && (!strings.Contains(logged.String(), `"msg":"job handler panicked"`) || !strings.Contains(logged.String(), "goroutine ")) {
					t.Fatalf("the panic is not logged with its stack: %s", logged.String())
				}
				if want == "pending" && !runAt.After(clk.Now()) {
					t.Fatalf("after attempt %d: run_at %s, want a backoff after %s", attempt, runAt, clk.Now())
				}
				clk.Advance(2 * time.Hour) // past the longest backoff
			}
			if n := runDue(t, ctx, r); n != 0 || runs.Load() != jobs.DefaultMaxAttempts {
				t.Fatalf("after the limit: ran %d more, %d runs in all, want %d", n, runs.Load(), jobs.DefaultMaxAttempts)
			}
		})
	}
}

// TestJobRunsInsideItsLease: each run's context ends within RunTimeout, and
// a job is leased when it starts, not when an earlier job of the same
// RunDue did: jobs run one after another for as long as each may take
// (RunTimeout, on the fake clock), while another instance polls, and none
// runs twice or twice at once.
func TestJobRunsInsideItsLease(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	first := jobs.NewRunner(d, clk, nil)
	second := jobs.NewRunner(d, clk, nil)
	running := map[string]int{} // all runs are on this goroutine
	runs := map[string]int{}
	polling := false
	h := func(ctx context.Context, j jobs.Job) error {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > jobs.RunTimeout {
			t.Errorf("job %s: handler context deadline %v (set %v), want within %s", j.DedupeKey, dl, ok, jobs.RunTimeout)
		}
		running[j.DedupeKey]++
		runs[j.DedupeKey]++
		if running[j.DedupeKey] > 1 {
			t.Errorf("job %s runs twice at once", j.DedupeKey)
		}
		defer func() { running[j.DedupeKey]-- }()
		if polling { // a run of the other instance, in the same time
			return nil
		}
		clk.Advance(jobs.RunTimeout) // the longest a run may take
		polling = true               // meanwhile the other instance polls
		defer func() { polling = false }()
		if _, err := second.RunDue(ctx); err != nil {
			t.Error(err)
		}
		return nil
	}
	first.Handle("test.slow", h)
	second.Handle("test.slow", h)
	keys := []string{"a", "b", "c"}
	if err := d.Tx(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			if err := jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.slow", DedupeKey: k, RunAt: clk.Now()}, clk.Now()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.RunAll(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if runs[k] != 1 {
			t.Errorf("job %s ran %d times, want once", k, runs[k])
		}
	}
}

// TestLostRunsStopAtTheAttemptLimit: a run that ends without an outcome
// (its worker was killed; here its goroutine exits mid-run) is claimed
// again once its lease ends, but only until its claims reach the attempt
// limit: then a job fails, and a periodic job skips to its next period.
func TestLostRunsStopAtTheAttemptLimit(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, periodic := range []bool{false, true} {
		kind := map[bool]string{false: "test.lost", true: "test.lost.periodic"}[periodic]
		t.Run(kind, func(t *testing.T) {
			r := jobs.NewRunner(d, clk, nil)
			var runs atomic.Int32
			var lose atomic.Bool
			lose.Store(true)
			h := func(context.Context, jobs.Job) error {
				runs.Add(1)
				if lose.Load() {
					runtime.Goexit() // the worker is gone: no outcome is recorded
				}
				return nil
			}
			if periodic {
				if err := r.HandlePeriodic(ctx, jobs.Periodic{Kind: kind, Every: time.Hour, Handler: h}); err != nil {
					t.Fatal(err)
				}
			} else {
				r.Handle(kind, h)
				if err := d.Tx(ctx, func(tx pgx.Tx) error {
					return jobs.Schedule(ctx, tx, jobs.Job{Kind: kind, DedupeKey: "l", RunAt: clk.Now()}, clk.Now())
				}); err != nil {
					t.Fatal(err)
				}
			}
			for range jobs.DefaultMaxAttempts {
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = r.RunDue(ctx)
				}()
				<-done
				clk.Advance(jobs.Lease + time.Second) // the next instance, after the lease
			}
			if runs.Load() != jobs.DefaultMaxAttempts {
				t.Fatalf("%d lost runs, want %d", runs.Load(), jobs.DefaultMaxAttempts)
			}
			lose.Store(false)
			if n := runDue(t, ctx, r); n != 1 || runs.Load() != jobs.DefaultMaxAttempts {
				t.Fatalf("at the limit: took %d jobs, %d runs in all; want the job given up without a run", n, runs.Load())
			}
			var status, lastError string
			var attempts int
			var runAt time.Time
			if err := d.Pool.QueryRow(ctx, `SELECT status, attempts, last_error, run_at FROM jobs WHERE kind = $1`, kind).
				Scan(&status, &attempts, &lastError, &runAt); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(lastError, "gave up after 20 attempts") {
				t.Errorf("last error %q does not say why the job was given up", lastError)
			}
			if !periodic {
				if status != "failed" {
					t.Fatalf("status %s, want failed", status)
				}
				return
			}
			if status != "pending" || attempts != 0 || !runAt.Equal(clk.Now().Add(time.Hour)) {
				t.Fatalf("periodic job: status %s, attempts %d, run at %s; want pending, 0, the next period", status, attempts, runAt)
			}
			clk.Advance(time.Hour)
			if n := runDue(t, ctx, r); n != 1 || runs.Load() != jobs.DefaultMaxAttempts+1 {
				t.Fatalf("next period: took %d, %d runs in all; want it to run again", n, runs.Load())
			}
		})
	}
}

// TestAnyErrorTextIsRecorded: a handler's error (or panic) text is
// recorded whatever it holds: text the database cannot store (NUL,
// invalid UTF-8, a long text cut inside a character) would make the
// outcome's UPDATE fail, leaving the run without an outcome.
func TestAnyErrorTextIsRecorded(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct{ name, text string }{
		{"nul", "bad\x00payload"},
		{"invalid utf-8", "bad \xff\xfe payload"},
		{"long, cut inside a character", "x" + strings.Repeat("é", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := "test.text." + tc.name
			r := jobs.NewRunner(d, clk, nil)
			r.Handle(kind, func(context.Context, jobs.Job) error { return errors.New(tc.text) })
			if err := d.Tx(ctx, func(tx pgx.Tx) error {
				return jobs.Schedule(ctx, tx, jobs.Job{Kind: kind, DedupeKey: "t", RunAt: clk.Now()}, clk.Now())
			}); err != nil {
				t.Fatal(err)
			}
			if n := runDue(t, ctx, r); n != 1 {
				t.Fatalf("ran %d", n)
			}
			var lastError string
			var locked bool
			if err := d.Pool.QueryRow(ctx, `SELECT last_error, locked_until IS NOT NULL FROM jobs WHERE kind = $1`, kind).Scan(&lastError, &locked); err != nil {
				t.Fatal(err)
			}
			if lastError == "" || locked || len(lastError) > 1000 {
				t.Fatalf("outcome not recorded: last error %q (%d bytes), still leased %v", lastError, len(lastError), locked)
			}
		})
	}
}

// TestOutcomeOfARunEndingAtShutdownIsKept: serve ends the workers' context
// once requests have drained. A run that has just done its work then used
// to lose its outcome: finish ran on the ended context, so the job stayed
// pending and leased, its attempt counted toward the limit, to run again.
func TestOutcomeOfARunEndingAtShutdownIsKept(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := jobs.NewRunner(d, clk, nil)
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	r.Handle("test.shutdown", func(ctx context.Context, j jobs.Job) error {
		stopWork() // SIGTERM lands as the work completes
		return nil
	})
	for _, key := range []string{"a", "b"} {
		if err := d.Tx(ctx, func(tx pgx.Tx) error {
			return jobs.Schedule(ctx, tx, jobs.Job{Kind: "test.shutdown", DedupeKey: key, RunAt: clk.Now()}, clk.Now())
		}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if n, err := r.RunDue(workCtx); n != 1 || err == nil {
		t.Fatalf("ran %d (%v), want the first job only, then the ended context", n, err)
	}
	for key, want := range map[string]string{"a": "done 1 false", "b": "pending 0 false"} {
		var status string
		var attempts int
		var leased bool
		if err := d.Pool.QueryRow(ctx, `SELECT status, attempts, locked_until IS NOT NULL FROM jobs WHERE dedupe_key = $1`, key).
			Scan(&status, &attempts, &leased); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s %d %v", status, attempts, leased); got != want {
			t.Errorf("job %s: %s (status, attempts, leased), want %s", key, got, want)
		}
	}
}
