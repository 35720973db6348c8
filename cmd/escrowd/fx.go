package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/escrowd/escrowd/fx"
)

const fxUsage = "usage: escrowd fx import FILE --tenant ID   (a rates CSV or the ECB XML feed)"

// cmdFX runs `escrowd fx import FILE --tenant ID`: it reads a rates CSV or
// the ECB daily feed (told apart by content) and stores the rates for the
// tenant, all or nothing.
func cmdFX(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New(fxUsage)
	}
	cfg, tid, file, err := tenantFile("fx import", args[1:], fxUsage, nil)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sets, err := fx.ParseRatesFile(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	res, err := a.set.FX.ImportRates(ctx, tid, sets)
	if err != nil {
		return err
	}
	for _, s := range res.Sets {
		fmt.Printf("%s %s %s: %d rates\n", s.Base, s.AsOf.Format("2006-01-02T15:04:05Z07:00"), s.Source, s.Rates)
	}
	fmt.Printf("inserted %d, unchanged %d\n", res.Inserted, res.Unchanged)
	return nil
}
