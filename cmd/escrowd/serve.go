package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/escrowd/escrowd/internal/outbox"
)

// Server timeouts.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

func cmdServe(ctx context.Context, args []string) error {
	cfg, fs, err := load("serve", args)
	if err != nil {
		return err
	}
	migrate := fs.Bool("migrate", false, "apply migrations before serving")
	a, err := parseOpen(ctx, cfg, fs, args)
	if err != nil {
		return err
	}
	defer a.close()
	if *migrate {
		if _, err := a.migrate(ctx); err != nil {
			return err
		}
	}
	if cfg.SecretKey == "" {
		a.log.Warn("ESCROWD_SECRET_KEY is not set: new webhook signing secrets and the responses kept for idempotent replay are stored in plain text, and step-up code hashes are unkeyed")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	return a.serve(ctx, ln, nil)
}

// serve runs the HTTP server (and workers) on ln until ctx ends, then
// drains in-flight requests. ready, when set, is closed once serving.
func (a *app) serve(ctx context.Context, ln net.Listener, ready chan<- struct{}) error {
	srv := &http.Server{
		Handler:           a.server,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	if a.cfg.OperatorTenant != "" {
		a.log.Info("profiling on /debug/pprof/ for the operator tenant's admin keys", "operator_tenant", a.cfg.OperatorTenant)
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if a.cfg.Workers {
		// Webhook workers need the key the endpoints' secrets were sealed
		// under, or every delivery fails until it gives up.
		if err := outbox.CheckSecrets(ctx, a.db, a.hooks.Secrets); err != nil {
			stopWork()
			return err
		}
		if err := a.registerJobs(ctx); err != nil {
			stopWork()
			return err
		}
		wg.Add(2)
		go func() { defer wg.Done(); a.jobs.Loop(workCtx, a.cfg.JobInterval) }()
		go func() { defer wg.Done(); a.hooks.Loop(workCtx, a.cfg.JobInterval) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("escrowd serving", "addr", ln.Addr().String(), "cockroachdb", a.db.CockroachDB, "version", version)
	if ready != nil {
		close(ready)
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down: draining in-flight requests", "timeout", a.cfg.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopWork()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
