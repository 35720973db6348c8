// Package services builds escrowd's domain services on one database and
// wires them to each other: the risk gate into escrow, escrow's payout
// resolver into risk reviews, escrow into disputes, the FX service into the
// gate. cmd/escrowd and the tests build them through New, so the wiring is
// written once. Settings are plain values; only cmd/escrowd reads
// configuration.
package services

import (
	"log/slog"
	"time"

	"github.com/escrowd/escrowd/disputes"
	"github.com/escrowd/escrowd/escrow"
	"github.com/escrowd/escrowd/fx"
	"github.com/escrowd/escrowd/internal/clock"
	"github.com/escrowd/escrowd/internal/db"
	"github.com/escrowd/escrowd/internal/jobs"
	"github.com/escrowd/escrowd/internal/outbox"
	"github.com/escrowd/escrowd/internal/seal"
	"github.com/escrowd/escrowd/internal/tenants"
	"github.com/escrowd/escrowd/ledger"
	"github.com/escrowd/escrowd/reconcile"
	"github.com/escrowd/escrowd/risk"
)

// Settings tune the services (see DefaultSettings).
type Settings struct {
	FXMaxRateAge  time.Duration
	FXQuoteTTL    time.Duration
	FXSpreadBps   int64
	RiskReviewTTL time.Duration
	Secrets       *seal.Box    // seals webhook signing secrets and keys step-up code hashes; nil: plain
	Log           *slog.Logger // nil: no logs
}

// DefaultSettings are the defaults of escrowd's configuration.
func DefaultSettings() Settings {
	return Settings{FXMaxRateAge: fx.DefaultMaxRateAge, FXQuoteTTL: fx.DefaultQuoteTTL, FXSpreadBps: fx.DefaultSpreadBps, RiskReviewTTL: risk.DefaultReviewTTL}
}

// Set is every domain service of one escrowd process.
type Set struct {
	Tenants   *tenants.Store
	Outbox    *outbox.Store
	Ledger    *ledger.Service
	FX        *fx.Service
	Gate      *risk.Gate
	Risk      *risk.Service
	Escrows   *escrow.Service
	Disputes  *disputes.Service
	Reconcile *reconcile.Service
}

// New builds and wires the services on d.
func New(d *db.DB, clk clock.Clock, s Settings) (*Set, error) {
	set := &Set{
		Tenants: &tenants.Store{DB: d, Clock: clk},
		Outbox:  &outbox.Store{DB: d, Clock: clk, Secrets: s.Secrets},
		Ledger:  &ledger.Service{DB: d, Clock: clk},
		FX:      &fx.Service{DB: d, Clock: clk, MaxRateAge: s.FXMaxRateAge, QuoteTTL: s.FXQuoteTTL, DefaultSpreadBps: s.FXSpreadBps},
	}
	var err error
	if set.Gate, err = risk.NewGate(risk.GateConfig{FX: set.FX, ReviewTTL: s.RiskReviewTTL, StepUpKey: s.Secrets.Key("step-up codes"),
		StepUpKeySince: clk.Now()}); err != nil {
		return nil, err
	}
	set.Risk = risk.NewService(d, clk, set.Gate)
	set.Escrows = &escrow.Service{DB: d, Clock: clk, Gate: set.Gate, Log: s.Log}
	// A review of a payout is carried out by escrow: approve commits the
	// held ledger entry, reject voids it.
	set.Risk.RegisterResolver(escrow.KindRelease, set.Escrows.ResolveReview)
	set.Risk.RegisterResolver(escrow.KindRefund, set.Escrows.ResolveReview)
	set.Disputes = &disputes.Service{DB: d, Clock: clk, Escrows: set.Escrows}
	// A dispute's coverage the gate held is decided by disputes: approve
	// posts its held entries, reject releases them.
	set.Risk.RegisterResolver(escrow.SubjectCoverage, set.Disputes.ResolveCoverageReview)
	set.Reconcile = &reconcile.Service{DB: d, Clock: clk, Log: s.Log}
	return set, nil
}

// RegisterJobs registers the domain job handlers on r (periodic platform
// jobs, such as sealing and pruning, are the process's to register).
func (s *Set) RegisterJobs(r *jobs.Runner) {
	r.Handle(escrow.JobExpire, s.Escrows.HandleExpire)
	r.Handle(escrow.JobAutoRelease, s.Escrows.HandleAutoRelease)
	r.Handle(escrow.JobConfirmationTimeout, s.Escrows.HandleConfirmationTimeout)
	r.Handle(risk.JobReviewExpire, s.Risk.HandleReviewExpire)
	r.Handle(disputes.JobDeadline, s.Disputes.HandleDeadline)
	r.Handle(disputes.JobChargebackDue, s.Disputes.HandleChargebackDue)
	r.Handle(ledger.JobExpirePending, s.Ledger.ExpireJob)
}
