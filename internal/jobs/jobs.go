// Package jobs runs background work (auto-release, deadlines, expiries,
// pruning) from a jobs table. Any number of escrowd instances may run
// workers: due jobs are claimed with FOR UPDATE SKIP LOCKED and a lease, and
// handlers are idempotent, since a job may run again after a crash.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/valid"
)

// Limits.
const (
	// RunBatch bounds how many jobs one RunDue runs. Each is claimed just
	// before it runs (see RunDue).
	RunBatch = 20
	// Lease is how long a claimed job is kept from other workers.
	Lease = 5 * time.Minute
	// RunTimeout bounds one run: the handler's context ends RunTimeout after
	// it starts. With leaseMargin (the claim's and the outcome's
	// transactions, their retries, clock skew between instances) it ends
	// well inside the lease, so no other instance can claim the job while
	// the run still goes on.
	RunTimeout         = 2 * time.Minute
	leaseMargin        = time.Minute
	DefaultMaxAttempts = 20
	maxErrorText       = 1000
	// outcomeTimeout bounds recording a run's outcome, which goes on when
	// the runner's context has ended (shutdown): the run happened, and an
	// outcome lost would leave the job leased, its attempt counted, to run
	// again.
	outcomeTimeout = 10 * time.Second
)

// A run and its margin fit in the lease, and recording an outcome fits in
// the margin: the conversion of a negative constant does not compile.
const (
	_ = uint64(Lease - RunTimeout - leaseMargin)
	_ = uint64(leaseMargin - outcomeTimeout)
)

// Job is a unit of background work.
type Job struct {
	ID        uuid.UUID
	TenantID  uuid.UUID // uuid.Nil for platform-wide jobs
	Kind      string
	DedupeKey string // "" for none; otherwise one pending job per (kind, key)
	Payload   json.RawMessage
	RunAt     time.Time
	Attempts  int

	claim       uuid.UUID // the token of the run that claimed it
	maxAttempts int
}

// Handler runs a job. It runs outside any transaction and opens its own. A
// returned error schedules a retry with backoff; ErrPermanent fails the job
// at once. Its context ends RunTimeout after the run starts, and it must
// return then: the runner cannot stop a handler that ignores its context,
// and one that runs on past the job's lease may find the job claimed and
// run by another instance at the same time.
type Handler func(ctx context.Context, j Job) error

// ErrPermanent marks a handler error that retrying cannot fix.
var ErrPermanent = errors.New("permanent job failure")

// ErrPanicked is the error recorded for a run whose handler panicked: the
// runner recovers the panic, so one bad job cannot take the process (and
// every request it serves) down, and counts the run as a failed attempt.
var ErrPanicked = errors.New("job handler panicked")

// Schedule inserts a job in tx, or, when a job with the same kind and dedupe
// key exists, moves it to run at j.RunAt with the new payload and makes it
// pending again.
func Schedule(ctx context.Context, tx pgx.Tx, j Job, now time.Time) error {
	if j.Payload == nil {
		j.Payload = json.RawMessage(`{}`)
	}
	var dedupe *string
	if j.DedupeKey != "" {
		dedupe = &j.DedupeKey
	}
	var tenant *uuid.UUID
	if j.TenantID != uuid.Nil {
		tenant = &j.TenantID
	}
	err := db.Later(ctx, tx, `
		INSERT INTO jobs (id, tenant_id, kind, dedupe_key, payload, run_at, status, max_attempts, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)
		ON CONFLICT (kind, dedupe_key) DO UPDATE
		SET payload = excluded.payload, run_at = excluded.run_at, status = 'pending', attempts = 0,
		    claim = NULL, last_error = '', finished_at = NULL`,
		uuid.New(), tenant, j.Kind, dedupe, []byte(j.Payload), j.RunAt, DefaultMaxAttempts, now)
	if err != nil {
		return fmt.Errorf("schedule job %s %s: %w", j.Kind, j.DedupeKey, err)
	}
	return nil
}

// Cancel cancels the pending job of kind with dedupe key, if any.
func Cancel(ctx context.Context, tx pgx.Tx, kind, dedupeKey string, now time.Time) error {
	err := db.Later(ctx, tx, `
		UPDATE jobs SET status = 'cancelled', finished_at = $3 WHERE kind = $1 AND dedupe_key = $2 AND status = 'pending'`,
		kind, dedupeKey, now)
	if err != nil {
		return fmt.Errorf("cancel job %s %s: %w", kind, dedupeKey, err)
	}
	return nil
}

// Periodic is a platform-wide job that reschedules itself every Every.
type Periodic struct {
	Kind    string
	Every   time.Duration
	Handler Handler
}

// Runner claims and runs due jobs.
type Runner struct {
	DB       *db.DB
	Clock    clock.Clock
	Log      *slog.Logger
	handlers map[string]Handler
	periodic map[string]time.Duration
}

// NewRunner returns a runner with no handlers.
func NewRunner(d *db.DB, c clock.Clock, log *slog.Logger) *Runner {
	return &Runner{DB: d, Clock: c, Log: log, handlers: map[string]Handler{}, periodic: map[string]time.Duration{}}
}

// Handle registers the handler of a job kind.
func (r *Runner) Handle(kind string, h Handler) { r.handlers[kind] = h }

// HandlePeriodic registers a periodic job and makes sure it is scheduled.
func (r *Runner) HandlePeriodic(ctx context.Context, p Periodic) error {
	r.handlers[p.Kind] = p.Handler
	r.periodic[p.Kind] = p.Every
	now := r.Clock.Now()
	return r.DB.Tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, status, max_attempts, created_at)
			VALUES ($1, $2, 'periodic', '{}', $3, 'pending', $4, $3) ON CONFLICT (kind, dedupe_key) DO NOTHING`,
			uuid.New(), p.Kind, now, DefaultMaxAttempts)
		return err
	})
}

// RunDue runs up to RunBatch due jobs of known kinds, one by one, and
// records each outcome. It returns how many it took: ran, or gave up on
// (see claim).
//
// Each job is claimed just before it runs. Jobs claimed together would
// wait for the runs before them under leases taken at the start, and one
// still waiting when its lease ended would be claimed and run by another
// instance while this one was about to run it too. Claimed one at a time, a
// job's lease covers only its own run, which RunTimeout bounds; the cost is
// one claim transaction per job.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	for n := range RunBatch {
		j, got, err := r.claim(ctx, kinds)
		if err != nil || got == claimedNone {
			return n, err
		}
		if got == claimedGaveUp {
			continue
		}
		herr := r.run(ctx, j)
		if err := r.finish(ctx, j, herr); err != nil {
			return n + 1, err
		}
	}
	return RunBatch, nil
}

// What claim found.
type claimed int

const (
	claimedNone   claimed = iota // no due job
	claimedRun                   // a job to run now
	claimedGaveUp                // a job past its attempt limit, given up
)

// claim claims the due job of kinds that has waited longest, if any: it
// leases the job to this run and counts the attempt.
//
// A job whose claims have reached its attempt limit is given up instead:
// its last run ended without a recorded outcome (finish fails a job at the
// limit), because its process stopped mid-run (killed, or crashed by the
// handler) or recording the outcome failed, and running it again could end
// the same way forever. It fails as finish would fail it; a periodic job
// skips to its next period.
func (r *Runner) claim(ctx context.Context, kinds []string) (Job, claimed, error) {
	now := r.Clock.Now()
	var j Job
	var got claimed
	err := r.DB.Tx(ctx, func(tx pgx.Tx) error {
		j, got = Job{claim: uuid.New()}, claimedNone
		var lastError string
		err := tx.QueryRow(ctx, `
			SELECT id, COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'), kind, COALESCE(dedupe_key, ''), payload, run_at,
			       attempts, max_attempts, last_error
			FROM jobs WHERE status = 'pending' AND run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) AND kind = ANY ($2)
			ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED`, now, kinds).
			Scan(&j.ID, &j.TenantID, &j.Kind, &j.DedupeKey, &j.Payload, &j.RunAt, &j.Attempts, &j.maxAttempts, &lastError)
		if db.IsNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if j.Attempts >= j.maxAttempts {
			got = claimedGaveUp
			return r.giveUp(ctx, tx, j, lastError, now)
		}
		got = claimedRun
		_, err = tx.Exec(ctx, `UPDATE jobs SET locked_until = $2, attempts = attempts + 1, claim = $3 WHERE id = $1`, j.ID, now.Add(Lease), j.claim)
		return err
	})
	if err != nil {
		return Job{}, claimedNone, fmt.Errorf("claim job: %w", err)
	}
	switch {
	case got == claimedRun:
		j.Attempts++
	case got == claimedGaveUp && r.Log != nil:
		r.Log.Error("job given up: its last run ended without an outcome", "kind", j.Kind, "job", j.ID, "attempts", j.Attempts)
	}
	return j, got, nil
}

// giveUp ends j, whose claims reached its attempt limit (see claim).
func (r *Runner) giveUp(ctx context.Context, tx pgx.Tx, j Job, lastError string, now time.Time) error {
	msg := fmt.Sprintf("gave up after %d attempts: the last ended without a recorded outcome (its process stopped mid-run, or recording the outcome failed)", j.Attempts)
	if lastError != "" {
		msg += "; last error: " + lastError
	}
	if every, ok := r.periodic[j.Kind]; ok {
		_, err := tx.Exec(ctx, `UPDATE jobs SET run_at = $2, attempts = 0, locked_until = NULL, claim = NULL, last_error = $3 WHERE id = $1`,
			j.ID, now.Add(every), errorText(msg))
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', locked_until = NULL, claim = NULL, finished_at = $2, last_error = $3 WHERE id = $1`,
		j.ID, now, errorText(msg))
	return err
}

// run runs j's handler for at most RunTimeout. A panic is recovered,
// logged with its stack and returned as ErrPanicked, a failed attempt like
// any other error.
func (r *Runner) run(ctx context.Context, j Job) (err error) {
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			if r.Log != nil {
				r.Log.Error("job handler panicked", "kind", j.Kind, "job", j.ID, "attempt", j.Attempts,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			err = fmt.Errorf("%w: %v", ErrPanicked, p)
		}
	}()
	return r.handlers[j.Kind](ctx, j)
}

// finish records a run's outcome, only if the job is still the one this run
// claimed: a job rescheduled (Schedule) while it ran keeps its new run. It
// is recorded also when ctx has ended (see outcomeTimeout).
func (r *Runner) finish(ctx context.Context, j Job, herr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	now := r.Clock.Now()
	claim := j.claim
	every, periodic := r.periodic[j.Kind]
	// Logged once, before the transaction, which may run more than once.
	if herr != nil && r.Log != nil {
		if periodic {
			r.Log.Error("periodic job failed", "kind", j.Kind, "err", herr)
		} else {
			r.Log.Warn("job failed", "kind", j.Kind, "job", j.ID, "attempt", j.Attempts, "err", herr)
		}
	}
	return r.DB.Tx(ctx, func(tx pgx.Tx) error {
		if periodic {
			_, err := tx.Exec(ctx, `UPDATE jobs SET run_at = $2, attempts = 0, locked_until = NULL, last_error = $3 WHERE id = $1 AND claim = $4`,
				j.ID, now.Add(every), errText(herr), claim)
			return err
		}
		if herr == nil {
			_, err := tx.Exec(ctx, `UPDATE jobs SET status = 'done', locked_until = NULL, finished_at = $2, last_error = '' WHERE id = $1 AND claim = $3`, j.ID, now, claim)
			return err
		}
		if errors.Is(herr, ErrPermanent) || j.Attempts >= j.maxAttempts {
			_, err := tx.Exec(ctx, `UPDATE jobs SET status = 'failed', locked_until = NULL, finished_at = $2, last_error = $3 WHERE id = $1 AND claim = $4`, j.ID, now, errText(herr), claim)
			return err
		}
		backoff := time.Duration(1<<min(j.Attempts, 12)) * time.Second
		_, err := tx.Exec(ctx, `UPDATE jobs SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1 AND claim = $4`, j.ID, now.Add(backoff), errText(herr), claim)
		return err
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return errorText(err.Error())
}

// errorText makes s fit last_error (see valid.StorableText): anything
// the database cannot store would make the outcome's UPDATE fail.
func errorText(s string) string { return valid.StorableText(s, maxErrorText) }

// RunAll runs due jobs until none is left (for tests and the demo, which
// move an injected clock and then drain). It stops after maxRounds calls of
// RunDue (RunBatch jobs each).
func (r *Runner) RunAll(ctx context.Context, maxRounds int) (int, error) {
	total := 0
	for range maxRounds {
		n, err := r.RunDue(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// Loop runs due jobs every interval until ctx ends.
func (r *Runner) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.RunAll(ctx, 50); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.Error("jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
