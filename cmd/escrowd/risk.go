package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// maxRiskReviewTTL bounds ESCROWD_RISK_REVIEW_TTL.
const maxRiskReviewTTL = 90 * 24 * time.Hour

const sanctionsUsage = "usage: escrowd sanctions load FILE --tenant ID"

// cmdSanctions loads an OFAC SDN list (sdn.csv format) as a tenant's
// current sanctions list, in one transaction.
func cmdSanctions(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "load" {
		return errors.New(sanctionsUsage)
	}
	cfg, tid, file, err := tenantFile("sanctions load", args[1:], sanctionsUsage, nil)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	a, err := open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer a.close()
	l, err := a.set.Risk.LoadSanctions(ctx, tid, f, filepath.Base(file))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Printf("sanctions list %s: %d entries, sha256 %s\n", l.ID, l.Entries, l.SHA256)
	return nil
}
