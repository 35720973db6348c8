package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/escrowd/escrowd/reconcile"
)

const reconcileUsage = "usage: escrowd reconcile import FILE --account CODE --tenant ID [--format camt.053|csv] [--csv-mapping name=value,...]"

// cmdReconcile runs `escrowd reconcile import FILE --account CODE --tenant
// ID`: it imports a camt.053 or CSV statement for the tenant's ledger
// account, like POST /v1/reconciliation/statements. The format comes from
// --format, else the file name (.xml, .csv), else the content (XML starts
// with '<'). --csv-mapping takes the API's mapping parameters as
// name=value pairs, e.g. booking_date=Date,amount=Amount,decimal_comma=true.
func cmdReconcile(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New(reconcileUsage)
	}
	var account, format, mapping *string
	cfg, tid, file, err := tenantFile("reconcile import", args[1:], reconcileUsage, func(fs *flag.FlagSet) {
		account = fs.String("account", "", "ledger account code, e.g. cash:psp:EUR")
		format = fs.String("format", "", "camt.053 or csv (default: from the file name or content)")
		mapping = fs.String("csv-mapping", "", "CSV column mapping as name=value,... (booking_date, value_date, amount | debit and credit, currency, reference, description, counterparty, entry_ref, default_currency, statement_id, date_layout, decimal_comma, separator, skip_duplicates)")
	})
	if err != nil {
		return fmt.Errorf("%s: %w", reconcileUsage, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	req := reconcile.ImportRequest{Account: *account, Format: statementFormat(*format, file, data), Data: data}
	if req.CSV, err = reconcile.ParseCSVMappingList(*mapping); err != nil {
		return err
	}
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	res, err := a.set.Reconcile.ImportStatement(ctx, tid, req)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	st, b := res.Statement, res.Statement.Balance
	fmt.Printf("statement %s (%s) for %s: %d lines, %d new, %d imported before, %d in another statement, %d pending, %d reversals\n",
		st.Ref, st.Format, st.AccountCode, res.Lines, res.NewLines, res.ExistingLines, res.DuplicateLines, res.PendingLines, res.Reversals)
	switch b.Status {
	case reconcile.BalanceTied:
		fmt.Printf("balances tie: opening %s + booked %s = closing %s\n", b.Opening, b.BookedTotal, b.Closing)
	case reconcile.BalanceMismatch:
		fmt.Printf("BALANCES DO NOT TIE: opening %s + booked %s = %s, closing %s (difference %s)\n", b.Opening, b.BookedTotal, b.Expected(), b.Closing, b.Difference)
	default:
		fmt.Printf("balances unchecked (none in the file); booked total %s\n", b.BookedTotal)
	}
	return nil
}

// statementFormat picks the format: the flag, the file name, the content.
func statementFormat(flagged, file string, data []byte) string {
	if flagged != "" {
		return flagged
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".xml":
		return reconcile.FormatCamt053
	case ".csv":
		return reconcile.FormatCSV
	}
	if bytes.HasPrefix(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))), []byte("<")) {
		return reconcile.FormatCamt053
	}
	return reconcile.FormatCSV
}

// cmdBenchReconcile times a matching run over generated data: --lines
// statement lines against --postings ledger postings on one cash account,
// written with INSERT ... SELECT generate_series into a fresh database.
func cmdBenchReconcile(ctx context.Context, args []string) error {
	cfg, fs, err := load("bench-reconcile", args)
	if err != nil {
		return err
	}
	lines := fs.Int("lines", 100_000, "statement lines")
	postings := fs.Int("postings", 1_000_000, "ledger postings on the account (at least 3 × lines)")
	days := fs.Int("days", 90, "days the postings are spread over")
	shards := fs.Int("shards", 16, "balance shards of the cash account")
	fee := fs.String("fee-tolerance", "1.00", "fee tolerance of the run")
	dbName := fs.String("database", "escrowd_bench_reconcile", "database created afresh on the server for the run ('' = DATABASE_URL as is)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbName != "" {
		if cfg.DatabaseURL, err = freshDatabase(ctx, cfg.DatabaseURL, *dbName); err != nil {
			return err
		}
	}
	cfg.LogLevel = "warn"
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.migrate(ctx); err != nil {
		return err
	}
	tn, err := a.set.Tenants.CreateTenant(ctx, "bench-reconcile")
	if err != nil {
		return err
	}
	spec := reconcile.BenchSpec{Tenant: tn.ID, Account: "cash:bench:EUR", Currency: "EUR", Shards: *shards, Postings: *postings, Lines: *lines,
		Days: *days, From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fmt.Printf("escrowd bench-reconcile: %d statement lines against %d postings over %d days (%d shards), fee tolerance %s, %d CPUs\n",
		*lines, *postings, *days, *shards, *fee, runtime.NumCPU())
	start := time.Now()
	data, err := reconcile.GenerateBench(ctx, a.db, spec)
	if err != nil {
		return err
	}
	fmt.Printf("generated in %s\n", time.Since(start).Round(time.Millisecond))
	req := reconcile.RunRequest{Account: spec.Account, From: data.From.Format(time.DateOnly), To: data.To.Format(time.DateOnly), FeeTolerance: *fee}
	for _, dry := range []bool{true, false} {
		req.DryRun = dry
		runtime.GC()
		start := time.Now()
		res, err := a.set.Reconcile.Run(ctx, tn.ID, req)
		if err != nil {
			return err
		}
		took := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		what := "run (stored)"
		if dry {
			what = "dry run (load + match)"
		}
		fmt.Printf("%-24s %8s  lines %d, postings %d, matches %d %v, unmatched lines %d, unmatched postings %d, search truncated %t, Go memory %d MiB\n",
			what, took.Round(time.Millisecond), res.Lines, res.Postings, res.MatchCount, res.ByRule, res.UnmatchedLineCount,
			res.UnmatchedPostingCount, res.SearchTruncated, ms.Sys>>20)
	}
	return nil
}
