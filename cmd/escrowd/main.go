// Command escrowd is the escrow and trade-assurance ledger service.
//
//	escrowd serve                      run the HTTP API and background workers
//	escrowd migrate                    apply database migrations
//	escrowd tenants create --name N    create a tenant; prints its id
//	escrowd keys create --tenant ID --role R   create an API key; prints it
//	escrowd keys list --tenant ID | keys revoke --id KEY_ID
//	escrowd fx import FILE --tenant ID   import FX rates (CSV or ECB XML)
//	escrowd sanctions load FILE --tenant ID   load an OFAC SDN list (sdn.csv)
//	escrowd reconcile import FILE --account CODE --tenant ID   import a bank/PSP statement (camt.053 or CSV)
//	escrowd ledger verify [--tenant ID] | ledger seal   re-derive balances from postings; seal closed periods
//	escrowd bench-ledger              ledger load benchmark on a fresh database
//	escrowd bench-reconcile           time matching 100k statement lines against 1M postings
//	escrowd demo                       run the demo stories against a fresh server
//	escrowd bench [--url U] [--clients C] [--duration D | --escrows N]   load the HTTP API, check the books
//	escrowd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	help string
	run  func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":           {"run the HTTP API and background workers", cmdServe},
		"migrate":         {"apply database migrations", cmdMigrate},
		"tenants":         {"tenants create --name N", cmdTenants},
		"keys":            {"keys create --tenant ID --role R | keys list --tenant ID | keys revoke --id KEY_ID", cmdKeys},
		"fx":              {"fx import FILE --tenant ID (rates CSV or ECB XML)", cmdFX},
		"sanctions":       {"sanctions load FILE --tenant ID (OFAC SDN list, sdn.csv format)", cmdSanctions},
		"ledger":          {"ledger verify [--tenant ID] (re-derive balances, entries, sealed blocks) | ledger seal", cmdLedger},
		"bench-ledger":    {"ledger load benchmark on a fresh database (make bench-ledger adds pgbench)", cmdBenchLedger},
		"bench":           {"HTTP load generator: escrow lifecycles, latency, invariant checks (make bench adds pgbench)", cmdBench},
		"reconcile":       {"reconcile import FILE --account CODE --tenant ID [--format camt.053|csv] [--csv-mapping name=value,...]", cmdReconcile},
		"bench-reconcile": {"matching benchmark: --lines statement lines against --postings ledger postings, generated in a fresh database", cmdBenchReconcile},
		"demo":            {"start a server on the database and drive the demo stories through the HTTP API", cmdDemo},
		"version":         {"print the version", func(context.Context, []string) error { fmt.Println(version); return nil }},
	}
}

func main() {
	cmds := commands()
	if len(os.Args) < 2 || cmds[os.Args[1]].run == nil {
		usage(cmds)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmds[os.Args[1]].run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "escrowd:", err)
		os.Exit(1)
	}
}

func usage(cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: escrowd <command> [flags]")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, cmds[n].help)
	}
}
