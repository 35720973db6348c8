package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/seal"
	"github.com/escrowd/escrowd/risk"
)

// Config is escrowd's whole configuration: defaults, then environment
// variables, then flags. Only this package reads it; everything below gets
// plain values.
type Config struct {
	DatabaseURL     string        // DATABASE_URL
	Addr            string        // ESCROWD_ADDR
	LogLevel        string        // ESCROWD_LOG_LEVEL: debug, info, warn, error
	DBMaxConns      int           // ESCROWD_DB_MAX_CONNS
	Workers         bool          // ESCROWD_WORKERS: run job and webhook workers in serve
	IdempotencyTTL  time.Duration // ESCROWD_IDEMPOTENCY_TTL
	ShutdownTimeout time.Duration // ESCROWD_SHUTDOWN_TIMEOUT
	JobInterval     time.Duration // ESCROWD_JOB_INTERVAL
	FXMaxRateAge    time.Duration // ESCROWD_FX_MAX_RATE_AGE
	FXQuoteTTL      time.Duration // ESCROWD_FX_QUOTE_TTL
	FXSpreadBps     int           // ESCROWD_FX_SPREAD_BPS
	RiskReviewTTL   time.Duration // ESCROWD_RISK_REVIEW_TTL
	// SecretKey seals webhook signing secrets at rest and keys step-up
	// code hashes (internal/seal): base64 of 32 random bytes. Empty: plain.
	SecretKey string // ESCROWD_SECRET_KEY
	// OperatorTenant is the id of the tenant that runs this escrowd: its
	// admin keys, and no other tenant's, may profile the process
	// (/debug/pprof/), which every tenant shares. Empty: profiling is off.
	OperatorTenant string // ESCROWD_OPERATOR_TENANT
	// WebhookAllowPrivate lets webhook endpoints and deliveries reach
	// loopback, private and link-local addresses (outbox.Options), for a
	// receiver on the same host or network; off, they must be public.
	WebhookAllowPrivate bool // ESCROWD_WEBHOOK_ALLOW_PRIVATE
}

// defaults returns the default configuration.
func defaults() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		LogLevel:        "info",
		DBMaxConns:      32,
		Workers:         true,
		IdempotencyTTL:  30 * 24 * time.Hour,
		ShutdownTimeout: 20 * time.Second,
		JobInterval:     time.Second,
		FXMaxRateAge:    fx.DefaultMaxRateAge,
		FXQuoteTTL:      fx.DefaultQuoteTTL,
		FXSpreadBps:     fx.DefaultSpreadBps,
		RiskReviewTTL:   risk.DefaultReviewTTL,
	}
}

// configVar describes one setting: its env name, flag name and help.
type configVar struct {
	env, flag, help string
	ptr             any
}

// secretVars are the settings whose value never appears in usage output,
// where it would show as the flag's default, taken from the environment.
var secretVars = map[string]bool{"DATABASE_URL": true, "ESCROWD_SECRET_KEY": true}

// secretString is a string flag whose value usage output never shows.
type secretString struct{ p *string }

func (s secretString) String() string     { return "" }
func (s secretString) Set(v string) error { *s.p = v; return nil }

func (c *Config) vars() []configVar {
	return []configVar{
		{"DATABASE_URL", "database-url", "PostgreSQL 15+ or CockroachDB connection URL (required)", &c.DatabaseURL},
		{"ESCROWD_ADDR", "addr", "HTTP listen address", &c.Addr},
		{"ESCROWD_LOG_LEVEL", "log-level", "log level: debug, info, warn, error", &c.LogLevel},
		{"ESCROWD_DB_MAX_CONNS", "db-max-conns", "database pool size", &c.DBMaxConns},
		{"ESCROWD_WORKERS", "workers", "run background job and webhook workers", &c.Workers},
		{"ESCROWD_IDEMPOTENCY_TTL", "idempotency-ttl", "how long idempotency keys are kept", &c.IdempotencyTTL},
		{"ESCROWD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "how long SIGTERM waits for in-flight requests", &c.ShutdownTimeout},
		{"ESCROWD_JOB_INTERVAL", "job-interval", "how often workers look for due jobs", &c.JobInterval},
		{"ESCROWD_FX_MAX_RATE_AGE", "fx-max-rate-age", "how old an FX rate may be for a new quote", &c.FXMaxRateAge},
		{"ESCROWD_FX_QUOTE_TTL", "fx-quote-ttl", "how long an FX quote can be used", &c.FXQuoteTTL},
		{"ESCROWD_FX_SPREAD_BPS", "fx-spread-bps", "default FX spread in basis points for tenants without their own", &c.FXSpreadBps},
		{"ESCROWD_RISK_REVIEW_TTL", "risk-review-ttl", "how long a risk review waits for a decision before it expires (rejected)", &c.RiskReviewTTL},
		{"ESCROWD_OPERATOR_TENANT", "operator-tenant", "id of the operator's tenant, whose admin keys (and no other tenant's) may use /debug/pprof/; empty: profiling off", &c.OperatorTenant},
		{"ESCROWD_WEBHOOK_ALLOW_PRIVATE", "webhook-allow-private", "let webhook endpoints be loopback, private or link-local addresses (off: public addresses only)", &c.WebhookAllowPrivate},
		{"ESCROWD_SECRET_KEY", "secret-key", "key sealing webhook signing secrets at rest and keying step-up code hashes: base64 of 32 random bytes, e.g. openssl rand -base64 32 (prefer the environment: a flag shows in ps)", &c.SecretKey},
	}
}

// load reads the environment and registers the settings as flags of the
// subcommand; the caller adds its own flags and parses args, which fills the
// returned Config (hence the pointer: flags write into it).
func load(name string, args []string) (*Config, *flag.FlagSet, error) {
	c := new(Config)
	*c = defaults()
	fs := flag.NewFlagSet("escrowd "+name, flag.ContinueOnError)
	for _, v := range c.vars() {
		if s, ok := os.LookupEnv(v.env); ok && s != "" {
			if err := setValue(v.ptr, s); err != nil {
				return c, fs, fmt.Errorf("%s: %w", v.env, err)
			}
		}
		help := v.help + " (env " + v.env + ")"
		switch p := v.ptr.(type) {
		case *string:
			if secretVars[v.env] {
				fs.Var(secretString{p}, v.flag, help)
			} else {
				fs.StringVar(p, v.flag, *p, help)
			}
		case *int:
			fs.IntVar(p, v.flag, *p, help)
		case *bool:
			fs.BoolVar(p, v.flag, *p, help)
		case *time.Duration:
			fs.DurationVar(p, v.flag, *p, help)
		}
	}
	return c, fs, nil
}

func setValue(ptr any, s string) error {
	switch p := ptr.(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*p = d
	}
	return nil
}

// Bounds of the FX settings.
const (
	maxFXRateAge  = 31 * 24 * time.Hour
	maxFXQuoteTTL = 24 * time.Hour
)

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required (make run / make demo start a private PostgreSQL and set it)"))
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		errs = append(errs, errors.New("db-max-conns must be 1..1000"))
	}
	if c.IdempotencyTTL < time.Hour {
		errs = append(errs, errors.New("idempotency-ttl must be at least 1h"))
	}
	if c.ShutdownTimeout <= 0 || c.JobInterval <= 0 {
		errs = append(errs, errors.New("shutdown-timeout and job-interval must be positive"))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	if c.FXMaxRateAge < time.Minute || c.FXMaxRateAge > maxFXRateAge {
		errs = append(errs, fmt.Errorf("fx-max-rate-age must be 1m..%s", maxFXRateAge))
	}
	if c.FXQuoteTTL < 10*time.Second || c.FXQuoteTTL > maxFXQuoteTTL {
		errs = append(errs, fmt.Errorf("fx-quote-ttl must be 10s..%s", maxFXQuoteTTL))
	}
	if c.FXSpreadBps < 0 || c.FXSpreadBps > fx.MaxSpreadBps {
		errs = append(errs, fmt.Errorf("fx-spread-bps must be 0..%d", fx.MaxSpreadBps))
	}
	if c.RiskReviewTTL < time.Minute || c.RiskReviewTTL > maxRiskReviewTTL {
		errs = append(errs, fmt.Errorf("risk-review-ttl must be 1m..%s", maxRiskReviewTTL))
	}
	if _, err := c.secrets(); err != nil {
		errs = append(errs, fmt.Errorf("secret-key: %w", err))
	}
	if _, err := c.operator(); err != nil {
		errs = append(errs, fmt.Errorf("operator-tenant: %w", err))
	}
	return errors.Join(errs...)
}

// operator returns the operator tenant's id (uuid.Nil if unset).
func (c Config) operator() (uuid.UUID, error) {
	if c.OperatorTenant == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(c.OperatorTenant)
	if err != nil {
		return uuid.Nil, errors.New("must be a tenant id (a UUID, as escrowd tenants create prints)")
	}
	return id, nil
}

// secrets returns the box sealing secrets under SecretKey (nil if unset).
func (c Config) secrets() (*seal.Box, error) {
	if c.SecretKey == "" {
		return nil, nil
	}
	key, err := seal.ParseKey(c.SecretKey)
	if err != nil {
		return nil, err
	}
	return seal.New(key)
}

func (c Config) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}
