package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/idem"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/services"
	"github.com/escrowd/escrowd/ledger"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

// app is everything one escrowd process runs, wired once here.
type app struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.Clock
	db     *db.DB
	ms     []db.Migration
	reg    *prometheus.Registry
	set    *services.Set
	jobs   *jobs.Runner
	hooks  *outbox.Deliverer
	server *api.Server
}

// parseOpen parses a subcommand's args into fs (its flags defined by the
// caller after load) and opens the app with cfg; the caller closes it.
func parseOpen(ctx context.Context, cfg *Config, fs *flag.FlagSet, args []string) (*app, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return open(ctx, *cfg)
}

// open connects to the database and builds the services.
func open(ctx context.Context, cfg Config) (*app, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: cfg.logger(), clock: clock.Real{}}
	var err error
	a.ms, err = db.LoadMigrations(escrowdsql.Migrations())
	if err != nil {
		return nil, err
	}
	a.db, err = db.Open(ctx, cfg.DatabaseURL, db.Options{MaxConns: int32(cfg.DBMaxConns)})
	if err != nil {
		return nil, err
	}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.reg.MustRegister(a.db.Collectors()...)
	secrets, err := cfg.secrets() // checked by Validate
	if err != nil {
		return nil, err
	}
	a.set, err = services.New(a.db, a.clock, services.Settings{FXMaxRateAge: cfg.FXMaxRateAge, FXQuoteTTL: cfg.FXQuoteTTL,
		FXSpreadBps: int64(cfg.FXSpreadBps), RiskReviewTTL: cfg.RiskReviewTTL, Secrets: secrets, Log: a.log})
	if err != nil {
		return nil, err
	}
	a.jobs = jobs.NewRunner(a.db, a.clock, a.log)
	// Where endpoints are registered and where deliveries connect.
	hooks := outbox.Options{AllowPrivate: cfg.WebhookAllowPrivate}
	a.set.Outbox.Options = hooks
	a.hooks = &outbox.Deliverer{DB: a.db, Clock: a.clock, Log: a.log, Secrets: secrets, Client: outbox.NewClient(hooks)}
	operator, err := cfg.operator() // checked by Validate
	if err != nil {
		return nil, err
	}
	a.server = api.New(api.Deps{
		DB: a.db, Clock: a.clock, Log: a.log, Tenants: a.set.Tenants, Outbox: a.set.Outbox, FX: a.set.FX, Escrows: a.set.Escrows, Ledger: a.set.Ledger,
		Risk: a.set.Risk, Disputes: a.set.Disputes, Reconcile: a.set.Reconcile, Migrations: a.ms, Registry: a.reg, Secrets: secrets,
		Operator: operator,
	})
	return a, nil
}

// registerJobs registers every job handler.
func (a *app) registerJobs(ctx context.Context) error {
	a.set.RegisterJobs(a.jobs)
	if err := a.jobs.HandlePeriodic(ctx, jobs.Periodic{Kind: ledger.JobSeal, Every: ledger.SealEvery, Handler: a.set.Ledger.SealJob}); err != nil {
		return err
	}
	// Places the events of tenants that do not poll (webhooks only).
	if err := a.jobs.HandlePeriodic(ctx, jobs.Periodic{Kind: outbox.JobPlaceBacklog, Every: outbox.PlaceBacklogEvery, Handler: func(ctx context.Context, _ jobs.Job) error {
		_, err := a.set.Outbox.PlaceBacklog(ctx)
		return err
	}}); err != nil {
		return err
	}
	return a.jobs.HandlePeriodic(ctx, jobs.Periodic{Kind: "idempotency.prune", Every: time.Hour, Handler: func(ctx context.Context, _ jobs.Job) error {
		_, err := idem.Prune(ctx, a.db, a.clock.Now().Add(-a.cfg.IdempotencyTTL))
		return err
	}})
}

func (a *app) close() { a.db.Close() }

func (a *app) migrate(ctx context.Context) (int, error) {
	host, _ := os.Hostname()
	n, err := a.db.Migrate(ctx, a.ms, fmt.Sprintf("%s:%d", host, os.Getpid()))
	if err != nil {
		return n, fmt.Errorf("migrate: %w", err)
	}
	return n, nil
}
