package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db/dbtest"
)

func TestRiskConfig(t *testing.T) {
	c := defaults()
	c.DatabaseURL = "postgres://x"
	if c.RiskReviewTTL != 72*time.Hour || c.Validate() != nil {
		t.Fatalf("default review TTL %s: %v", c.RiskReviewTTL, c.Validate())
	}
	for _, ttl := range []time.Duration{0, time.Second, 91 * 24 * time.Hour} {
		c.RiskReviewTTL = ttl
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "risk-review-ttl") {
			t.Errorf("%s: %v", ttl, err)
		}
	}
	t.Setenv("ESCROWD_RISK_REVIEW_TTL", "24h")
	if c, _, err := load("x", nil); err != nil || c.RiskReviewTTL != 24*time.Hour {
		t.Fatalf("from the environment: %s %v", c.RiskReviewTTL, err)
	}
}

func TestSanctionsLoadCommand(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	t.Setenv("DATABASE_URL", d.Pool.Config().ConnString())
	tenant := uuid.New()
	file := "../../testdata/real/ofac-sdn-2024-05-03.csv"
	if err := cmdSanctions(ctx, []string{"load", file, "--tenant", tenant.String()}); err != nil {
		t.Fatal(err)
	}
	var n int
	var source string
	err := d.Pool.QueryRow(ctx, `SELECT entries, source FROM sanctions_lists WHERE tenant_id = $1`, tenant).Scan(&n, &source)
	if err != nil || n != 14965 || source != "ofac-sdn-2024-05-03.csv" {
		t.Fatalf("list: %d %q %v", n, source, err)
	}
	if err := cmdSanctions(ctx, []string{"load", file}); err == nil || !strings.Contains(err.Error(), "--tenant") {
		t.Fatalf("without --tenant: %v", err)
	}
	if err := cmdSanctions(ctx, []string{"load", "../../go.mod", "--tenant", tenant.String()}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("not an SDN file: %v", err)
	}
	if err := cmdSanctions(ctx, []string{"load", "--tenant", tenant.String()}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("without FILE: %v", err)
	}
}
