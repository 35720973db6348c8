// Package ledgerbench is the ledger's load benchmark (escrowd bench-ledger):
// two-leg entries posted by 1, 8 and 32 concurrent writers, (a) spread over
// many accounts, (b) all touching one shared hot (sharded) account; then
// balance and point-in-time balance reads on an account with a long
// history, generated in bulk consistently with the running-balance scheme.
// It measures; it asserts nothing about time.
package ledgerbench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/ledger"
)

// Config is one benchmark run.
type Config struct {
	DB    *db.DB
	Clock clock.Clock
	// Writers are the concurrency levels, e.g. 1, 8, 32.
	Writers []int
	// Duration of each (scenario, writers) run.
	Duration time.Duration
	// Accounts is how many accounts scenario (a) spreads over.
	Accounts int
	// HotShards is the shard count of the hot account of scenario (b).
	HotShards int
	// HistoryPostings is the length of the history of the account whose
	// balance reads are measured.
	HistoryPostings int
	// Samples is how many reads of each kind are timed.
	Samples int
	// Out receives the progress and the tables.
	Out io.Writer
}

// Run is the outcome of one (scenario, writers) run.
type Run struct {
	Scenario string
	Writers  int
	Entries  int
	Errors   int
	Retries  int
	// FirstError is the first error a writer met, if any.
	FirstError string
	Elapsed    time.Duration
	P50, P99   time.Duration
}

// PerSecond is the committed entries per second.
func (r Run) PerSecond() float64 { return float64(r.Entries) / r.Elapsed.Seconds() }

// Reads is the outcome of a read measurement.
type Reads struct {
	Name       string
	Samples    int
	Mismatches int // point-in-time answers that differ from the known history
	P50, P99   time.Duration
}

// Report is everything a benchmark measured.
type Report struct {
	Tenant          uuid.UUID
	Runs            []Run
	Reads           []Reads
	HistoryPostings int
}

// Scenario names.
const (
	Spread = "spread"
	Hot    = "hot"
)

// accounts created for a run.
type fixture struct {
	tenant      uuid.UUID
	spread      []ledger.Account
	hot         ledger.Account
	hist, src   ledger.Account
	histStart   time.Time
	histStep    time.Duration
	histEntries int
}

const (
	currency     = "USD"
	accountBatch = 500 // accounts created per transaction
)

// Execute runs the benchmark on a fresh tenant.
func Execute(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	f, err := setup(ctx, cfg)
	if err != nil {
		return rep, err
	}
	rep.Tenant = f.tenant
	// A short warm-up, not measured.
	if _, err := post(ctx, cfg, f, Spread, 4, min(cfg.Duration, 2*time.Second)); err != nil {
		return rep, err
	}
	for _, sc := range []string{Spread, Hot} {
		for _, w := range cfg.Writers {
			r, err := post(ctx, cfg, f, sc, w, cfg.Duration)
			if err != nil {
				return rep, err
			}
			fmt.Fprintf(cfg.Out, "  %-7s %3d writers: %7d entries, %8.1f entries/s, p50 %6.2f ms, p99 %6.2f ms, %d errors, %d retries\n",
				r.Scenario, r.Writers, r.Entries, r.PerSecond(), ms(r.P50), ms(r.P99), r.Errors, r.Retries)
			if r.FirstError != "" {
				fmt.Fprintf(cfg.Out, "    first error: %s\n", r.FirstError)
			}
			rep.Runs = append(rep.Runs, r)
		}
	}
	fmt.Fprintf(cfg.Out, "seeding a history of %d postings on one account...\n", cfg.HistoryPostings)
	t0 := time.Now()
	n, err := seedHistory(ctx, cfg, f)
	if err != nil {
		return rep, err
	}
	rep.HistoryPostings = n
	fmt.Fprintf(cfg.Out, "  %d postings in %.1f s\n", n, time.Since(t0).Seconds())
	reads, err := measureReads(ctx, cfg, f)
	if err != nil {
		return rep, err
	}
	for _, r := range reads {
		fmt.Fprintf(cfg.Out, "  %-34s %5d reads: p50 %6.2f ms, p99 %6.2f ms, %d wrong answers\n", r.Name, r.Samples, ms(r.P50), ms(r.P99), r.Mismatches)
	}
	rep.Reads = reads
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func setup(ctx context.Context, cfg Config) (*fixture, error) {
	f := &fixture{tenant: uuid.Must(uuid.NewV7())}
	fmt.Fprintf(cfg.Out, "tenant %s: creating %d accounts and a hot account with %d shards...\n", f.tenant, cfg.Accounts, cfg.HotShards)
	for lo := 0; lo < cfg.Accounts; lo += accountBatch {
		batch, err := db.Write(ctx, cfg.DB, func(tx pgx.Tx) ([]ledger.Account, error) {
			var out []ledger.Account
			for i := lo; i < min(lo+accountBatch, cfg.Accounts); i++ {
				a, err := ledger.EnsureAccount(ctx, tx, ledger.AccountSpec{TenantID: f.tenant, Code: fmt.Sprintf("bench:party:%d:%s", i, currency),
					Currency: currency, Kind: ledger.KindLiability}, cfg.Clock.Now())
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
			return out, nil
		})
		if err != nil {
			return nil, fmt.Errorf("bench accounts: %w", err)
		}
		f.spread = append(f.spread, batch...)
	}
	specs := []ledger.AccountSpec{
		{TenantID: f.tenant, Code: "cash:psp:" + currency, Currency: currency, Kind: ledger.KindAsset, Shards: cfg.HotShards},
		{TenantID: f.tenant, Code: "bench:history:" + currency, Currency: currency, Kind: ledger.KindLiability},
		{TenantID: f.tenant, Code: "bench:history-source:" + currency, Currency: currency, Kind: ledger.KindAsset},
	}
	accts, err := db.Write(ctx, cfg.DB, func(tx pgx.Tx) ([]ledger.Account, error) {
		var out []ledger.Account
		for _, s := range specs {
			a, err := ledger.EnsureAccount(ctx, tx, s, cfg.Clock.Now())
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench accounts: %w", err)
	}
	f.hot, f.hist, f.src = accts[0], accts[1], accts[2]
	return f, nil
}

// post runs writers goroutines posting two-leg entries for d.
func post(ctx context.Context, cfg Config, f *fixture, scenario string, writers int, d time.Duration) (Run, error) {
	run := Run{Scenario: scenario, Writers: writers}
	prefix := uuid.Must(uuid.NewV7()).String()[:13] // references are unique per run
	retriesBefore := retries(cfg.DB)
	lat := make([][]time.Duration, writers)
	errs := make([]int, writers)
	var fatal error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for i := 0; time.Now().Before(deadline); i++ {
				n := len(f.spread)
				debit, credit := f.spread[rng.IntN(n)], f.spread[rng.IntN(n)]
				if scenario == Hot {
					debit = f.hot
				}
				for credit.ID == debit.ID {
					credit = f.spread[rng.IntN(n)]
				}
				amount := decimal.New(rng.Int64N(100000)+1, -2)
				e := ledger.Entry{TenantID: f.tenant, Kind: "bench.transfer", Reference: fmt.Sprintf("%s-%s-%d-%d", prefix, scenario, w, i),
					Postings: []ledger.Posting{
						{AccountID: debit.ID, Direction: ledger.SideDebit, Amount: amount, Currency: currency},
						{AccountID: credit.ID, Direction: ledger.SideCredit, Amount: amount, Currency: currency},
					}}
				t := time.Now()
				_, err := db.Write(ctx, cfg.DB, func(tx pgx.Tx) (ledger.Entry, error) {
					e.CreatedAt = cfg.Clock.Now()
					return ledger.Post(ctx, tx, e)
				})
				if err != nil {
					errs[w]++
					mu.Lock()
					if run.FirstError == "" {
						run.FirstError = err.Error()
					}
					if ctx.Err() != nil {
						fatal = ctx.Err()
					}
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	run.Elapsed = time.Since(start)
	if fatal != nil {
		return run, fatal
	}
	var all []time.Duration
	for w := range writers {
		all = append(all, lat[w]...)
		run.Errors += errs[w]
	}
	run.Entries = len(all)
	run.P50, run.P99 = percentiles(all)
	run.Retries = retries(cfg.DB) - retriesBefore
	return run, nil
}

func retries(d *db.DB) int {
	n := 0
	for _, code := range []string{"40001", "40P01"} {
		for _, phase := range []string{"body", "commit"} {
			n += d.Retries(code, phase)
		}
	}
	return n
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99)
}

// historyChunk is how many history entries one INSERT writes.
const historyChunk = 2000

// historyLegs is how many postings each history entry makes on the
// history account (one more posting on the source balances it).
const historyLegs = ledger.MaxPostings - 1

// seedHistory writes, with bulk INSERT ... SELECT generate_series
// statements (portable to CockroachDB), about cfg.HistoryPostings postings
// on f.hist: entries of 63 credits of 1.00 to it and one debit of 63.00 to
// f.src, one entry per f.histStep over the past year, with the running
// balances and sequence numbers the write path would have stored, then
// sets both balance rows to match. It returns the postings on f.hist.
func seedHistory(ctx context.Context, cfg Config, f *fixture) (int, error) {
	entries := (cfg.HistoryPostings + historyLegs - 1) / historyLegs
	end := cfg.Clock.Now().Add(-time.Hour)
	f.histEntries = entries
	f.histStep = (365 * 24 * time.Hour / time.Duration(max(entries, 1))).Truncate(time.Microsecond)
	f.histStart = end.Add(-time.Duration(entries) * f.histStep).UTC().Truncate(time.Second)
	for lo := 0; lo < entries; lo += historyChunk {
		hi := min(lo+historyChunk, entries)
		_, err := cfg.DB.Pool.Exec(ctx, `
			WITH e AS (
				INSERT INTO ledger_entries (id, tenant_id, kind, description, reference, status, effective_at, created_at, metadata, posting_count)
				SELECT gen_random_uuid(), $1, 'bench.history', '', 'history-' || g::TEXT, 'posted',
					$2::TIMESTAMPTZ + g * $3::INT8 * INTERVAL '1 microsecond', $2::TIMESTAMPTZ + g * $3::INT8 * INTERVAL '1 microsecond',
					'{}', $7::INT8 + 1
				FROM generate_series($4::INT8, $5::INT8 - 1) AS g
				RETURNING id, created_at, substr(reference, 9)::INT8 AS g
			)
			INSERT INTO ledger_postings (entry_id, idx, tenant_id, account_id, shard, direction, amount, currency, pending,
				balance_after, seq, created_at, effective_at)
			SELECT e.id, k, $1, CASE WHEN k < $7::INT8 THEN $6::UUID ELSE $8::UUID END, 0,
				CASE WHEN k < $7::INT8 THEN 'credit' ELSE 'debit' END,
				CASE WHEN k < $7::INT8 THEN 1 ELSE $7::INT8 END, $9, false,
				CASE WHEN k < $7::INT8 THEN e.g * $7::INT8 + k + 1 ELSE $7::INT8 * (e.g + 1) END,
				CASE WHEN k < $7::INT8 THEN e.g * $7::INT8 + k + 1 ELSE e.g + 1 END,
				e.created_at, e.created_at
			FROM e CROSS JOIN generate_series(0, $7::INT8) AS k`,
			f.tenant, f.histStart, f.histStep.Microseconds(), lo, hi, f.hist.ID, historyLegs, f.src.ID, currency)
		if err != nil {
			return 0, fmt.Errorf("seed history: %w", err)
		}
	}
	last := f.histStart.Add(time.Duration(entries-1) * f.histStep)
	n := entries * historyLegs
	if _, err := cfg.DB.Pool.Exec(ctx, `
		UPDATE ledger_balances SET posted = $3::INT8, seq = CASE WHEN account_id = $1 THEN $3::INT8 ELSE $4::INT8 END, last_at = $5
		WHERE account_id IN ($1, $2)`, f.hist.ID, f.src.ID, n, entries, last); err != nil {
		return 0, fmt.Errorf("seed history balances: %w", err)
	}
	return n, nil
}

// expectedAt is the history account's balance at t.
func (f *fixture) expectedAt(t time.Time) decimal.Decimal {
	if t.Before(f.histStart) {
		return decimal.Zero
	}
	k := min(int(t.Sub(f.histStart)/f.histStep)+1, f.histEntries)
	return decimal.NewFromInt(int64(k * historyLegs))
}

// measureReads times balance reads and point-in-time balance reads of the
// history account and of the hot account, one at a time.
func measureReads(ctx context.Context, cfg Config, f *fixture) ([]Reads, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	span := time.Duration(f.histEntries) * f.histStep
	type probe struct {
		name string
		fn   func() (bool, error)
	}
	probes := []probe{
		{fmt.Sprintf("balance, %d postings", f.histEntries*historyLegs), func() (bool, error) {
			b, err := ledger.GetBalance(ctx, cfg.DB.Pool, f.tenant, f.hist.ID)
			return err == nil && b.Posted.Equal(decimal.NewFromInt(int64(f.histEntries*historyLegs))), err
		}},
		{fmt.Sprintf("balance at time, %d postings", f.histEntries*historyLegs), func() (bool, error) {
			at := f.histStart.Add(-time.Hour + time.Duration(rng.Int64N(int64(span+2*time.Hour))))
			b, err := ledger.BalanceAt(ctx, cfg.DB.Pool, f.tenant, f.hist.ID, at)
			return err == nil && b.Equal(f.expectedAt(at)), err
		}},
		{fmt.Sprintf("balance, hot (%d shards)", f.hot.Shards), func() (bool, error) {
			_, err := ledger.GetBalance(ctx, cfg.DB.Pool, f.tenant, f.hot.ID)
			return true, err
		}},
		{fmt.Sprintf("balance at time, hot (%d shards)", f.hot.Shards), func() (bool, error) {
			_, err := ledger.BalanceAt(ctx, cfg.DB.Pool, f.tenant, f.hot.ID, cfg.Clock.Now().Add(-time.Duration(rng.Int64N(int64(time.Minute)))))
			return true, err
		}},
	}
	var out []Reads
	for _, p := range probes {
		r := Reads{Name: p.name, Samples: cfg.Samples}
		lat := make([]time.Duration, 0, cfg.Samples)
		for range cfg.Samples {
			t := time.Now()
			ok, err := p.fn()
			lat = append(lat, time.Since(t))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			if !ok {
				r.Mismatches++
			}
		}
		r.P50, r.P99 = percentiles(lat)
		out = append(out, r)
	}
	return out, nil
}
