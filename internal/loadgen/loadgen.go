// Package loadgen is escrowd's load generator (escrowd bench): concurrent
// clients drive whole escrow lifecycles through the HTTP API — open, fund
// (some in another currency through an FX quote), ship, deliver, then
// accept, release by milestones, refund in part or dispute — with sellers
// drawn from a Zipf distribution and log-normal amounts in currencies of
// 0, 2 and 3 decimals. It measures throughput and latency per operation
// and, at the end, checks the books through the API (CheckInvariants).
// It measures; it asserts nothing about time.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Run limits.
const (
	MaxClients  = 1024
	MaxEscrows  = 10_000_000
	MaxDuration = 24 * time.Hour // MaxSeriesPoints covers it
	MaxSellers  = 1_000_000
	MaxBuyers   = 10_000_000
)

// Config is one run.
type Config struct {
	// BaseURL of the server, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Keys are the API keys by role: marketplace (required), finance
	// (rates and checks), risk_reviewer (approving reviews),
	// dispute_agent (resolving disputes).
	Keys map[string]string
	// Clients is how many escrows are driven at once, each by one client.
	Clients int
	// Duration is the run's length when Escrows is 0; with Escrows it is
	// the time limit.
	Duration time.Duration
	// Escrows, when positive, is how many escrows the run drives.
	Escrows int
	Seed    uint64
	Mix     Mix
	Sellers int
	Buyers  int
	// ImportRates imports the workload's reference rates first (finance).
	ImportRates bool
	// RSS, when set, samples the server's resident memory in bytes.
	RSS func() int64
	// Progress, when set, receives a line every second.
	Progress io.Writer
}

// Validate checks the run's bounds.
func (c Config) Validate() error {
	switch {
	case c.BaseURL == "":
		return errors.New("loadgen: no server URL")
	case c.Keys[RoleMarketplace] == "":
		return errors.New("loadgen: a marketplace key is required")
	case c.Clients < 1 || c.Clients > MaxClients:
		return fmt.Errorf("loadgen: clients must be 1..%d", MaxClients)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("loadgen: duration must be positive, at most %s", MaxDuration)
	case c.Escrows < 0 || c.Escrows > MaxEscrows:
		return fmt.Errorf("loadgen: escrows must be 0..%d", MaxEscrows)
	case c.Sellers < 1 || c.Sellers > MaxSellers || c.Buyers < 1 || c.Buyers > MaxBuyers:
		return fmt.Errorf("loadgen: sellers 1..%d, buyers 1..%d", MaxSellers, MaxBuyers)
	case c.Mix.Accept+c.Mix.Refund+c.Mix.Dispute != 100:
		return errors.New("loadgen: the mix's accept+refund+dispute must be 100")
	}
	return nil
}

// Result is a run's outcome.
type Result struct {
	URL       string    `json:"url"`
	Clients   int       `json:"clients"`
	Duration  string    `json:"duration"`
	Escrows   int       `json:"escrows_requested,omitempty"`
	Seed      uint64    `json:"seed"`
	Mix       string    `json:"mix"`
	Sellers   int       `json:"sellers"`
	Buyers    int       `json:"buyers"`
	StartedAt time.Time `json:"started_at"`
	// Elapsed is from the first call to the end of the last lifecycle.
	Elapsed       float64 `json:"elapsed_seconds"`
	OpsPerSec     float64 `json:"ops_per_second"`
	EscrowsPerSec float64 `json:"escrows_completed_per_second"`
	Summary
	// DB is the server's transaction counters over the run (from
	// /metrics), when it exposes them.
	DB         *DBCounters `json:"db_transactions,omitempty"`
	Invariants []Check     `json:"invariants"`
	Notes      []string    `json:"notes,omitempty"`
	// PgbenchTPS and Ratio are filled in by the caller when it has a
	// pgbench TPC-B figure to compare with.
	PgbenchTPS float64 `json:"pgbench_tps,omitempty"`
	Ratio      float64 `json:"ratio_to_pgbench,omitempty"`
}

// Failed reports whether an invariant failed.
func (r Result) Failed() bool { return Failed(r.Invariants) }

// Run drives the workload and checks the invariants. ctx ending stops new
// escrows; those under way finish (each call is bounded by RequestTimeout).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	res := Result{URL: cfg.BaseURL, Clients: cfg.Clients, Duration: cfg.Duration.String(), Escrows: cfg.Escrows, Seed: cfg.Seed,
		Sellers: cfg.Sellers, Buyers: cfg.Buyers}
	setup := NewClient(cfg.BaseURL, cfg.Keys, cfg.Clients)
	callCtx := context.WithoutCancel(ctx)
	if cfg.ImportRates {
		body := map[string]any{"base": "EUR", "as_of": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), "source": "escrowd-bench", "rates": Rates()}
		if err := setup.Do(callCtx, OpRates, RoleFinance, http.MethodPost, "/v1/fx/rates", body, nil); err != nil {
			return res, fmt.Errorf("importing FX rates: %w", err)
		}
	}
	mix := cfg.Mix
	if mix.Dispute > 0 {
		if err := setup.Do(callCtx, OpProbe, RoleMarketplace, http.MethodGet, "/v1/disputes/policy", nil, nil); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("disputes API not available (%v): the %d%% dispute share ran the accept path", err, mix.Dispute))
			mix.Accept, mix.Dispute = mix.Accept+mix.Dispute, 0
		}
	}
	res.Mix = mix.String()
	gen := NewGenerator(cfg.Seed, mix, cfg.Sellers, cfg.Buyers)
	dbBefore, dbOK := scrapeDB(callCtx, setup)
	start := time.Now()
	res.StartedAt = start.UTC()
	rec := NewRecorder(start)
	client := setup.recording(rec)
	run := uuid.NewString()[:8]
	deadline := start.Add(cfg.Duration)

	var next atomic.Int64
	var wg sync.WaitGroup
	for range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{c: client, rec: rec, run: run}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				seq := int(next.Add(1))
				if cfg.Escrows > 0 && seq > cfg.Escrows {
					return
				}
				rec.Started()
				outcome, err := w.lifecycle(callCtx, seq, gen.Plan(seq))
				rec.Finished(outcome, err)
			}
		}()
	}
	done := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				rss := int64(0)
				if cfg.RSS != nil {
					rss = cfg.RSS()
				}
				p := rec.Tick(now, rss)
				if cfg.Progress != nil {
					fmt.Fprintln(cfg.Progress, progressLine(p, rec.Progress(), now.Sub(start)))
				}
			}
		}
	}()
	wg.Wait()
	end := time.Now()
	close(done)
	<-ticked
	if cfg.RSS != nil {
		rec.SampleRSS(cfg.RSS())
	}
	if dbAfter, ok := scrapeDB(callCtx, setup); ok && dbOK {
		d := dbAfter.sub(dbBefore)
		res.DB = &d
	}
	res.Elapsed = end.Sub(start).Seconds()
	res.Summary = rec.Summary()
	res.OpsPerSec = float64(res.Ops) / res.Elapsed
	res.EscrowsPerSec = float64(res.Completed) / res.Elapsed
	res.Invariants = CheckInvariants(callCtx, setup, res.FiveXX)
	return res, nil
}

// progressLine is the live line: this second's ops, totals, p99 so far.
func progressLine(p Point, pr Progress, elapsed time.Duration) string {
	s := fmt.Sprintf("bench %4ds  %6d ops/s  escrows completed %6d  errors %d  p99 so far %6.1f ms (last 1s %6.1f ms)",
		int(elapsed.Round(time.Second)/time.Second), p.Ops, pr.Completed, pr.Errors, ms(pr.P99), p.P99Ms)
	if p.RSSBytes > 0 {
		s += fmt.Sprintf("  rss %d MB", p.RSSBytes>>20)
	}
	return s
}
