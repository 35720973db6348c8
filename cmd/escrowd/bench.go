package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/escrowd/escrowd/internal/loadgen"
	"github.com/escrowd/escrowd/internal/tenants"
)

// benchDatabase is the database the in-process server of escrowd bench
// creates afresh (bench-ledger has its own).
const benchDatabase = "escrowd_bench_api"

// benchKeyEnv names the environment variable of a role's key for --url.
func benchKeyEnv(role string) string { return "ESCROWD_BENCH_KEY_" + strings.ToUpper(role) }

// cmdBench runs the HTTP load generator (internal/loadgen): against a
// running server (--url and keys), or by default against a server it
// starts in this process on a fresh database, with a new tenant and one
// key per role. It exits non-zero when an invariant fails.
func cmdBench(ctx context.Context, args []string) error {
	cfg, fs, err := load("bench", args)
	if err != nil {
		return err
	}
	target := fs.String("url", "", "escrowd to load (http://127.0.0.1:8080); empty: start a server in this process on DATABASE_URL")
	allowRemote := fs.Bool("allow-remote", false, "allow a --url that is not a loopback address")
	clients := fs.Int("clients", 32, "concurrent clients, each driving one escrow at a time")
	duration := fs.Duration("duration", 30*time.Second, "how long to run; with --escrows, the time limit (default then 10m)")
	escrows := fs.Int("escrows", 0, "drive this many escrows, then stop (0: run for --duration)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed draws the same escrows")
	mixFlag := fs.String("mix", loadgen.DefaultMix().String(), "workload shares in percent: accept+refund+dispute = 100; fx and milestones on their own")
	sellers := fs.Int("sellers", 1000, "sellers, drawn from a Zipf distribution")
	buyers := fs.Int("buyers", 20000, "buyers, drawn uniformly")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	chart := fs.String("chart", "", "draw throughput and p99 over time into this SVG file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (server and generator when in-process) to this file")
	pgTPS := fs.Float64("pgbench-tps", 0, "pgbench TPC-B tps to compare with (make bench passes it)")
	serverPID := fs.Int("server-pid", 0, "with --url: pid of the escrowd process whose RSS to sample")
	dbName := fs.String("database", benchDatabase, "in-process: database created afresh on the DATABASE_URL server ('' = DATABASE_URL as is)")
	keys := map[string]*string{}
	for _, r := range tenants.Roles {
		role := string(r)
		keys[role] = fs.String("key-"+strings.ReplaceAll(role, "_", "-"), os.Getenv(benchKeyEnv(role)), "with --url: the "+role+" API key (env "+benchKeyEnv(role)+")")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *escrows > 0 && !set["duration"] {
		*duration = 10 * time.Minute
	}
	mix, err := loadgen.ParseMix(*mixFlag)
	if err != nil {
		return err
	}
	lc := loadgen.Config{Clients: *clients, Duration: *duration, Escrows: *escrows, Seed: *seed, Mix: mix, Sellers: *sellers, Buyers: *buyers,
		ImportRates: true, Progress: os.Stderr, Keys: map[string]string{}}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res loadgen.Result
	if *target != "" {
		if err := checkLoopback(*target, *allowRemote); err != nil {
			return err
		}
		for role, k := range keys {
			lc.Keys[role] = *k
		}
		for _, role := range []string{loadgen.RoleMarketplace, loadgen.RoleFinance, loadgen.RoleRiskReviewer, loadgen.RoleDisputeAgent} {
			if lc.Keys[role] == "" {
				return fmt.Errorf("bench --url: the %s key is needed (--key-%s or %s)", role, strings.ReplaceAll(role, "_", "-"), benchKeyEnv(role))
			}
		}
		lc.BaseURL = strings.TrimRight(*target, "/")
		if *serverPID > 0 {
			lc.RSS = loadgen.ProcRSS(*serverPID)
		}
		fmt.Printf("escrowd bench: server %s; %s\n", lc.BaseURL, runLine(lc))
		if res, err = loadgen.Run(ctx, lc); err != nil {
			return err
		}
	} else {
		if res, err = benchInProcess(ctx, cfg, set, *dbName, lc); err != nil {
			return err
		}
	}
	if *pgTPS > 0 {
		res.PgbenchTPS, res.Ratio = *pgTPS, res.OpsPerSec / *pgTPS
	}
	loadgen.WriteText(os.Stdout, res)
	if *jsonOut != "" {
		if err := loadgen.WriteJSON(*jsonOut, res); err != nil {
			return err
		}
	}
	if *chart != "" {
		if err := loadgen.WriteChart(*chart, res); err != nil {
			return err
		}
	}
	if res.Failed() {
		return errors.New("bench: an invariant failed")
	}
	return nil
}

// benchPoolSize is the in-process server's database pool when neither
// --db-max-conns nor ESCROWD_DB_MAX_CONNS sets it: twice the cores, at least
// 4 (PostgreSQL's rule of thumb, connections ≈ 2 × the database server's
// cores, for the usual case of a database on this machine). More sessions
// than the cores can run make every transaction wait longer for a core
// between its round trips, so more of them overlap and abort under
// SERIALIZABLE: on 2 cores a pool of 4 ran about 1.7 times the API ops/s
// of a pool of 36 with a third of the p99 (docs/performance.md, "Fifth
// session"). Clients beyond the pool queue for a connection in order.
// These are this machine's cores: against a database on other hardware,
// set --db-max-conns to about twice that server's cores.
func benchPoolSize(cores int) int { return max(4, 2*cores) }

// benchInProcess starts a server on a fresh database, as escrowd demo
// does, creates a tenant and a key per role, and runs the load against it.
func benchInProcess(ctx context.Context, cfg *Config, set map[string]bool, dbName string, lc loadgen.Config) (loadgen.Result, error) {
	var err error
	if dbName != "" {
		if cfg.DatabaseURL, err = freshDatabase(ctx, cfg.DatabaseURL, dbName); err != nil {
			return loadgen.Result{}, err
		}
	}
	if !set["log-level"] && os.Getenv("ESCROWD_LOG_LEVEL") == "" {
		cfg.LogLevel = "warn" // a JSON line per request would drown the progress lines
	}
	if !set["db-max-conns"] && os.Getenv("ESCROWD_DB_MAX_CONNS") == "" {
		cfg.DBMaxConns = benchPoolSize(runtime.GOMAXPROCS(0))
	}
	a, err := open(ctx, *cfg)
	if err != nil {
		return loadgen.Result{}, err
	}
	defer a.close()
	if _, err := a.migrate(ctx); err != nil {
		return loadgen.Result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadgen.Result{}, err
	}
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.serve(srvCtx, ln, ready) }()
	select {
	case <-ready:
	case err := <-done:
		stop()
		return loadgen.Result{}, fmt.Errorf("bench: server: %w", err)
	}
	res, err := func() (loadgen.Result, error) {
		t, err := a.set.Tenants.CreateTenant(ctx, "escrowd bench "+time.Now().UTC().Format("2006-01-02 15:04:05"))
		if err != nil {
			return loadgen.Result{}, err
		}
		for _, r := range tenants.Roles {
			_, secret, err := a.set.Tenants.CreateKey(ctx, t.ID, r, "bench")
			if err != nil {
				return loadgen.Result{}, err
			}
			lc.Keys[string(r)] = secret
		}
		lc.BaseURL = "http://" + ln.Addr().String()
		lc.RSS = loadgen.ProcRSS(0)
		where := "DATABASE_URL"
		if dbName != "" {
			where = "fresh database " + dbName
		}
		fmt.Printf("escrowd bench: in-process server at %s on %s (pool %d), tenant %s; RSS is this process (server and generator); %s\n",
			lc.BaseURL, where, cfg.DBMaxConns, t.ID, runLine(lc))
		return loadgen.Run(ctx, lc)
	}()
	stop()
	if serr := <-done; err == nil && serr != nil {
		err = fmt.Errorf("bench: server: %w", serr)
	}
	return res, err
}

// runLine describes the run and the machine.
func runLine(lc loadgen.Config) string {
	length := lc.Duration.String()
	if lc.Escrows > 0 {
		length = fmt.Sprintf("%d escrows (time limit %s)", lc.Escrows, lc.Duration)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d clients, %s, seed %d, mix %s, %d sellers (Zipf s=%.1f), %d buyers; GOMAXPROCS %d, load average %s",
		lc.Clients, length, lc.Seed, lc.Mix, lc.Sellers, loadgen.ZipfS, lc.Buyers, runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
}

// checkLoopback refuses a URL whose host is not a loopback address,
// unless allowed: a load test is not something to point at a server by
// mistake.
func checkLoopback(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bench: --url %q is not an http(s) URL", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("bench: --url %s is not a loopback address; pass --allow-remote to load it anyway", raw)
}
