package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
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
