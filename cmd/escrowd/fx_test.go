package main

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

func TestFXConfigValidation(t *testing.T) {
	base := defaults()
	base.DatabaseURL = "postgres://x"
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if base.FXMaxRateAge != 36*time.Hour || base.FXQuoteTTL != 10*time.Minute || base.FXSpreadBps != 50 {
		t.Fatalf("FX defaults = %s %s %d", base.FXMaxRateAge, base.FXQuoteTTL, base.FXSpreadBps)
	}
	for name, mut := range map[string]func(*Config){
		"fx-max-rate-age": func(c *Config) { c.FXMaxRateAge = 0 },
		"fx-quote-ttl":    func(c *Config) { c.FXQuoteTTL = 48 * time.Hour },
		"fx-spread-bps":   func(c *Config) { c.FXSpreadBps = 1001 },
	} {
		c := base
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v", name, err)
		}
	}
	t.Setenv("ESCROWD_FX_SPREAD_BPS", "25")
	t.Setenv("ESCROWD_FX_QUOTE_TTL", "5m")
	c, _, err := load("x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.FXSpreadBps != 25 || c.FXQuoteTTL != 5*time.Minute || c.FXMaxRateAge != 36*time.Hour {
		t.Fatalf("from the environment: %+v", c)
	}
}

func TestParseWithOnePositional(t *testing.T) {
	for _, args := range [][]string{{"f.xml", "--tenant", "T"}, {"--tenant", "T", "f.xml"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		tenant := fs.String("tenant", "", "")
		file, err := onePositional(fs, args, fxUsage)
		if err != nil || file != "f.xml" || *tenant != "T" {
			t.Errorf("%v: %q %q %v", args, file, *tenant, err)
		}
	}
	for _, args := range [][]string{{"--tenant", "T"}, {"a", "b"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("tenant", "", "")
		if _, err := onePositional(fs, args, fxUsage); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestFXImportCommand(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", d.Pool.Config().ConnString())
	tenant := uuid.New()
	file := "../../testdata/real/ecb-eurofxref-daily-2017-03-08.xml"
	for range 2 { // the second import is a no-op
		if err := cmdFX(ctx, []string{"import", file, "--tenant", tenant.String()}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM fx_rates WHERE tenant_id = $1 AND source = 'ecb'`, tenant).Scan(&n); err != nil || n != 31 {
		t.Fatalf("%d rates stored (%v), want 31", n, err)
	}
	if err := cmdFX(ctx, []string{"import", file}); err == nil || !strings.Contains(err.Error(), "--tenant") {
		t.Fatalf("without --tenant: %v", err)
	}
	if err := cmdFX(ctx, []string{"import", "../../go.mod", "--tenant", tenant.String()}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("not a rates file: %v", err)
	}
}
