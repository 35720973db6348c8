package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/ledgerbench"
)

const ledgerUsage = "usage: escrowd ledger verify [--tenant ID] | escrowd ledger seal"

// cmdLedger runs the ledger's maintenance commands: verify re-derives every
// balance, entry and sealed block and exits 1 on any mismatch; seal seals
// the entries old enough into blocks now (the ledger.seal job does it every
// minute in serve).
func cmdLedger(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "seal") {
		return errors.New(ledgerUsage)
	}
	sub := args[0]
	cfg, fs, err := load("ledger "+sub, args[1:])
	if err != nil {
		return err
	}
	tenant := fs.String("tenant", "", "verify only this tenant (default: every tenant)")
	a, err := parseOpen(ctx, cfg, fs, args[1:])
	if err != nil {
		return err
	}
	defer a.close()
	if sub == "seal" {
		rep, err := a.set.Ledger.Seal(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("sealed %d entries into %d blocks (%d tenants)\n", rep.Entries, rep.Blocks, rep.Tenants)
		return nil
	}
	var only *uuid.UUID
	if *tenant != "" {
		id, err := uuid.Parse(*tenant)
		if err != nil {
			return fmt.Errorf("--tenant: %w", err)
		}
		only = &id
	}
	rep, err := a.set.Ledger.Verify(ctx, only)
	if err != nil {
		return err
	}
	fmt.Printf("verified %d tenants: %d accounts, %d entries, %d postings, %d sealed blocks\n",
		rep.Tenants, rep.Accounts, rep.Entries, rep.Postings, rep.Blocks)
	for _, is := range rep.Issues {
		var subject string
		switch {
		case is.BlockID != nil:
			subject = fmt.Sprintf("block %d %s", is.BlockHeight, is.BlockID)
		case is.AccountID != nil:
			subject = "account " + is.AccountID.String()
		case is.EntryID != nil:
			subject = "entry " + is.EntryID.String()
		}
		fmt.Printf("MISMATCH tenant %s %s: %s: %s\n", is.TenantID, subject, is.Kind, is.Detail)
	}
	if rep.Truncated {
		fmt.Println("(more issues not listed)")
	}
	if len(rep.Issues) > 0 {
		return fmt.Errorf("ledger verify: %d mismatches", len(rep.Issues))
	}
	fmt.Println("ok")
	return nil
}

// cmdBenchLedger runs the ledger load benchmark (internal/ledgerbench) on a
// fresh database of the DATABASE_URL server and prints its figures, with
// their ratio to a pgbench TPC-B figure when given (make bench-ledger
// runs pgbench first and passes it).
func cmdBenchLedger(ctx context.Context, args []string) error {
	cfg, fs, err := load("bench-ledger", args)
	if err != nil {
		return err
	}
	writers := fs.String("writers", "1,8,32", "concurrent writer counts")
	duration := fs.Duration("duration", 10*time.Second, "length of each (scenario, writers) run")
	accounts := fs.Int("accounts", 10000, "accounts the spread scenario posts between")
	hotShards := fs.Int("hot-shards", 64, "balance shards of the hot account")
	history := fs.Int("history", 1000000, "postings on the account whose reads are timed")
	samples := fs.Int("samples", 2000, "timed reads of each kind")
	pgTPS := fs.Float64("pgbench-tps", 0, "pgbench TPC-B tps to compare with (0: none)")
	pgLabel := fs.String("pgbench-label", "pgbench -c 8 -j 2 -T 20, scale 10, the cluster's default isolation", "what --pgbench-tps measured")
	pgRCTPS := fs.Float64("pgbench-rc-tps", 0, "the same pgbench run at READ COMMITTED, for reference (0: none)")
	dbName := fs.String("database", "escrowd_bench", "database created afresh on the server for the run ('' = DATABASE_URL as is)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ws []int
	for _, s := range strings.Split(*writers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			return fmt.Errorf("--writers: %q is not a count from 1 to 256", s)
		}
		ws = append(ws, n)
	}
	if *duration <= 0 || *accounts < 2 || *hotShards < 1 || *history < 1 || *samples < 1 {
		return errors.New("bench-ledger: duration, accounts (≥ 2), hot-shards, history and samples must be positive")
	}
	if *dbName != "" {
		if cfg.DatabaseURL, err = freshDatabase(ctx, cfg.DatabaseURL, *dbName); err != nil {
			return err
		}
	}
	cfg.DBMaxConns = max(cfg.DBMaxConns, slicesMax(ws)+4)
	cfg.LogLevel = "warn"
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.migrate(ctx); err != nil {
		return err
	}
	fmt.Printf("escrowd bench-ledger: writers %v, %s per run, %d accounts, hot account with %d shards, history %d postings\n",
		ws, *duration, *accounts, *hotShards, *history)
	rep, err := ledgerbench.Execute(ctx, ledgerbench.Config{DB: a.db, Clock: a.clock, Writers: ws, Duration: *duration,
		Accounts: *accounts, HotShards: *hotShards, HistoryPostings: *history, Samples: *samples, Out: os.Stdout})
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("| scenario | writers | entries/s | p50 ms | p99 ms | retries | × pgbench | × pgbench RC | hot ÷ spread |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	spread := map[int]float64{}
	for _, r := range rep.Runs {
		if r.Scenario == ledgerbench.Spread {
			spread[r.Writers] = r.PerSecond()
		}
	}
	for _, r := range rep.Runs {
		ratio, rc, hot := "", "", ""
		if *pgTPS > 0 {
			ratio = fmt.Sprintf("%.2f", r.PerSecond() / *pgTPS)
		}
		if *pgRCTPS > 0 {
			rc = fmt.Sprintf("%.2f", r.PerSecond() / *pgRCTPS)
		}
		if r.Scenario == ledgerbench.Hot && spread[r.Writers] > 0 {
			hot = fmt.Sprintf("%.2f", r.PerSecond()/spread[r.Writers])
		}
		fmt.Printf("| %s | %d | %.0f | %.2f | %.2f | %d | %s | %s | %s |\n", r.Scenario, r.Writers, r.PerSecond(),
			float64(r.P50)/1e6, float64(r.P99)/1e6, r.Retries, ratio, rc, hot)
	}
	if *pgTPS > 0 {
		fmt.Printf("\npgbench TPC-B (%s): %.0f tps\n", *pgLabel, *pgTPS)
	}
	if *pgRCTPS > 0 {
		fmt.Printf("pgbench TPC-B, same run at READ COMMITTED: %.0f tps\n", *pgRCTPS)
	}
	fmt.Println("\n| read | samples | p50 ms | p99 ms | wrong answers |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rep.Reads {
		fmt.Printf("| %s | %d | %.3f | %.3f | %d |\n", r.Name, r.Samples, float64(r.P50)/1e6, float64(r.P99)/1e6, r.Mismatches)
	}
	return nil
}

func slicesMax(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// freshDatabase drops and creates database name on the server of base and
// returns its URL.
func freshDatabase(ctx context.Context, base, name string) (string, error) {
	if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return "", fmt.Errorf("--database %q: lower-case letters, digits and _ only", name)
	}
	admin, err := db.Open(ctx, base, db.Options{MaxConns: 2})
	if err != nil {
		return "", err
	}
	defer admin.Close()
	drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	if admin.CockroachDB {
		drop = "DROP DATABASE IF EXISTS " + name + " CASCADE"
	}
	if _, err := admin.Pool.Exec(ctx, drop); err != nil {
		return "", fmt.Errorf("drop %s: %w", name, err)
	}
	if _, err := admin.Pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
