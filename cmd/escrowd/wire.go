package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/escrowd/escrowd/api"
	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/idem"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
	"github.com/escrowd/escrowd/risk"
	escrowdsql "github.com/escrowd/escrowd/sql"
)

// app is everything one escrowd process runs, wired once here.
type app struct {
	cfg       Config
	log       *slog.Logger
	clock     clock.Clock
	db        *db.DB
	ms        []db.Migration
	reg       *prometheus.Registry
	tenants   *tenants.Store
	fx        *fx.Service
	gate      *risk.Gate
	risk      *risk.Service
	escrows   *escrow.Service
	disputes  *disputes.Service
	ledger    *ledger.Service
	reconcile *reconcile.Service
	jobs      *jobs.Runner
	hooks     *outbox.Deliverer
	server    *api.Server
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
	a.tenants = &tenants.Store{DB: a.db, Clock: a.clock}
	a.ledger = &ledger.Service{DB: a.db, Clock: a.clock}
	a.fx = &fx.Service{DB: a.db, Clock: a.clock, MaxRateAge: cfg.FXMaxRateAge, QuoteTTL: cfg.FXQuoteTTL, DefaultSpreadBps: int64(cfg.FXSpreadBps)}
	a.gate, err = risk.NewGate(risk.GateConfig{FX: a.fx, ReviewTTL: cfg.RiskReviewTTL})
	if err != nil {
		return nil, err
	}
	a.risk = risk.NewService(a.db, a.clock, a.gate)
	a.escrows = &escrow.Service{DB: a.db, Clock: a.clock, Gate: a.gate, Log: a.log}
	// A review of a payout is carried out by escrow: approve commits the
	// held ledger entry, reject voids it.
	a.risk.RegisterResolver(escrow.KindRelease, a.escrows.ResolveReview)
	a.risk.RegisterResolver(escrow.KindRefund, a.escrows.ResolveReview)
	a.disputes = &disputes.Service{DB: a.db, Clock: a.clock, Escrows: a.escrows}
	a.jobs = jobs.NewRunner(a.db, a.clock, a.log)
	a.hooks = &outbox.Deliverer{DB: a.db, Clock: a.clock, Client: &http.Client{Timeout: outbox.DeliveryTimeout}, Log: a.log}
	a.reconcile = &reconcile.Service{DB: a.db, Clock: a.clock, Log: a.log}
	a.server = api.New(api.Deps{
		DB: a.db, Clock: a.clock, Log: a.log, Tenants: a.tenants, Outbox: &outbox.Store{DB: a.db, Clock: a.clock}, FX: a.fx, Escrows: a.escrows, Ledger: a.ledger, Risk: a.risk, Migrations: a.ms, Registry: a.reg,
		Disputes:  a.disputes,
		Reconcile: a.reconcile,
	})
	return a, nil
}

// registerJobs registers every job handler.
func (a *app) registerJobs(ctx context.Context) error {
	a.jobs.Handle(escrow.JobExpire, a.escrows.HandleExpire)
	a.jobs.Handle(escrow.JobAutoRelease, a.escrows.HandleAutoRelease)
	a.jobs.Handle(escrow.JobConfirmationTimeout, a.escrows.HandleConfirmationTimeout)
	a.jobs.Handle(risk.JobReviewExpire, a.risk.HandleReviewExpire)
	a.jobs.Handle(disputes.JobDeadline, a.disputes.HandleDeadline)
	a.jobs.Handle(disputes.JobChargebackDue, a.disputes.HandleChargebackDue)
	a.jobs.Handle(ledger.JobExpirePending, a.ledger.ExpireJob)
	if err := a.jobs.HandlePeriodic(ctx, jobs.Periodic{Kind: ledger.JobSeal, Every: ledger.SealEvery, Handler: a.ledger.SealJob}); err != nil {
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
