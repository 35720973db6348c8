package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/internal/db/dbtest"
	"github.com/escrowd/escrowd/internal/tenants"
)

// TestFlagsOverrideEnvironment: defaults, then environment, then flags.
func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Setenv("ESCROWD_ADDR", "127.0.0.1:9999")
	t.Setenv("ESCROWD_JOB_INTERVAL", "5s")
	cfg, fs, err := load("serve", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--addr", "127.0.0.1:7000", "--database-url", "postgres://x"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7000" || cfg.JobInterval != 5*time.Second || cfg.DatabaseURL != "postgres://x" || cfg.DBMaxConns != defaults().DBMaxConns {
		t.Fatalf("config %+v", *cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := *cfg
	bad.DatabaseURL, bad.LogLevel = "", "loud"
	if err := bad.Validate(); err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, key := range []string{"c2VjcmV0", "not base64!"} { // "secret": 6 bytes
		bad = *cfg
		bad.SecretKey = key
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "secret-key") {
			t.Errorf("secret key %q: %v", key, err)
		}
	}
	good := *cfg
	good.SecretKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes
	if box, err := good.secrets(); err != nil || box == nil || good.Validate() != nil {
		t.Fatalf("32-byte key: %v, %v", box, err)
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table true.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := defaults()
	for _, v := range c.vars() {
		if !strings.Contains(string(readme), "`"+v.env+"`") || !strings.Contains(string(readme), "`--"+v.flag+"`") {
			t.Errorf("README.md does not list %s / --%s", v.env, v.flag)
		}
	}
}

// TestUsageHidesSecrets: a flag's default comes from the environment, and
// usage output (-h, or any mistyped flag) must not print the database
// password or the secret key.
func TestUsageHidesSecrets(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	t.Setenv("ESCROWD_SECRET_KEY", key)
	t.Setenv("DATABASE_URL", "postgres://escrowd:hunter2@db.internal/escrowd")
	cfg, fs, err := load("serve", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := fs.Parse([]string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if strings.Contains(out.String(), "hunter2") || strings.Contains(out.String(), key) || !strings.Contains(out.String(), "-secret-key") {
		t.Fatalf("usage output shows a secret:\n%s", out.String())
	}
	if cfg.SecretKey != key || cfg.DatabaseURL != "postgres://escrowd:hunter2@db.internal/escrowd" {
		t.Fatalf("environment not read: %+v", cfg)
	}
	if err := fs.Parse([]string{"--secret-key", "x", "--database-url", "postgres://y"}); err != nil || cfg.SecretKey != "x" || cfg.DatabaseURL != "postgres://y" {
		t.Fatalf("flags: %v %+v", err, cfg)
	}
}

// TestOperatorTenantOpensProfiling: ESCROWD_OPERATOR_TENANT must be a
// tenant id, and serve opens /debug/pprof/ to that tenant's admin keys
// only; without it profiling is off (404, as an unknown route).
func TestOperatorTenantOpensProfiling(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"", true},
		{"0b6f2c1e-6f0a-4c7e-9a51-3f1d2b8c9e10", true},
		{"acme", false},
		{"0b6f2c1e-6f0a-4c7e-9a51", false},
	} {
		cfg := defaults()
		cfg.DatabaseURL = "postgres://x"
		cfg.OperatorTenant = tc.value
		if err := cfg.Validate(); (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "operator-tenant")) {
			t.Errorf("operator tenant %q: %v, want ok %v", tc.value, err, tc.ok)
		}
	}

	d := dbtest.New(t)
	ctx := context.Background()
	cfg := defaults()
	cfg.DatabaseURL = d.Pool.Config().ConnString()
	cfg.Workers = false
	cfg.LogLevel = "error"
	a, err := open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ids := make([]uuid.UUID, 2) // the operator, another tenant
	keys := map[uuid.UUID]string{}
	for i := range ids {
		tn, err := a.set.Tenants.CreateTenant(ctx, fmt.Sprintf("tenant %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, keys[tn.ID], err = a.set.Tenants.CreateKey(ctx, tn.ID, tenants.RoleAdmin, "test"); err != nil {
			t.Fatal(err)
		}
		ids[i] = tn.ID
	}
	operator, other := ids[0], ids[1]
	get := func(a *app, key string) int {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srvCtx, stop := context.WithCancel(ctx)
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- a.serve(srvCtx, ln, ready) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		r, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/debug/pprof/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name     string
		operator string
		key      string
		status   int
	}{
		{"operator's admin", operator.String(), keys[operator], http.StatusOK},
		{"another tenant's admin", operator.String(), keys[other], http.StatusNotFound},
		{"no operator", "", keys[operator], http.StatusNotFound},
	} {
		c := cfg
		c.OperatorTenant = tc.operator
		served, err := open(ctx, c) // the operator is wired in when the app opens
		if err != nil {
			t.Fatal(err)
		}
		if got := get(served, tc.key); got != tc.status {
			t.Errorf("%s: GET /debug/pprof/ %d, want %d", tc.name, got, tc.status)
		}
		served.close()
	}
}
